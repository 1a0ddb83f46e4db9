//! `/customer-classes/{id}/members` (customer-classes §1.3): the members of a class and bulk assignment.

use axum::extract::{Path, State};
use classbill_engine::{MemberItem, MemberOutcome, Page};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Caller, Json, PageParams, Query};
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_members, assign_members))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AssignRequest {
    /// Customers and resellers to move into the class; at most 10,000.
    party_ids: Vec<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
struct AssignOutcomes {
    items: Vec<MemberOutcome>,
}

/// The class's members the caller may see, in id order.
#[utoipa::path(get, path = "/customer-classes/{id}/members", tag = "customer classes",
    params(("id" = i64, Path), PageParams),
    responses((status = 200, body = Page<MemberItem>), (status = 404, body = Problem)))]
async fn list_members(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    Query(page): Query<PageParams>,
) -> ApiResult<axum::Json<Page<MemberItem>>> {
    Ok(axum::Json(
        state.engine.list_members(&actor, id, page.request()?).await?,
    ))
}

/// Assign many parties at once; each gets the outcome (and status) a single assignment would get.
#[utoipa::path(post, path = "/customer-classes/{id}/members", tag = "customer classes",
    params(("id" = i64, Path)), request_body = AssignRequest,
    responses((status = 200, body = AssignOutcomes), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn assign_members(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    Json(request): Json<AssignRequest>,
) -> ApiResult<axum::Json<AssignOutcomes>> {
    let items = state
        .engine
        .assign_members(&actor, id, &request.party_ids, Timestamp::now())
        .await?;
    Ok(axum::Json(AssignOutcomes { items }))
}
