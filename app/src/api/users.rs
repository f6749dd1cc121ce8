//! User management (admins).

use super::ActionError;
#[cfg(feature = "ssr")]
use crate::domain::{Permission, Role};
use crate::model::{ApiToken, UserView};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
fn parse_role(role: &str) -> Result<Role, ActionError> {
    Role::parse(role).ok_or_else(|| {
        super::ssr::service_error(crate::backend::services::ServiceError::invalid(
            "role",
            format!("{role:?} is not one of admin, operator, viewer, tenant"),
        ))
    })
}

#[server(endpoint = "list_users", output = crate::api::codec::Json)]
pub async fn list_users() -> Result<Vec<UserView>, ActionError> {
    let (backend, _, _) = super::ssr::require(Some(Permission::ManageUsers)).await?;
    backend.list_users().await.map_err(super::ssr::service_error)
}

#[server(endpoint = "create_user", output = crate::api::codec::Json)]
pub async fn create_user(username: String, password: String, role: String) -> Result<UserView, ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(Permission::ManageUsers)).await?;
    let role = parse_role(&role)?;
    backend.create_user(&actor, &username, &password, role).await.map_err(super::ssr::service_error)
}

#[server(endpoint = "set_user_role", output = crate::api::codec::Json)]
pub async fn set_user_role(username: String, role: String) -> Result<UserView, ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(Permission::ManageUsers)).await?;
    let role = parse_role(&role)?;
    backend.set_role(&actor, &username, role).await.map_err(super::ssr::service_error)
}

#[server(endpoint = "set_user_disabled", output = crate::api::codec::Json)]
pub async fn set_user_disabled(username: String, disabled: bool) -> Result<UserView, ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(Permission::ManageUsers)).await?;
    backend.set_disabled(&actor, &username, disabled).await.map_err(super::ssr::service_error)
}

/// Every user's API tokens (never the tokens themselves).
#[server(endpoint = "list_api_tokens", output = crate::api::codec::Json)]
pub async fn list_api_tokens() -> Result<Vec<ApiToken>, ActionError> {
    let (backend, user, _) = super::ssr::require(Some(Permission::ManageUsers)).await?;
    backend.list_all_tokens(&user).await.map_err(super::ssr::service_error)
}

/// Revokes any user's API token (audited).
#[server(endpoint = "revoke_api_token", output = crate::api::codec::Json)]
pub async fn revoke_api_token(id: i64) -> Result<(), ActionError> {
    let (backend, user, _) = super::ssr::require(Some(Permission::ManageUsers)).await?;
    backend.revoke_token(&user, id).await.map_err(super::ssr::service_error)
}

/// Sets another user's password; that user's sessions end and their API tokens are
/// revoked.
#[server(endpoint = "reset_user_password", output = crate::api::codec::Json)]
pub async fn reset_user_password(username: String, password: String) -> Result<(), ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(Permission::ManageUsers)).await?;
    backend.set_password(&actor, &username, &password, None).await.map_err(super::ssr::service_error)
}
