//! The HTTP edge: `/api/v1` (bearer tokens, problem documents, an OpenAPI 3.1 document generated from the
//! handlers), `/healthz`, `/metrics`, and the web UI at `/`.

mod client_address;
mod clock;
mod extract;
mod observability;
mod openapi;
mod problem;
mod routes;
mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use classbill_engine::Engine;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use client_address::TrustedProxies;
pub use clock::Clock;
pub use openapi::openapi_document;
pub use problem::{ApiError, Problem};

/// Largest accepted request body; anything bigger is refused with 413 before it is parsed.
pub const BODY_LIMIT_BYTES: usize = 2 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    /// "Now" for requests that name no instant; see [`Clock`].
    pub(crate) clock: Clock,
    /// Whether runs requested over HTTP are only queued, for `classbill worker` processes to execute.
    pub(crate) queue_runs_only: bool,
    openapi: Arc<String>,
    metrics: Arc<observability::Metrics>,
}

async fn serve_openapi(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.as_str().to_owned(),
    )
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.engine.store.read().await {
        Ok(_) => (StatusCode::OK, "ok\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n"),
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such resource")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "this resource does not support that method",
    )
}

pub fn router(engine: Engine) -> Router {
    router_with(engine, ServeOptions::default())
}

/// How a server runs besides its engine.
#[derive(Clone, Default)]
pub struct ServeOptions {
    /// The source of "now" where a request names no instant.
    pub clock: Clock,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// `serve --no-worker`: requested billing and collection runs are recorded as queued and left to
    /// `classbill worker` processes instead of being executed by this one.
    pub queue_runs_only: bool,
}

/// The router with these options.
pub fn router_with(engine: Engine, options: ServeOptions) -> Router {
    let ServeOptions {
        clock,
        trusted_proxies,
        queue_runs_only,
    } = options;
    // The UI answers HTML, not problem documents, so it is merged outside the API's layers.
    let ui = ui::router(engine.clone(), clock.clone(), trusted_proxies);
    let (api, _) = openapi::api();
    let openapi = openapi_document().to_json().unwrap_or_default();
    let metrics = Arc::new(observability::Metrics::default());
    let state = AppState {
        engine,
        clock,
        queue_runs_only,
        openapi: Arc::new(openapi),
        metrics: metrics.clone(),
    };
    let api = api
        .route("/openapi.json", get(serve_openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(healthz))
        .route("/metrics", get(observability::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .layer(axum::middleware::from_fn(problem::problems_only))
        .layer(axum::middleware::from_fn_with_state(metrics, observability::count))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(observability::SequentialIds::default()))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
        .merge(ui)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    engine: Engine,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(engine, ServeOptions::default(), listener, shutdown).await
}

/// Serves with these options until `shutdown` resolves. Each request carries its peer address, which the login
/// limits count failures by.
pub async fn serve_with(
    engine: Engine,
    options: ServeOptions,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router_with(engine, options).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
