//! `/customer-classes` (§2.10, §6).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use classbill_engine::Page;
use classbill_engine::classes::{
    ClassListFilter, ClassListItem, ClassView, ClassWritten, DeleteOutcome, Preview, Revision, RevisionDetail,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Caller, IfMatch, Json, JsonValue, PageParams, Query};
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_classes, create_class))
        .routes(routes!(delete_classes))
        .routes(routes!(get_class, replace_class, patch_class, delete_class))
        .routes(routes!(class_revisions))
        .routes(routes!(class_revision))
        .routes(routes!(preview_class))
        .routes(routes!(copy_policy_from_regular))
}

/// A class answer carries its revision as the ETag.
fn with_etag(status: StatusCode, revision: i64, body: impl Serialize) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{revision}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Substring of the lower-cased name.
    name: Option<String>,
    /// `administrator` or a reseller id.
    managed_by: Option<String>,
    business_model: Option<String>,
    /// ISO code or `none`.
    currency: Option<String>,
    /// `regular_and_out_of_turn`, `regular_only`, `out_of_turn_only` or `none`.
    invoices: Option<String>,
    taxation_method: Option<String>,
    /// Only classes that may be assigned to this customer or reseller.
    assignable_to: Option<i64>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// List the classes visible to the caller, sorted by name.
#[utoipa::path(get, path = "/customer-classes", tag = "customer classes", params(ListParams),
    responses((status = 200, body = Page<ClassListItem>), (status = 422, body = Problem)))]
async fn list_classes(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Query(params): Query<ListParams>,
) -> ApiResult<axum::Json<Page<ClassListItem>>> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .request()?;
    let filter = ClassListFilter {
        name: params.name,
        managed_by: params.managed_by,
        business_model: params.business_model,
        currency: params.currency,
        invoices: params.invoices,
        taxation_method: params.taxation_method,
        assignable_to: params.assignable_to,
    };
    Ok(axum::Json(state.engine.list_classes(&actor, filter, page).await?))
}

/// Create a class; omitted keys take their defaults (§2.0).
#[utoipa::path(post, path = "/customer-classes", tag = "customer classes",
    request_body(content = classbill_domain::class::ClassSettings, description = "the class document; only `name` is required"),
    responses((status = 201, body = ClassWritten), (status = 422, body = Problem)))]
async fn create_class(
    State(state): State<AppState>,
    Caller(actor): Caller,
    JsonValue(body): JsonValue,
) -> ApiResult<Response> {
    let written = state.engine.create_class(&actor, body, Timestamp::now()).await?;
    Ok(with_etag(StatusCode::CREATED, written.class.revision, written))
}

#[utoipa::path(get, path = "/customer-classes/{id}", tag = "customer classes",
    params(("id" = i64, Path)), responses((status = 200, body = ClassView), (status = 404, body = Problem)))]
async fn get_class(State(state): State<AppState>, Caller(actor): Caller, Path(id): Path<i64>) -> ApiResult<Response> {
    let class = state.engine.get_class(&actor, id).await?;
    Ok(with_etag(StatusCode::OK, class.revision, class))
}

/// Replace the whole document; needs `If-Match`.
#[utoipa::path(put, path = "/customer-classes/{id}", tag = "customer classes",
    params(("id" = i64, Path), ("If-Match" = String, Header, description = "the current revision, quoted")),
    request_body = classbill_domain::class::ClassSettings,
    responses((status = 200, body = ClassWritten), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 428, body = Problem)))]
async fn replace_class(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    IfMatch(revision): IfMatch,
    JsonValue(body): JsonValue,
) -> ApiResult<Response> {
    let written = state
        .engine
        .replace_class(&actor, id, revision, body, Timestamp::now())
        .await?;
    Ok(with_etag(StatusCode::OK, written.class.revision, written))
}

/// Change part of the document with a JSON Merge Patch (RFC 7396); needs `If-Match`.
#[utoipa::path(patch, path = "/customer-classes/{id}", tag = "customer classes",
    params(("id" = i64, Path), ("If-Match" = String, Header, description = "the current revision, quoted")),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses((status = 200, body = ClassWritten), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 428, body = Problem)))]
async fn patch_class(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    IfMatch(revision): IfMatch,
    JsonValue(body): JsonValue,
) -> ApiResult<Response> {
    let written = state
        .engine
        .patch_class(&actor, id, revision, body, Timestamp::now())
        .await?;
    Ok(with_etag(StatusCode::OK, written.class.revision, written))
}

/// Delete one class: 409 `protected_default` for a Default class, `in_use` while it has members.
#[utoipa::path(delete, path = "/customer-classes/{id}", tag = "customer classes",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_class(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state.engine.delete_class(&actor, id, Timestamp::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DeleteRequest {
    ids: Vec<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
struct DeleteOutcomes {
    items: Vec<DeleteOutcome>,
}

/// Delete many classes; each id gets its own outcome.
#[utoipa::path(post, path = "/customer-classes/delete", tag = "customer classes", request_body = DeleteRequest,
    responses((status = 200, body = DeleteOutcomes), (status = 422, body = Problem)))]
async fn delete_classes(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Json(request): Json<DeleteRequest>,
) -> ApiResult<axum::Json<DeleteOutcomes>> {
    if request.ids.len() > classbill_engine::MAX_LIMIT as usize {
        return Err(crate::problem::ApiError::invalid(vec![
            classbill_domain::FieldError::new(
                "ids",
                "too_many",
                format!("at most {} ids per request", classbill_engine::MAX_LIMIT),
            ),
        ]));
    }
    let items = state
        .engine
        .delete_classes(&actor, &request.ids, Timestamp::now())
        .await?;
    Ok(axum::Json(DeleteOutcomes { items }))
}

/// The revision history, newest first.
#[utoipa::path(get, path = "/customer-classes/{id}/revisions", tag = "customer classes",
    params(("id" = i64, Path), PageParams), responses((status = 200, body = Page<Revision>), (status = 404, body = Problem)))]
async fn class_revisions(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    Query(page): Query<PageParams>,
) -> ApiResult<axum::Json<Page<Revision>>> {
    Ok(axum::Json(
        state.engine.class_revisions(&actor, id, page.request()?).await?,
    ))
}

/// One revision with the document as it was saved.
#[utoipa::path(get, path = "/customer-classes/{id}/revisions/{revision}", tag = "customer classes",
    params(("id" = i64, Path), ("revision" = i64, Path)),
    responses((status = 200, body = RevisionDetail), (status = 404, body = Problem)))]
async fn class_revision(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((id, revision)): Path<(i64, i64)>,
) -> ApiResult<axum::Json<RevisionDetail>> {
    Ok(axum::Json(state.engine.class_revision(&actor, id, revision).await?))
}

/// Validate a merge patch and count the members it would affect; saves nothing.
#[utoipa::path(post, path = "/customer-classes/{id}/preview", tag = "customer classes",
    params(("id" = i64, Path)), request_body(content = Object, description = "a JSON Merge Patch"),
    responses((status = 200, body = Preview), (status = 404, body = Problem)))]
async fn preview_class(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    JsonValue(body): JsonValue,
) -> ApiResult<axum::Json<Preview>> {
    Ok(axum::Json(state.engine.preview_class(&actor, id, body).await?))
}

/// Copy the invoice policy block of `regular_invoices` into `out_of_turn_invoices`; needs `If-Match`.
#[utoipa::path(post, path = "/customer-classes/{id}/out-of-turn-invoices/copy-policy-from-regular",
    tag = "customer classes",
    params(("id" = i64, Path), ("If-Match" = String, Header, description = "the current revision, quoted")),
    responses((status = 200, body = ClassWritten), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 428, body = Problem)))]
async fn copy_policy_from_regular(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    IfMatch(revision): IfMatch,
) -> ApiResult<Response> {
    let written = state
        .engine
        .copy_policy_from_regular(&actor, id, revision, Timestamp::now())
        .await?;
    Ok(with_etag(StatusCode::OK, written.class.revision, written))
}
