//! `/invoices/{id}/pdf` and `/invoices/{id}/html` (customer-classes §2.4): an invoice's document, rendered
//! with the template of its settings snapshot.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::Caller;
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_invoice_pdf))
        .routes(routes!(get_invoice_html))
}

/// A PDF file.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // names the schema of the binary body
struct PdfFile(Vec<u8>);

/// The invoice as a PDF: rendered on the first request, then kept, so every download serves the same document.
#[utoipa::path(get, path = "/invoices/{id}/pdf", tag = "invoices", params(("id" = i64, Path)),
    responses((status = 200, body = PdfFile, content_type = "application/pdf",
               description = "`<number>.pdf` as an attachment"),
              (status = 404, body = Problem),
              (status = 409, body = Problem, description = "the invoice's template fails on this invoice")))]
async fn get_invoice_pdf(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let pdf = state.engine.invoice_pdf(&actor, id, Timestamp::now()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", pdf.file_name),
            ),
        ],
        pdf.bytes,
    )
        .into_response())
}

/// The invoice as a standalone HTML page for the web UI.
#[utoipa::path(get, path = "/invoices/{id}/html", tag = "invoices", params(("id" = i64, Path)),
    responses((status = 200, body = String, content_type = "text/html"), (status = 404, body = Problem)))]
async fn get_invoice_html(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let html = state.engine.invoice_html(&actor, id).await?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}
