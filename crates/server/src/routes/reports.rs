//! `/reports/{kind}`: the accounting exports (invoice journal, payments, ageing, tax) as JSON or CSV.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use classbill_engine::reports::{ReportDocument, ReportFormat, ReportQuery};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Caller, Query};
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_report))
}

/// `?from=&to=&format=` of a report; read as text so that every bad value is named in one 422.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ReportParams {
    /// First local date, `YYYY-MM-DD`; required except for `ageing`.
    from: Option<String>,
    /// Last local date, `YYYY-MM-DD`, inclusive; the ageing report's reference date.
    to: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// An accounting export over the caller's visible parties: `invoice-journal` (invoices issued in the range),
/// `payments` (received in the range, with their allocations), `ageing` (open amounts as of `to` by days past
/// due) or `tax` (tax bases and amounts of the invoices issued in the range). CSV: a header line, one line per
/// row, then one `TOTAL` line per currency.
#[utoipa::path(get, path = "/reports/{kind}", tag = "reports",
    params(("kind" = String, Path, description = "`invoice-journal`, `payments`, `ageing` or `tax`"), ReportParams),
    responses(
        (status = 200, description = "the report", content(
            (ReportDocument = "application/json"),
            (String = "text/csv"))),
        (status = 404, body = Problem, description = "no such report"),
        (status = 422, body = Problem, description = "`from`, `to` or `format` invalid")))]
async fn get_report(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(kind): Path<String>,
    Query(params): Query<ReportParams>,
) -> ApiResult<Response> {
    let query = ReportQuery::parse(
        &kind,
        params.from.as_deref(),
        params.to.as_deref(),
        params.format.as_deref(),
    )?;
    let report = state.engine.report(&actor, &query).await?;
    Ok(match query.format {
        ReportFormat::Json => axum::Json(report.document()?).into_response(),
        ReportFormat::Csv => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}\"", report.csv_file_name()),
                ),
            ],
            report.csv(),
        )
            .into_response(),
    })
}
