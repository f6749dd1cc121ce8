//! Login, logout, who am I, change my password.

use super::ActionError;
use crate::model::UserView;
use leptos::prelude::*;

/// Logs in and redirects to `next` (a local path) or the home page.
#[server(endpoint = "login", output = crate::api::codec::Json)]
pub async fn login(username: String, password: String, next: Option<String>) -> Result<(), ActionError> {
    use super::ssr::fail;
    use crate::backend::services::accounts::LoginError;
    use crate::backend::store::sessions::USER_ID_KEY;
    use http::StatusCode;

    if username.len() > crate::backend::MAX_LOGIN_NAME {
        return fail(
            StatusCode::BAD_REQUEST,
            format!("username: at most {} characters", crate::backend::MAX_LOGIN_NAME),
        );
    }
    let backend = super::ssr::use_backend()?;
    let session = leptos_axum::extract::<tower_sessions::Session>().await?;
    let client = leptos_axum::extract::<axum::Extension<crate::backend::ClientIp>>()
        .await
        .map(|c| c.0.0.to_string())
        .unwrap_or_else(|_| "unknown".into());
    match backend.authenticate(&username, &password, &client).await {
        Ok(user) => {
            // A new session id at login defeats session fixation.
            session.cycle_id().await.map_err(|e| ActionError::new(format!("session: {e}")))?;
            session.insert(USER_ID_KEY, user.id).await.map_err(|e| ActionError::new(format!("session: {e}")))?;
            tracing::info!(user = %user.username, %client, "login");
            leptos_axum::redirect(&safe_next(next.as_deref()));
            Ok(())
        }
        Err(LoginError::Throttled { retry_after_secs }) => {
            if let Some(r) = use_context::<leptos_axum::ResponseOptions>() {
                r.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(retry_after_secs));
            }
            tracing::warn!(%client, username = %crate::backend::loggable(username.trim()), "login throttled");
            fail(StatusCode::TOO_MANY_REQUESTS, LoginError::Throttled { retry_after_secs }.to_string())
        }
        Err(LoginError::BadCredentials) => {
            tracing::info!(%client, username = %crate::backend::loggable(username.trim()), "failed login");
            fail(StatusCode::UNAUTHORIZED, LoginError::BadCredentials.to_string())
        }
        Err(LoginError::Service(e)) => Err(super::ssr::service_error(e)),
    }
}

/// A local path to go to after login: same origin only (a path, no scheme, no `//`,
/// no backslash, no control characters, bounded); anything else goes home.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/login")
                && n.len() <= 2000
                && n.chars().all(|c| c.is_ascii_graphic() && c != '\\') =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

#[server(endpoint = "logout", output = crate::api::codec::Json)]
pub async fn logout() -> Result<(), ActionError> {
    let session = leptos_axum::extract::<tower_sessions::Session>().await?;
    session.flush().await.map_err(|e| ActionError::new(format!("session: {e}")))?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// The logged-in user, or None.
#[server(endpoint = "whoami", output = crate::api::codec::Json)]
pub async fn whoami() -> Result<Option<UserView>, ActionError> {
    Ok(super::ssr::current_user().await)
}

/// Changes one's own password; other sessions of the user end.
#[server(endpoint = "change_password", output = crate::api::codec::Json)]
pub async fn change_password(current: String, new_password: String) -> Result<(), ActionError> {
    let (backend, user, actor) = super::ssr::require(None).await?;
    let session = leptos_axum::extract::<tower_sessions::Session>().await?;
    // Throttled per user: one user's wrong guesses do not hold back another's change.
    let client = format!("password-change:{}", user.id);
    if backend.authenticate(&user.username, &current, &client).await.is_err() {
        return super::ssr::fail(http::StatusCode::FORBIDDEN, "the current password is wrong");
    }
    let keep = session.id().map(|id| id.to_string());
    backend
        .set_password(&actor, &user.username, &new_password, keep.as_deref())
        .await
        .map_err(super::ssr::service_error)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    /// Only local paths are followed after login (no open redirect).
    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/servers/3")), "/servers/3");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(Some("/servers\nSet-Cookie: x=1")), "/", "a newline");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/servers?q=a b")), "/", "spaces are encoded in a real link");
        assert_eq!(safe_next(None), "/");
    }
}
