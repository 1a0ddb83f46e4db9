//! `/resellers`: enough of the reseller record to own classes; each reseller gets its Default class.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use classbill_engine::{NewReseller, Page, ResellerView};
use jiff::Timestamp;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Caller, Json, PageParams, Query};
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_resellers, create_reseller))
        .routes(routes!(get_reseller))
}

#[utoipa::path(get, path = "/resellers", tag = "resellers", params(PageParams),
    responses((status = 200, body = Page<ResellerView>)))]
async fn list_resellers(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Query(page): Query<PageParams>,
) -> ApiResult<axum::Json<Page<ResellerView>>> {
    Ok(axum::Json(state.engine.list_resellers(&actor, page.request()?).await?))
}

/// Create a reseller (top-level, or a subreseller with `parent_reseller_id`) and its Default class.
#[utoipa::path(post, path = "/resellers", tag = "resellers", request_body = NewReseller,
    responses((status = 201, body = ResellerView), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_reseller(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Json(body): Json<NewReseller>,
) -> ApiResult<(StatusCode, axum::Json<ResellerView>)> {
    let reseller = state.engine.create_reseller(&actor, body, Timestamp::now()).await?;
    Ok((StatusCode::CREATED, axum::Json(reseller)))
}

#[utoipa::path(get, path = "/resellers/{id}", tag = "resellers", params(("id" = i64, Path)),
    responses((status = 200, body = ResellerView), (status = 404, body = Problem)))]
async fn get_reseller(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<ResellerView>> {
    Ok(axum::Json(state.engine.get_reseller(&actor, id).await?))
}
