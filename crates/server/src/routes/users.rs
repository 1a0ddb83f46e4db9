//! `/users` and their API tokens: administrators manage every user, a reseller user its reseller's users only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use classbill_engine::Page;
use classbill_engine::users::{NewUser, TokenView, UserPatch, UserView};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{Caller, Json, PageParams, Query};
use crate::problem::{ApiResult, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, patch_user))
        .routes(routes!(reset_password))
        .routes(routes!(unlock_user))
        .routes(routes!(list_tokens))
        .routes(routes!(revoke_token))
}

/// The users the caller may manage, in id order.
#[utoipa::path(get, path = "/users", tag = "users", params(PageParams),
    responses((status = 200, body = Page<UserView>)))]
async fn list_users(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Query(page): Query<PageParams>,
) -> ApiResult<axum::Json<Page<UserView>>> {
    Ok(axum::Json(state.engine.list_users(&actor, page.request()?).await?))
}

/// Create a user; without `password` the server chooses one and answers it this once.
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn create_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Json(body): Json<NewUser>,
) -> ApiResult<(StatusCode, axum::Json<UserView>)> {
    let user = state.engine.create_user(&actor, body, Timestamp::now()).await?;
    Ok((StatusCode::CREATED, axum::Json(user)))
}

#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = UserView), (status = 404, body = Problem)))]
async fn get_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<UserView>> {
    Ok(axum::Json(state.engine.get_user(&actor, id).await?))
}

/// Disable or enable a user, change its role or personal-data access. A disabled user's tokens and web
/// sessions stop working at the next request.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = i64, Path)), request_body = UserPatch,
    responses((status = 200, body = UserView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn patch_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
    Json(patch): Json<UserPatch>,
) -> ApiResult<axum::Json<UserView>> {
    Ok(axum::Json(
        state.engine.patch_user(&actor, id, patch, Timestamp::now()).await?,
    ))
}

/// Set a new random password and answer it once (as `password`); the user's web sessions end.
#[utoipa::path(post, path = "/users/{id}/reset-password", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = UserView), (status = 404, body = Problem)))]
async fn reset_password(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<UserView>> {
    Ok(axum::Json(
        state.engine.reset_password(&actor, id, Timestamp::now()).await?,
    ))
}

/// Lift a lock-out of the user's login (after repeated failed logins) at once and clear its failure count;
/// administrators only.
#[utoipa::path(post, path = "/users/{id}/unlock", tag = "users", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn unlock_user(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state.engine.unlock_user(&actor, id, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's API tokens.
#[derive(Debug, Serialize, ToSchema)]
struct TokenList {
    items: Vec<TokenView>,
}

/// The user's API tokens, revoked ones included; never their values.
#[utoipa::path(get, path = "/users/{id}/tokens", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = TokenList), (status = 404, body = Problem)))]
async fn list_tokens(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<TokenList>> {
    Ok(axum::Json(TokenList {
        items: state.engine.list_tokens(&actor, id).await?,
    }))
}

/// Revoke one of the user's tokens; it authenticates no further request.
#[utoipa::path(delete, path = "/users/{id}/tokens/{token_id}", tag = "users",
    params(("id" = i64, Path), ("token_id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn revoke_token(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((id, token_id)): Path<(i64, i64)>,
) -> ApiResult<StatusCode> {
    state
        .engine
        .revoke_token(&actor, id, token_id, Timestamp::now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
