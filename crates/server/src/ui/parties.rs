//! Customers and resellers: the create/edit form (with the out-of-turn invoice action) and the
//! effective-settings view. One set of handlers serves both kinds; the router says which. The lists are in
//! `party_list`.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use classbill_domain::party::PartyKind;
use classbill_engine::classes::{ClassListFilter, ClassListItem};
use classbill_engine::{Actor, EngineError, PageRequest};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::UiState;
use super::form::FormData;
use super::out_of_turn;
use super::session::Session;

pub(super) fn section(kind: PartyKind) -> (&'static str, &'static str) {
    match kind {
        PartyKind::Customer => ("customers", "Customers"),
        PartyKind::Reseller => ("resellers", "Resellers"),
    }
}

/// The classes a party of this actor may be given: those the actor's own owner manages (§1.3 A2); the engine
/// still checks every assignment.
pub(super) async fn assignable_classes(
    state: &UiState,
    actor: &Actor,
    party_id: Option<i64>,
) -> Result<Vec<ClassListItem>, EngineError> {
    let managed_by = match actor.role {
        classbill_engine::Role::Administrator => "administrator".to_owned(),
        classbill_engine::Role::Reseller(id) => id.to_string(),
    };
    let filter = ClassListFilter {
        managed_by: Some(managed_by),
        assignable_to: party_id,
        ..ClassListFilter::default()
    };
    let page = PageRequest {
        limit: classbill_engine::MAX_LIMIT,
        cursor: None,
    };
    Ok(state.engine.list_classes(actor, filter, page).await?.items)
}

/// The editable fields of the party form, as `(name, label)`; all are text, empty = not set.
const FORM_FIELDS: &[(&str, &str)] = &[
    ("name", "Name"),
    ("email", "E-mail"),
    ("phone", "Phone"),
    ("country", "Country (ISO code)"),
];
/// Fields that are set once, at creation.
const CREATE_FIELDS: &[(&str, &str)] = &[
    ("currency", "Currency"),
    ("billing_period", "Billing period"),
    ("time_zone", "Time zone"),
];

/// The party form; on a stored party also its status history and, for users of its owner, the out-of-turn
/// invoice form (`oot` is that form as last sent, when the engine refused it).
pub(super) async fn render_form(
    state: &UiState,
    session: &Session,
    kind: PartyKind,
    id: Option<i64>,
    values: &Value,
    errors: Vec<classbill_domain::FieldError>,
    oot: Option<out_of_turn::Submitted>,
) -> Response {
    let (nav, title) = section(kind);
    let classes = match assignable_classes(state, &session.actor, id).await {
        Ok(classes) => classes,
        Err(e) => return state.pages.error(session, e),
    };
    let history = match id {
        Some(id) => match state.engine.status_history(&session.actor, id).await {
            Ok(history) => history,
            Err(e) => return state.pages.error(session, e),
        },
        None => Vec::new(),
    };
    let oot = match id {
        Some(id) => match out_of_turn::section(state, &session.actor, kind, id, oot).await {
            Ok(section) => section,
            Err(e) => return state.pages.error(session, e),
        },
        None => Value::Null,
    };
    let mut by_field: Map<String, Value> = Map::new();
    for error in &errors {
        let entry = by_field.entry(error.field.clone()).or_insert_with(|| json!([]));
        if let Value::Array(messages) = entry {
            messages.push(json!(error.message));
        }
    }
    let create_fields: &[(&str, &str)] = if id.is_none() { CREATE_FIELDS } else { &[] };
    let known =
        |field: &str| field == "class_id" || FORM_FIELDS.iter().chain(create_fields).any(|(name, _)| *name == field);
    let other: Vec<_> = errors.iter().filter(|e| !known(&e.field)).collect();
    let fields: Vec<Value> = FORM_FIELDS
        .iter()
        .chain(create_fields)
        .map(|(name, label)| json!({"name": name, "label": label, "value": values[*name].as_str().unwrap_or("")}))
        .collect();
    state.pages.render(
        "party_form.html",
        Some(session),
        json!({"nav": nav, "title": title, "id": id, "fields": fields, "values": values, "classes": classes,
               "errors": by_field, "other_errors": other, "history": history, "oot": oot}),
    )
}

/// The JSON body for the engine from the submitted form: empty optional texts are null (unset).
fn body_of(form: &FormData, creating: bool) -> Value {
    let mut body = Map::new();
    let fields = FORM_FIELDS.iter().chain(if creating { CREATE_FIELDS } else { &[] });
    for (name, _) in fields {
        let text = form.last(name).unwrap_or("").trim();
        let value = if text.is_empty() && *name != "name" {
            Value::Null
        } else {
            json!(text)
        };
        if !(creating && value.is_null()) {
            body.insert((*name).to_owned(), value);
        }
    }
    if let Some(class_id) = form.last("class_id").and_then(|c| c.parse::<i64>().ok()) {
        body.insert("class_id".into(), json!(class_id));
    }
    Value::Object(body)
}

fn values_of(form: &FormData) -> Value {
    let mut values = Map::new();
    for (name, _) in FORM_FIELDS.iter().chain(CREATE_FIELDS) {
        values.insert((*name).to_owned(), json!(form.last(name).unwrap_or("")));
    }
    values.insert(
        "class_id".into(),
        json!(form.last("class_id").and_then(|c| c.parse::<i64>().ok())),
    );
    Value::Object(values)
}

pub async fn new_form(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Extension(kind): Extension<PartyKind>,
) -> Response {
    render_form(&state, &session, kind, None, &json!({}), Vec::new(), None).await
}

pub async fn create(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Extension(kind): Extension<PartyKind>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let now = Timestamp::now();
    let created = match kind {
        PartyKind::Customer => state
            .engine
            .create_customer_from_json(&session.actor, body_of(&form, true), now)
            .await
            .map(|c| c.id),
        PartyKind::Reseller => state
            .engine
            .create_reseller_from_json(&session.actor, body_of(&form, true), now)
            .await
            .map(|r| r.id),
    };
    match created {
        Ok(id) => Redirect::to(&format!("/{}/{id}", section(kind).0)).into_response(),
        Err(EngineError::Invalid(errors)) => {
            render_form(&state, &session, kind, None, &values_of(&form), errors, None).await
        }
        Err(e) => state.pages.error(&session, e),
    }
}

pub(super) async fn stored_values(
    state: &UiState,
    actor: &Actor,
    kind: PartyKind,
    id: i64,
) -> Result<Value, EngineError> {
    Ok(match kind {
        PartyKind::Customer => serde_json::to_value(state.engine.get_customer(actor, id).await?)?,
        PartyKind::Reseller => serde_json::to_value(state.engine.get_reseller(actor, id).await?)?,
    })
}

pub async fn edit_form(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Extension(kind): Extension<PartyKind>,
    Path(id): Path<i64>,
) -> Response {
    match stored_values(&state, &session.actor, kind, id).await {
        Ok(values) => render_form(&state, &session, kind, Some(id), &values, Vec::new(), None).await,
        Err(e) => state.pages.error(&session, e),
    }
}

pub async fn save(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Extension(kind): Extension<PartyKind>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let now = Timestamp::now();
    let patch = body_of(&form, false);
    let saved = match kind {
        PartyKind::Customer => state
            .engine
            .update_customer(&session.actor, id, patch, now)
            .await
            .map(|_| ()),
        PartyKind::Reseller => state
            .engine
            .update_reseller(&session.actor, id, patch, now)
            .await
            .map(|_| ()),
    };
    match saved {
        Ok(()) => Redirect::to(&format!("/{}/{id}", section(kind).0)).into_response(),
        Err(EngineError::Invalid(errors)) => {
            render_form(&state, &session, kind, Some(id), &values_of(&form), errors, None).await
        }
        Err(e) => state.pages.error(&session, e),
    }
}

/// Flattens the effective-settings tree into rows of path, value and where the value comes from.
fn effective_rows(prefix: &str, node: &Value, rows: &mut Vec<Value>) {
    let Value::Object(map) = node else { return };
    if map.contains_key("value") && map.contains_key("source") {
        let source = match map["source"].as_str().unwrap_or("") {
            "class" => format!(
                "class {} (revision {})",
                map.get("class_id").map_or(String::new(), Value::to_string),
                map.get("class_revision").map_or(String::new(), Value::to_string)
            ),
            "rule" => format!("rule {}", map.get("rule").and_then(Value::as_str).unwrap_or("")),
            other => other.to_owned(),
        };
        let value = match &map["value"] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        rows.push(json!({"path": prefix, "value": value, "source": source, "kind": map["source"]}));
        return;
    }
    for (key, child) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        effective_rows(&path, child, rows);
    }
}

pub async fn effective(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Extension(kind): Extension<PartyKind>,
    Path(id): Path<i64>,
) -> Response {
    let settings = match state
        .engine
        .effective_settings(&session.actor, kind, id, Timestamp::now())
        .await
    {
        Ok(settings) => settings,
        Err(e) => return state.pages.error(&session, e),
    };
    let document = serde_json::to_value(&settings).unwrap_or(Value::Null);
    let mut rows = Vec::new();
    for (key, child) in document.as_object().into_iter().flatten() {
        if child.is_object() {
            effective_rows(key, child, &mut rows);
        }
    }
    let (nav, title) = section(kind);
    state.pages.render(
        "effective.html",
        Some(&session),
        json!({"nav": nav, "title": title, "id": id, "settings": settings, "rows": rows}),
    )
}
