//! "Issue out-of-turn invoice" on a customer's or reseller's page (customer-classes §5.10): the party's
//! uninvoiced charges of open periods as checkboxes plus a few new items, sent to the engine's
//! `issue_out_of_turn_invoice` under an idempotency key written into the form, so a double submit issues one
//! invoice. Shown only to users of the party's owner, the only ones the engine lets issue it.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use classbill_domain::party::PartyKind;
use classbill_domain::{FieldError, Owner};
use classbill_engine::{Actor, EngineError, MAX_LIMIT, PageRequest, XdrListFilter, XdrView};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::UiState;
use super::form::FormData;
use super::parties::{render_form, stored_values};
use super::session::Session;

/// New item rows the form offers; more lines go through the API.
const ITEM_ROWS: usize = 3;
/// Item fields as `(name, label)`, each sent as `item{row}_{name}`.
const ITEM_FIELDS: &[(&str, &str)] = &[
    ("kind", "Kind"),
    ("description", "Description"),
    ("service", "Service"),
    ("rate_code", "Rate code"),
    ("quantity", "Quantity"),
    ("unit_price", "Unit price"),
];
/// Kinds the engine never puts on an invoice as charges (§5.1).
const NOT_INVOICEABLE: &[&str] = &["tax", "rounding", "payment"];
/// Most charges listed as checkboxes; a party with more picks them through the API.
const MAX_LISTED: usize = 200;

/// What was sent and refused, to show the form again as it was, with each error beside its field.
#[derive(Debug, Default)]
pub struct Submitted {
    pub key: String,
    pub xdr_ids: Vec<i64>,
    /// Row `n`'s fields by name.
    pub rows: Vec<Map<String, Value>>,
    /// Errors by the form field they belong to (`item0_quantity`, `xdr_ids`, or `form` for the rest).
    pub errors: Map<String, Value>,
}

/// A key for one rendering of the form: who, for which party, and the instant to the nanosecond. Two renderings
/// never share it, and both submits of one rendering send the same.
fn new_key(actor: &Actor, party_id: i64) -> String {
    format!("ui-{}-{party_id}-{}", actor.user_id, Timestamp::now().as_nanosecond())
}

/// Whether `actor` may issue the party's out-of-turn invoices: users of its owner only.
fn owns(actor: &Actor, kind: PartyKind, party: &Value) -> bool {
    let owner_field = match kind {
        PartyKind::Customer => "reseller_id",
        PartyKind::Reseller => "parent_reseller_id",
    };
    actor.owner() == Owner::from_reseller_id(party[owner_field].as_i64())
}

/// The party's charges that no invoice carries yet, in its open periods, oldest first; and whether there were
/// more than are listed.
async fn open_charges(state: &UiState, actor: &Actor, party_id: i64) -> Result<(Vec<XdrView>, bool), EngineError> {
    let all = PageRequest {
        limit: MAX_LIMIT,
        cursor: None,
    };
    let periods = state
        .engine
        .list_periods(actor, Some(party_id), Some("open".to_owned()), all)
        .await?
        .items;
    let mut charges = Vec::new();
    for period in periods {
        let mut cursor = None;
        loop {
            let filter = XdrListFilter {
                party_id: Some(party_id),
                period_id: Some(period.id),
                ..XdrListFilter::default()
            };
            let page = PageRequest {
                limit: MAX_LIMIT,
                cursor,
            };
            let found = state.engine.list_xdrs(actor, filter, page).await?;
            charges.extend(
                found
                    .items
                    .into_iter()
                    .filter(|x| x.invoice_id.is_none() && !NOT_INVOICEABLE.contains(&x.kind.as_str())),
            );
            if charges.len() > MAX_LISTED {
                charges.truncate(MAX_LISTED);
                return Ok((charges, true));
            }
            match found.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok((charges, false))
}

/// The form's part of the party page, or null when the actor may not issue the party's invoices.
pub async fn section(
    state: &UiState,
    actor: &Actor,
    kind: PartyKind,
    party_id: i64,
    submitted: Option<Submitted>,
) -> Result<Value, EngineError> {
    let party = stored_values(state, actor, kind, party_id).await?;
    if !owns(actor, kind, &party) {
        return Ok(Value::Null);
    }
    let (charges, more) = open_charges(state, actor, party_id).await?;
    let submitted = submitted.unwrap_or_else(|| Submitted {
        key: new_key(actor, party_id),
        ..Submitted::default()
    });
    let rows: Vec<Value> = (0..ITEM_ROWS)
        .map(|n| {
            let values = submitted.rows.get(n).cloned().unwrap_or_default();
            let fields: Vec<Value> = ITEM_FIELDS
                .iter()
                .map(|(name, label)| {
                    let id = format!("item{n}_{name}");
                    json!({"name": name, "id": id, "label": label,
                           "value": values.get(*name).cloned().unwrap_or(json!("")),
                           "errors": submitted.errors.get(&id).cloned().unwrap_or(json!([]))})
                })
                .collect();
            json!({"n": n, "fields": fields})
        })
        .collect();
    Ok(
        json!({"key": submitted.key, "charges": charges, "more": more, "checked": submitted.xdr_ids,
              "rows": rows, "errors": submitted.errors}),
    )
}

/// Where an engine error belongs on the form: `items[i].field` beside the field of the row that became
/// item `i`, `xdr_ids[…]` above the charges, anything else above the form.
fn place(error: &FieldError, item_rows: &[usize]) -> String {
    if let Some(rest) = error.field.strip_prefix("items[")
        && let Some((index, field)) = rest.split_once("].")
        && let Some(row) = index.parse::<usize>().ok().and_then(|i| item_rows.get(i))
        && ITEM_FIELDS.iter().any(|(name, _)| *name == field)
    {
        return format!("item{row}_{field}");
    }
    if error.field.starts_with("xdr_ids") {
        return "xdr_ids".to_owned();
    }
    "form".to_owned()
}

/// The engine's request body from the form, the row each item came from, and the form as sent.
fn request_of(form: &FormData) -> (Value, Vec<usize>, Submitted) {
    let key = form.last("idempotency_key").unwrap_or("").to_owned();
    let xdr_ids = form.ids("xdr_id");
    let mut items = Vec::new();
    let mut item_rows = Vec::new();
    let mut rows = Vec::new();
    for n in 0..ITEM_ROWS {
        let mut values = Map::new();
        for (name, _) in ITEM_FIELDS {
            let text = form.last(&format!("item{n}_{name}")).unwrap_or("").trim();
            values.insert((*name).to_owned(), json!(text));
        }
        // A row counts once anything besides its kind is filled in; the kind select always sends a value.
        let used = ITEM_FIELDS
            .iter()
            .any(|(name, _)| *name != "kind" && values[*name].as_str().is_some_and(|v| !v.is_empty()));
        if used {
            let mut item = Map::new();
            for (name, value) in &values {
                let optional = *name == "description" || *name == "rate_code";
                if !(optional && value.as_str() == Some("")) {
                    item.insert(name.clone(), value.clone());
                }
            }
            items.push(Value::Object(item));
            item_rows.push(n);
        }
        rows.push(values);
    }
    let mut body = Map::new();
    body.insert("idempotency_key".into(), json!(key));
    if !xdr_ids.is_empty() {
        body.insert("xdr_ids".into(), json!(xdr_ids));
    }
    if !items.is_empty() {
        body.insert("items".into(), Value::Array(items));
    }
    let submitted = Submitted {
        key,
        xdr_ids,
        rows,
        errors: Map::new(),
    };
    (Value::Object(body), item_rows, submitted)
}

fn add_error(errors: &mut Map<String, Value>, place: String, message: &str) {
    if let Value::Array(messages) = errors.entry(place).or_insert_with(|| json!([])) {
        messages.push(json!(message));
    }
}

/// Issues the invoice and opens it; a refused request shows the party page again with the form as it was sent.
pub async fn issue(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Extension(kind): Extension<PartyKind>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let (request, item_rows, mut submitted) = request_of(&form);
    let now = state.clock.now();
    let (status, errors) = match state
        .engine
        .issue_out_of_turn_invoice(&session.actor, kind, id, &request, now)
        .await
    {
        Ok((invoice, _)) => return Redirect::to(&format!("/invoices/{}?issued=1", invoice.id)).into_response(),
        Err(EngineError::Invalid(errors)) => (StatusCode::UNPROCESSABLE_ENTITY, errors),
        Err(EngineError::Conflict { message, errors, .. }) => {
            let mut all = vec![FieldError::new("", "conflict", message)];
            all.extend(
                errors
                    .into_iter()
                    .filter(|e| e.field.starts_with("xdr_ids") || e.field.starts_with("items")),
            );
            (StatusCode::CONFLICT, all)
        }
        Err(EngineError::Upstream { code, message }) => {
            (StatusCode::BAD_GATEWAY, vec![FieldError::new("", &code, message)])
        }
        Err(e) => return state.pages.error(&session, e),
    };
    for error in &errors {
        add_error(&mut submitted.errors, place(error, &item_rows), &error.message);
    }
    let values = match stored_values(&state, &session.actor, kind, id).await {
        Ok(values) => values,
        Err(e) => return state.pages.error(&session, e),
    };
    let mut response = render_form(&state, &session, kind, Some(id), &values, Vec::new(), Some(submitted)).await;
    if response.status() == StatusCode::OK {
        *response.status_mut() = status;
    }
    response
}
