//! The class list of §2.10: search, filters, keyset pages and multi-select delete.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use classbill_engine::PageRequest;
use classbill_engine::classes::{ClassListFilter, DeleteOutcome};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::UiState;
use super::form::FormData;
use super::session::Session;

/// The list's query string: the API's filters plus the page cursor.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct ListParams {
    #[serde(default)]
    name: String,
    #[serde(default)]
    managed_by: String,
    #[serde(default)]
    business_model: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    invoices: String,
    #[serde(default)]
    taxation_method: String,
    #[serde(default)]
    cursor: String,
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

pub const PAGE_SIZE: i64 = 50;

async fn render_list(state: &UiState, session: &Session, params: ListParams, outcomes: Vec<DeleteOutcome>) -> Response {
    let filter = ClassListFilter {
        name: non_empty(&params.name),
        managed_by: non_empty(&params.managed_by),
        business_model: non_empty(&params.business_model),
        currency: non_empty(&params.currency),
        invoices: non_empty(&params.invoices),
        taxation_method: non_empty(&params.taxation_method),
        assignable_to: None,
    };
    let page = PageRequest {
        limit: PAGE_SIZE,
        cursor: non_empty(&params.cursor),
    };
    let (classes, errors) = match state.engine.list_classes(&session.actor, filter, page).await {
        Ok(page) => (page, Vec::new()),
        Err(classbill_engine::EngineError::Invalid(errors)) => (
            classbill_engine::Page {
                items: Vec::new(),
                next_cursor: None,
            },
            errors,
        ),
        Err(e) => return state.pages.error(session, e),
    };
    let next_query = classes.next_cursor.as_ref().map(|cursor| {
        serde_urlencoded::to_string(ListParams {
            cursor: cursor.clone(),
            ..params.clone()
        })
        .unwrap_or_default()
    });
    state.pages.render(
        "classes.html",
        Some(session),
        json!({
            "nav": "classes",
            "classes": classes.items,
            "filters": params,
            "errors": errors,
            "next_query": next_query,
            "outcomes": outcomes,
        }),
    )
}

pub async fn list(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Query(params): Query<ListParams>,
) -> Response {
    render_list(&state, &session, params, Vec::new()).await
}

/// Deletes the ticked classes and shows the list again with one outcome per class.
pub async fn delete(State(state): State<UiState>, Extension(session): Extension<Session>, body: Bytes) -> Response {
    let ids = FormData::parse(&body).ids("id");
    let outcomes = match state
        .engine
        .delete_classes(&session.actor, &ids, Timestamp::now())
        .await
    {
        Ok(outcomes) => outcomes,
        Err(e) => return state.pages.error(&session, e),
    };
    render_list(&state, &session, ListParams::default(), outcomes).await
}
