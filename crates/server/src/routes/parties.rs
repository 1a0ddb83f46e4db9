//! `/customers` and `/resellers` (customer-classes §4): create, read, list, merge-patch, block and unblock.

use axum::body::Bytes;
use classbill_domain::FieldError;
use classbill_engine::{CustomerView, NewCustomer, NewReseller, ResellerView};
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::problem::{ApiError, ApiResult};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(customers::router())
        .merge(resellers::router())
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
pub(crate) fn acting_instant(body: &Bytes) -> ApiResult<Timestamp> {
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

/// The same six operations for customers and resellers, generated once per kind so that each route has its own
/// OpenAPI entry; the two kinds differ in their view, their creation body and the field naming their owner.
macro_rules! party_routes {
    (
        $module:ident, $tag:literal, $view:ty, $new:ty, $params:ty, $owner_field:ident,
        list: $list:ident, create: $create:ident, get: $get:ident, update: $update:ident, block: $block:ident,
        $collection:literal, $item:literal, $block_path:literal, $unblock_path:literal
    ) => {
        mod $module {
            use axum::body::Bytes;
            use axum::extract::{Path, State};
            use axum::http::StatusCode;
            use classbill_engine::{Page, PartyListFilter};
            use jiff::Timestamp;
            use utoipa_axum::router::OpenApiRouter;
            use utoipa_axum::routes;

            use super::*;
            use crate::extract::{Caller, JsonValue, PageParams, Query};
            use crate::problem::{ApiResult, Problem};

            pub fn router() -> OpenApiRouter<AppState> {
                OpenApiRouter::new()
                    .routes(routes!(list, create))
                    .routes(routes!(get, patch))
                    .routes(routes!(block))
                    .routes(routes!(unblock))
            }

            /// List the parties of this kind that the caller may see, in id order.
            #[utoipa::path(get, path = $collection, tag = $tag, params($params),
                responses((status = 200, body = Page<$view>), (status = 422, body = Problem)))]
            async fn list(
                State(state): State<AppState>,
                Caller(actor): Caller,
                Query(p): Query<$params>,
            ) -> ApiResult<axum::Json<Page<$view>>> {
                let page = PageParams { limit: p.limit, cursor: p.cursor }.request()?;
                let filter = PartyListFilter {
                    class_id: p.class_id,
                    owner: p.$owner_field,
                    status: p.status,
                    currency: p.currency,
                    name: p.name,
                };
                Ok(axum::Json(state.engine.$list(&actor, filter, page).await?))
            }

            /// Create one; without `class_id` it joins its owner's Default class.
            #[utoipa::path(post, path = $collection, tag = $tag, request_body = $new,
                responses((status = 201, body = $view), (status = 403, body = Problem), (status = 422, body = Problem)))]
            async fn create(
                State(state): State<AppState>,
                Caller(actor): Caller,
                JsonValue(body): JsonValue,
            ) -> ApiResult<(StatusCode, axum::Json<$view>)> {
                let party = state.engine.$create(&actor, body, Timestamp::now()).await?;
                Ok((StatusCode::CREATED, axum::Json(party)))
            }

            #[utoipa::path(get, path = $item, tag = $tag, params(("id" = i64, Path)),
                responses((status = 200, body = $view), (status = 404, body = Problem)))]
            async fn get(
                State(state): State<AppState>,
                Caller(actor): Caller,
                Path(id): Path<i64>,
            ) -> ApiResult<axum::Json<$view>> {
                Ok(axum::Json(state.engine.$get(&actor, id).await?))
            }

            /// Change it with a JSON Merge Patch; the owning reseller and the currency are immutable.
            #[utoipa::path(patch, path = $item, tag = $tag, params(("id" = i64, Path)),
                request_body(content = Object, content_type = "application/merge-patch+json"),
                responses((status = 200, body = $view), (status = 403, body = Problem), (status = 404, body = Problem),
                    (status = 409, body = Problem), (status = 422, body = Problem)))]
            async fn patch(
                State(state): State<AppState>,
                Caller(actor): Caller,
                Path(id): Path<i64>,
                JsonValue(patch): JsonValue,
            ) -> ApiResult<axum::Json<$view>> {
                Ok(axum::Json(state.engine.$update(&actor, id, patch, Timestamp::now()).await?))
            }

            /// Set the manual block (customer-classes §5.9 rule 2); users of the party's owner only.
            #[utoipa::path(post, path = $block_path, tag = $tag, params(("id" = i64, Path)),
                request_body(content = Option<ActAt>),
                responses((status = 200, body = $view), (status = 403, body = Problem), (status = 404, body = Problem)))]
            async fn block(
                State(state): State<AppState>,
                Caller(actor): Caller,
                Path(id): Path<i64>,
                body: Bytes,
            ) -> ApiResult<axum::Json<$view>> {
                let at = acting_instant(&body)?;
                Ok(axum::Json(state.engine.$block(&actor, id, true, at).await?))
            }

            /// Lift the manual block; never charges.
            #[utoipa::path(post, path = $unblock_path, tag = $tag, params(("id" = i64, Path)),
                request_body(content = Option<ActAt>),
                responses((status = 200, body = $view), (status = 403, body = Problem), (status = 404, body = Problem)))]
            async fn unblock(
                State(state): State<AppState>,
                Caller(actor): Caller,
                Path(id): Path<i64>,
                body: Bytes,
            ) -> ApiResult<axum::Json<$view>> {
                let at = acting_instant(&body)?;
                Ok(axum::Json(state.engine.$block(&actor, id, false, at).await?))
            }
        }
    };
}

party_routes!(customers, "customers", CustomerView, NewCustomer, CustomerListParams, reseller_id,
    list: list_customers, create: create_customer_from_json, get: get_customer, update: update_customer,
    block: block_customer, "/customers", "/customers/{id}", "/customers/{id}/block", "/customers/{id}/unblock");
party_routes!(resellers, "resellers", ResellerView, NewReseller, ResellerListParams, parent_reseller_id,
    list: list_resellers, create: create_reseller_from_json, get: get_reseller, update: update_reseller,
    block: block_reseller, "/resellers", "/resellers/{id}", "/resellers/{id}/block", "/resellers/{id}/unblock");
