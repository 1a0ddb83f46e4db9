//! `/collection-runs`, `/invoices/{id}/collection-schedule` and the parties' status histories (customer-classes
//! §5.8, §5.9): collection runs requested over HTTP and run in the background, and what they did.

use axum::body::Bytes;
use axum::extract::{Path, State};
use classbill_engine::InvoiceView;
use classbill_engine::collections::{CollectionRunView, CollectionScheduleView, StatusChangeView};
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::billing::{instant_field, run_routes};
use super::parties::{ActAt, acting_instant};
use crate::AppState;
use crate::extract::{Caller, JsonValue};
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(collection_runs::router())
        .routes(routes!(get_schedule))
        .routes(routes!(approve_invoice))
        .routes(routes!(void_invoice))
        .routes(routes!(customer_status_history))
        .routes(routes!(reseller_status_history))
}

run_routes! {
    mod collection_runs;
    kind: Collection, view: CollectionRunView, path: "/collection-runs", item_path: "/collection-runs/{id}",
    tag: "collection-runs";
    /// Start a collection run: fires every reminder and ladder event due at `as_of`, each with its own date, in
    /// the background (administrators only).
    post;
    /// List collection runs in id order (administrators only).
    list => list_collection_runs;
    /// One collection run with its counts.
    get => get_collection_run;
}

/// An invoice's collection schedule, frozen at issue: every reminder, resend and ladder step with its date,
/// due instant and state, by due instant.
#[utoipa::path(get, path = "/invoices/{id}/collection-schedule", tag = "invoices", params(("id" = i64, Path)),
    responses((status = 200, body = CollectionScheduleView), (status = 404, body = Problem)))]
async fn get_schedule(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<CollectionScheduleView>> {
    Ok(axum::Json(state.engine.collection_schedule(&actor, id).await?))
}

/// Approve an invoice held in review (customer-classes §5.8 rule 4); users of the invoice's owner only. The
/// optional `as_of` is the approval instant (default: now); passed state changes fire at once.
#[utoipa::path(post, path = "/invoices/{id}/approve", tag = "invoices", params(("id" = i64, Path)),
    request_body(content = Option<ActAt>),
    responses((status = 200, body = InvoiceView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn approve_invoice(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult<axum::Json<InvoiceView>> {
    let at = acting_instant(&body)?;
    Ok(axum::Json(
        state.engine.approve_invoice(&actor, id, at, Timestamp::now()).await?,
    ))
}

/// `POST /invoices/{id}/void` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; the handler reads it as JSON to report every error
struct VoidRequest {
    /// Why the invoice is cancelled (1–500 characters); kept in the audit log.
    reason: String,
    /// The instant of the void; absent = the server clock.
    #[schema(value_type = Option<String>, format = DateTime)]
    as_of: Option<String>,
}

/// Void an invoice (customer-classes §5.7): collection stops, the credit allocated to it becomes unallocated
/// again, its xDRs stay. Users of the invoice's owner only.
#[utoipa::path(post, path = "/invoices/{id}/void", tag = "invoices", params(("id" = i64, Path)),
    request_body = VoidRequest,
    responses((status = 200, body = InvoiceView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn void_invoice(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    JsonValue(body): JsonValue,
) -> ApiResult<axum::Json<InvoiceView>> {
    let now = Timestamp::now();
    let at = match body.get("as_of") {
        None | Some(serde_json::Value::Null) => now,
        Some(_) => instant_field(&body, "as_of")?,
    };
    let reason = body
        .get("reason")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    Ok(axum::Json(
        state.engine.void_invoice(&actor, id, reason, at, now).await?,
    ))
}

/// A customer's status changes (limitation, suspension, release, block, termination), oldest first.
#[utoipa::path(get, path = "/customers/{id}/status-history", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<StatusChangeView>), (status = 404, body = Problem)))]
async fn customer_status_history(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Vec<StatusChangeView>>> {
    Ok(axum::Json(state.engine.status_history(&actor, id).await?))
}

/// A reseller's status changes, oldest first.
#[utoipa::path(get, path = "/resellers/{id}/status-history", tag = "resellers", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<StatusChangeView>), (status = 404, body = Problem)))]
async fn reseller_status_history(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Vec<StatusChangeView>>> {
    Ok(axum::Json(state.engine.status_history(&actor, id).await?))
}
