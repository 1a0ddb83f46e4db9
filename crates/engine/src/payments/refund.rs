//! Refunds (`POST /customers/{id}/refunds`): unallocated credit handed back to the party. A refund is a
//! reversed payment: booked as a positive `payment` xDR of service `refund` (off invoice totals and untaxed, and
//! netted by the `payments` sum of the next regular invoice), it consumes the party's credit oldest source
//! first, and the payment system hears of it through the integration event `refund_requested`.

use classbill_domain::money::MONEY_SCALE;
use classbill_domain::{FieldError, Money};
use classbill_store::allocations;
use classbill_store::close::{self as store_close, Held};
use classbill_store::parties::PartyRow;
use classbill_store::refunds::{self, NewRefund, RefundSource};
use classbill_store::{Tx, instants, xdrs};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::body;
use crate::error::{EngineError, EngineResult};
use crate::ledger::ParsedXdr;
use crate::notifications::{self, Event};
use crate::page::{Page, PageRequest};
use crate::parties::{PartyKind, load_owned, load_visible};

/// The service of a refund's xDR.
pub const REFUND_SERVICE: &str = "refund";
/// The longest reason kept.
const MAX_REASON: usize = 500;
/// How far ahead of the clock a refund may be dated: a date far in the future would open every period up to it.
const MAX_AHEAD: SignedDuration = SignedDuration::from_hours(366 * 24);
const FIELDS: &[&str] = &["amount", "as_of", "currency", "external_id", "reason"];

/// Credit one refund took from one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefundSourceView {
    /// `payment` (a payment xDR's credit) or `invoice` (the credit of an invoice with a negative total).
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xdr_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<i64>,
    pub amount: Money,
}

/// A refund as booked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefundView {
    /// The positive `payment` xDR (service `refund`) booked for it; it also identifies the refund.
    pub xdr_id: i64,
    pub party_id: i64,
    pub amount: Money,
    pub currency: String,
    /// When the refund counts (`as_of`, default the request's instant).
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: Timestamp,
    pub reason: Option<String>,
    pub external_id: Option<String>,
    /// The credit taken, oldest source first.
    pub sources: Vec<RefundSourceView>,
    /// The party's unallocated credit left afterwards.
    pub remaining_credit: Money,
    /// For a prepaid customer taxed at payment (§5.5), the tax contained in the refunded amount, booked back
    /// (negative) at the refund's instant: a refund is a payment in reverse. It comes back as credit when the
    /// period closes. Zero for everyone else.
    #[serde(default)]
    pub reversed_tax: Money,
}

/// A checked request body. Its JSON form is stored so an identical re-send can be told from another body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct RefundInput {
    amount: Money,
    as_of: Option<Timestamp>,
    currency: Option<String>,
    reason: Option<String>,
    #[serde(skip)]
    external_id: Option<String>,
}

fn parse(body: &Value) -> EngineResult<RefundInput> {
    let object = body::object(body)?;
    let mut errors = Vec::new();
    body::unknown_fields(object, FIELDS, &mut errors);
    let amount = match body::optional_text(object, "amount", &mut errors) {
        Some(t) => match Money::parse(t) {
            Ok(m) if m.is_positive() => Some(m),
            Ok(_) => {
                errors.push(FieldError::new("amount", "out_of_range", "must be greater than 0"));
                None
            }
            Err(_) => {
                errors.push(FieldError::new(
                    "amount",
                    "invalid",
                    "must be a decimal with at most five fraction digits",
                ));
                None
            }
        },
        None => {
            if !errors.iter().any(|e| e.field == "amount") {
                errors.push(FieldError::new("amount", "required", "`amount` is required"));
            }
            None
        }
    };
    let as_of = body::optional_instant(object, "as_of", &mut errors);
    let currency = body::optional_text(object, "currency", &mut errors)
        .map(str::to_uppercase)
        .filter(|c| !c.is_empty());
    let reason = body::optional_text(object, "reason", &mut errors)
        .map(str::to_owned)
        .filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON) {
        errors.push(FieldError::new(
            "reason",
            "too_long",
            format!("at most {MAX_REASON} characters"),
        ));
    }
    let external_id = body::optional_text(object, "external_id", &mut errors)
        .map(str::to_owned)
        .filter(|k| !k.is_empty());
    match amount {
        Some(amount) if errors.is_empty() => Ok(RefundInput {
            amount,
            as_of,
            currency,
            reason,
            external_id,
        }),
        _ => Err(EngineError::Invalid(errors)),
    }
}

/// The ledger key of a refund's xDR: refunds keep their own key space beside the payments'.
fn ledger_key(external_id: &str) -> String {
    format!("refund:{external_id}")
}

impl crate::Engine {
    /// `POST /customers/{id}/refunds` (and `/resellers/{id}/refunds`), users of the party's owner: books the
    /// refund, consumes the credit, emits `refund_requested` and audits it, in one transaction. Answers the
    /// refund and whether it was booked now (`false`: an identical re-send under the same `external_id`).
    pub async fn refund_credit(
        &self,
        actor: &Actor,
        kind: PartyKind,
        party_id: i64,
        body: &Value,
        now: Timestamp,
    ) -> EngineResult<(RefundView, bool)> {
        let mut tx = self.store.write().await?;
        let party = load_owned(&mut tx, actor, kind, party_id, "refund credit of").await?;
        let input = parse(body)?;
        let at = input.as_of.unwrap_or(now);
        let mut errors = Vec::new();
        if let Some(currency) = input.currency.as_ref().filter(|c| **c != party.currency) {
            errors.push(FieldError::new(
                "currency",
                "currency_mismatch",
                format!("{kind} {party_id} is billed in {}, not {currency}", party.currency),
            ));
        }
        if at > now.saturating_add(MAX_AHEAD).unwrap_or(now) {
            errors.push(FieldError::new(
                "as_of",
                "out_of_range",
                "lies more than a year ahead of the server clock",
            ));
        }
        if instants::to_micros(at) < party.activated_at {
            errors.push(FieldError::new(
                "as_of",
                "before_activation",
                "lies before the party's activated_at",
            ));
        }
        if !errors.is_empty() {
            return Err(EngineError::Invalid(errors));
        }
        let request = serde_json::to_string(&input)?;
        if let Some(key) = &input.external_id {
            let stored = xdrs::find_by_keys(&mut tx, &[(party.id, ledger_key(key))]).await?;
            if let Some(row) = stored.into_iter().next() {
                return match refunds::get(&mut tx, row.id).await? {
                    Some(refund) if refund.request == request => Ok((serde_json::from_str(&refund.result)?, false)),
                    _ => Err(EngineError::conflict(
                        "external_id_conflict",
                        format!("external_id `{key}` is already used with a different body"),
                    )),
                };
            }
        }
        // Closes and out-of-turn invoices consume credit under the same claim, so no two of them take the same
        // credit.
        if store_close::claim_parties(&mut tx, &[party.id], Held::Skip)
            .await?
            .is_empty()
        {
            return Err(EngineError::conflict(
                "being_closed",
                "a billing run or another request is using this party's credit; try again shortly",
            ));
        }
        let view = book(&mut tx, actor, &party, &input, at, now).await?;
        tx.commit().await?;
        Ok((view, true))
    }

    /// `GET /customers/{id}/refunds`: the party's refunds, oldest first.
    pub async fn list_refunds(
        &self,
        actor: &Actor,
        kind: PartyKind,
        party_id: i64,
        page: PageRequest,
    ) -> EngineResult<Page<RefundView>> {
        let mut tx = self.store.read().await?;
        let party = load_visible(&mut tx, actor, kind, party_id).await?;
        let after = page.cursor_id()?.unwrap_or(0);
        let rows = refunds::of_party(&mut tx, party.id, after, page.limit + 1).await?;
        let views = rows
            .iter()
            .map(|row| serde_json::from_str::<RefundView>(&row.result))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(views, page.limit, |view| view.xdr_id.to_string()))
    }
}

/// Takes `amount` of the party's unallocated credit, oldest source first; refuses (422 `exceeds_credit`) when
/// the credit is smaller. Answers the sources taken and the credit left.
async fn take_credit(tx: &mut Tx, party: &PartyRow, amount: Money) -> EngineResult<(Vec<RefundSource>, i64)> {
    let credits = allocations::open_credits(tx, party.id).await?;
    let available: i64 = credits.iter().map(|c| c.remaining).sum();
    if amount.0 > available {
        return Err(EngineError::invalid(
            "amount",
            "exceeds_credit",
            format!(
                "the unallocated credit of party {} is {} {}; a refund cannot exceed it",
                party.id,
                Money(available),
                party.currency
            ),
        ));
    }
    let mut left = amount.0;
    let mut taken = Vec::new();
    for credit in credits {
        if left == 0 {
            break;
        }
        let take = credit.remaining.min(left);
        taken.push(RefundSource {
            source_xdr_id: credit.source_xdr_id,
            source_invoice_id: credit.source_invoice_id,
            amount: take,
        });
        left -= take;
    }
    Ok((taken, available - amount.0))
}

/// Books a checked refund of `party` at `at` in the caller's transaction.
async fn book(
    tx: &mut Tx,
    actor: &Actor,
    party: &PartyRow,
    input: &RefundInput,
    at: Timestamp,
    now: Timestamp,
) -> EngineResult<RefundView> {
    let (sources, remaining) = take_credit(tx, party, input.amount).await?;
    let xdr = ParsedXdr {
        party_id: party.id,
        external_id: input.external_id.as_deref().map(ledger_key),
        occurred_at: at,
        kind: "payment".to_owned(),
        service: REFUND_SERVICE.to_owned(),
        rate_code: None,
        description: input.reason.clone(),
        quantity: Money(MONEY_SCALE),
        amount: input.amount,
        currency: Some(party.currency.clone()),
    };
    let xdr_id = crate::ledger::place_and_write_for(tx, party, &[&xdr], at, now).await?[0];
    let now_us = instants::to_micros(now);
    let reversed_tax = super::at_payment_tax::book(tx, party, xdr_id, Money(-input.amount.0), now_us).await?;
    let view = RefundView {
        xdr_id,
        party_id: party.id,
        amount: input.amount,
        currency: party.currency.clone(),
        occurred_at: at,
        reason: input.reason.clone(),
        external_id: input.external_id.clone(),
        sources: sources
            .iter()
            .map(|s| RefundSourceView {
                kind: if s.source_xdr_id.is_some() {
                    "payment"
                } else {
                    "invoice"
                }
                .to_owned(),
                xdr_id: s.source_xdr_id,
                invoice_id: s.source_invoice_id,
                amount: Money(s.amount),
            })
            .collect(),
        remaining_credit: Money(remaining),
        reversed_tax,
    };
    refunds::insert(
        tx,
        &NewRefund {
            xdr_id,
            party_id: party.id,
            amount: input.amount.0,
            request: serde_json::to_string(input)?,
            result: serde_json::to_string(&view)?,
        },
        &sources,
        now_us,
    )
    .await?;
    let event = Event::new("refund_requested", party.id, xdr_id)
        .with("xdr_id", xdr_id)
        .with("party_id", party.id)
        .with("amount", input.amount.to_string())
        .with("currency", party.currency.as_str())
        .with("reason", input.reason.clone())
        .with("external_id", input.external_id.clone())
        .with("occurred_at", at.to_string());
    notifications::emit(tx, &event, now).await?;
    audit::record(
        tx,
        actor,
        now,
        Change {
            action: "create",
            object_type: "refund",
            object_id: xdr_id.to_string(),
            owner_reseller_id: party.owner_reseller_id,
            details: json!({
                "party_id": party.id,
                "amount": input.amount,
                "occurred_at": at.to_string(),
                "reason": input.reason,
                "external_id": input.external_id,
                "sources": view.sources,
            }),
        },
    )
    .await?;
    Ok(view)
}
