//! `/xdrs` and `/periods` (customer-classes §5.1, §5.2): taking rated records in, listing them, and the billing
//! periods they belong to.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use classbill_domain::FieldError;
use classbill_engine::close::StatisticsFile;
use classbill_engine::{Page, PeriodView, XdrListFilter, XdrView};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Caller, JsonValue, PageParams, Query};
use crate::problem::{ApiError, ApiResult, Problem};

/// An xDR batch holds up to 10,000 rows, far more than the server-wide body limit allows.
const XDR_BATCH_BODY_LIMIT: usize = 32 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_xdrs, post_xdrs))
        .layer(axum::Extension(crate::extract::BodyLimit(XDR_BATCH_BODY_LIMIT)))
        .routes(routes!(list_periods))
        .routes(routes!(get_period))
        .routes(routes!(approve_period))
        .routes(routes!(get_period_full_statistics))
        .routes(routes!(get_period_summary_statistics))
}

/// One incoming xDR.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; the engine reads it field by field to report every error
struct XdrInput {
    party_id: i64,
    /// Makes re-sends idempotent per party.
    external_id: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    occurred_at: String,
    /// `usage`, `one_time`, `recurring`, `credit` (negative amount), `adjustment` or `late_fee`.
    kind: String,
    service: String,
    rate_code: Option<String>,
    description: Option<String>,
    /// Decimal string with up to 5 fraction digits.
    #[schema(value_type = String, example = "412.5")]
    quantity: String,
    /// Decimal string with up to 5 fraction digits; positive = the party owes more.
    #[schema(value_type = String, example = "12.34")]
    amount: String,
    /// Must equal the party's currency when given.
    currency: Option<String>,
}

/// `POST /xdrs` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
struct XdrBatch {
    /// At most 10,000 records.
    xdrs: Vec<XdrInput>,
    /// The instant whose open period late records join; absent = the server clock.
    #[schema(value_type = Option<String>, format = DateTime)]
    as_of: Option<String>,
}

/// The stored records of a batch, in the order sent.
#[derive(Debug, Serialize, ToSchema)]
struct XdrItems {
    items: Vec<XdrView>,
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct XdrListParams {
    party_id: Option<i64>,
    period_id: Option<i64>,
    kind: Option<String>,
    /// `occurred_at` at or after this instant.
    from: Option<String>,
    /// `occurred_at` before this instant.
    to: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// List the xDRs of the parties the caller sees, in id order.
#[utoipa::path(get, path = "/xdrs", tag = "xdrs", params(XdrListParams),
    responses((status = 200, body = Page<XdrView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn list_xdrs(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Query(p): Query<XdrListParams>,
) -> ApiResult<axum::Json<Page<XdrView>>> {
    let page = PageParams {
        limit: p.limit,
        cursor: p.cursor,
    }
    .request()?;
    let mut errors = Vec::new();
    let from = instant(p.from, "from", &mut errors);
    let to = instant(p.to, "to", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let filter = XdrListFilter {
        party_id: p.party_id,
        period_id: p.period_id,
        kind: p.kind,
        from,
        to,
    };
    Ok(axum::Json(state.engine.list_xdrs(&actor, filter, page).await?))
}

/// Store a batch of rated xDRs, all or nothing; identical re-sends answer the stored records.
#[utoipa::path(post, path = "/xdrs", tag = "xdrs", request_body = XdrBatch,
    responses((status = 201, body = XdrItems), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn post_xdrs(
    State(state): State<AppState>,
    Caller(actor): Caller,
    JsonValue(body): JsonValue,
) -> ApiResult<(StatusCode, axum::Json<XdrItems>)> {
    let items = state.engine.ingest_xdrs(&actor, &body, Timestamp::now()).await?;
    Ok((StatusCode::CREATED, axum::Json(XdrItems { items })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PeriodListParams {
    party_id: Option<i64>,
    /// `open`, `closing` or `closed`.
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// List the billing periods of the parties the caller sees, in id order.
#[utoipa::path(get, path = "/periods", tag = "periods", params(PeriodListParams),
    responses((status = 200, body = Page<PeriodView>), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn list_periods(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Query(p): Query<PeriodListParams>,
) -> ApiResult<axum::Json<Page<PeriodView>>> {
    let page = PageParams {
        limit: p.limit,
        cursor: p.cursor,
    }
    .request()?;
    Ok(axum::Json(
        state.engine.list_periods(&actor, p.party_id, p.status, page).await?,
    ))
}

#[utoipa::path(get, path = "/periods/{id}", tag = "periods", params(("id" = i64, Path)),
    responses((status = 200, body = PeriodView), (status = 404, body = Problem)))]
async fn get_period(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<PeriodView>> {
    Ok(axum::Json(state.engine.get_period(&actor, id).await?))
}

/// Close an ended period of an `upon_approval` class: the approval instant `as_of` (default now) is its close
/// instant and names the invoice's issue date (users of the party's owner only).
#[utoipa::path(post, path = "/periods/{id}/approve", tag = "periods", params(("id" = i64, Path)),
    request_body(content = Option<crate::routes::parties::ActAt>),
    responses((status = 200, body = PeriodView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn approve_period(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<PeriodView>> {
    let as_of = crate::routes::parties::acting_instant(&body)?;
    Ok(axum::Json(
        state.engine.approve_period(&actor, id, as_of, Timestamp::now()).await?,
    ))
}

/// A statistics file as a CSV download.
fn csv_download((name, content): (String, String)) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        content,
    )
        .into_response()
}

/// The full statistics file of a closed period (customer-classes §5.12): one line per shown xDR.
#[utoipa::path(get, path = "/periods/{id}/statistics/full.csv", tag = "periods", params(("id" = i64, Path)),
    responses((status = 200, body = String, content_type = "text/csv",
               description = "`<party_id>_<first local date>_<last local date>_full.csv` as an attachment"),
              (status = 404, body = Problem, description = "period not visible, or no statistics written for it")))]
async fn get_period_full_statistics(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::response::Response> {
    let file = state
        .engine
        .period_statistics_file(&actor, id, StatisticsFile::Full)
        .await?;
    Ok(csv_download(file))
}

/// The summary statistics file of a closed period (customer-classes §5.12): one line per service and kind, then
/// `TOTAL`.
#[utoipa::path(get, path = "/periods/{id}/statistics/summary.csv", tag = "periods", params(("id" = i64, Path)),
    responses((status = 200, body = String, content_type = "text/csv",
               description = "`<party_id>_<first local date>_<last local date>_summary.csv` as an attachment"),
              (status = 404, body = Problem, description = "period not visible, or no statistics written for it")))]
async fn get_period_summary_statistics(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::response::Response> {
    let file = state
        .engine
        .period_statistics_file(&actor, id, StatisticsFile::Summary)
        .await?;
    Ok(csv_download(file))
}
