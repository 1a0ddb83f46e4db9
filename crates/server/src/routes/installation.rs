//! `/settings` and `/calendar`: installation-wide configuration, administrators only.

use axum::extract::State;
use classbill_engine::installation::{CalendarDocument, SettingsView};
use jiff::Timestamp;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Caller, JsonValue};
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, patch_settings))
        .routes(routes!(get_calendar, put_calendar))
}

/// Installation settings
///
/// Every setting as `{"value": …, "source": "default" | "database"}`, keyed by its dotted name.
/// `enabled_currencies` is `null` while every ISO 4217 code is enabled; a password in `smtp_url` is shown as
/// `***`.
#[utoipa::path(get, path = "/settings", tag = "installation",
    responses((status = 200, body = SettingsView),
        (status = 403, body = Problem, description = "the caller is not an administrator")))]
async fn get_settings(State(state): State<AppState>, Caller(actor): Caller) -> ApiResult<axum::Json<SettingsView>> {
    Ok(axum::Json(state.engine.installation_settings(&actor).await?))
}

/// Change installation settings
///
/// A JSON Merge Patch of plain values keyed by the setting names (`{"billing.close_delay_hours": 12}`);
/// `null` returns a setting to its default, and `default_sender` merges key by key. Sending `smtp_url` back with
/// the password `***` keeps the stored password. Every violation is listed and nothing is written unless all
/// pass; disabling a currency that a class or party uses fails with `in_use`.
#[utoipa::path(patch, path = "/settings", tag = "installation",
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses((status = 200, body = SettingsView),
        (status = 403, body = Problem, description = "the caller is not an administrator"),
        (status = 422, body = Problem)))]
async fn patch_settings(
    State(state): State<AppState>,
    Caller(actor): Caller,
    JsonValue(body): JsonValue,
) -> ApiResult<axum::Json<SettingsView>> {
    let view = state
        .engine
        .update_installation_settings(&actor, &body, Timestamp::now())
        .await?;
    Ok(axum::Json(view))
}

/// Installation calendar
///
/// Non-working weekdays (default Saturday and Sunday) and holidays, used to shift collection steps to working
/// days (customer-classes §5.9).
#[utoipa::path(get, path = "/calendar", tag = "installation",
    responses((status = 200, body = CalendarDocument),
        (status = 403, body = Problem, description = "the caller is not an administrator")))]
async fn get_calendar(State(state): State<AppState>, Caller(actor): Caller) -> ApiResult<axum::Json<CalendarDocument>> {
    Ok(axum::Json(state.engine.calendar(&actor).await?))
}

/// Replace the installation calendar
///
/// Both lists are required. Weekdays are answered in week order and holidays sorted without repeats; a
/// calendar without a working weekday is refused. Applies to schedules computed afterwards only.
#[utoipa::path(put, path = "/calendar", tag = "installation",
    request_body = CalendarDocument,
    responses((status = 200, body = CalendarDocument),
        (status = 403, body = Problem, description = "the caller is not an administrator"),
        (status = 422, body = Problem)))]
async fn put_calendar(
    State(state): State<AppState>,
    Caller(actor): Caller,
    JsonValue(body): JsonValue,
) -> ApiResult<axum::Json<CalendarDocument>> {
    let calendar = state.engine.replace_calendar(&actor, &body, Timestamp::now()).await?;
    Ok(axum::Json(calendar))
}
