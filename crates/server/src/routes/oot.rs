//! Out-of-turn invoices (`/customers/{id}/out-of-turn-invoices`, `/resellers/{id}/out-of-turn-invoices`,
//! customer-classes §5.10) and the charge connector's results (`/charge-results`, §5.8 rule 5).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use classbill_engine::InvoiceView;
use classbill_engine::charges::ChargeRequestView;
use classbill_engine::parties::PartyKind;
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Caller, JsonValue};
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(issue_for_customer))
        .routes(routes!(issue_for_reseller))
        .routes(routes!(post_charge_result))
}

/// One new line of an out-of-turn invoice.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; the handler reads it as JSON to report every error
struct OotItem {
    /// `one_time` or `credit`.
    kind: String,
    description: Option<String>,
    service: String,
    rate_code: Option<String>,
    /// A positive decimal string.
    quantity: String,
    /// A decimal string ≥ 0; the amount is quantity × unit_price (negative for a credit), half away from zero at
    /// five decimals.
    unit_price: String,
}

/// `POST /customers/{id}/out-of-turn-invoices` body: at least one xDR id or item.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; the handler reads it as JSON to report every error
struct OotRequest {
    /// The same key and body answer the invoice issued first; the same key with another body is 409.
    idempotency_key: String,
    /// The issue instant; absent = the server clock.
    #[schema(value_type = Option<String>, format = DateTime)]
    as_of: Option<String>,
    /// Uninvoiced charge xDRs of the party in open periods.
    #[serde(default)]
    xdr_ids: Vec<i64>,
    #[serde(default)]
    items: Vec<OotItem>,
}

async fn issue(
    state: &AppState,
    actor: &classbill_engine::Actor,
    kind: PartyKind,
    id: i64,
    body: &serde_json::Value,
) -> ApiResult<(StatusCode, axum::Json<InvoiceView>)> {
    let (invoice, issued) = state
        .engine
        .issue_out_of_turn_invoice(actor, kind, id, body, Timestamp::now())
        .await?;
    let status = if issued { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, axum::Json(invoice)))
}

/// Issue an out-of-turn invoice of the customer from its uninvoiced xDRs and new items (users of its owner);
/// 201 with the invoice, 200 with the same invoice when the request is sent again.
#[utoipa::path(post, path = "/customers/{id}/out-of-turn-invoices", tag = "invoices", params(("id" = i64, Path)),
    request_body = OotRequest,
    responses((status = 201, body = InvoiceView), (status = 200, body = InvoiceView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 502, body = Problem, description = "the external tax engine failed; nothing was written")))]
async fn issue_for_customer(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    JsonValue(body): JsonValue,
) -> ApiResult<(StatusCode, axum::Json<InvoiceView>)> {
    issue(&state, &actor, PartyKind::Customer, id, &body).await
}

/// Issue an out-of-turn invoice of the reseller, as for customers.
#[utoipa::path(post, path = "/resellers/{id}/out-of-turn-invoices", tag = "invoices", params(("id" = i64, Path)),
    request_body = OotRequest,
    responses((status = 201, body = InvoiceView), (status = 200, body = InvoiceView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 502, body = Problem, description = "the external tax engine failed; nothing was written")))]
async fn issue_for_reseller(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    JsonValue(body): JsonValue,
) -> ApiResult<(StatusCode, axum::Json<InvoiceView>)> {
    issue(&state, &actor, PartyKind::Reseller, id, &body).await
}

/// `POST /charge-results` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; the handler reads it as JSON to report every error
struct ChargeResultRequest {
    /// The `request_id` of the `charge_requested` event.
    request_id: String,
    /// `succeeded` or `failed`.
    outcome: String,
    /// When the charge happened or failed; a succeeded charge is booked as a payment received then.
    #[schema(value_type = String, format = DateTime)]
    at: String,
    /// Why it failed; carried by `auto_charge_failed`.
    reason: Option<String>,
}

/// Report the result of a charge request. The first result counts: `succeeded` books a payment of the
/// requested amount naming the invoice, `failed` emits `auto_charge_failed`; a later one answers the stored
/// result and changes nothing.
#[utoipa::path(post, path = "/charge-results", tag = "payments", request_body = ChargeResultRequest,
    responses((status = 200, body = ChargeRequestView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn post_charge_result(
    State(state): State<AppState>,
    Caller(actor): Caller,
    JsonValue(body): JsonValue,
) -> ApiResult<axum::Json<ChargeRequestView>> {
    Ok(axum::Json(
        state
            .engine
            .record_charge_result(&actor, &body, Timestamp::now())
            .await?,
    ))
}
