//! Notification sets (customer-classes §2.8, §5.13) in the web UI: the list, the form with the name and each
//! event's subject, text, HTML and SMS templates, and a preview rendering them with a sample customer and
//! invoice. Reads and writes go through the engine methods of `/api/v1/notification-sets`, so a user sees and
//! changes exactly what the API lets it; the preview uses the engine's rendering of the outbox.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use classbill_domain::class::{CLASS_EVENT_KEYS, OPERATOR_EVENT_KEYS};
use classbill_domain::{FieldError, Owner};
use classbill_engine::catalog::{CatalogItem, NotificationSetDocument, NotificationSetKind, NotificationTexts};
use classbill_engine::notifications::preview::{NotificationSetPreviewRequest, preview_notification_texts};
use classbill_engine::notifications::templates::variables_of;
use classbill_engine::{EngineError, PageRequest, PartyListFilter};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::UiState;
use super::form::{EditParams, FormData};
use super::list_query::non_empty;
use super::session::Session;

const PAGE_SIZE: i64 = 50;
/// The parts of one event's texts, as the document names them, with their labels and textarea heights.
const PARTS: [(&str, &str, u8); 4] = [
    ("subject", "Subject", 2),
    ("text", "Text body", 5),
    ("html", "HTML body", 5),
    ("sms", "SMS text", 2),
];

type Set = CatalogItem<NotificationSetDocument>;

/// The pages under `/notification-sets`, all behind the sign-in of the other pages.
pub fn routes() -> Router<UiState> {
    Router::new()
        .route("/notification-sets", get(list))
        .route("/notification-sets/new", get(new_form).post(create))
        .route("/notification-sets/preview", post(preview))
        .route("/notification-sets/{id}", get(edit_form).post(save))
}

/// Every event a set may hold texts for: the class-controlled ones, then the operator's.
fn event_keys() -> impl Iterator<Item = &'static str> {
    CLASS_EVENT_KEYS.iter().chain(OPERATOR_EVENT_KEYS).copied()
}

/// How many events have at least one text.
fn template_count(set: &NotificationSetDocument) -> usize {
    set.events
        .values()
        .filter(|texts| {
            [&texts.subject, &texts.text, &texts.html, &texts.sms]
                .iter()
                .any(|t| !t.is_empty())
        })
        .count()
}

/// The owner as a page shows it: the administrator, or the reseller's name with a link where the user sees it.
async fn owner_label(state: &UiState, session: &Session, owner: Owner) -> Value {
    match owner {
        Owner::Administrator => json!({"name": "Administrator", "href": Value::Null}),
        Owner::Reseller { reseller_id } => match state.engine.get_reseller(&session.actor, reseller_id).await {
            Ok(reseller) => json!({"name": reseller.name, "href": format!("/resellers/{reseller_id}")}),
            // A reseller user does not see its own reseller as a party.
            Err(_) => json!({"name": format!("Reseller {reseller_id}"), "href": Value::Null}),
        },
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    cursor: String,
}

pub async fn list(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Query(params): Query<ListParams>,
) -> Response {
    let page = PageRequest {
        limit: PAGE_SIZE,
        cursor: non_empty(&params.cursor),
    };
    let found = match state
        .engine
        .list_catalog::<NotificationSetKind>(&session.actor, page)
        .await
    {
        Ok(found) => found,
        Err(e) => return state.pages.error(&session, e),
    };
    let mut owners: BTreeMap<String, Value> = BTreeMap::new();
    let mut rows = Vec::new();
    for set in &found.items {
        let key = set
            .owner
            .reseller_id()
            .map_or_else(|| "administrator".to_owned(), |id| id.to_string());
        if !owners.contains_key(&key) {
            owners.insert(key.clone(), owner_label(&state, &session, set.owner).await);
        }
        rows.push(json!({
            "id": set.id,
            "name": set.document.name,
            "owner": owners[&key],
            "shared": set.shared,
            "builtin": set.builtin,
            "templates": template_count(&set.document),
        }));
    }
    let next_query = found.next_cursor.map(|cursor| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("cursor", &cursor)
            .finish()
    });
    state.pages.render(
        "notification_sets.html",
        Some(&session),
        json!({"nav": "notification_sets", "sets": rows, "next_query": next_query}),
    )
}

/// What the form shows: the stored set (when editing) and the values to put into the fields.
struct FormView<'a> {
    set: Option<&'a Set>,
    name: &'a str,
    owner: String,
    shared: bool,
    events: &'a BTreeMap<String, NotificationTexts>,
    errors: Vec<FieldError>,
    saved: bool,
}

/// The administrator's choice of owner for a new set; a reseller user's sets are always its reseller's.
async fn owner_choices(state: &UiState, session: &Session) -> Result<Vec<Value>, EngineError> {
    if !session.actor.is_administrator() {
        return Ok(Vec::new());
    }
    let page = PageRequest {
        limit: classbill_engine::MAX_LIMIT,
        cursor: None,
    };
    Ok(state
        .engine
        .list_resellers(&session.actor, PartyListFilter::default(), page)
        .await?
        .items
        .into_iter()
        .map(|r| json!({"value": r.id.to_string(), "label": r.name}))
        .collect())
}

async fn render_form(state: &UiState, session: &Session, view: FormView<'_>) -> Response {
    let mut by_field: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut other = Vec::new();
    let mut known_fields = vec!["name".to_owned(), "owner".to_owned(), "shared".to_owned()];
    for key in event_keys() {
        known_fields.extend(PARTS.iter().map(|(part, _, _)| format!("events.{key}.{part}")));
    }
    for error in &view.errors {
        if known_fields.contains(&error.field) {
            by_field
                .entry(error.field.clone())
                .or_default()
                .push(error.message.clone());
        } else {
            other.push(error);
        }
    }
    let events: Vec<Value> = event_keys()
        .map(|key| {
            let texts = view.events.get(key).cloned().unwrap_or_default();
            let values = [&texts.subject, &texts.text, &texts.html, &texts.sms];
            let parts: Vec<Value> = PARTS
                .iter()
                .zip(values)
                .map(|((part, label, rows), value)| {
                    let field = format!("events.{key}.{part}");
                    json!({
                        "name": field,
                        "id": format!("events-{key}-{part}"),
                        "label": label,
                        "rows": rows,
                        "value": value,
                        "errors": by_field.get(&field).cloned().unwrap_or_default(),
                    })
                })
                .collect();
            let has_errors = parts
                .iter()
                .any(|p| p["errors"].as_array().is_some_and(|e| !e.is_empty()));
            json!({
                "key": key,
                "label": key.replace('_', " "),
                "operator": OPERATOR_EVENT_KEYS.contains(&key),
                "variables": variables_of(key),
                "filled": view.events.contains_key(key),
                "has_errors": has_errors,
                "parts": parts,
            })
        })
        .collect();
    let creating = view.set.is_none();
    let owners = if creating {
        match owner_choices(state, session).await {
            Ok(owners) => owners,
            Err(e) => return state.pages.error(session, e),
        }
    } else {
        Vec::new()
    };
    let owner = match view.set {
        Some(set) => owner_label(state, session, set.owner).await,
        None => Value::Null,
    };
    let writable = view.set.is_none_or(|set| session.actor.sees(set.owner));
    // Only administrator sets can be shared, and the built-in one stays shared.
    let shareable = session.actor.is_administrator()
        && view
            .set
            .is_none_or(|set| set.owner == Owner::Administrator && !set.builtin);
    state.pages.render(
        "notification_set_form.html",
        Some(session),
        json!({
            "nav": "notification_sets",
            "set": view.set.map(|set| json!({"id": set.id, "builtin": set.builtin, "shared": set.shared,
                                              "owner": owner})),
            "name": view.name,
            "owner_choice": view.owner,
            "owners": owners,
            "shared": view.shared,
            "shareable": shareable,
            "writable": writable,
            "events": events,
            "errors": by_field,
            "other_errors": other,
            "saved": view.saved,
        }),
    )
}

/// Textareas send CRLF line breaks; templates are stored with LF, as the API receives them.
fn text_of(form: &FormData, name: &str) -> String {
    form.last(name).unwrap_or("").replace("\r\n", "\n")
}

/// The events the form describes; an event whose four texts are empty is left out, so the standard set's
/// texts apply to it.
fn submitted_events(form: &FormData) -> BTreeMap<String, NotificationTexts> {
    event_keys()
        .filter_map(|key| {
            let part = |name: &str| text_of(form, &format!("events.{key}.{name}"));
            let texts = NotificationTexts {
                subject: part("subject"),
                text: part("text"),
                html: part("html"),
                sms: part("sms"),
            };
            let empty = [&texts.subject, &texts.text, &texts.html, &texts.sms]
                .iter()
                .all(|t| t.is_empty());
            (!empty).then(|| (key.to_owned(), texts))
        })
        .collect()
}

/// The owner the form chose, as the API names it; absent for a reseller user's form.
fn submitted_owner(form: &FormData) -> Option<Value> {
    match form.last("owner")? {
        "administrator" => Some(json!({"type": "administrator"})),
        id => {
            Some(json!({"type": "reseller", "reseller_id": id.parse::<i64>().map_or_else(|_| json!(id), Value::from)}))
        }
    }
}

pub async fn new_form(State(state): State<UiState>, Extension(session): Extension<Session>) -> Response {
    let events = BTreeMap::new();
    let view = FormView {
        set: None,
        name: "",
        owner: "administrator".to_owned(),
        shared: false,
        events: &events,
        errors: Vec::new(),
        saved: false,
    };
    render_form(&state, &session, view).await
}

pub async fn create(State(state): State<UiState>, Extension(session): Extension<Session>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let name = form.last("name").unwrap_or("").to_owned();
    let events = submitted_events(&form);
    let shared = form.last("shared") == Some("true");
    let mut document = json!({"name": name, "events": events});
    if let Some(owner) = submitted_owner(&form) {
        document["owner"] = owner;
    }
    if session.actor.is_administrator() {
        document["shared"] = json!(shared);
    }
    match state
        .engine
        .create_catalog::<NotificationSetKind>(&session.actor, document, state.clock.now())
        .await
    {
        Ok(set) => Redirect::to(&format!("/notification-sets/{}?saved=1", set.id)).into_response(),
        Err(EngineError::Invalid(errors)) => {
            let view = FormView {
                set: None,
                name: &name,
                owner: form.last("owner").unwrap_or("administrator").to_owned(),
                shared,
                events: &events,
                errors,
                saved: false,
            };
            render_form(&state, &session, view).await
        }
        Err(e) => state.pages.error(&session, e),
    }
}

/// The set the user asked for, or the error page for it.
async fn load(state: &UiState, session: &Session, id: i64) -> Result<CatalogItem<NotificationSetDocument>, Response> {
    state
        .engine
        .get_catalog::<NotificationSetKind>(&session.actor, id)
        .await
        .map_err(|e| state.pages.error(session, e))
}

pub async fn edit_form(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Query(params): Query<EditParams>,
) -> Response {
    let set = match load(&state, &session, id).await {
        Ok(set) => set,
        Err(page) => return page,
    };
    let view = FormView {
        set: Some(&set),
        name: &set.document.name,
        owner: String::new(),
        shared: set.shared,
        events: &set.document.events,
        errors: Vec::new(),
        saved: params.saved(),
    };
    render_form(&state, &session, view).await
}

/// Replaces the set's name and texts with the form's: the API's merge patch, with `null` for every event the
/// form left empty so that its stored texts go.
pub async fn save(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let set = match load(&state, &session, id).await {
        Ok(set) => set,
        Err(page) => return page,
    };
    let name = form.last("name").unwrap_or("").to_owned();
    let events = submitted_events(&form);
    let mut patch_events = Map::new();
    for key in event_keys() {
        let texts = events.get(key).map_or(Ok(Value::Null), serde_json::to_value);
        patch_events.insert(key.to_owned(), texts.unwrap_or(Value::Null));
    }
    let mut patch = json!({"name": name, "events": patch_events});
    let shared = if session.actor.is_administrator() && set.owner == Owner::Administrator && !set.builtin {
        let shared = form.last("shared") == Some("true");
        patch["shared"] = json!(shared);
        shared
    } else {
        set.shared
    };
    match state
        .engine
        .update_catalog::<NotificationSetKind>(&session.actor, id, patch, state.clock.now())
        .await
    {
        Ok(_) => Redirect::to(&format!("/notification-sets/{id}?saved=1")).into_response(),
        Err(EngineError::Invalid(errors)) => {
            let view = FormView {
                set: Some(&set),
                name: &name,
                owner: String::new(),
                shared,
                events: &events,
                errors,
                saved: false,
            };
            render_form(&state, &session, view).await
        }
        Err(e) => state.pages.error(&session, e),
    }
}

/// "Preview": the form's texts rendered with the sample customer and invoice, as a fragment for htmx. Nothing
/// is saved, so read-only sets can be previewed too.
pub async fn preview(State(state): State<UiState>, Extension(session): Extension<Session>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let request = NotificationSetPreviewRequest {
        name: None,
        events: submitted_events(&form),
    };
    let preview = preview_notification_texts(&request);
    let events: Vec<Value> = preview
        .events
        .iter()
        .map(|(key, rendered)| {
            json!({"key": key, "label": key.replace('_', " "), "rendered": rendered,
                   "variables": rendered.variables.iter().map(|(name, value)| {
                       json!({"name": name, "value": value.as_str().map_or_else(|| value.to_string(), str::to_owned)})
                   }).collect::<Vec<_>>()})
        })
        .collect();
    state.pages.render(
        "notification_set_preview.html",
        Some(&session),
        json!({"valid": preview.valid, "errors": preview.errors, "events": events}),
    )
}
