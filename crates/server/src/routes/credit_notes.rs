//! Credit notes (`/invoices/{id}/credit-notes`) and their number sequences (`/credit-note-sequences/{owner}`):
//! corrections of issued invoices, in full or for chosen lines.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use classbill_engine::credit_notes::CreditNoteView;
use classbill_engine::{SequenceView, Series};
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::billing::{SequencePatch, patch_series};
use crate::AppState;
use crate::extract::{Caller, JsonValue};
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_credit_notes, issue_credit_note))
        .routes(routes!(get_credit_note_sequence, patch_credit_note_sequence))
}

/// `POST /invoices/{id}/credit-notes` body.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; the handler reads it as JSON to report every error
struct CreditNoteRequest {
    /// Why the invoice is corrected (1 to 500 characters).
    reason: String,
    /// The charge lines (xDR ids) of the invoice to credit; absent = every line not credited yet, with the
    /// invoice's taxes and rounding mirrored exactly when nothing was credited before.
    xdr_ids: Option<Vec<i64>>,
    /// The issue instant; absent = the server clock.
    #[schema(value_type = Option<String>, format = DateTime)]
    as_of: Option<String>,
}

/// Issue a credit note against an invoice (users of its owner). Its credit pays the invoice first, then the
/// party's other open invoices; the rest stays unallocated credit.
#[utoipa::path(post, path = "/invoices/{id}/credit-notes", tag = "invoices", params(("id" = i64, Path)),
    request_body = CreditNoteRequest,
    responses((status = 201, body = CreditNoteView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn issue_credit_note(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    JsonValue(body): JsonValue,
) -> ApiResult<(StatusCode, axum::Json<CreditNoteView>)> {
    let note = state
        .engine
        .issue_credit_note(&actor, id, &body, Timestamp::now())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(note)))
}

/// The credit notes issued against an invoice, oldest first.
#[utoipa::path(get, path = "/invoices/{id}/credit-notes", tag = "invoices", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<CreditNoteView>), (status = 404, body = Problem)))]
async fn list_credit_notes(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<Vec<CreditNoteView>>> {
    Ok(axum::Json(state.engine.list_credit_notes(&actor, id).await?))
}

/// An owner's credit-note number sequence (`administrator` or a reseller id; default prefix `CN-`).
#[utoipa::path(get, path = "/credit-note-sequences/{owner}", tag = "invoices", params(("owner" = String, Path)),
    responses((status = 200, body = SequenceView), (status = 404, body = Problem)))]
async fn get_credit_note_sequence(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(owner): Path<String>,
) -> ApiResult<axum::Json<SequenceView>> {
    Ok(axum::Json(
        state.engine.get_sequence(&actor, Series::CreditNotes, &owner).await?,
    ))
}

/// Change an owner's credit-note prefix or move its next number forward.
#[utoipa::path(patch, path = "/credit-note-sequences/{owner}", tag = "invoices", params(("owner" = String, Path)),
    request_body = SequencePatch,
    responses((status = 200, body = SequenceView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn patch_credit_note_sequence(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(owner): Path<String>,
    JsonValue(body): JsonValue,
) -> ApiResult<axum::Json<SequenceView>> {
    patch_series(&state, &actor, Series::CreditNotes, &owner, body).await
}
