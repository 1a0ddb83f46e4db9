//! Credit notes on the invoice page: the notes already issued against the invoice, and a form with a reason and
//! the invoice's charges as checkboxes (none ticked credits everything not credited yet) sent to the engine's
//! `issue_credit_note`, the method behind `POST /api/v1/invoices/{id}/credit-notes`.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use classbill_domain::Owner;
use classbill_engine::{Actor, EngineError, InvoiceView};
use serde_json::{Map, Value, json};

use super::UiState;
use super::form::FormData;
use super::invoices::render_detail;
use super::session::Session;

/// The invoice kinds a credit note corrects.
const CREDITABLE: &[&str] = &["regular", "oot", "recurring_fees"];
/// Records of an invoice that are not charges: its own taxes and rounding, and payments.
const NOT_CHARGES: &[&str] = &["tax", "rounding", "payment"];

/// The credit form as last sent, with the engine's errors by form field (`reason`, `xdr_ids`, `form`).
#[derive(Debug, Default)]
pub struct Submitted {
    pub reason: String,
    pub xdr_ids: Vec<i64>,
    pub errors: Map<String, Value>,
}

/// The owner of the invoice's party as `actor` sees it; `None` when the party is out of the actor's sight.
async fn party_owner(state: &UiState, actor: &Actor, party_id: i64) -> Option<Owner> {
    if let Ok(customer) = state.engine.get_customer(actor, party_id).await {
        return Some(Owner::from_reseller_id(customer.reseller_id));
    }
    if let Ok(reseller) = state.engine.get_reseller(actor, party_id).await {
        return Some(Owner::from_reseller_id(reseller.parent_reseller_id));
    }
    None
}

/// The credit notes of the invoice and, for users of its owner, the form: both parts of the invoice page.
pub async fn section(
    state: &UiState,
    actor: &Actor,
    invoice: &InvoiceView,
    submitted: Option<Submitted>,
) -> Result<Value, EngineError> {
    let creditable = CREDITABLE.contains(&invoice.kind.as_str());
    let issued = if creditable {
        state.engine.list_credit_notes(actor, invoice.id).await?
    } else {
        Vec::new()
    };
    let may_credit = creditable && party_owner(state, actor, invoice.party_id).await == Some(actor.owner());
    let charges: Vec<_> = if may_credit {
        state
            .engine
            .invoice_xdrs(actor, invoice.id)
            .await?
            .into_iter()
            .filter(|x| !NOT_CHARGES.contains(&x.kind.as_str()))
            .collect()
    } else {
        Vec::new()
    };
    let submitted = submitted.unwrap_or_default();
    let section = json!({"creditable": creditable, "issued": issued, "may_credit": may_credit, "charges": charges,
                         "reason": submitted.reason, "checked": submitted.xdr_ids, "errors": submitted.errors});
    Ok(section)
}

fn add_error(errors: &mut Map<String, Value>, place: &str, message: &str) {
    if let Value::Array(messages) = errors.entry(place).or_insert_with(|| json!([])) {
        messages.push(json!(message));
    }
}

/// Issues the credit note and shows the invoice again with it; a refusal shows the form as it was sent.
pub async fn issue(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let reason = form.last("reason").unwrap_or("").to_owned();
    let xdr_ids = form.ids("xdr_id");
    let mut request = json!({"reason": reason});
    if !xdr_ids.is_empty() {
        request["xdr_ids"] = json!(xdr_ids);
    }
    let (status, errors) = match state
        .engine
        .issue_credit_note(&session.actor, id, &request, state.clock.now())
        .await
    {
        Ok(note) => {
            return Redirect::to(&format!("/invoices/{id}?credited={}", note.credit_note.id)).into_response();
        }
        Err(EngineError::Invalid(errors)) => (StatusCode::UNPROCESSABLE_ENTITY, errors),
        Err(EngineError::Conflict { message, errors, .. }) => {
            let mut all = vec![classbill_domain::FieldError::new("", "conflict", message)];
            all.extend(errors);
            (StatusCode::CONFLICT, all)
        }
        Err(e) => return state.pages.error(&session, e),
    };
    let mut submitted = Submitted {
        reason,
        xdr_ids,
        errors: Map::new(),
    };
    for error in &errors {
        let place = match error.field.as_str() {
            "reason" => "reason",
            field if field.starts_with("xdr_ids") => "xdr_ids",
            _ => "form",
        };
        add_error(&mut submitted.errors, place, &error.message);
    }
    let mut response = render_detail(&state, &session, id, None, Some(submitted)).await;
    if response.status() == StatusCode::OK {
        *response.status_mut() = status;
    }
    response
}
