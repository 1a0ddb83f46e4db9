//! The notification delivery log (customer-classes §5.13): one row per outbox message, newest first, with the
//! filters of `GET /api/v1/notifications`. The engine scopes the log, so a reseller user sees only the messages
//! about its own parties.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use classbill_domain::class::{CLASS_EVENT_KEYS, INTEGRATION_EVENT_KEYS, OPERATOR_EVENT_KEYS};
use classbill_engine::PageRequest;
use classbill_engine::notifications::{NotificationFilter, NotificationView};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::UiState;
use super::invoices::party_of;
use super::list_query::{non_empty, party_filter, rows_or_errors};
use super::session::Session;

const PAGE_SIZE: i64 = 50;

/// The log's query string: the API's filters plus the page cursor.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct ListParams {
    #[serde(default)]
    event: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    party_id: String,
    #[serde(default)]
    cursor: String,
}

/// The page of the log: a filter the engine refuses is shown above an empty table, as on the other lists.
pub async fn list(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Query(params): Query<ListParams>,
) -> Response {
    let mut errors = Vec::new();
    let party_id = party_filter(&params.party_id, &mut errors);
    let filter = NotificationFilter {
        party_id,
        event: non_empty(&params.event),
        status: non_empty(&params.status),
        channel: non_empty(&params.channel),
    };
    let page = PageRequest {
        limit: PAGE_SIZE,
        cursor: non_empty(&params.cursor),
    };
    let (messages, next_cursor) = if errors.is_empty() {
        match rows_or_errors(
            state.engine.list_notifications(&session.actor, filter, page).await,
            &mut errors,
        ) {
            Ok(found) => found,
            Err(e) => return state.pages.error(&session, e),
        }
    } else {
        (Vec::new(), None)
    };
    let mut parties = BTreeMap::new();
    for party_id in messages.iter().filter_map(|m: &NotificationView| m.party_id) {
        if let Entry::Vacant(slot) = parties.entry(party_id.to_string()) {
            slot.insert(party_of(&state, &session.actor, party_id).await);
        }
    }
    let next_query = next_cursor.map(|cursor| {
        serde_urlencoded::to_string(ListParams {
            cursor,
            ..params.clone()
        })
        .unwrap_or_default()
    });
    let events: Vec<&str> = CLASS_EVENT_KEYS
        .iter()
        .chain(OPERATOR_EVENT_KEYS)
        .chain(INTEGRATION_EVENT_KEYS)
        .copied()
        .collect();
    state.pages.render(
        "notifications.html",
        Some(&session),
        json!({"nav": "notifications", "messages": messages, "parties": parties, "filters": params,
               "errors": errors, "next_query": next_query, "events": events}),
    )
}
