//! Sessions of the web UI: the session cookie, the sign-in check in front of every page and the CSRF check on
//! every unsafe request.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use classbill_engine::{Actor, EngineError, WEB_SESSION_HOURS};
use subtle::ConstantTimeEq;

use super::UiState;
use super::form::FormData;

pub const COOKIE: &str = "classbill_session";
/// The form field and the header (for htmx requests) that carry the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
const CSRF_HEADER: &str = "x-csrf-token";

/// The signed-in user of a request, put into the request extensions by [`require_session`].
#[derive(Debug, Clone)]
pub struct Session {
    pub actor: Actor,
    pub csrf: String,
    pub id: String,
}

/// The value of cookie `name` from the `Cookie` header, if set and not empty.
pub(super) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

/// The session id from the `Cookie` header.
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, COOKIE)
}

/// `Set-Cookie` for a new session; the browser drops it when the server-side session expires.
pub fn session_cookie(id: &str) -> HeaderValue {
    let max_age = WEB_SESSION_HOURS * 3600;
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("classbill_session=; Path=/"))
}

pub fn cleared_cookie() -> HeaderValue {
    HeaderValue::from_static("classbill_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Back to the login page, coming back to this page afterwards. htmx requests are told to navigate instead of
/// swapping the login page into a fragment.
fn to_login(request: &Request) -> Response {
    let next = if request.method() == Method::GET {
        request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned()
    } else {
        "/".to_owned()
    };
    let target = format!(
        "/login?next={}",
        form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
    );
    if request.headers().contains_key("hx-request") {
        let mut response = StatusCode::NO_CONTENT.into_response();
        if let Ok(value) = HeaderValue::from_str(&target) {
            response.headers_mut().insert("hx-redirect", value);
        }
        return response;
    }
    let mut response = Redirect::to(&target).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cleared_cookie());
    response
}

pub(super) fn tokens_match(sent: &str, expected: &str) -> bool {
    sent.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// The answer to a form whose CSRF token is missing or wrong (the login form's included).
pub(super) fn csrf_refused(state: &UiState, session: Option<&Session>, detail: &str) -> Response {
    state.pages.message(
        StatusCode::FORBIDDEN,
        session,
        "Form expired or not sent from this site",
        detail,
    )
}

/// Checks the CSRF token of an unsafe request and hands the request on with its body intact.
async fn checked_csrf(state: &UiState, session: &Session, request: Request) -> Result<Request, Response> {
    let refused = |detail: &str| csrf_refused(state, Some(session), detail);
    if let Some(sent) = request.headers().get(CSRF_HEADER) {
        return match sent.to_str() {
            Ok(sent) if tokens_match(sent, &session.csrf) => Ok(request),
            _ => Err(refused(
                "The security token of the request is wrong. Reload the page and try again.",
            )),
        };
    }
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, crate::BODY_LIMIT_BYTES).await.map_err(|_| {
        state.pages.message(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some(session),
            "Form too large",
            "The form could not be read.",
        )
    })?;
    let form = FormData::parse(&bytes);
    match form.last(CSRF_FIELD) {
        Some(sent) if tokens_match(sent, &session.csrf) => Ok(Request::from_parts(parts, Body::from(bytes))),
        Some(_) => Err(refused(
            "The form's security token is wrong. Reload the page and send the form again.",
        )),
        None => Err(refused(
            "The form carried no security token. Reload the page and send the form again.",
        )),
    }
}

/// Lets only signed-in users through; unsafe methods must also carry the session's CSRF token.
pub async fn require_session(State(state): State<UiState>, mut request: Request, next: Next) -> Response {
    let Some(id) = session_id(request.headers()) else {
        return to_login(&request);
    };
    let (actor, csrf) = match state.engine.web_session(&id, state.clock.now()).await {
        Ok(found) => found,
        Err(EngineError::Unauthenticated) => return to_login(&request),
        Err(EngineError::Store(e)) if e.is_pool_timeout() => return state.pages.busy(None, &e),
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            return state.pages.message(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "Internal error",
                "the session could not be checked; see the server log",
            );
        }
    };
    let session = Session { actor, csrf, id };
    if is_unsafe(request.method()) {
        request = match checked_csrf(&state, &session, request).await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
    }
    request.extensions_mut().insert(session);
    next.run(request).await
}
