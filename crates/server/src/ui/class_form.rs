//! Add / Edit class: the header, one tab per document section, the history, "Preview impact" and "Save & add
//! a copy". The form is turned into the class document and handed to the same engine methods as the API, so
//! every rule and message comes from the engine.

use std::collections::BTreeMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use classbill_domain::FieldError;
use classbill_domain::class::ClassSettings;
use classbill_engine::classes::{ClassView, ClassWritten, Revision};
use classbill_engine::{EngineError, PageRequest, PartyListFilter};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::UiState;
use super::class_fields::{self, Field, Kind, Tab};
use super::form::{EditParams, FormData};
use super::session::Session;

const HEADER_FIELDS: &[&str] = &["name", "managed_by", "business_model", "currency", "description"];
const BUSINESS_MODELS: &[&str] = &[
    "universal",
    "cloud_pbx",
    "sip_trunking",
    "residential_voip",
    "pinless",
    "internet_access",
    "prepaid_cards_holder",
    "mobile",
];
/// Revisions shown on the History tab.
const HISTORY_LENGTH: i64 = 20;

/// What the form shows besides the document.
#[derive(Default)]
struct FormState {
    errors: Vec<FieldError>,
    warnings: Vec<FieldError>,
    /// Revisions saved by others since the form was loaded.
    stale: Vec<Revision>,
    saved: bool,
    change_note: String,
}

fn field_json(field: &Field, document: &Value, errors: &BTreeMap<String, Vec<String>>) -> Value {
    let value = class_fields::lookup(document, &field.path);
    let shown_when = field
        .shown_when
        .iter()
        .map(|(path, value)| format!("{path}={value}"))
        .collect::<Vec<_>>()
        .join(";");
    let (input, options): (&str, &[&str]) = match field.kind {
        Kind::Bool => ("checkbox", &[]),
        Kind::Choice(options) => ("select", options),
        _ => ("text", &[]),
    };
    json!({
        "path": field.path,
        "id": field.path.replace(['.', '[', ']'], "-"),
        "label": field.label,
        "input": input,
        "options": options,
        "value": class_fields::display(field.kind, value),
        "checked": value == Some(&Value::Bool(true)),
        "shown_when": shown_when,
        "errors": errors.get(&field.path).cloned().unwrap_or_default(),
    })
}

/// The render context of the form for `document` (stored, defaults, or as submitted).
async fn form_context(
    state: &UiState,
    session: &Session,
    class: Option<&ClassView>,
    document: &Value,
    form: FormState,
) -> Result<Value, EngineError> {
    let metric_rows = document["measured_services"]["metrics"].as_array().map_or(0, Vec::len);
    let fields = class_fields::fields(metric_rows);
    let mut by_path: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut other = Vec::new();
    for error in &form.errors {
        let known = HEADER_FIELDS.contains(&error.field.as_str()) || fields.iter().any(|f| f.path == error.field);
        if known {
            by_path
                .entry(error.field.clone())
                .or_default()
                .push(error.message.clone());
        } else {
            other.push(error);
        }
    }
    let tabs: Vec<Value> = Tab::ALL
        .iter()
        .map(|(tab, label)| {
            let tab_fields: Vec<Value> = fields
                .iter()
                .filter(|f| f.tab == *tab)
                .map(|f| field_json(f, document, &by_path))
                .collect();
            let has_errors = tab_fields
                .iter()
                .any(|f| f["errors"].as_array().is_some_and(|e| !e.is_empty()));
            json!({"key": tab, "label": label, "fields": tab_fields, "has_errors": has_errors})
        })
        .collect();
    let history = match class {
        Some(class) => {
            let page = PageRequest {
                limit: HISTORY_LENGTH,
                cursor: None,
            };
            state
                .engine
                .class_revisions(&session.actor, class.id, page)
                .await?
                .items
        }
        None => Vec::new(),
    };
    // Only an administrator chooses the owner; a reseller user's classes are always its reseller's.
    let owners = if session.actor.is_administrator() && class.is_none() {
        let page = PageRequest {
            limit: classbill_engine::MAX_LIMIT,
            cursor: None,
        };
        state
            .engine
            .list_resellers(&session.actor, PartyListFilter::default(), page)
            .await?
            .items
            .into_iter()
            .map(|r| json!({"value": r.id.to_string(), "label": r.name.clone()}))
            .collect()
    } else {
        Vec::new()
    };
    let managed_by = match document["managed_by"]["reseller_id"].as_i64() {
        Some(id) => id.to_string(),
        None => "administrator".to_owned(),
    };
    Ok(json!({
        "nav": "classes",
        "class": class,
        "header": {
            "name": document["name"],
            "business_model": document["business_model"],
            "description": document["description"],
            "currency": document["currency"],
            "managed_by": managed_by,
        },
        "business_models": BUSINESS_MODELS,
        "owners": owners,
        "tabs": tabs,
        "errors": by_path,
        "other_errors": other,
        "warnings": form.warnings,
        "stale": form.stale,
        "saved": form.saved,
        "change_note": form.change_note,
        "history": history,
    }))
}

async fn render_form(
    state: &UiState,
    session: &Session,
    class: Option<&ClassView>,
    document: &Value,
    form: FormState,
) -> Response {
    match form_context(state, session, class, document, form).await {
        Ok(context) => state.pages.render("class_form.html", Some(session), context),
        Err(e) => state.pages.error(session, e),
    }
}

fn defaults() -> Value {
    serde_json::to_value(ClassSettings::default()).unwrap_or(Value::Null)
}

/// The class document a submitted form describes, on top of `base`.
fn submitted_document(base: &Value, form: &FormData, creating: bool) -> Value {
    let mut document = class_fields::apply_form(base, form);
    document["name"] = json!(form.last("name").unwrap_or(""));
    document["description"] = json!(form.last("description").unwrap_or(""));
    document["business_model"] = json!(form.last("business_model").unwrap_or(""));
    if creating {
        let currency = form.last("currency").map(str::trim).filter(|c| !c.is_empty());
        document["currency"] = currency.map_or(Value::Null, |c| json!(c.to_uppercase()));
        match form.last("managed_by") {
            Some("administrator") => document["managed_by"] = json!({"type": "administrator"}),
            Some(id) => {
                let reseller_id = id.parse::<i64>().map_or_else(|_| json!(id), Value::from);
                document["managed_by"] = json!({"type": "reseller", "reseller_id": reseller_id});
            }
            // A reseller user's form has no owner field; the engine takes the user's reseller.
            None => {
                if let Value::Object(map) = &mut document {
                    map.remove("managed_by");
                }
            }
        }
    }
    document
}

/// The document plus the optional change note, as the engine's write methods take it.
fn write_body(document: &Value, form: &FormData) -> Value {
    let mut body = document.clone();
    if let Some(note) = form.last("change_note").map(str::trim).filter(|n| !n.is_empty()) {
        body["change_note"] = json!(note);
    }
    body
}

#[derive(Debug, Deserialize)]
pub struct NewParams {
    copy_of: Option<i64>,
}

pub async fn new_form(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Query(params): Query<NewParams>,
) -> Response {
    let document = match params.copy_of {
        None => defaults(),
        Some(id) => match state.engine.get_class(&session.actor, id).await {
            Ok(source) => {
                let mut document = serde_json::to_value(&source.settings).unwrap_or(Value::Null);
                document["name"] = json!(format!("Copy of {}", source.settings.name));
                document
            }
            Err(e) => return state.pages.error(&session, e),
        },
    };
    render_form(&state, &session, None, &document, FormState::default()).await
}

/// Where to go after a successful save: the editor of the saved class, or a new class copied from it.
fn after_save(written: &ClassWritten, form: &FormData) -> Option<Response> {
    if form.last("action") == Some("save_copy") {
        return Some(Redirect::to(&format!("/classes/new?copy_of={}", written.class.id)).into_response());
    }
    written
        .warnings
        .is_empty()
        .then(|| Redirect::to(&format!("/classes/{}?saved=1", written.class.id)).into_response())
}

pub async fn create(State(state): State<UiState>, Extension(session): Extension<Session>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let document = submitted_document(&defaults(), &form, true);
    match state
        .engine
        .create_class(&session.actor, write_body(&document, &form), Timestamp::now())
        .await
    {
        Ok(written) => match after_save(&written, &form) {
            Some(response) => response,
            None => show_saved(&state, &session, written).await,
        },
        Err(EngineError::Invalid(errors)) => {
            let failed = FormState {
                errors,
                change_note: form.last("change_note").unwrap_or("").to_owned(),
                ..FormState::default()
            };
            render_form(&state, &session, None, &document, failed).await
        }
        Err(e) => state.pages.error(&session, e),
    }
}

/// The editor of a class just saved with warnings: they are shown once, beside the saved class.
async fn show_saved(state: &UiState, session: &Session, written: ClassWritten) -> Response {
    let document = serde_json::to_value(&written.class.settings).unwrap_or(Value::Null);
    let shown = FormState {
        warnings: written.warnings,
        saved: true,
        ..FormState::default()
    };
    render_form(state, session, Some(&written.class), &document, shown).await
}

pub async fn edit_form(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Query(params): Query<EditParams>,
) -> Response {
    let class = match state.engine.get_class(&session.actor, id).await {
        Ok(class) => class,
        Err(e) => return state.pages.error(&session, e),
    };
    let document = serde_json::to_value(&class.settings).unwrap_or(Value::Null);
    let shown = FormState {
        saved: params.saved(),
        ..FormState::default()
    };
    render_form(&state, &session, Some(&class), &document, shown).await
}

/// The revisions saved after `since`, oldest first, to tell the user who changed what meanwhile.
async fn revisions_since(
    state: &UiState,
    session: &Session,
    id: i64,
    since: i64,
) -> Result<Vec<Revision>, EngineError> {
    let page = PageRequest {
        limit: classbill_engine::MAX_LIMIT,
        cursor: None,
    };
    let mut newer: Vec<Revision> = state
        .engine
        .class_revisions(&session.actor, id, page)
        .await?
        .items
        .into_iter()
        .filter(|r| r.revision > since)
        .collect();
    newer.reverse();
    Ok(newer)
}

pub async fn save(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let class = match state.engine.get_class(&session.actor, id).await {
        Ok(class) => class,
        Err(e) => return state.pages.error(&session, e),
    };
    let stored = serde_json::to_value(&class.settings).unwrap_or(Value::Null);
    let document = submitted_document(&stored, &form, false);
    // The revision the form was loaded at: the If-Match of the API.
    let expected = form.last("revision").and_then(|r| r.parse::<i64>().ok());
    let written = state
        .engine
        .replace_class(
            &session.actor,
            id,
            expected,
            write_body(&document, &form),
            Timestamp::now(),
        )
        .await;
    let mut failed = FormState {
        change_note: form.last("change_note").unwrap_or("").to_owned(),
        ..FormState::default()
    };
    match written {
        Ok(written) => {
            return match after_save(&written, &form) {
                Some(response) => response,
                None => show_saved(&state, &session, written).await,
            };
        }
        Err(EngineError::Invalid(errors)) => failed.errors = errors,
        Err(EngineError::Conflict { code, errors, .. }) if code == "stale_revision" => {
            failed.errors = errors;
            failed.stale = match revisions_since(&state, &session, id, expected.unwrap_or(0)).await {
                Ok(newer) => newer,
                Err(e) => return state.pages.error(&session, e),
            };
        }
        Err(e) => return state.pages.error(&session, e),
    }
    // The form keeps the user's input and now carries the current revision: saving again after the
    // stale-revision message is a conscious overwrite of the changes it lists.
    render_form(&state, &session, Some(&class), &document, failed).await
}

/// "Preview impact": the engine's preview of the submitted form against the current revision.
pub async fn preview(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let class = match state.engine.get_class(&session.actor, id).await {
        Ok(class) => class,
        Err(e) => return state.pages.error(&session, e),
    };
    let stored = serde_json::to_value(&class.settings).unwrap_or(Value::Null);
    let document = submitted_document(&stored, &form, false);
    match state.engine.preview_class(&session.actor, id, document).await {
        Ok(preview) => state
            .pages
            .render("preview.html", Some(&session), json!({"preview": preview})),
        Err(e) => state.pages.error(&session, e),
    }
}
