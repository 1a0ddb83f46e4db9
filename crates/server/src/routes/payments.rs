//! `/payments` (customer-classes §5.1, §5.7): a received payment, booked and applied to invoices when posted.

use axum::extract::State;
use axum::http::StatusCode;
use classbill_engine::PaymentResult;
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Caller, JsonValue};
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_payment))
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
