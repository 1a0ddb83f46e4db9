//! The customer and reseller lists: filters, sorting by id or name, keyset pages and bulk "move to class".
//! One set of handlers serves both kinds; the router says which.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use classbill_domain::party::PartyKind;
use classbill_engine::{Actor, EngineError, MemberOutcome, Page, PageRequest, PartyListFilter};
use classbill_store::parties::PartyOrder;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::UiState;
use super::form::FormData;
use super::list_query::non_empty;
use super::parties::{assignable_classes, section};
use super::session::Session;

const PAGE_SIZE: i64 = 50;

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct ListParams {
    #[serde(default)]
    name: String,
    #[serde(default)]
    class_id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    currency: String,
    /// `id` (the default) or `name`.
    #[serde(default)]
    sort: String,
    /// `desc` for descending; anything else ascends.
    #[serde(default)]
    dir: String,
    #[serde(default)]
    cursor: String,
}

/// The order a list query asks for; an unknown column is refused like any other bad filter.
fn order_of(params: &ListParams) -> Result<PartyOrder, classbill_domain::FieldError> {
    let by_name = match params.sort.trim() {
        "" | "id" => false,
        "name" => true,
        other => {
            return Err(classbill_domain::FieldError::new(
                "sort",
                "invalid",
                format!("cannot sort by {other:?}; by id or name"),
            ));
        }
    };
    Ok(PartyOrder {
        by_name,
        descending: params.dir == "desc",
    })
}

/// The sortable headings, Id and Name: each links to its order, flipping it when already sorted by it.
fn headings(params: &ListParams, order: PartyOrder) -> Vec<Value> {
    [("id", "Id", false), ("name", "Name", true)]
        .iter()
        .map(|(key, label, by_name)| {
            let active = order.by_name == *by_name;
            let query = serde_urlencoded::to_string(ListParams {
                sort: (*key).to_owned(),
                dir: if active && !order.descending { "desc" } else { "asc" }.to_owned(),
                cursor: String::new(),
                ..params.clone()
            })
            .unwrap_or_default();
            let sort = match (active, order.descending) {
                (false, _) => "none",
                (true, false) => "ascending",
                (true, true) => "descending",
            };
            json!({"key": key, "label": label, "query": query, "sort": sort})
        })
        .collect()
}

/// One row of the list: the fields both kinds share.
fn row(id: i64, party: &classbill_engine::parties::PartyCommon) -> Value {
    json!({"id": id, "name": party.name, "currency": party.currency, "class_id": party.class_id,
           "status": party.status, "time_zone": party.time_zone, "billing_period": party.billing_period})
}

async fn list_rows(
    state: &UiState,
    actor: &Actor,
    kind: PartyKind,
    filter: PartyListFilter,
    order: PartyOrder,
    page: PageRequest,
) -> Result<(Vec<Value>, Option<String>), EngineError> {
    Ok(match kind {
        PartyKind::Customer => {
            let Page { items, next_cursor } = state.engine.list_customers_ordered(actor, filter, order, page).await?;
            (items.iter().map(|c| row(c.id, c)).collect(), next_cursor)
        }
        PartyKind::Reseller => {
            let Page { items, next_cursor } = state.engine.list_resellers_ordered(actor, filter, order, page).await?;
            (items.iter().map(|r| row(r.id, r)).collect(), next_cursor)
        }
    })
}

async fn render_list(
    state: &UiState,
    session: &Session,
    kind: PartyKind,
    params: ListParams,
    outcomes: Vec<MemberOutcome>,
) -> Response {
    let (nav, title) = section(kind);
    let mut errors = Vec::new();
    let class_id = match non_empty(&params.class_id).map(|c| c.parse::<i64>()) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            errors.push(classbill_domain::FieldError::new(
                "class_id",
                "invalid",
                "must be a class id",
            ));
            None
        }
        None => None,
    };
    let filter = PartyListFilter {
        class_id,
        owner: None,
        status: non_empty(&params.status),
        currency: non_empty(&params.currency),
        name: non_empty(&params.name),
    };
    let page = PageRequest {
        limit: PAGE_SIZE,
        cursor: non_empty(&params.cursor),
    };
    let order = match order_of(&params) {
        Ok(order) => order,
        Err(error) => {
            errors.push(error);
            PartyOrder::default()
        }
    };
    let (rows, next_cursor) = match list_rows(state, &session.actor, kind, filter, order, page).await {
        Ok(found) => found,
        Err(EngineError::Invalid(found)) => {
            errors.extend(found);
            (Vec::new(), None)
        }
        Err(e) => return state.pages.error(session, e),
    };
    let classes = match assignable_classes(state, &session.actor, None).await {
        Ok(classes) => classes,
        Err(e) => return state.pages.error(session, e),
    };
    let next_query = next_cursor.map(|cursor| {
        serde_urlencoded::to_string(ListParams {
            cursor,
            ..params.clone()
        })
        .unwrap_or_default()
    });
    state.pages.render(
        "parties.html",
        Some(session),
        json!({"nav": nav, "title": title, "rows": rows, "headings": headings(&params, order), "filters": params,
               "errors": errors,
               "next_query": next_query, "classes": classes, "outcomes": outcomes}),
    )
}

pub async fn list(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Extension(kind): Extension<PartyKind>,
    Query(params): Query<ListParams>,
) -> Response {
    render_list(&state, &session, kind, params, Vec::new()).await
}

/// Bulk "move to class": the engine's bulk assignment, one outcome per ticked party.
pub async fn bulk_move(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Extension(kind): Extension<PartyKind>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let Some(class_id) = form.last("class_id").and_then(|c| c.parse::<i64>().ok()) else {
        return state.pages.message(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            Some(&session),
            "No class chosen",
            "Choose the class to move the ticked parties to.",
        );
    };
    let ids = form.ids("id");
    match state
        .engine
        .assign_members(&session.actor, class_id, &ids, Timestamp::now())
        .await
    {
        Ok(outcomes) => render_list(&state, &session, kind, ListParams::default(), outcomes).await,
        Err(e) => state.pages.error(&session, e),
    }
}
