//! Page rendering: the templates compiled into the binary, the static files, and the headers every UI answer
//! carries.

use axum::extract::{Path, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use classbill_engine::EngineError;
use minijinja::Environment;
use serde_json::{Value, json};

use super::session::Session;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("message.html", include_str!("../../templates/message.html")),
    ("tokens.html", include_str!("../../templates/tokens.html")),
    ("classes.html", include_str!("../../templates/classes.html")),
    ("class_form.html", include_str!("../../templates/class_form.html")),
    ("preview.html", include_str!("../../templates/preview.html")),
    ("parties.html", include_str!("../../templates/parties.html")),
    ("party_form.html", include_str!("../../templates/party_form.html")),
    ("effective.html", include_str!("../../templates/effective.html")),
    ("invoices.html", include_str!("../../templates/invoices.html")),
    ("invoice.html", include_str!("../../templates/invoice.html")),
    ("calendar.html", include_str!("../../templates/calendar.html")),
    ("notifications.html", include_str!("../../templates/notifications.html")),
    (
        "notification_sets.html",
        include_str!("../../templates/notification_sets.html"),
    ),
    (
        "notification_set_form.html",
        include_str!("../../templates/notification_set_form.html"),
    ),
    (
        "notification_set_preview.html",
        include_str!("../../templates/notification_set_preview.html"),
    ),
];

pub struct Pages {
    env: Environment<'static>,
}

impl Default for Pages {
    fn default() -> Pages {
        let mut env = Environment::new();
        // `.html` templates escape every value they print; nothing is marked safe anywhere.
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                panic!("template {name} does not compile: {e}");
            }
        }
        Pages { env }
    }
}

impl Pages {
    /// Renders `name` with `context` plus the signed-in user and the CSRF token of `session`.
    pub fn render(&self, name: &str, session: Option<&Session>, mut context: Value) -> Response {
        if let (Some(session), Value::Object(map)) = (session, &mut context) {
            map.insert(
                "user".into(),
                json!({"login": session.actor.login, "is_admin": session.actor.is_administrator()}),
            );
            map.insert("csrf".into(), json!(session.csrf));
        }
        let rendered = self
            .env
            .get_template(name)
            .and_then(|template| template.render(minijinja::value::Serde(&context)));
        match rendered {
            Ok(html) => Html(html).into_response(),
            Err(e) => {
                tracing::error!(error = %e, template = name, "page does not render");
                (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered").into_response()
            }
        }
    }

    /// A page that only says what happened, with `status`.
    pub fn message(&self, status: StatusCode, session: Option<&Session>, title: &str, detail: &str) -> Response {
        let mut response = self.render("message.html", session, json!({"title": title, "detail": detail}));
        *response.status_mut() = status;
        response
    }

    /// 503 when no database connection came free in time, as the API answers: the request did nothing and
    /// may simply be sent again.
    pub fn busy(&self, session: Option<&Session>, error: &classbill_store::StoreError) -> Response {
        tracing::warn!(error = %error, "no database connection free in time");
        let mut response = self.message(
            StatusCode::SERVICE_UNAVAILABLE,
            session,
            "Busy",
            "The system is busy right now; nothing was changed. Try again in a moment.",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        response
    }

    /// The page for an engine error that has no form to return to (404, 403, storage failures).
    pub fn error(&self, session: &Session, error: EngineError) -> Response {
        match error {
            EngineError::NotFound(detail) => self.message(StatusCode::NOT_FOUND, Some(session), "Not found", &detail),
            EngineError::Forbidden { message, .. } => {
                self.message(StatusCode::FORBIDDEN, Some(session), "Not permitted", &message)
            }
            EngineError::Upstream { message, .. } => {
                self.message(StatusCode::BAD_GATEWAY, Some(session), "Not completed", &message)
            }
            EngineError::Store(e) if e.is_pool_timeout() => self.busy(Some(session), &e),
            EngineError::Store(e) => {
                tracing::error!(error = %e, "storage failure");
                self.message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Some(session),
                    "Internal error",
                    "the request could not be completed; see the server log",
                )
            }
            other => {
                let detail = match &other {
                    EngineError::Invalid(errors) | EngineError::Conflict { errors, .. } if !errors.is_empty() => errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                    _ => other.to_string(),
                };
                self.message(StatusCode::UNPROCESSABLE_ENTITY, Some(session), "Not accepted", &detail)
            }
        }
    }
}

const STATIC_FILES: &[(&str, &str, &[u8])] = &[
    (
        "htmx.min.js",
        "text/javascript",
        include_bytes!("../../static/htmx.min.js"),
    ),
    ("ui.js", "text/javascript", include_bytes!("../../static/ui.js")),
    ("ui.css", "text/css", include_bytes!("../../static/ui.css")),
];

pub async fn static_file(Path(name): Path<String>) -> Response {
    match STATIC_FILES.iter().find(|(file, _, _)| *file == name) {
        Some((_, mime, bytes)) => (
            [
                (header::CONTENT_TYPE, *mime),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

/// Scripts and styles only from our own origin, no framing, and no caching of pages that show private data.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
