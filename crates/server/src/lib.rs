//! The HTTP edge: `/api/v1` (bearer tokens, problem documents, an OpenAPI 3.1 document generated from the
//! handlers), `/healthz` and `/metrics`.

mod extract;
mod observability;
mod problem;
mod routes;

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
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use problem::{ApiError, Problem};

/// Largest accepted request body; anything bigger is refused with 413 before it is parsed.
pub const BODY_LIMIT_BYTES: usize = 2 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    openapi: Arc<String>,
    metrics: Arc<observability::Metrics>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Classbill", description = "Billing core for telecom, VoIP and Internet operators and their resellers."),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API routes and the OpenAPI document describing exactly them.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::classes::router())
        .merge(routes::resellers::router())
        .merge(routes::catalog::router())
        .merge(routes::admin::router())
        .split_for_parts()
}

/// The OpenAPI 3.1 document of `/api/v1`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, mut openapi) = api();
    openapi.paths.paths.insert(
        "/openapi.json".to_owned(),
        utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .summary(Some("This document"))
                .tag("meta")
                .security(utoipa::openapi::security::SecurityRequirement::default())
                .response("200", utoipa::openapi::Response::new("the OpenAPI document")),
        ),
    );
    openapi
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
    let (api, _) = api();
    let openapi = openapi_document().to_json().unwrap_or_default();
    let metrics = Arc::new(observability::Metrics::default());
    let state = AppState {
        engine,
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
        .layer(axum::middleware::from_fn_with_state(metrics, observability::count))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(observability::SequentialIds::default()))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    engine: Engine,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(engine))
        .with_graceful_shutdown(shutdown)
        .await
}
