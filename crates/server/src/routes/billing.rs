//! `/billing-runs`, `/invoices` and `/invoice-sequences` (customer-classes §5.3, §5.6): period closes requested
//! over HTTP and run in the background (or by `classbill worker` processes), and the invoices they issue.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use classbill_domain::FieldError;
use classbill_engine::{BillingRunView, InvoiceListFilter, InvoiceView, Page, SequenceView, Series};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Caller, JsonValue, PageParams, Query};
use crate::problem::{ApiError, ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(billing_runs::router())
        .routes(routes!(list_invoices))
        .routes(routes!(get_invoice))
        .routes(routes!(get_sequence, patch_sequence))
}

/// `POST /billing-runs` and `POST /collection-runs` body; any other key is refused (`unknown_field`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the body; the handler reads it as JSON to report every error
pub(crate) struct RunRequest {
    /// Close every period due at this instant.
    #[schema(value_type = String, format = DateTime)]
    as_of: String,
}

/// The accepted run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunAccepted {
    pub(crate) id: i64,
    pub(crate) status: String,
}

/// How far past the server clock a run may be asked to act: a run far in the future would create every
/// billing period up to it for every party, holding the database for a long time.
const MAX_RUN_AHEAD: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 366);

/// The `as_of` of a run body: an instant at most a year ahead of the server clock, and no other key (a
/// misspelt option must not be ignored silently). Every violation is listed.
fn run_instant(body: &Value, now: Timestamp) -> Result<Timestamp, ApiError> {
    let mut errors: Vec<FieldError> = body
        .as_object()
        .into_iter()
        .flat_map(|object| object.keys())
        .filter(|key| key.as_str() != "as_of")
        .map(|key| FieldError::new(key, "unknown_field", "is not a field of a run request"))
        .collect();
    let as_of = match instant_field(body, "as_of") {
        Ok(as_of) if as_of.duration_since(now) > MAX_RUN_AHEAD => {
            errors.push(FieldError::new(
                "as_of",
                "out_of_range",
                "a run may act at most one year ahead of now",
            ));
            None
        }
        Ok(as_of) => Some(as_of),
        Err(_) => {
            errors.push(FieldError::new("as_of", "invalid", "must be an RFC 3339 instant"));
            None
        }
    };
    match as_of {
        Some(as_of) if errors.is_empty() => Ok(as_of),
        _ => Err(ApiError::invalid(errors)),
    }
}

/// What a run POST starts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RunKind {
    Billing,
    Collection,
}

/// `POST /billing-runs` and `POST /collection-runs`: checks the body, records the run as queued and executes it
/// in the background (administrators only). A server started with `--no-worker` only records it: a
/// `classbill worker` takes it from the queue.
pub(crate) async fn start_run(
    state: &AppState,
    actor: &classbill_engine::Actor,
    body: &Value,
    kind: RunKind,
) -> ApiResult<(StatusCode, axum::Json<RunAccepted>)> {
    let name = match kind {
        RunKind::Billing => "billing",
        RunKind::Collection => "collection",
    };
    if !actor.is_administrator() {
        return Err(classbill_engine::EngineError::forbidden(format!(
            "{name} runs are managed by administrators only"
        ))
        .into());
    }
    let now = state.clock.now();
    let as_of = run_instant(body, now)?;
    let engine = state.engine.clone();
    let (id, status) = match kind {
        RunKind::Billing => {
            let run = engine.request_billing_run(actor, as_of, now).await?;
            (run.id, run.status)
        }
        RunKind::Collection => {
            let run = engine.request_collection_run(actor, as_of, now).await?;
            (run.id, run.status)
        }
    };
    if state.queue_runs_only {
        return Ok((StatusCode::ACCEPTED, axum::Json(RunAccepted { id, status })));
    }
    let clock = state.clock.clone();
    tokio::spawn(async move {
        let now = || clock.now();
        let executed = match kind {
            RunKind::Billing => engine.execute_billing_run(id, now).await.map(drop),
            RunKind::Collection => engine.execute_collection_run(id, now).await.map(drop),
        };
        match executed {
            Ok(()) => {}
            // This process's own worker loop, or another worker, took the run first; it runs there.
            Err(classbill_engine::EngineError::Conflict { code, .. }) if code == "run_taken" => {
                tracing::info!(run = id, kind = name, "run taken by another worker");
            }
            Err(error) => tracing::error!(run = id, kind = name, %error, "run failed"),
        }
    });
    Ok((StatusCode::ACCEPTED, axum::Json(RunAccepted { id, status })))
}

pub(crate) fn instant_field(body: &Value, field: &str) -> Result<Timestamp, ApiError> {
    body.get(field)
        .and_then(Value::as_str)
        .and_then(|text| text.parse::<Timestamp>().ok())
        .ok_or_else(|| ApiError::invalid(vec![FieldError::new(field, "invalid", "must be an RFC 3339 instant")]))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunListParams {
    limit: Option<i64>,
    cursor: Option<String>,
}

impl RunListParams {
    pub(crate) fn page(self) -> Result<classbill_engine::PageRequest, ApiError> {
        PageParams {
            limit: self.limit,
            cursor: self.cursor,
        }
        .request()
    }
}

/// The three routes of one kind of run, generated once per kind (as the catalog's are) so that each has its
/// own OpenAPI entry while the handlers are written once: `POST` requests a run ([`start_run`]), `GET` on the
/// collection lists the runs and `GET` on an item reads one, through the engine methods named `list` and `get`.
/// The doc comments of `post`, `list` and `get` become the operations' summaries.
macro_rules! run_routes {
    (
        mod $module:ident;
        kind: $kind:ident, view: $view:ty, path: $path:literal, item_path: $item_path:literal, tag: $tag:literal;
        $(#[doc = $post_doc:tt])* post;
        $(#[doc = $list_doc:tt])* list => $list:ident;
        $(#[doc = $get_doc:tt])* get => $get:ident;
    ) => {
        mod $module {
            use axum::extract::{Path, State};
            use axum::http::StatusCode;
            use classbill_engine::Page;
            use utoipa_axum::router::OpenApiRouter;
            use utoipa_axum::routes;

            use super::*;
            use $crate::AppState;
            use $crate::extract::{Caller, JsonValue, Query};
            use $crate::problem::{ApiResult, Problem};
            use $crate::routes::billing::{RunAccepted, RunKind, RunListParams, RunRequest, start_run};

            pub fn router() -> OpenApiRouter<AppState> {
                OpenApiRouter::new()
                    .routes(routes!(list_runs, post_run))
                    .routes(routes!(get_run))
            }

            $(#[doc = $post_doc])*
            #[utoipa::path(post, path = $path, tag = $tag, request_body = RunRequest,
                responses((status = 202, body = RunAccepted), (status = 403, body = Problem),
                    (status = 422, body = Problem)))]
            async fn post_run(
                State(state): State<AppState>,
                Caller(actor): Caller,
                JsonValue(body): JsonValue,
            ) -> ApiResult<(StatusCode, axum::Json<RunAccepted>)> {
                start_run(&state, &actor, &body, RunKind::$kind).await
            }

            $(#[doc = $list_doc])*
            #[utoipa::path(get, path = $path, tag = $tag, params(RunListParams),
                responses((status = 200, body = Page<$view>), (status = 403, body = Problem)))]
            async fn list_runs(
                State(state): State<AppState>,
                Caller(actor): Caller,
                Query(p): Query<RunListParams>,
            ) -> ApiResult<axum::Json<Page<$view>>> {
                Ok(axum::Json(state.engine.$list(&actor, p.page()?).await?))
            }

            $(#[doc = $get_doc])*
            #[utoipa::path(get, path = $item_path, tag = $tag, params(("id" = i64, Path)),
                responses((status = 200, body = $view), (status = 403, body = Problem),
                    (status = 404, body = Problem)))]
            async fn get_run(
                State(state): State<AppState>,
                Caller(actor): Caller,
                Path(id): Path<i64>,
            ) -> ApiResult<axum::Json<$view>> {
                Ok(axum::Json(state.engine.$get(&actor, id).await?))
            }
        }
    };
}
pub(crate) use run_routes;

run_routes! {
    mod billing_runs;
    kind: Billing, view: BillingRunView, path: "/billing-runs", item_path: "/billing-runs/{id}", tag: "billing-runs";
    /// Start a billing run: closes every period due at `as_of` in the background (administrators only).
    post;
    /// List billing runs in id order (administrators only).
    list => list_billing_runs;
    /// One billing run with its counts and the periods it could not close.
    get => get_billing_run;
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct InvoiceListParams {
    party_id: Option<i64>,
    status: Option<String>,
    /// `regular`, `oot`, `recurring_fees` or `credit_note`.
    kind: Option<String>,
    /// `not_required`, `under_review`, `approved` or `auto_approved`; `under_review` is the review queue.
    review_state: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// List the invoices of the parties the caller sees, in id order.
#[utoipa::path(get, path = "/invoices", tag = "invoices", params(InvoiceListParams),
    responses((status = 200, body = Page<InvoiceView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn list_invoices(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Query(p): Query<InvoiceListParams>,
) -> ApiResult<axum::Json<Page<InvoiceView>>> {
    let page = PageParams {
        limit: p.limit,
        cursor: p.cursor,
    }
    .request()?;
    let filter = InvoiceListFilter {
        party_id: p.party_id,
        status: p.status,
        kind: p.kind,
        review_state: p.review_state,
    };
    Ok(axum::Json(state.engine.list_invoices(&actor, filter, page).await?))
}

/// One invoice with its lines.
#[utoipa::path(get, path = "/invoices/{id}", tag = "invoices", params(("id" = i64, Path)),
    responses((status = 200, body = InvoiceView), (status = 404, body = Problem)))]
async fn get_invoice(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<InvoiceView>> {
    Ok(axum::Json(state.engine.get_invoice(&actor, id).await?))
}

/// An owner's invoice number sequence (`administrator` or a reseller id).
#[utoipa::path(get, path = "/invoice-sequences/{owner}", tag = "invoices", params(("owner" = String, Path)),
    responses((status = 200, body = SequenceView), (status = 404, body = Problem)))]
async fn get_sequence(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(owner): Path<String>,
) -> ApiResult<axum::Json<SequenceView>> {
    Ok(axum::Json(
        state.engine.get_sequence(&actor, Series::Invoices, &owner).await?,
    ))
}

/// `PATCH /invoice-sequences/{owner}` and `PATCH /credit-note-sequences/{owner}` body.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SequencePatch {
    prefix: Option<String>,
    /// Can only grow.
    next_number: Option<i64>,
}

/// Applies a sequence PATCH body to the owner's sequence in `series`.
pub(crate) async fn patch_series(
    state: &AppState,
    actor: &classbill_engine::Actor,
    series: Series,
    owner: &str,
    body: Value,
) -> ApiResult<axum::Json<SequenceView>> {
    let patch: SequencePatch = serde_json::from_value(body)
        .map_err(|e| ApiError::invalid(vec![FieldError::new("body", "invalid", e.to_string())]))?;
    Ok(axum::Json(
        state
            .engine
            .patch_sequence(actor, series, owner, patch.prefix, patch.next_number)
            .await?,
    ))
}

/// Change an owner's prefix or move its next number forward.
#[utoipa::path(patch, path = "/invoice-sequences/{owner}", tag = "invoices", params(("owner" = String, Path)),
    request_body = SequencePatch,
    responses((status = 200, body = SequenceView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn patch_sequence(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(owner): Path<String>,
    JsonValue(body): JsonValue,
) -> ApiResult<axum::Json<SequenceView>> {
    patch_series(&state, &actor, Series::Invoices, &owner, body).await
}
