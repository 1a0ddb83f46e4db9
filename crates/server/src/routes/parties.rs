//! `/customers` and `/resellers` (customer-classes §4): create, read, list, merge-patch, block and unblock.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use classbill_domain::FieldError;
use classbill_engine::{CustomerView, NewCustomer, NewReseller, Page, PartyListFilter, ResellerView};
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Caller, JsonValue, PageParams, Query};
use crate::problem::{ApiError, ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_customers, create_customer))
        .routes(routes!(get_customer, patch_customer))
        .routes(routes!(block_customer))
        .routes(routes!(unblock_customer))
        .routes(routes!(list_resellers, create_reseller))
        .routes(routes!(get_reseller, patch_reseller))
        .routes(routes!(block_reseller))
        .routes(routes!(unblock_reseller))
}

/// The optional body of block and unblock.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActAt {
    /// The instant the action takes effect; absent = the server clock.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub as_of: Option<Timestamp>,
}

/// `as_of` of an optional JSON body, else now.
fn acting_instant(body: &Bytes) -> ApiResult<Timestamp> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Timestamp::now());
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let act: ActAt = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ApiError::invalid(vec![FieldError::new(
            if path == "." { String::new() } else { path },
            "invalid_type",
            e.inner().to_string(),
        )])
    })?;
    Ok(act.as_of.unwrap_or_else(Timestamp::now))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CustomerListParams {
    class_id: Option<i64>,
    /// A reseller id, or `none` for the operator's direct customers.
    reseller_id: Option<String>,
    /// `open`, `limited`, `suspended`, `blocked` or `closed`.
    status: Option<String>,
    currency: Option<String>,
    /// Case-insensitive substring of the name.
    name: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ResellerListParams {
    class_id: Option<i64>,
    /// A reseller id, or `none` for top-level resellers.
    parent_reseller_id: Option<String>,
    /// `open`, `limited`, `suspended`, `blocked` or `closed`.
    status: Option<String>,
    currency: Option<String>,
    /// Case-insensitive substring of the name.
    name: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// List the customers the caller may see, in id order.
#[utoipa::path(get, path = "/customers", tag = "customers", params(CustomerListParams),
    responses((status = 200, body = Page<CustomerView>), (status = 422, body = Problem)))]
async fn list_customers(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Query(p): Query<CustomerListParams>,
) -> ApiResult<axum::Json<Page<CustomerView>>> {
    let page = PageParams {
        limit: p.limit,
        cursor: p.cursor,
    }
    .request()?;
    let filter = PartyListFilter {
        class_id: p.class_id,
        owner: p.reseller_id,
        status: p.status,
        currency: p.currency,
        name: p.name,
    };
    Ok(axum::Json(state.engine.list_customers(&actor, filter, page).await?))
}

/// Create a customer; without `class_id` it joins its owner's Default class.
#[utoipa::path(post, path = "/customers", tag = "customers", request_body = NewCustomer,
    responses((status = 201, body = CustomerView), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_customer(
    State(state): State<AppState>,
    Caller(actor): Caller,
    JsonValue(body): JsonValue,
) -> ApiResult<(StatusCode, axum::Json<CustomerView>)> {
    let customer = state
        .engine
        .create_customer_from_json(&actor, body, Timestamp::now())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(customer)))
}

#[utoipa::path(get, path = "/customers/{id}", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = CustomerView), (status = 404, body = Problem)))]
async fn get_customer(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<CustomerView>> {
    Ok(axum::Json(state.engine.get_customer(&actor, id).await?))
}

/// Change a customer with a JSON Merge Patch; `reseller_id` and `currency` are immutable.
#[utoipa::path(patch, path = "/customers/{id}", tag = "customers", params(("id" = i64, Path)),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses((status = 200, body = CustomerView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn patch_customer(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    JsonValue(patch): JsonValue,
) -> ApiResult<axum::Json<CustomerView>> {
    Ok(axum::Json(
        state
            .engine
            .update_customer(&actor, id, patch, Timestamp::now())
            .await?,
    ))
}

/// Set the manual block (customer-classes §5.9 rule 2); users of the customer's owner only.
#[utoipa::path(post, path = "/customers/{id}/block", tag = "customers", params(("id" = i64, Path)),
    request_body(content = Option<ActAt>),
    responses((status = 200, body = CustomerView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn block_customer(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult<axum::Json<CustomerView>> {
    let at = acting_instant(&body)?;
    Ok(axum::Json(state.engine.block_customer(&actor, id, true, at).await?))
}

/// Lift the manual block; never charges.
#[utoipa::path(post, path = "/customers/{id}/unblock", tag = "customers", params(("id" = i64, Path)),
    request_body(content = Option<ActAt>),
    responses((status = 200, body = CustomerView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn unblock_customer(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult<axum::Json<CustomerView>> {
    let at = acting_instant(&body)?;
    Ok(axum::Json(state.engine.block_customer(&actor, id, false, at).await?))
}

/// List the resellers the caller may see, in id order.
#[utoipa::path(get, path = "/resellers", tag = "resellers", params(ResellerListParams),
    responses((status = 200, body = Page<ResellerView>), (status = 422, body = Problem)))]
async fn list_resellers(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Query(p): Query<ResellerListParams>,
) -> ApiResult<axum::Json<Page<ResellerView>>> {
    let page = PageParams {
        limit: p.limit,
        cursor: p.cursor,
    }
    .request()?;
    let filter = PartyListFilter {
        class_id: p.class_id,
        owner: p.parent_reseller_id,
        status: p.status,
        currency: p.currency,
        name: p.name,
    };
    Ok(axum::Json(state.engine.list_resellers(&actor, filter, page).await?))
}

/// Create a reseller (top-level, or a subreseller with `parent_reseller_id`) and its Default class.
#[utoipa::path(post, path = "/resellers", tag = "resellers", request_body = NewReseller,
    responses((status = 201, body = ResellerView), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_reseller(
    State(state): State<AppState>,
    Caller(actor): Caller,
    JsonValue(body): JsonValue,
) -> ApiResult<(StatusCode, axum::Json<ResellerView>)> {
    let reseller = state
        .engine
        .create_reseller_from_json(&actor, body, Timestamp::now())
        .await?;
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

/// Change a reseller with a JSON Merge Patch; `parent_reseller_id` and `currency` are immutable.
#[utoipa::path(patch, path = "/resellers/{id}", tag = "resellers", params(("id" = i64, Path)),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses((status = 200, body = ResellerView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn patch_reseller(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    JsonValue(patch): JsonValue,
) -> ApiResult<axum::Json<ResellerView>> {
    Ok(axum::Json(
        state
            .engine
            .update_reseller(&actor, id, patch, Timestamp::now())
            .await?,
    ))
}

/// Set the manual block of a reseller; users of its owner only.
#[utoipa::path(post, path = "/resellers/{id}/block", tag = "resellers", params(("id" = i64, Path)),
    request_body(content = Option<ActAt>),
    responses((status = 200, body = ResellerView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn block_reseller(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult<axum::Json<ResellerView>> {
    let at = acting_instant(&body)?;
    Ok(axum::Json(state.engine.block_reseller(&actor, id, true, at).await?))
}

/// Lift the manual block of a reseller; never charges.
#[utoipa::path(post, path = "/resellers/{id}/unblock", tag = "resellers", params(("id" = i64, Path)),
    request_body(content = Option<ActAt>),
    responses((status = 200, body = ResellerView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn unblock_reseller(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult<axum::Json<ResellerView>> {
    let at = acting_instant(&body)?;
    Ok(axum::Json(state.engine.block_reseller(&actor, id, false, at).await?))
}
