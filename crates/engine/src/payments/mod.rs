//! Received payments (`POST /payments`, customer-classes §5.1 and §5.7): booked as a negative `payment` xDR
//! and applied to the party's invoices when posted.

mod apply;
mod at_payment_tax;
mod input;
mod refund;
mod void;

use classbill_domain::{FieldError, Money};
use classbill_store::allocations::{self, PaymentRow};
use classbill_store::close::{self as store_close, Held};
use classbill_store::invoices as store_invoices;
use classbill_store::parties::PartyRow;
use classbill_store::{Tx, instants, xdrs};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::error::{EngineError, EngineResult};
use crate::ledger::ParsedXdr;
use crate::notifications::{self, Event};
use crate::parties::owner_of;

pub(crate) use apply::{Source, apply_credit, credit_applies, opening, opening_under, spread};
pub use refund::{REFUND_SERVICE, RefundSourceView, RefundView};

/// One allocation a payment made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PaymentAllocation {
    pub invoice_id: i64,
    pub amount: Money,
}

/// The answer to `POST /payments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PaymentResult {
    /// The negative `payment` xDR booked for it.
    pub xdr_id: i64,
    pub allocations: Vec<PaymentAllocation>,
    /// What stays as unallocated credit of the party.
    pub unallocated: Money,
}

impl crate::Engine {
    /// `POST /payments`: books the payment and allocates it at once, all in one transaction. A re-send with the
    /// same `external_id` and body answers the stored result; another body with that key is 409.
    pub async fn post_payment(&self, actor: &Actor, body: &Value, now: Timestamp) -> EngineResult<PaymentResult> {
        let parsed = input::parse(body)?;
        let mut tx = self.store.write().await?;
        let party = classbill_store::parties::get(&mut tx, parsed.party_id)
            .await?
            .filter(|p| actor.sees(owner_of(p)))
            .ok_or_else(|| EngineError::NotFound(format!("party {} not found", parsed.party_id)))?;
        let mut errors = Vec::new();
        if parsed.currency != party.currency {
            errors.push(FieldError::new(
                "currency",
                "currency_mismatch",
                format!(
                    "party {} is billed in {}, not {}",
                    party.id, party.currency, parsed.currency
                ),
            ));
        }
        if instants::to_micros(parsed.received_at) < party.activated_at {
            errors.push(FieldError::new(
                "received_at",
                "before_activation",
                "lies before the party's activated_at",
            ));
        }
        if let Some(id) = parsed.invoice_id {
            let belongs = store_invoices::get(&mut tx, id)
                .await?
                .is_some_and(|i| i.party_id == party.id && i.status != "void");
            if !belongs {
                errors.push(FieldError::new(
                    "invoice_id",
                    "not_found",
                    format!("invoice {id} not found"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(EngineError::Invalid(errors));
        }

        if let Some(key) = &parsed.external_id {
            let stored = xdrs::find_by_keys(&mut tx, &[(party.id, key.clone())]).await?;
            if let Some(row) = stored.into_iter().next() {
                let payment = allocations::payment(&mut tx, row.id).await?;
                let same = row.kind == "payment"
                    && row.amount == -parsed.amount.0
                    && row.occurred_at == instants::to_micros(parsed.received_at)
                    && payment.as_ref().is_some_and(|p| p.invoice_id == parsed.invoice_id);
                return match payment {
                    Some(p) if same => Ok(serde_json::from_str(&p.result)?),
                    _ => Err(EngineError::conflict(
                        "external_id_conflict",
                        format!("external_id `{key}` is already used with a different body"),
                    )),
                };
            }
        }

        let receipt = Receipt {
            amount: parsed.amount,
            received_at: parsed.received_at,
            invoice_id: parsed.invoice_id,
            external_id: parsed.external_id,
        };
        let result = book_payment(&mut tx, actor, &party, &receipt, now).await?;
        tx.commit().await?;
        Ok(result)
    }
}

/// A received payment about to be booked.
pub(crate) struct Receipt {
    /// Positive.
    pub amount: Money,
    pub received_at: Timestamp,
    /// The invoice it pays first (§5.7 rule 1).
    pub invoice_id: Option<i64>,
    pub external_id: Option<String>,
}

/// Books a payment of `party` as a negative `payment` xDR at `received_at`, books the taxes due at payment,
/// applies it to the party's invoices (§5.7), emits `payment_received` and records it with its result, in the
/// caller's transaction. Shared by `POST /payments` and succeeded charge results (§5.8 rule 5); the caller has
/// checked the receipt against the party.
pub(crate) async fn book_payment(
    tx: &mut Tx,
    actor: &Actor,
    party: &PartyRow,
    receipt: &Receipt,
    now: Timestamp,
) -> EngineResult<PaymentResult> {
    // The party first, then the ledger's lock (`place_and_write_for`): a payment that releases a limitation
    // updates the party's status, and a close or a termination holds the party's claim while it waits for that
    // lock exclusively.
    store_close::claim_parties(tx, &[party.id], Held::Wait).await?;
    let xdr = ParsedXdr {
        party_id: party.id,
        external_id: receipt.external_id.clone(),
        occurred_at: receipt.received_at,
        kind: "payment".to_owned(),
        service: "payment".to_owned(),
        rate_code: None,
        description: None,
        quantity: Money(classbill_domain::money::MONEY_SCALE),
        amount: Money(-receipt.amount.0),
        currency: Some(party.currency.clone()),
    };
    let ids = crate::ledger::place_and_write_for(tx, party, &[&xdr], now, now).await?;
    let xdr_id = ids[0];
    let now_us = instants::to_micros(now);
    at_payment_tax::book(tx, party, xdr_id, receipt.amount, now_us).await?;
    // Allocations, and the releases they cause (§5.9), count from the instant the money was received.
    let made = apply::spread(
        tx,
        party.id,
        apply::Source::Xdr(xdr_id),
        receipt.amount.0,
        receipt.invoice_id,
        instants::to_micros(receipt.received_at),
        now_us,
    )
    .await?;
    notifications::emit(tx, &Event::new("payment_received", party.id, xdr_id), now).await?;
    let allocated: i64 = made.iter().map(|(_, a)| a).sum();
    let result = PaymentResult {
        xdr_id,
        allocations: made
            .iter()
            .map(|&(invoice_id, amount)| PaymentAllocation {
                invoice_id,
                amount: Money(amount),
            })
            .collect(),
        unallocated: Money(receipt.amount.0 - allocated),
    };
    allocations::insert_payment(
        tx,
        &PaymentRow {
            xdr_id,
            party_id: party.id,
            invoice_id: receipt.invoice_id,
            result: serde_json::to_string(&result)?,
        },
        now_us,
    )
    .await?;
    audit::record(
        tx,
        actor,
        now,
        Change {
            action: "create",
            object_type: "payment",
            object_id: xdr_id.to_string(),
            owner_reseller_id: party.owner_reseller_id,
            details: json!({
                "party_id": party.id,
                "amount": Money(receipt.amount.0),
                "invoice_id": receipt.invoice_id,
                "external_id": receipt.external_id,
                "allocations": result.allocations,
                "unallocated": result.unallocated,
            }),
        },
    )
    .await?;
    Ok(result)
}

/// Where an allocation's credit came from: a payment xDR or an invoice with a negative total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AllocationSource {
    /// `payment` or `invoice`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xdr_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<i64>,
}

/// One allocation made to an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AllocationView {
    pub source: AllocationSource,
    pub amount: Money,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

/// The allocations made to an invoice, in the order they were made.
pub(crate) async fn allocations_of(tx: &mut classbill_store::Tx, invoice_id: i64) -> EngineResult<Vec<AllocationView>> {
    allocations::of_invoice(tx, invoice_id)
        .await?
        .into_iter()
        .map(|row| {
            Ok(AllocationView {
                source: AllocationSource {
                    kind: if row.source_xdr_id.is_some() {
                        "payment"
                    } else {
                        "invoice"
                    }
                    .to_owned(),
                    xdr_id: row.source_xdr_id,
                    invoice_id: row.source_invoice_id,
                },
                amount: Money(row.amount),
                at: instants::from_micros(row.at)?,
            })
        })
        .collect()
}
