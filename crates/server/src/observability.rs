//! Request ids, request counters and the Prometheus text at `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::request_id::{MakeRequestId, RequestId};

use crate::AppState;

/// Requests answered, by status code.
#[derive(Default)]
pub struct Metrics {
    by_status: Mutex<BTreeMap<u16, u64>>,
}

pub async fn count(State(metrics): State<std::sync::Arc<Metrics>>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Ok(mut counts) = metrics.by_status.lock() {
        *counts.entry(response.status().as_u16()).or_default() += 1;
    }
    response
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = String::from(
        "# HELP classbill_http_requests_total HTTP requests answered, by status.\n# TYPE classbill_http_requests_total counter\n",
    );
    if let Ok(counts) = state.metrics.by_status.lock() {
        for (status, n) in counts.iter() {
            text.push_str(&format!("classbill_http_requests_total{{status=\"{status}\"}} {n}\n"));
        }
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// Request ids `req-1`, `req-2`, … for requests that come without an `x-request-id`.
#[derive(Clone, Default)]
pub struct SequentialIds(std::sync::Arc<AtomicU64>);

impl MakeRequestId for SequentialIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        HeaderValue::from_str(&format!("req-{n}")).ok().map(RequestId::new)
    }
}
