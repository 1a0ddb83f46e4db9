//! `/notifications` (the delivery log) and `/webhook-endpoints` (customer-classes §5.13).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use classbill_engine::Page;
use classbill_engine::notifications::{NewWebhookEndpoint, NotificationFilter, NotificationView, WebhookEndpointView};
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Caller, JsonValue, PageParams, Query};
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notifications))
        .routes(routes!(get_notification))
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(delete_endpoint))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct NotificationListParams {
    party_id: Option<i64>,
    /// An event key of customer-classes §5.13.
    event: Option<String>,
    /// `pending`, `sent`, `dead` or `skipped`.
    status: Option<String>,
    /// `email`, `sms` or `webhook`.
    channel: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The delivery log of the messages about parties the caller sees, newest first.
#[utoipa::path(get, path = "/notifications", tag = "notifications", params(NotificationListParams),
    responses((status = 200, body = Page<NotificationView>), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn list_notifications(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Query(p): Query<NotificationListParams>,
) -> ApiResult<axum::Json<Page<NotificationView>>> {
    let page = PageParams {
        limit: p.limit,
        cursor: p.cursor,
    }
    .request()?;
    let filter = NotificationFilter {
        party_id: p.party_id,
        event: p.event,
        status: p.status,
        channel: p.channel,
    };
    Ok(axum::Json(state.engine.list_notifications(&actor, filter, page).await?))
}

/// One message of the delivery log with every delivery attempt (`attempt_log`).
#[utoipa::path(get, path = "/notifications/{id}", tag = "notifications", params(("id" = i64, Path)),
    responses((status = 200, body = NotificationView), (status = 404, body = Problem)))]
async fn get_notification(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<NotificationView>> {
    Ok(axum::Json(state.engine.get_notification(&actor, id).await?))
}

/// The caller's webhook endpoints (administrators: everyone's), in id order.
#[utoipa::path(get, path = "/webhook-endpoints", tag = "webhook endpoints", params(PageParams),
    responses((status = 200, body = Page<WebhookEndpointView>)))]
async fn list_endpoints(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Query(page): Query<PageParams>,
) -> ApiResult<axum::Json<Page<WebhookEndpointView>>> {
    Ok(axum::Json(
        state.engine.list_webhook_endpoints(&actor, page.request()?).await?,
    ))
}

/// Adds an endpoint. `secret_ref` names a secret of the same owner stored with `PUT /secrets/{name}`; every
/// delivery carries `Classbill-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`.
#[utoipa::path(post, path = "/webhook-endpoints", tag = "webhook endpoints", request_body = NewWebhookEndpoint,
    responses((status = 201, body = WebhookEndpointView), (status = 422, body = Problem)))]
async fn create_endpoint(
    State(state): State<AppState>,
    Caller(actor): Caller,
    JsonValue(body): JsonValue,
) -> ApiResult<(StatusCode, axum::Json<WebhookEndpointView>)> {
    let endpoint = state
        .engine
        .create_webhook_endpoint(&actor, body, Timestamp::now())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(endpoint)))
}

/// Removes an endpoint of the caller's owner.
#[utoipa::path(delete, path = "/webhook-endpoints/{id}", tag = "webhook endpoints", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_endpoint(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state
        .engine
        .delete_webhook_endpoint(&actor, id, Timestamp::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
