//! Every error leaves the server as an RFC 9457 problem document (`application/problem+json`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use classbill_domain::FieldError;
use classbill_engine::EngineError;
use serde::Serialize;
use utoipa::ToSchema;

/// The problem document. `errors` lists every violated rule for validation failures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    /// Boxed so that `Result<_, ApiError>` stays small on the success path.
    problem: Box<Problem>,
    /// Seconds for a `Retry-After` header, for refusals that pass by themselves.
    retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            problem: Box::new(Problem {
                kind: format!("urn:classbill:problem:{slug}"),
                title: title.to_owned(),
                status: status.as_u16(),
                detail: detail.into(),
                code: None,
                errors: Vec::new(),
            }),
            retry_after: None,
        }
    }

    pub fn with_code(mut self, code: &str) -> Self {
        self.problem.code = Some(code.to_owned());
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.problem.errors = errors;
        self
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "Malformed request",
            detail,
        )
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [only] => format!("{}: {}", only.field, only.message),
            many => format!("{} fields are invalid", many.len()),
        };
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Validation failed",
            detail,
        )
        .with_errors(errors)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(detail) => ApiError::not_found(detail),
            EngineError::Forbidden { message, errors } => {
                let assignment = errors.iter().any(|e| e.code == "not_assignable");
                let (slug, title) = if assignment {
                    ("forbidden-assignment", "Assignment not permitted")
                } else {
                    ("forbidden", "Not permitted")
                };
                ApiError::new(StatusCode::FORBIDDEN, slug, title, message).with_errors(errors)
            }
            EngineError::Invalid(errors) => ApiError::invalid(errors),
            EngineError::Conflict { code, message, errors } => {
                ApiError::new(StatusCode::CONFLICT, &code.replace('_', "-"), "Conflict", message)
                    .with_code(&code)
                    .with_errors(errors)
            }
            EngineError::PreconditionRequired(detail) => ApiError::new(
                StatusCode::PRECONDITION_REQUIRED,
                "precondition-required",
                "If-Match required",
                detail,
            ),
            EngineError::Unauthenticated => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
                "send Authorization: Bearer <token>",
            ),
            EngineError::Upstream { code, message } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                &code.replace('_', "-"),
                "Upstream failure",
                message,
            )
            .with_code(&code),
            EngineError::Store(e) if e.is_pool_timeout() => {
                tracing::warn!(error = %e, "no database connection free in time");
                let mut error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Service unavailable",
                    "the database is busy; try again in a moment",
                )
                .with_code("unavailable");
                error.retry_after = Some(1);
                error
            }
            EngineError::Store(e) => {
                tracing::error!(error = %e, "storage failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "the request could not be completed; see the server log",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Longest plain-text error body that is carried over into the `detail` of the problem replacing it.
const PLAIN_DETAIL_LIMIT: usize = 4096;

/// Rewrites error answers that were not produced as problem documents (axum's own rejections such as an
/// unparsable path parameter, the timeout layer's 408) into one, keeping their status and, as `detail`,
/// their text.
pub async fn problems_only(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_problem(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, PLAIN_DETAIL_LIMIT)
        .await
        .ok()
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .filter(|text| !text.is_empty());
    let reason = status.canonical_reason().unwrap_or("Error");
    let detail = text.unwrap_or_else(|| reason.to_lowercase());
    let slug = match status {
        StatusCode::BAD_REQUEST => "malformed-request".to_owned(),
        _ => reason.to_ascii_lowercase().replace(' ', "-"),
    };
    let mut rewritten = ApiError::new(status, &slug, reason, detail).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().append(name, value.clone());
        }
    }
    rewritten
}

fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"))
}
