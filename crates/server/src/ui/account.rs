//! Signing in and out, and API tokens for oneself.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;

use super::UiState;
use super::form::FormData;
use super::session::{Session, cleared_cookie, session_cookie};

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

pub async fn login_form(State(state): State<UiState>, Query(params): Query<LoginParams>) -> Response {
    state
        .pages
        .render("login.html", None, json!({"next": local_path(params.next.as_deref())}))
}

pub async fn login(State(state): State<UiState>, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let login = form.last("login").unwrap_or("");
    let next = local_path(form.last("next")).to_owned();
    let now = Timestamp::now();
    let opened = match state
        .engine
        .authenticate_password(login, form.last("password").unwrap_or(""))
        .await
    {
        Ok(actor) => state.engine.open_web_session(&actor, now).await,
        Err(e) => Err(e),
    };
    match opened {
        Ok(session) => {
            let mut response = Redirect::to(&next).into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session_cookie(&session.id));
            response
        }
        Err(classbill_engine::EngineError::Unauthenticated) => {
            let mut response = state.pages.render(
                "login.html",
                None,
                json!({"next": next, "login": login, "error": "Wrong login or password."}),
            );
            *response.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "login failed");
            state.pages.message(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "Internal error",
                "the login could not be completed; see the server log",
            )
        }
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
    match state.engine.create_token(&session.actor.login, Timestamp::now()).await {
        Ok(token) => state
            .pages
            .render("tokens.html", Some(&session), json!({"nav": "tokens", "token": token})),
        Err(e) => state.pages.error(&session, e),
    }
}
