//! The installation calendar (customer-classes §5.9) in the web UI: non-working weekdays as checkboxes and
//! holidays one date per line, read and replaced through the engine methods of `GET/PUT /api/v1/calendar`, so
//! only administrators get the page.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use classbill_domain::FieldError;
use classbill_engine::EngineError;
use classbill_engine::installation::CalendarDocument;
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::UiState;
use super::form::FormData;
use super::session::Session;

const WEEKDAYS: [(&str, &str); 7] = [
    ("monday", "Monday"),
    ("tuesday", "Tuesday"),
    ("wednesday", "Wednesday"),
    ("thursday", "Thursday"),
    ("friday", "Friday"),
    ("saturday", "Saturday"),
    ("sunday", "Sunday"),
];

/// The form's two fields; an error on `holidays[3]` belongs next to the holidays.
fn field_of(error: &FieldError) -> &str {
    error.field.split('[').next().unwrap_or("")
}

fn render(
    session: &Session,
    state: &UiState,
    calendar: &CalendarDocument,
    errors: &[FieldError],
    saved: bool,
) -> Response {
    let weekdays: Vec<Value> = WEEKDAYS
        .iter()
        .map(|(value, label)| {
            json!({"value": value, "label": label,
                   "checked": calendar.non_working_weekdays.iter().any(|day| day == value)})
        })
        .collect();
    let mut by_field: Map<String, Value> = Map::new();
    let mut other = Vec::new();
    for error in errors {
        let field = field_of(error);
        if field == "non_working_weekdays" || field == "holidays" {
            let entry = by_field.entry(field.to_owned()).or_insert_with(|| json!([]));
            if let Value::Array(messages) = entry {
                messages.push(json!(error.message));
            }
        } else {
            other.push(error);
        }
    }
    state.pages.render(
        "calendar.html",
        Some(session),
        json!({"nav": "calendar", "weekdays": weekdays, "holidays": calendar.holidays.join("\n"),
               "errors": by_field, "other_errors": other, "saved": saved}),
    )
}

pub async fn show(
    State(state): State<UiState>,
    Extension(session): Extension<Session>,
    RawQuery(query): RawQuery,
) -> Response {
    match state.engine.calendar(&session.actor).await {
        Ok(calendar) => render(&session, &state, &calendar, &[], query.as_deref() == Some("saved=1")),
        Err(e) => state.pages.error(&session, e),
    }
}

/// Replaces the calendar with the submitted one; a refused form comes back as sent, with the messages next to
/// its fields.
pub async fn save(State(state): State<UiState>, Extension(session): Extension<Session>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let submitted = CalendarDocument {
        non_working_weekdays: form
            .all("non_working_weekdays")
            .into_iter()
            .map(str::to_owned)
            .collect(),
        holidays: form
            .last("holidays")
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let body = json!({"non_working_weekdays": submitted.non_working_weekdays, "holidays": submitted.holidays});
    match state
        .engine
        .replace_calendar(&session.actor, &body, Timestamp::now())
        .await
    {
        Ok(_) => Redirect::to("/calendar?saved=1").into_response(),
        Err(EngineError::Invalid(errors)) => render(&session, &state, &submitted, &errors, false),
        Err(e) => state.pages.error(&session, e),
    }
}
