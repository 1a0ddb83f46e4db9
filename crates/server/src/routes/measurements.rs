//! `/measurements` and the per-party sample lists (customer-classes §5.11): samples of measured services
//! taken in as batches and read back for the usage graph.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use classbill_domain::FieldError;
use classbill_engine::Page;
use classbill_engine::measurements::{MeasurementListFilter, MeasurementView, parse_metric};
use classbill_engine::parties::PartyKind;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Caller, JsonValue, PageParams, Query};
use crate::problem::{ApiError, ApiResult, Problem};

/// A batch holds up to 10,000 samples; allow them room beyond the server-wide body limit.
const MEASUREMENT_BATCH_BODY_LIMIT: usize = 8 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_measurements))
        .layer(axum::Extension(crate::extract::BodyLimit(MEASUREMENT_BATCH_BODY_LIMIT)))
        .routes(routes!(customer_measurements))
        .routes(routes!(reseller_measurements))
}

/// One incoming sample.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; the engine reads it item by item to report every error
struct MeasurementInput {
    party_id: i64,
    /// `active_calls`, `concurrent_calls` or `pbx_extensions`.
    metric: String,
    #[schema(value_type = String, format = DateTime)]
    at: String,
    /// An integer ≥ 0.
    value: i64,
}

/// `POST /measurements` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
struct MeasurementBatch {
    /// At most 10,000 samples; a sample for a stored `(party_id, metric, at)` replaces it.
    measurements: Vec<MeasurementInput>,
}

/// The stored samples of a batch, in the order sent.
#[derive(Debug, Serialize, ToSchema)]
struct MeasurementItems {
    items: Vec<MeasurementView>,
}

/// Store a batch of measured-service samples, all or nothing.
#[utoipa::path(post, path = "/measurements", tag = "measurements", request_body = MeasurementBatch,
    responses((status = 201, body = MeasurementItems), (status = 422, body = Problem)))]
async fn post_measurements(
    State(state): State<AppState>,
    Caller(actor): Caller,
    JsonValue(body): JsonValue,
) -> ApiResult<(StatusCode, axum::Json<MeasurementItems>)> {
    let items = state
        .engine
        .ingest_measurements(&actor, &body, Timestamp::now())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(MeasurementItems { items })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MeasurementListParams {
    /// `active_calls`, `concurrent_calls` or `pbx_extensions`; absent = all.
    metric: Option<String>,
    /// Samples at or after this instant; default three months before the end of the window.
    from: Option<String>,
    /// Samples before this instant; default now when `from` is absent too.
    to: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

fn instant(text: Option<String>, field: &str, errors: &mut Vec<FieldError>) -> Option<Timestamp> {
    let text = text.filter(|t| !t.is_empty())?;
    match text.parse::<Timestamp>() {
        Ok(at) => Some(at),
        Err(_) => {
            errors.push(FieldError::new(field, "invalid", "must be an RFC 3339 instant"));
            None
        }
    }
}

async fn list(
    state: AppState,
    actor: classbill_engine::Actor,
    kind: PartyKind,
    id: i64,
    p: MeasurementListParams,
) -> ApiResult<axum::Json<Page<MeasurementView>>> {
    let page = PageParams {
        limit: p.limit,
        cursor: p.cursor,
    }
    .request()?;
    let mut errors = Vec::new();
    let metric = match p.metric.filter(|m| !m.is_empty()) {
        None => None,
        Some(text) => {
            let metric = parse_metric(&text);
            if metric.is_none() {
                errors.push(FieldError::new(
                    "metric",
                    "invalid_value",
                    "must be one of active_calls, concurrent_calls, pbx_extensions",
                ));
            }
            metric
        }
    };
    let from = instant(p.from, "from", &mut errors);
    let to = instant(p.to, "to", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let filter = MeasurementListFilter { metric, from, to };
    Ok(axum::Json(
        state
            .engine
            .list_measurements(&actor, kind, id, filter, page, Timestamp::now())
            .await?,
    ))
}

/// Samples of a customer
///
/// Ordered by instant, then metric; feeds the usage graph.
#[utoipa::path(get, path = "/customers/{id}/measurements", tag = "measurements",
    params(("id" = i64, Path), MeasurementListParams),
    responses((status = 200, body = Page<MeasurementView>),
        (status = 404, body = Problem, description = "no such customer, or not visible to the caller"),
        (status = 422, body = Problem)))]
async fn customer_measurements(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    Query(p): Query<MeasurementListParams>,
) -> ApiResult<axum::Json<Page<MeasurementView>>> {
    list(state, actor, PartyKind::Customer, id, p).await
}

/// Samples of a reseller
///
/// Ordered by instant, then metric; feeds the usage graph.
#[utoipa::path(get, path = "/resellers/{id}/measurements", tag = "measurements",
    params(("id" = i64, Path), MeasurementListParams),
    responses((status = 200, body = Page<MeasurementView>),
        (status = 404, body = Problem, description = "no such reseller, or not visible to the caller"),
        (status = 422, body = Problem)))]
async fn reseller_measurements(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    Query(p): Query<MeasurementListParams>,
) -> ApiResult<axum::Json<Page<MeasurementView>>> {
    list(state, actor, PartyKind::Reseller, id, p).await
}
