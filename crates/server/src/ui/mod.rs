//! The web UI at `/`: server-rendered pages (minijinja templates compiled into the binary, a vendored htmx)
//! over the same engine methods as `/api/v1`, behind login sessions with CSRF tokens.

mod account;
mod calendar;
mod class_fields;
mod class_form;
mod class_list;
mod credit_notes;
mod form;
mod invoices;
mod list_query;
mod notification_sets;
mod notifications;
mod out_of_turn;
mod pages;
mod parties;
mod party_fields;
mod party_list;
mod party_overrides;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::Redirect;
use axum::routing::{get, post};
use classbill_domain::party::PartyKind;
use classbill_engine::Engine;

use pages::Pages;

#[derive(Clone)]
pub struct UiState {
    engine: Engine,
    pages: Arc<Pages>,
    clock: crate::Clock,
    trusted_proxies: crate::TrustedProxies,
}

fn party_routes(kind: PartyKind) -> Router<UiState> {
    Router::new()
        .route("/", get(party_list::list))
        .route("/move", post(party_list::bulk_move))
        .route("/new", get(parties::new_form).post(parties::create))
        .route("/{id}", get(parties::edit_form).post(parties::save))
        .route("/{id}/effective", get(parties::effective))
        .route("/{id}/out-of-turn", post(out_of_turn::issue))
        .layer(axum::Extension(kind))
}

pub fn router(engine: Engine, clock: crate::Clock, trusted_proxies: crate::TrustedProxies) -> Router {
    let state = UiState {
        engine,
        pages: Arc::new(Pages::default()),
        clock,
        trusted_proxies,
    };
    let signed_in = Router::new()
        .route("/", get(|| async { Redirect::to("/classes") }))
        .route("/logout", post(account::logout))
        .route("/tokens", get(account::tokens_page).post(account::create_token))
        .route("/classes", get(class_list::list))
        .route("/classes/delete", post(class_list::delete))
        .route("/classes/new", get(class_form::new_form).post(class_form::create))
        .route("/classes/{id}", get(class_form::edit_form).post(class_form::save))
        .route("/classes/{id}/preview", post(class_form::preview))
        .nest("/customers", party_routes(PartyKind::Customer))
        .nest("/resellers", party_routes(PartyKind::Reseller))
        .route("/invoices", get(invoices::list))
        .route("/invoices/{id}", get(invoices::detail))
        .route("/invoices/{id}/approve", post(invoices::approve))
        .route("/invoices/{id}/credit-notes", post(credit_notes::issue))
        .route("/invoices/{id}/pdf", get(invoices::pdf))
        .route("/calendar", get(calendar::show).post(calendar::save))
        .route("/notifications", get(notifications::list))
        .merge(notification_sets::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::require_session,
        ));
    // The invoice document sets its own headers (it needs inline styles and is shown in a frame), so it is
    // merged after the layer that sets them for every other page.
    let document = Router::new()
        .route("/invoices/{id}/document", get(invoices::document))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::require_session,
        ));
    Router::new()
        .route("/login", get(account::login_form).post(account::login))
        .route("/static/{file}", get(pages::static_file))
        .merge(signed_in)
        .layer(DefaultBodyLimit::max(crate::BODY_LIMIT_BYTES))
        .layer(axum::middleware::from_fn(pages::security_headers))
        .merge(document)
        .with_state(state)
}
