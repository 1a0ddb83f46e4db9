//! Request extractors that answer problem documents instead of axum's plain-text rejections.

use std::future::poll_fn;
use std::pin::Pin;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use classbill_domain::FieldError;
use classbill_engine::{Actor, PageRequest};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::problem::ApiError;

/// The authenticated caller, from `Authorization: Bearer <token>`.
pub struct Caller(pub Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(classbill_engine::EngineError::Unauthenticated)?;
        Ok(Caller(state.engine.authenticate_token(token).await?))
    }
}

/// A JSON body as a value: `application/json`, or `application/merge-patch+json` where patches are accepted.
pub struct JsonValue(pub serde_json::Value);

fn json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .is_some_and(|mime| mime == "application/json" || mime == "application/merge-patch+json")
}

/// An oversized body is still read (and thrown away) up to this size before the 413 goes out: a client that is
/// still sending when the server stops reading gets a broken connection instead of the answer. Bigger bodies are
/// cut off at once.
const DISCARD_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// A route's own body limit, set as a request extension by routes that take more than
/// [`crate::BODY_LIMIT_BYTES`] (xDR batches).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        "Body too large",
        format!("request bodies are limited to {limit} bytes"),
    )
}

/// The whole body if it fits in `limit`, else a 413.
async fn read_limited(mut body: Body, declared: Option<u64>, limit: u64) -> Result<Bytes, ApiError> {
    if declared.is_some_and(|length| length > DISCARD_LIMIT_BYTES.max(limit)) {
        return Err(too_large(limit));
    }
    let mut kept = Vec::new();
    let mut received: u64 = 0;
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "unreadable-body",
                "Body not accepted",
                format!("the body could not be read: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else { continue };
        received = received.saturating_add(data.len() as u64);
        if received <= limit {
            kept.extend_from_slice(&data);
        } else if received > DISCARD_LIMIT_BYTES.max(limit) {
            break;
        }
    }
    if received > limit {
        return Err(too_large(limit));
    }
    Ok(Bytes::from(kept))
}

impl<S: Send + Sync> FromRequest<S> for JsonValue {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as application/json (or application/merge-patch+json for PATCH)",
            ));
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(crate::BODY_LIMIT_BYTES, |l| l.0) as u64;
        let bytes = read_limited(req.into_body(), declared, limit).await?;
        let value =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
        Ok(JsonValue(value))
    }
}

/// A typed JSON body; a key or value that does not fit is a 422 naming its path.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonValue(value) = JsonValue::from_request(req, state).await?;
        serde_path_to_error::deserialize(value).map(Json).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { String::new() } else { path };
            let message = e.inner().to_string();
            let code = if message.starts_with("unknown field") {
                "unknown_field"
            } else if message.starts_with("missing field") {
                "required"
            } else {
                "invalid_type"
            };
            ApiError::invalid(vec![FieldError::new(field, code, message)])
        })
    }
}

/// Query parameters; unparsable values are a 422.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer).map(Query).map_err(|e| {
            let field = e.path().to_string();
            ApiError::invalid(vec![FieldError::new(
                if field == "." { String::new() } else { field },
                "invalid",
                e.inner().to_string(),
            )])
        })
    }
}

/// `?limit=&cursor=` of every list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1–1000, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn request(self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::new(self.limit, self.cursor)?)
    }
}

/// The revision a write expects, from `If-Match: "<revision>"`; absent = `None` (the engine answers 428).
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let text = value.to_str().unwrap_or("").trim();
        let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
        text.parse::<i64>()
            .map(|revision| IfMatch(Some(revision)))
            .map_err(|_| ApiError::bad_request("If-Match must be the quoted revision number of the ETag, e.g. \"4\""))
    }
}
