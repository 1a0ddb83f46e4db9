//! Erasure of a terminated party's personal data (`/customers/{id}/erase`, `/resellers/{id}/erase`).

use axum::extract::{Path, State};
use classbill_engine::parties::PartyKind;
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::Caller;
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(erase_customer))
        .routes(routes!(erase_reseller))
}

/// What an erasure removed besides the name, e-mail, phone and tax id.
#[derive(Debug, Serialize, ToSchema)]
struct Erased {
    /// Keys of the personal-data custom values removed.
    custom_fields: Vec<String>,
}

/// Erase a terminated customer's personal data; its invoices, xDRs and amounts stay (users of its owner).
#[utoipa::path(post, path = "/customers/{id}/erase", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = Erased), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn erase_customer(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Erased>> {
    let custom_fields = state
        .engine
        .erase_party(&actor, PartyKind::Customer, id, Timestamp::now())
        .await?;
    Ok(axum::Json(Erased { custom_fields }))
}

/// Erase a terminated reseller's personal data (users of its owner).
#[utoipa::path(post, path = "/resellers/{id}/erase", tag = "resellers", params(("id" = i64, Path)),
    responses((status = 200, body = Erased), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn erase_reseller(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Erased>> {
    let custom_fields = state
        .engine
        .erase_party(&actor, PartyKind::Reseller, id, Timestamp::now())
        .await?;
    Ok(axum::Json(Erased { custom_fields }))
}
