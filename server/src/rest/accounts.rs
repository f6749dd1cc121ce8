//! `/api/v1/tokens` and `/api/v1/users`: API tokens (created with a password, shown
//! once, revoked by their owner or a user manager) and new accounts.

use super::extract::{ApiResult, Caller, Failure, JsonBody, PathOf, QueryOf, malformed, need};
use super::{ApiError, Items, actor};
use crate::api_error::{error, service_error};
use app::backend::Backend;
use app::backend::services::ServiceError;
use app::backend::services::accounts::LoginError;
use app::domain::Role;
use app::model::{ApiToken, UserView};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

fn login_error(e: LoginError) -> Failure {
    match e {
        LoginError::BadCredentials => error(StatusCode::UNAUTHORIZED, "unauthorized", &e.to_string()).into(),
        LoginError::Throttled { retry_after_secs } => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "throttled", &e.to_string());
            r.headers_mut().insert(header::RETRY_AFTER, retry_after_secs.into());
            r.into()
        }
        LoginError::Service(e) => service_error(e).into(),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    username: String,
    password: String,
    name: String,
    /// Days the token lives, 1-365 (default 90).
    expires_in_days: Option<i64>,
}

/// A new token: `token` is shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TokenCreated {
    id: i64,
    name: String,
    token: String,
    /// Unix milliseconds.
    expires_at: i64,
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = TokenRequest, responses((status = 201, body = TokenCreated), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 422, body = ApiError), (status = 429, body = ApiError)))]
pub(crate) async fn create_token(
    State(backend): State<Backend>,
    Extension(client): Extension<app::backend::ClientIp>,
    JsonBody(req): JsonBody<TokenRequest>,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    if req.username.len() > app::backend::MAX_LOGIN_NAME {
        return Err(malformed(&format!("username: at most {} characters", app::backend::MAX_LOGIN_NAME)));
    }
    let client = client.0.to_string();
    let token = backend
        .create_token(&req.username, &req.password, &req.name, req.expires_in_days, &client)
        .await
        .map_err(login_error)?;
    let created = TokenCreated {
        id: token.id,
        name: req.name.trim().to_string(),
        token: token.token,
        expires_at: token.expires_at,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokensQuery {
    /// `true`: every user's tokens (manage_users).
    all: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])), params(TokensQuery), responses((status = 200, body = Items<ApiToken>, description = "the caller's tokens, or with `all=true` every user's (manage_users)"), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub(crate) async fn list_tokens(
    State(backend): State<Backend>,
    Caller(user, ..): Caller,
    QueryOf(q): QueryOf<TokensQuery>,
) -> ApiResult<Json<Items<ApiToken>>> {
    let items =
        if q.all == Some(true) { backend.list_all_tokens(&user).await? } else { backend.list_tokens(&user).await? };
    Ok(Json(Items::of(items)))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 204, description = "revoked: the caller's own token, or any user's for manage_users (audited)"), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn revoke_token(
    State(backend): State<Backend>,
    Caller(user, ..): Caller,
    PathOf(id): PathOf<i64>,
) -> ApiResult<StatusCode> {
    backend.revoke_token(&user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUserRequest {
    username: String,
    password: String,
    /// admin, operator, viewer or tenant.
    role: String,
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("bearer" = [])), request_body = NewUserRequest, responses((status = 201, body = UserView), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn create_user(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ManageUsers>,
    JsonBody(req): JsonBody<NewUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let role = Role::parse(&req.role)
        .ok_or_else(|| ServiceError::invalid("role", "must be admin, operator, viewer or tenant"))?;
    let created = backend.create_user(&actor(&user), &req.username, &req.password, role).await?;
    Ok((StatusCode::CREATED, Json(created)))
}
