//! `/customers/{id}/effective-settings` and `/resellers/{id}/effective-settings` (§4).

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use classbill_engine::parties::PartyKind;
use jiff::Timestamp;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::Caller;
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(customer_effective_settings))
        .routes(routes!(reseller_effective_settings))
}

/// A JSON document serialised already, answered as `axum::Json` would answer it.
struct JsonText(String);

impl IntoResponse for JsonText {
    fn into_response(self) -> Response {
        ([(CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

/// Effective settings of a customer
///
/// The customer's class merged with its overrides. Every leaf is `{"value": …, "source": …}` with `source` one
/// of `class` (plus `class_id`, `class_revision`), `party`, `owner`, `rule` (plus `rule`) or `installation`;
/// installation values appear under `installation`.
#[utoipa::path(get, path = "/customers/{id}/effective-settings", tag = "effective settings",
    params(("id" = i64, Path)),
    responses((status = 200, body = Object, description = "the merged settings document"),
        (status = 404, body = Problem, description = "no such party, or not visible to the caller")))]
async fn customer_effective_settings(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<JsonText> {
    let json = state
        .engine
        .effective_settings_json(&actor, PartyKind::Customer, id, Timestamp::now())
        .await?;
    Ok(JsonText(json))
}

/// Effective settings of a reseller
///
/// The reseller's class merged with its overrides, in the same form as for customers.
#[utoipa::path(get, path = "/resellers/{id}/effective-settings", tag = "effective settings",
    params(("id" = i64, Path)),
    responses((status = 200, body = Object, description = "the merged settings document"),
        (status = 404, body = Problem, description = "no such party, or not visible to the caller")))]
async fn reseller_effective_settings(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<JsonText> {
    let json = state
        .engine
        .effective_settings_json(&actor, PartyKind::Reseller, id, Timestamp::now())
        .await?;
    Ok(JsonText(json))
}
