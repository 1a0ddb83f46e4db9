//! Invoices in the web UI: the filtered list (with the review queue as one of its filters), one invoice with its
//! lines and collection timeline, its PDF and HTML document, and approval of an invoice held in review. Every
//! page calls the engine methods of `/api/v1/invoices`, so a reseller user sees only its own invoices.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use axum::Extension;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use classbill_engine::{Actor, InvoiceListFilter, InvoiceView, PageRequest};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::UiState;
use super::credit_notes;
use super::list_query::{non_empty, party_filter, rows_or_errors};
use super::session::Session;

const PAGE_SIZE: i64 = 50;
/// The `review_state` of the invoices waiting for approval.
const UNDER_REVIEW: &str = "under_review";

/// The list's query string: the API's filters plus the page cursor.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct ListParams {
    #[serde(default)]
    party_id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    review_state: String,
    #[serde(default)]
    cursor: String,
}

/// Where a party's page is and its name. Invoices carry only the party id, and a party is a customer or a
/// reseller; one the actor cannot see is shown by its id alone.
pub(super) async fn party_of(state: &UiState, actor: &Actor, id: i64) -> Value {
    if let Ok(customer) = state.engine.get_customer(actor, id).await {
        return json!({"href": format!("/customers/{id}"), "name": customer.name});
    }
    if let Ok(reseller) = state.engine.get_reseller(actor, id).await {
        return json!({"href": format!("/resellers/{id}"), "name": reseller.name});
    }
    json!({"href": Value::Null, "name": format!("party {id}")})
}

/// The parties of a page of invoices, each looked up once.
async fn parties_of(state: &UiState, actor: &Actor, invoices: &[InvoiceView]) -> BTreeMap<String, Value> {
    let mut parties = BTreeMap::new();
    for invoice in invoices {
        if let Entry::Vacant(slot) = parties.entry(invoice.party_id.to_string()) {
            slot.insert(party_of(state, actor, invoice.party_id).await);
        }
    }
    parties
}

pub async fn list(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Query(params): Query<ListParams>,
) -> Response {
    let mut errors = Vec::new();
    let party_id = party_filter(&params.party_id, &mut errors);
    let filter = InvoiceListFilter {
        party_id,
        status: non_empty(&params.status),
        kind: non_empty(&params.kind),
        review_state: non_empty(&params.review_state),
    };
    let page = PageRequest {
        limit: PAGE_SIZE,
        cursor: non_empty(&params.cursor),
    };
    let (invoices, next_cursor) = if errors.is_empty() {
        match rows_or_errors(
            state.engine.list_invoices(&session.actor, filter, page).await,
            &mut errors,
        ) {
            Ok(found) => found,
            Err(e) => return state.pages.error(&session, e),
        }
    } else {
        (Vec::new(), None)
    };
    let parties = parties_of(&state, &session.actor, &invoices).await;
    let next_query = next_cursor.map(|cursor| {
        serde_urlencoded::to_string(ListParams {
            cursor,
            ..params.clone()
        })
        .unwrap_or_default()
    });
    let queue = params.review_state.trim() == UNDER_REVIEW;
    state.pages.render(
        "invoices.html",
        Some(&session),
        json!({"nav": if queue { "review" } else { "invoices" },
               "title": if queue { "Review queue" } else { "Invoices" },
               "invoices": invoices, "parties": parties, "filters": params, "errors": errors,
               "next_query": next_query}),
    )
}

pub async fn detail(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    RawQuery(query): RawQuery,
) -> Response {
    render_detail(&state, &session, id, query.as_deref(), None).await
}

/// The invoice page: `query` says what was just done to it (approved, issued, credited); `credit` is the
/// credit-note form as last sent, when the engine refused it.
pub(super) async fn render_detail(
    state: &UiState,
    session: &Session,
    id: i64,
    query: Option<&str>,
    credit: Option<credit_notes::Submitted>,
) -> Response {
    let invoice = match state.engine.get_invoice(&session.actor, id).await {
        Ok(invoice) => invoice,
        Err(e) => return state.pages.error(session, e),
    };
    let schedule = match state.engine.collection_schedule(&session.actor, id).await {
        Ok(schedule) => schedule,
        Err(e) => return state.pages.error(session, e),
    };
    let credit = match credit_notes::section(state, &session.actor, &invoice, credit).await {
        Ok(section) => section,
        Err(e) => return state.pages.error(session, e),
    };
    let party = party_of(state, &session.actor, invoice.party_id).await;
    let can_approve = invoice.review_state == UNDER_REVIEW;
    let done: Vec<(String, String)> = query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let flag = |name: &str| done.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
    state.pages.render(
        "invoice.html",
        Some(session),
        json!({"nav": if can_approve { "review" } else { "invoices" }, "invoice": invoice,
               "party": party, "schedule": schedule.items, "can_approve": can_approve,
               "approved": flag("approved").is_some(), "issued": flag("issued").is_some(),
               "credited": flag("credited").and_then(|v| v.parse::<i64>().ok()), "credit": credit}),
    )
}

/// Approves an invoice held in review now; the engine refuses an invoice that is not held and users of
/// another owner.
pub async fn approve(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    let now = Timestamp::now();
    match state.engine.approve_invoice(&session.actor, id, now, now).await {
        Ok(_) => Redirect::to(&format!("/invoices/{id}?approved=1")).into_response(),
        Err(e) => state.pages.error(&session, e),
    }
}

/// The invoice's PDF for the signed-in user: the bearer-token route of the API is out of a browser's reach.
pub async fn pdf(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    match state.engine.invoice_pdf(&session.actor, id, Timestamp::now()).await {
        Ok(pdf) => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"{}\"", pdf.file_name),
                ),
            ],
            pdf.bytes,
        )
            .into_response(),
        Err(e) => state.pages.error(&session, e),
    }
}

/// The invoice as its standalone HTML document, shown in a frame of the invoice page. The document styles
/// itself with one inline `<style>` block, so it gets its own policy: no scripts or other loads at all, inline
/// styles only, and framing by our own pages only. The router keeps this route outside the headers of the
/// other pages for that reason.
pub async fn document(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
) -> Response {
    let mut response = match state.engine.invoice_html(&session.actor, id).await {
        Ok(html) => Html(html).into_response(),
        Err(e) => state.pages.error(&session, e),
    };
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'; form-action 'none'; \
             base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "SAMEORIGIN"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
