//! The class list of §2.10: search, filters, sorting by any column, pages and multi-select delete.
//!
//! The engine lists classes in name order with keyset pages, which serves the default view. Another order is
//! made here from every matching class: an owner has at most a few thousand classes, so sorting them in
//! memory stays cheap, and the engine keeps one list query.

use std::cmp::Ordering;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use classbill_domain::FieldError;
use classbill_engine::classes::{ClassListFilter, ClassListItem, DeleteOutcome};
use classbill_engine::{Actor, EngineError, MAX_LIMIT, Page, PageRequest};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::UiState;
use super::form::FormData;
use super::list_query::non_empty;
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
    /// The column sorted by (one of [`COLUMNS`]); empty = name.
    #[serde(default)]
    sort: String,
    /// `desc` for descending; anything else ascends.
    #[serde(default)]
    dir: String,
    #[serde(default)]
    cursor: String,
    /// The page of a sorted view (from 1); the name order pages by `cursor` instead.
    #[serde(default)]
    page: String,
}

/// The sortable columns as `(key, heading)`, in the order the table shows them.
const COLUMNS: &[(&str, &str)] = &[
    ("name", "Name"),
    ("currency", "Currency"),
    ("managed_by", "Managed by"),
    ("business_model", "Business model"),
    ("archive_xdrs", "Archive xDRs"),
    ("invoices", "Invoices"),
    ("taxation_method", "Taxation"),
    ("description", "Description"),
    ("members", "Members"),
];
/// The most classes a sorted view orders; past it the filters must narrow the list first.
const MAX_SORTED: usize = 10_000;

/// Orders two classes by `column` (reversed when `descending`), ties by name and then id in ascending order,
/// so every order is total and rows with equal values read alphabetically either way.
fn compare(column: &str, descending: bool, a: &ClassListItem, b: &ClassListItem) -> Ordering {
    let text = |t: &str| t.to_lowercase();
    let primary = match column {
        "currency" => a.currency.cmp(&b.currency),
        "managed_by" => text(&a.managed_by.name).cmp(&text(&b.managed_by.name)),
        "business_model" => a.business_model.cmp(&b.business_model),
        "archive_xdrs" => a.archive_xdrs.cmp(&b.archive_xdrs),
        "invoices" => a.invoices.cmp(&b.invoices),
        "taxation_method" => a.taxation_method.cmp(&b.taxation_method),
        "description" => text(&a.description).cmp(&text(&b.description)),
        "members" => a.member_count.cmp(&b.member_count),
        _ => Ordering::Equal,
    };
    let by_name = text(&a.name).cmp(&text(&b.name)).then_with(|| a.id.cmp(&b.id));
    match (column, descending) {
        ("name", true) => by_name.reverse(),
        (_, true) => primary.reverse().then(by_name),
        (_, false) => primary.then(by_name),
    }
}

/// Every class matching `filter`, in the engine's order; refused past [`MAX_SORTED`].
async fn all_classes(
    state: &UiState,
    actor: &Actor,
    filter: ClassListFilter,
) -> Result<Vec<ClassListItem>, EngineError> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = PageRequest {
            limit: MAX_LIMIT,
            cursor,
        };
        let found = state.engine.list_classes(actor, filter.clone(), page).await?;
        all.extend(found.items);
        if all.len() > MAX_SORTED {
            return Err(EngineError::Invalid(vec![FieldError::new(
                "sort",
                "too_many",
                format!("more than {MAX_SORTED} classes match; narrow the filters to sort by another column"),
            )]));
        }
        match found.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}

/// One page of classes in the order the query asks for, and the query of the next page.
async fn sorted_page(
    state: &UiState,
    actor: &Actor,
    params: &ListParams,
    filter: ClassListFilter,
) -> Result<(Vec<ClassListItem>, Option<ListParams>), EngineError> {
    let column = params.sort.trim();
    let descending = params.dir == "desc";
    if (column.is_empty() || column == "name") && !descending {
        let page = PageRequest {
            limit: PAGE_SIZE,
            cursor: non_empty(&params.cursor),
        };
        let Page { items, next_cursor } = state.engine.list_classes(actor, filter, page).await?;
        let next = next_cursor.map(|cursor| ListParams {
            cursor,
            ..params.clone()
        });
        return Ok((items, next));
    }
    if !COLUMNS.iter().any(|(key, _)| *key == column) {
        return Err(EngineError::invalid(
            "sort",
            "invalid",
            format!("cannot sort by {column:?}"),
        ));
    }
    let number = match non_empty(&params.page).map(|p| p.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => return Err(EngineError::invalid("page", "invalid", "must be a page number from 1")),
    };
    let mut all = all_classes(state, actor, filter).await?;
    all.sort_by(|a, b| compare(column, descending, a, b));
    let size = usize::try_from(PAGE_SIZE).unwrap_or(50);
    let start = (number - 1).saturating_mul(size);
    let next = (all.len() > start.saturating_add(size)).then(|| ListParams {
        page: (number + 1).to_string(),
        ..params.clone()
    });
    Ok((all.into_iter().skip(start).take(size).collect(), next))
}

/// The column headings: each a link sorting by it, ascending first and flipping when already sorted by it.
fn headings(params: &ListParams) -> Vec<serde_json::Value> {
    let current = if params.sort.trim().is_empty() {
        "name"
    } else {
        params.sort.trim()
    };
    let descending = params.dir == "desc";
    COLUMNS
        .iter()
        .map(|(key, label)| {
            let active = *key == current;
            let flip = active && !descending;
            let query = serde_urlencoded::to_string(ListParams {
                sort: (*key).to_owned(),
                dir: if flip { "desc".to_owned() } else { "asc".to_owned() },
                cursor: String::new(),
                page: String::new(),
                ..params.clone()
            })
            .unwrap_or_default();
            let sort = match (active, descending) {
                (false, _) => "none",
                (true, false) => "ascending",
                (true, true) => "descending",
            };
            json!({"key": key, "label": label, "query": query, "sort": sort})
        })
        .collect()
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
    let (classes, next, errors) = match sorted_page(state, &session.actor, &params, filter).await {
        Ok((classes, next)) => (classes, next, Vec::new()),
        Err(EngineError::Invalid(errors)) => (Vec::new(), None, errors),
        Err(e) => return state.pages.error(session, e),
    };
    let next_query = next.map(|next| serde_urlencoded::to_string(next).unwrap_or_default());
    state.pages.render(
        "classes.html",
        Some(session),
        json!({
            "nav": "classes",
            "classes": classes,
            "headings": headings(&params),
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
