//! `/audit-log` and `/secrets/{name}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use classbill_engine::{AuditEntry, Page};
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Caller, Json, PageParams, Query};
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(audit_log))
        .routes(routes!(put_secret))
}

/// Who changed what, when; newest first. Reseller users see their reseller's entries.
#[utoipa::path(get, path = "/audit-log", tag = "audit", params(PageParams),
    responses((status = 200, body = Page<AuditEntry>)))]
async fn audit_log(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Query(page): Query<PageParams>,
) -> ApiResult<axum::Json<Page<AuditEntry>>> {
    Ok(axum::Json(state.engine.audit_log(&actor, page.request()?).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SecretValue {
    value: String,
}

/// Store a secret of the caller's owner; write-only.
#[utoipa::path(put, path = "/secrets/{name}", tag = "secrets", params(("name" = String, Path)),
    request_body = SecretValue, responses((status = 204), (status = 422, body = Problem)))]
async fn put_secret(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(name): Path<String>,
    Json(body): Json<SecretValue>,
) -> ApiResult<StatusCode> {
    state
        .engine
        .put_secret(&actor, &name, &body.value, Timestamp::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
