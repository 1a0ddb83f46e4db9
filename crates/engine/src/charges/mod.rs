//! Charge requests and their results (customer-classes §5.8 rule 5). Nothing is charged inside Classbill: a
//! request is the integration event `charge_requested` sent to the owner's webhooks, and the charge connector
//! reports back through `POST /charge-results`. A succeeded charge books a payment naming the invoice; a
//! failed one emits `auto_charge_failed`. Only the first result of a request counts.

use classbill_domain::{FieldError, Money};
use classbill_store::charges::{self as store_charges, ChargeRequestRow, ChargeResult, NewChargeRequest};
use classbill_store::invoices::{self as store_invoices, InvoiceRow};
use classbill_store::{StoreError, Tx, instants, parties};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::actor::Actor;
use crate::error::{EngineError, EngineResult};
use crate::notifications::{self, Event};
use crate::parties::owner_of;
use crate::payments::{Receipt, book_payment};

/// The id of attempt `attempt` of an invoice's charge: unique, and the same however often it is asked for.
fn request_id(invoice_id: i64, attempt: i64) -> String {
    format!("chr_{invoice_id}_{attempt}")
}

/// Asks the charge connector for the invoice's open amount (attempt 1 at issue or approval, later attempts on
/// the due date and the retry days), if anything is open: records the request and emits `charge_requested`
/// in the caller's transaction. Asking again for the same attempt changes nothing.
pub(crate) async fn request_charge(
    tx: &mut Tx,
    invoice: &InvoiceRow,
    attempt: i64,
    now: Timestamp,
) -> EngineResult<()> {
    if invoice.open_amount <= 0 {
        return Ok(());
    }
    let party = parties::get(tx, invoice.party_id).await?.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "party {} of invoice {} is missing",
            invoice.party_id, invoice.id
        ))
    })?;
    let request = NewChargeRequest {
        request_id: request_id(invoice.id, attempt),
        invoice_id: invoice.id,
        party_id: party.id,
        amount: invoice.open_amount,
        currency: party.currency.clone(),
        attempt,
    };
    if !store_charges::insert(tx, &request, instants::to_micros(now)).await? {
        return Ok(());
    }
    let event = Event::new("charge_requested", party.id, invoice.id)
        .occurrence(attempt.to_string())
        .with("request_id", request.request_id.as_str())
        .with("party_id", party.id)
        .with("invoice_id", invoice.id)
        .with("amount", Money(request.amount).to_string())
        .with("currency", request.currency.as_str())
        .with("attempt", attempt);
    notifications::emit(tx, &event, now).await
}

/// A charge request with the result that counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChargeRequestView {
    pub request_id: String,
    pub invoice_id: i64,
    pub party_id: i64,
    /// The open amount the request asked for.
    pub amount: Money,
    pub currency: String,
    pub attempt: i64,
    /// `succeeded` or `failed`: the first result reported.
    pub outcome: Option<String>,
    /// When the connector says the charge happened or failed.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<Timestamp>,
    pub reason: Option<String>,
    /// The payment a succeeded charge booked.
    pub payment_xdr_id: Option<i64>,
}

impl ChargeRequestView {
    fn from_row(row: ChargeRequestRow) -> EngineResult<Self> {
        Ok(ChargeRequestView {
            request_id: row.request_id,
            invoice_id: row.invoice_id,
            party_id: row.party_id,
            amount: Money(row.amount),
            currency: row.currency,
            attempt: row.attempt,
            outcome: row.outcome,
            at: row.outcome_at.map(instants::from_micros).transpose()?,
            reason: row.reason,
            payment_xdr_id: row.payment_xdr_id,
        })
    }
}

/// The body of `POST /charge-results`.
struct ResultInput {
    request_id: String,
    outcome: String,
    at: Timestamp,
    reason: Option<String>,
}

const FIELDS: &[&str] = &["request_id", "outcome", "at", "reason"];

fn parse(body: &Value) -> EngineResult<ResultInput> {
    let Some(object) = body.as_object() else {
        return Err(EngineError::invalid(
            "",
            "invalid_type",
            "the body must be a JSON object",
        ));
    };
    let mut errors = Vec::new();
    for key in object.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        errors.push(FieldError::new(key, "unknown_field", format!("unknown field `{key}`")));
    }
    let mut text = |field: &str| match body.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(Value::String(_)) => None,
        Some(_) => {
            errors.push(FieldError::new(field, "invalid_type", "must be a string"));
            None
        }
    };
    let request_id = text("request_id");
    let outcome = text("outcome");
    let at = text("at");
    let reason = text("reason");
    let mut required = |value: &Option<String>, field: &str| {
        if value.is_none() && !errors.iter().any(|e| e.field == field) {
            errors.push(FieldError::new(field, "required", format!("`{field}` is required")));
        }
    };
    required(&request_id, "request_id");
    required(&outcome, "outcome");
    required(&at, "at");
    if let Some(outcome) = &outcome
        && outcome != "succeeded"
        && outcome != "failed"
    {
        errors.push(FieldError::new(
            "outcome",
            "invalid",
            format!("outcome {outcome:?} is not one of succeeded, failed"),
        ));
    }
    let at = at.and_then(|t| match t.parse::<Timestamp>() {
        Ok(at) => Some(at),
        Err(_) => {
            errors.push(FieldError::new("at", "invalid_type", "must be an RFC 3339 instant"));
            None
        }
    });
    match (request_id, outcome, at) {
        (Some(request_id), Some(outcome), Some(at)) if errors.is_empty() => Ok(ResultInput {
            request_id,
            outcome,
            at,
            reason,
        }),
        _ => Err(EngineError::Invalid(errors)),
    }
}

async fn invoice(tx: &mut Tx, id: i64) -> EngineResult<InvoiceRow> {
    Ok(store_invoices::get(tx, id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("invoice {id} of a charge request is missing")))?)
}

impl crate::Engine {
    /// `POST /charge-results`: the charge connector's result of one request. The first result counts:
    /// `succeeded` books a payment of the requested amount naming the invoice, received at `at`; `failed`
    /// emits `auto_charge_failed` with the reason. A later result for the same request changes nothing and
    /// answers the stored one. A request of a party the actor may not see is 404, like an unknown one.
    pub async fn record_charge_result(
        &self,
        actor: &Actor,
        body: &Value,
        now: Timestamp,
    ) -> EngineResult<ChargeRequestView> {
        let input = parse(body)?;
        let not_found = || EngineError::NotFound(format!("charge request {} not found", input.request_id));
        let mut tx = self.store.write().await?;
        let request = store_charges::get(&mut tx, &input.request_id)
            .await?
            .ok_or_else(not_found)?;
        let party = parties::get(&mut tx, request.party_id)
            .await?
            .filter(|p| actor.sees(owner_of(p)))
            .ok_or_else(not_found)?;
        let result = ChargeResult {
            outcome: &input.outcome,
            at: instants::to_micros(input.at),
            reason: input.reason.as_deref(),
        };
        if store_charges::record_result(&mut tx, &request.request_id, &result, instants::to_micros(now)).await? {
            if input.outcome == "succeeded" {
                if result.at < party.activated_at {
                    return Err(EngineError::invalid(
                        "at",
                        "before_activation",
                        "lies before the party's activated_at",
                    ));
                }
                let receipt = Receipt {
                    amount: Money(request.amount),
                    received_at: input.at,
                    invoice_id: Some(request.invoice_id),
                    external_id: Some(request.request_id.clone()),
                };
                let payment = book_payment(&mut tx, actor, &party, &receipt, now).await?;
                store_charges::set_payment(&mut tx, &request.request_id, payment.xdr_id).await?;
            } else {
                let row = invoice(&mut tx, request.invoice_id).await?;
                let event = Event::for_invoice("auto_charge_failed", &row)
                    .occurrence(request.request_id.as_str())
                    .with("request_id", request.request_id.as_str())
                    .with("attempt", request.attempt)
                    .with("reason", input.reason.clone().unwrap_or_default());
                notifications::emit(&mut tx, &event, now).await?;
            }
        }
        let stored = store_charges::get(&mut tx, &request.request_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("charge request {} vanished", request.request_id)))?;
        tx.commit().await?;
        ChargeRequestView::from_row(stored)
    }
}
