//! `/payments` (customer-classes §5.1, §5.7): a received payment, booked and applied to invoices when posted;
//! and refunds (`/customers/{id}/refunds`, `/resellers/{id}/refunds`): unallocated credit handed back.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use classbill_engine::parties::PartyKind;
use classbill_engine::payments::RefundView;
use classbill_engine::{Actor, Page, PaymentResult};
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Caller, JsonValue, PageParams};
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_payment))
        .routes(routes!(refund_customer, list_customer_refunds))
        .routes(routes!(refund_reseller, list_reseller_refunds))
}

/// `POST /payments` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; the handler reads it as JSON to report every error
struct PaymentRequest {
    party_id: i64,
    /// A positive decimal string with at most five fraction digits.
    amount: String,
    /// Must be the party's currency.
    currency: String,
    #[schema(value_type = String, format = DateTime)]
    received_at: String,
    /// An invoice of the party to pay first.
    invoice_id: Option<i64>,
    /// Makes re-sending safe: the same body answers the same result, another body is 409.
    external_id: Option<String>,
}

/// Record a received payment: booked as a negative `payment` xDR and allocated to the party's invoices at once
/// (the named invoice first, then the open ones oldest first); the rest stays unallocated credit.
#[utoipa::path(post, path = "/payments", tag = "payments", request_body = PaymentRequest,
    responses((status = 201, body = PaymentResult), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn post_payment(
    State(state): State<AppState>,
    Caller(actor): Caller,
    JsonValue(body): JsonValue,
) -> ApiResult<(StatusCode, axum::Json<PaymentResult>)> {
    let result = state.engine.post_payment(&actor, &body, Timestamp::now()).await?;
    Ok((StatusCode::CREATED, axum::Json(result)))
}

/// `POST /customers/{id}/refunds` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; the handler reads it as JSON to report every error
struct RefundRequest {
    /// A positive decimal string with at most five fraction digits, at most the party's unallocated credit.
    amount: String,
    /// When the refund counts; absent = the server clock.
    #[schema(value_type = Option<String>, format = DateTime)]
    as_of: Option<String>,
    /// If given, must be the party's currency.
    currency: Option<String>,
    /// Makes re-sending safe: the same body answers the same refund (200), another body is 409.
    external_id: Option<String>,
    /// Shown to the payment system and kept as the xDR's description.
    reason: Option<String>,
}

async fn refund(
    state: &AppState,
    actor: &Actor,
    kind: PartyKind,
    id: i64,
    body: &serde_json::Value,
) -> ApiResult<(StatusCode, axum::Json<RefundView>)> {
    let (view, booked) = state
        .engine
        .refund_credit(actor, kind, id, body, Timestamp::now())
        .await?;
    let status = if booked { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, axum::Json(view)))
}

/// Refund unallocated credit of the customer (users of its owner): booked as a positive `payment` xDR of service
/// `refund`, taken from the oldest credit first and announced to the owner's webhooks as `refund_requested`.
/// More than the unallocated credit is 422 `exceeds_credit`.
#[utoipa::path(post, path = "/customers/{id}/refunds", tag = "payments", params(("id" = i64, Path)),
    request_body = RefundRequest,
    responses((status = 201, body = RefundView), (status = 200, body = RefundView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn refund_customer(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    JsonValue(body): JsonValue,
) -> ApiResult<(StatusCode, axum::Json<RefundView>)> {
    refund(&state, &actor, PartyKind::Customer, id, &body).await
}

/// Refund unallocated credit of the reseller, as for customers.
#[utoipa::path(post, path = "/resellers/{id}/refunds", tag = "payments", params(("id" = i64, Path)),
    request_body = RefundRequest,
    responses((status = 201, body = RefundView), (status = 200, body = RefundView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn refund_reseller(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    JsonValue(body): JsonValue,
) -> ApiResult<(StatusCode, axum::Json<RefundView>)> {
    refund(&state, &actor, PartyKind::Reseller, id, &body).await
}

/// The customer's refunds, oldest first.
#[utoipa::path(get, path = "/customers/{id}/refunds", tag = "payments", params(("id" = i64, Path), PageParams),
    responses((status = 200, body = Page<RefundView>), (status = 404, body = Problem)))]
async fn list_customer_refunds(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    Query(page): Query<PageParams>,
) -> ApiResult<axum::Json<Page<RefundView>>> {
    let page = page.request()?;
    Ok(axum::Json(
        state.engine.list_refunds(&actor, PartyKind::Customer, id, page).await?,
    ))
}

/// The reseller's refunds, oldest first.
#[utoipa::path(get, path = "/resellers/{id}/refunds", tag = "payments", params(("id" = i64, Path), PageParams),
    responses((status = 200, body = Page<RefundView>), (status = 404, body = Problem)))]
async fn list_reseller_refunds(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    Query(page): Query<PageParams>,
) -> ApiResult<axum::Json<Page<RefundView>>> {
    let page = page.request()?;
    Ok(axum::Json(
        state.engine.list_refunds(&actor, PartyKind::Reseller, id, page).await?,
    ))
}
