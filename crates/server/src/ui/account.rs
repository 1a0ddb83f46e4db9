//! Signing in and out, and API tokens for oneself.

use std::net::SocketAddr;

use axum::Extension;
use axum::body::to_bytes;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use classbill_engine::{EngineError, PasswordLogin, login_form_token, new_login_form_id};
use serde::Deserialize;
use serde_json::json;

use super::UiState;
use super::form::FormData;
use super::session::{
    CSRF_FIELD, Session, cleared_cookie, cookie_value, csrf_refused, session_cookie, session_id, tokens_match,
};

#[derive(Debug, Deserialize)]
pub struct LoginParams {
    next: Option<String>,
}

/// Only paths of this site are followed after login, never another origin.
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path,
        _ => "/classes",
    }
}

/// The pre-session cookie of the login form; its CSRF token is derived from it (see
/// [`classbill_engine::login_form_token`]). Sent back to `/login` only, and never on requests from other sites.
const LOGIN_FORM_COOKIE: &str = "classbill_login";
/// How long a login page may stay open before its form must be reloaded.
const LOGIN_FORM_SECONDS: i64 = 3600;

/// The pre-session id of the `Cookie` header, if it has the shape of one this server issued.
fn login_form_id(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, LOGIN_FORM_COOKIE)
        .filter(|value| value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn login_form_cookie(id: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{LOGIN_FORM_COOKIE}={id}; Path=/login; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("classbill_login=; Path=/login"))
}

/// The login page with `status` and `context`, carrying the form token of pre-session `form_id`.
fn login_page(state: &UiState, status: StatusCode, form_id: &str, mut context: serde_json::Value) -> Response {
    context["csrf"] = json!(login_form_token(form_id));
    let mut response = state.pages.render("login.html", None, context);
    *response.status_mut() = status;
    response
        .headers_mut()
        .append(header::SET_COOKIE, login_form_cookie(form_id, LOGIN_FORM_SECONDS));
    response
}

pub async fn login_form(
    State(state): State<UiState>,
    headers: HeaderMap,
    Query(params): Query<LoginParams>,
) -> Response {
    let form_id = match login_form_id(&headers) {
        Some(id) => id,
        None => match new_login_form_id() {
            Ok(id) => id,
            Err(e) => return internal_error(&state, e),
        },
    };
    login_page(
        &state,
        StatusCode::OK,
        &form_id,
        json!({"next": local_path(params.next.as_deref())}),
    )
}

fn internal_error(state: &UiState, e: EngineError) -> Response {
    if let EngineError::Store(store) = &e
        && store.is_pool_timeout()
    {
        return state.pages.busy(None, store);
    }
    tracing::error!(error = %e, "login failed");
    state.pages.message(
        StatusCode::INTERNAL_SERVER_ERROR,
        None,
        "Internal error",
        "the login could not be completed; see the server log",
    )
}

/// The address failed logins are counted against: the TCP peer, or the client a trusted proxy names.
fn client_address(state: &UiState, parts: &Parts) -> String {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or_else(
        || "unknown".to_owned(),
        |info| state.trusted_proxies.client(info.0.ip(), &parts.headers).to_string(),
    )
}

/// Signs in with login and password. The form must carry the token of its pre-session cookie; a successful
/// login ends any session the browser came with and issues a new session id, so an id planted before the
/// login (session fixation) is worth nothing after it.
pub async fn login(State(state): State<UiState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, crate::BODY_LIMIT_BYTES).await else {
        return state.pages.message(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            "Form too large",
            "The form could not be read.",
        );
    };
    let form = FormData::parse(&body);
    let Some(form_id) = login_form_id(&parts.headers) else {
        return csrf_refused(
            &state,
            None,
            "The login form has expired or cookies are blocked. Reload the page and log in again.",
        );
    };
    match form.last(CSRF_FIELD) {
        Some(sent) if tokens_match(sent, &login_form_token(&form_id)) => {}
        _ => {
            return csrf_refused(
                &state,
                None,
                "The login form's security token is wrong or missing. Reload the page and log in again.",
            );
        }
    }
    let login = form.last("login").unwrap_or("");
    let next = local_path(form.last("next")).to_owned();
    let now = state.clock.now();
    let client = client_address(&state, &parts);
    let outcome = state
        .engine
        .password_login(login, form.last("password").unwrap_or(""), &client, now)
        .await;
    let refusal = |status: StatusCode, error: String| {
        login_page(
            &state,
            status,
            &form_id,
            json!({"next": next, "login": login, "error": error}),
        )
    };
    match outcome {
        Ok(PasswordLogin::SignedIn(actor)) => {
            if let Some(previous) = session_id(&parts.headers)
                && let Err(e) = state.engine.close_web_session(&previous).await
            {
                return internal_error(&state, e);
            }
            match state.engine.open_web_session(&actor, now).await {
                Ok(session) => {
                    let mut response = Redirect::to(&next).into_response();
                    let headers = response.headers_mut();
                    headers.append(header::SET_COOKIE, session_cookie(&session.id));
                    headers.append(header::SET_COOKIE, login_form_cookie("", 0));
                    response
                }
                Err(e) => internal_error(&state, e),
            }
        }
        Ok(PasswordLogin::Refused) => refusal(StatusCode::UNAUTHORIZED, "Wrong login or password.".to_owned()),
        Ok(PasswordLogin::Locked { until }) => refusal(
            StatusCode::UNAUTHORIZED,
            format!(
                "This login is locked after too many failed attempts until {} UTC. Try again then, or ask an \
                 administrator to unlock it.",
                until.strftime("%Y-%m-%d %H:%M:%S")
            ),
        ),
        Ok(PasswordLogin::Throttled { retry_after }) => {
            let seconds = retry_after.as_secs() + i64::from(retry_after.subsec_nanos() > 0);
            let mut response = refusal(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many failed logins from your address. Try again in {} minutes.",
                    (seconds + 59) / 60
                ),
            );
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Err(e) => internal_error(&state, e),
    }
}

pub async fn logout(State(state): State<UiState>, Extension(session): Extension<Session>) -> Response {
    if let Err(e) = state.engine.close_web_session(&session.id).await {
        return state.pages.error(&session, e);
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, cleared_cookie());
    response
}

pub async fn tokens_page(State(state): State<UiState>, Extension(session): Extension<Session>) -> Response {
    state
        .pages
        .render("tokens.html", Some(&session), json!({"nav": "tokens"}))
}

pub async fn create_token(State(state): State<UiState>, Extension(session): Extension<Session>) -> Response {
    match state.engine.create_token(&session.actor.login, state.clock.now()).await {
        Ok(token) => state
            .pages
            .render("tokens.html", Some(&session), json!({"nav": "tokens", "token": token})),
        Err(e) => state.pages.error(&session, e),
    }
}
