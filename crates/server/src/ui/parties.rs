//! Customers and resellers: the create/edit form (with the out-of-turn invoice action) and the
//! effective-settings view. One set of handlers serves both kinds; the router says which. The lists are in
//! `party_list`; the inputs of the form and the JSON they stand for are in `party_fields` (the party's own fields and
//! custom fields) and `party_overrides` (the overrides of §4).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use classbill_domain::Owner;
use classbill_domain::custom_field::CustomFieldDefinition;
use classbill_domain::party::PartyKind;
use classbill_engine::catalog::{CustomFieldKind, InvoiceTemplateKind};
use classbill_engine::classes::{ClassListFilter, ClassListItem};
use classbill_engine::{Actor, EngineError, PageRequest, PartyListFilter, Role};
use serde_json::{Value, json};

use super::UiState;
use super::form::FormData;
use super::out_of_turn;
use super::party_fields::{self, Choices, ErrorSlots};
use super::party_overrides::{self, Inheritance};
use super::session::Session;

pub(super) fn section(kind: PartyKind) -> (&'static str, &'static str) {
    match kind {
        PartyKind::Customer => ("customers", "Customers"),
        PartyKind::Reseller => ("resellers", "Resellers"),
    }
}

fn all_rows() -> PageRequest {
    PageRequest {
        limit: classbill_engine::MAX_LIMIT,
        cursor: None,
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
        Role::Administrator => "administrator".to_owned(),
        Role::Reseller(id) => id.to_string(),
    };
    let filter = ClassListFilter {
        managed_by: Some(managed_by),
        assignable_to: party_id,
        ..ClassListFilter::default()
    };
    Ok(state.engine.list_classes(actor, filter, all_rows()).await?.items)
}

/// What the form needs beyond the party's values, loaded for one page.
struct Surroundings {
    choices: Choices,
    /// The class whose custom fields and inherited values the form shows, as `GET /customer-classes/{id}`.
    class: Option<Value>,
    definitions: Vec<CustomFieldDefinition>,
    effective: Option<Value>,
    templates: Vec<(i64, String)>,
}

/// The owner a new party gets from the form: the picked reseller for administrators, the own one otherwise.
fn owner_of_new(actor: &Actor, values: &Value, kind: PartyKind) -> Owner {
    match actor.role {
        Role::Reseller(own) => Owner::Reseller { reseller_id: own },
        Role::Administrator => Owner::from_reseller_id(values[kind.owner_field()].as_i64()),
    }
}

async fn surroundings(
    state: &UiState,
    actor: &Actor,
    kind: PartyKind,
    stored: Option<&Value>,
    values: &Value,
    classes: &[ClassListItem],
) -> Result<Surroundings, EngineError> {
    let owner = match stored {
        Some(stored) => Owner::from_reseller_id(stored[kind.owner_field()].as_i64()),
        None => owner_of_new(actor, values, kind),
    };
    let owners = if actor.is_administrator() && stored.is_none() {
        let resellers = state
            .engine
            .list_resellers(actor, PartyListFilter::default(), all_rows())
            .await?;
        Some(resellers.items.into_iter().map(|r| (r.id, r.name.clone())).collect())
    } else {
        None
    };
    let owner_label = match owner {
        Owner::Administrator => "none: the operator's own".to_owned(),
        Owner::Reseller { reseller_id } if stored.is_none() && !actor.is_administrator() => {
            format!("your reseller ({reseller_id})")
        }
        Owner::Reseller { reseller_id } => match state.engine.get_reseller(actor, reseller_id).await {
            Ok(reseller) => format!("{} ({reseller_id})", reseller.name),
            Err(_) => format!("reseller {reseller_id}"),
        },
    };
    let currencies = if stored.is_none() {
        // The enabled list is installation data any user may pick from; the engine checks the choice again.
        let mut tx = state.engine.store.read().await?;
        classbill_engine::installation::enabled_currencies(&mut tx)
            .await?
            .map(|codes| codes.into_iter().collect())
    } else {
        None
    };

    // The class shown: the one picked, else the stored one, else the owner's Default (§1.2 rule 4).
    let stored_class = stored.and_then(|s| s["class_id"].as_i64());
    let class_id = match (values["class_id"].as_i64(), stored_class, owner) {
        (Some(id), _, _) | (None, Some(id), _) => Some(id),
        (None, None, Owner::Reseller { reseller_id }) if actor.is_administrator() => state
            .engine
            .get_reseller(actor, reseller_id)
            .await
            .ok()
            .and_then(|r| r.default_class_id),
        (None, None, _) => classes.iter().find(|c| c.is_default).map(|c| c.id),
    };
    let class = match class_id {
        Some(id) => state.engine.get_class(actor, id).await.ok(),
        None => None,
    };
    let enabled: Vec<i64> = class
        .as_ref()
        .map(|c| c.settings.custom_fields.enabled_field_ids.clone())
        .unwrap_or_default();
    let definitions = if enabled.is_empty() {
        Vec::new()
    } else {
        let all = state
            .engine
            .list_catalog::<CustomFieldKind>(actor, all_rows())
            .await?
            .items;
        enabled
            .iter()
            .filter_map(|id| all.iter().find(|item| item.id == *id))
            .map(|item| item.document.clone())
            .collect()
    };
    let effective = match (stored, class_id == stored_class) {
        (Some(stored), true) => {
            let id = stored["id"].as_i64().unwrap_or_default();
            let settings = state
                .engine
                .effective_settings(actor, kind, id, state.clock.now())
                .await?;
            Some(serde_json::to_value(settings)?)
        }
        _ => None,
    };
    let templates = state
        .engine
        .list_catalog::<InvoiceTemplateKind>(actor, all_rows())
        .await?
        .items
        .into_iter()
        .filter(|t| t.shared || t.owner == owner)
        .map(|t| (t.id, t.document.name))
        .collect();
    Ok(Surroundings {
        choices: Choices {
            owners,
            owner_label,
            currencies,
        },
        class: class.map(serde_json::to_value).transpose()?,
        definitions,
        effective,
        templates,
    })
}

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
    let page = FormPage {
        kind,
        id,
        values,
        errors,
        scripted: false,
    };
    render_page(state, session, page, oot).await
}

/// One rendering of the form: the values to show and the engine's errors about them. `scripted` is set for the
/// partial refresh the page script asks for when the class or owner changes.
struct FormPage<'a> {
    kind: PartyKind,
    id: Option<i64>,
    values: &'a Value,
    errors: Vec<classbill_domain::FieldError>,
    scripted: bool,
}

async fn render_page(
    state: &UiState,
    session: &Session,
    page: FormPage<'_>,
    oot: Option<out_of_turn::Submitted>,
) -> Response {
    match page_context(state, session, page, oot).await {
        Ok(context) => state.pages.render("party_form.html", Some(session), context),
        Err(e) => state.pages.error(session, e),
    }
}

async fn page_context(
    state: &UiState,
    session: &Session,
    page: FormPage<'_>,
    oot: Option<out_of_turn::Submitted>,
) -> Result<Value, EngineError> {
    let FormPage {
        kind,
        id,
        values,
        errors,
        scripted,
    } = page;
    let actor = &session.actor;
    let (nav, title) = section(kind);
    let classes = assignable_classes(state, actor, id).await?;
    let (stored, history, oot) = match id {
        Some(id) => (
            Some(stored_values(state, actor, kind, id).await?),
            state.engine.status_history(actor, id).await?,
            out_of_turn::section(state, actor, kind, id, oot).await?,
        ),
        None => (None, Vec::new(), Value::Null),
    };
    // Stored facts the form does not send (owner, currency, status) come from the stored party.
    let mut shown = values.clone();
    if let (Some(stored), Value::Object(map)) = (&stored, &mut shown) {
        for key in [kind.owner_field(), "currency", "status", "blocked", "id"] {
            map.insert(key.to_owned(), stored[key].clone());
        }
    }
    let around = surroundings(state, actor, kind, stored.as_ref(), &shown, &classes).await?;
    let mut slots = ErrorSlots::new(errors);
    let fields = party_fields::main_fields(kind, id.is_none(), &shown, &around.choices, &mut slots);
    let class_errors = slots.take("class_id");
    let custom_fields = party_fields::custom_field_inputs(&around.definitions, &shown, &mut slots);
    let inheritance = Inheritance {
        effective: around.effective,
        class: around.class.clone(),
    };
    let overrides = party_overrides::override_sections(&shown, &inheritance, &around.templates, scripted, &mut slots);
    let other: Vec<Value> = slots
        .rest()
        .into_iter()
        .map(|e| json!({"field": e.field, "message": e.message}))
        .collect();
    Ok(
        json!({"nav": nav, "title": title, "id": id, "fields": fields, "values": shown, "classes": classes,
              "class_errors": class_errors, "class_name": around.class.as_ref().map(|c| c["name"].clone()),
              "custom_fields": custom_fields, "overrides": overrides,
              "class_choice": party_fields::class_choice(&shown, kind, id.is_none()),
              "currencies": ["EUR", "USD", "GBP", "CHF", "PLN", "SEK"], "time_zones": party_fields::time_zones(),
              "other_errors": other, "scripted": scripted, "history": history, "oot": oot}),
    )
}

/// Whether the request is the page script's partial refresh.
fn scripted(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

pub async fn new_form(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Extension(kind): Extension<PartyKind>,
) -> Response {
    render_form(&state, &session, kind, None, &json!({}), Vec::new(), None).await
}

/// The body to send for a submitted form; custom values only when the inputs belong to the class chosen.
fn request_of(form: &FormData, values: &Value, kind: PartyKind, creating: bool) -> Value {
    let current = form.last("class_choice") == Some(party_fields::class_choice(values, kind, creating).as_str());
    party_fields::body_of(values, kind, creating, current)
}

/// A submitted form: a refresh re-shows it (for the class or owner just picked), anything else saves it
/// (`id` = the stored party) and re-shows it with the engine's errors when refused.
async fn submit(
    state: &UiState,
    session: &Session,
    kind: PartyKind,
    id: Option<i64>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let form = FormData::parse(body);
    let values = party_fields::values_of(&form, kind);
    let page = |errors, scripted| FormPage {
        kind,
        id,
        values: &values,
        errors,
        scripted,
    };
    if form.last("action") == Some("refresh") {
        return render_page(state, session, page(Vec::new(), scripted(headers)), None).await;
    }
    let request = request_of(&form, &values, kind, id.is_none());
    let (actor, now) = (&session.actor, state.clock.now());
    let engine = &state.engine;
    let saved = match (kind, id) {
        (PartyKind::Customer, None) => engine
            .create_customer_from_json(actor, request, now)
            .await
            .map(|c| c.id),
        (PartyKind::Reseller, None) => engine
            .create_reseller_from_json(actor, request, now)
            .await
            .map(|r| r.id),
        (PartyKind::Customer, Some(id)) => engine.update_customer(actor, id, request, now).await.map(|c| c.id),
        (PartyKind::Reseller, Some(id)) => engine.update_reseller(actor, id, request, now).await.map(|r| r.id),
    };
    match saved {
        Ok(id) => Redirect::to(&format!("/{}/{id}", section(kind).0)).into_response(),
        Err(EngineError::Invalid(errors)) => render_page(state, session, page(errors, false), None).await,
        Err(e) => state.pages.error(session, e),
    }
}

pub async fn create(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Extension(kind): Extension<PartyKind>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    submit(&state, &session, kind, None, &headers, &body).await
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
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    submit(&state, &session, kind, Some(id), &headers, &body).await
}

/// Flattens the effective-settings tree into rows of path, value and where the value comes from.
fn effective_rows(prefix: &str, node: &Value, rows: &mut Vec<Value>) {
    let Value::Object(map) = node else { return };
    if map.contains_key("value") && map.contains_key("source") {
        let value = match &map["value"] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        rows.push(
            json!({"path": prefix, "value": value, "source": party_overrides::source_text(map),
                         "kind": map["source"]}),
        );
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
        .effective_settings(&session.actor, kind, id, state.clock.now())
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
