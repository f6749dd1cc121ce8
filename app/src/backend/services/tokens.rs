//! API tokens: created by logging in (same throttling, same message for an unknown
//! user and a wrong password), stored hashed, expiring (90 days unless asked
//! otherwise, at most a year), listed and revoked by their owner or an admin.

use super::accounts::{LoginError, audit_user};
use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::secrets::{random_token, token_hash};
use crate::backend::store::{self, now_ms};
use crate::domain::EventKind;
use crate::domain::Permission;
use crate::domain::tokens::{expires_at, lifetime_days};
use crate::model::{ApiToken, UserView};

/// A new token: shown once.
#[derive(Debug)]
pub struct NewToken {
    pub id: i64,
    pub token: String,
    pub expires_at: i64,
}

impl Backend {
    /// Logs in and makes a token living `expires_in_days` (default 90).
    pub async fn create_token(
        &self,
        username: &str,
        password: &str,
        name: &str,
        expires_in_days: Option<i64>,
        client: &str,
    ) -> Result<NewToken, LoginError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(LoginError::Service(ServiceError::invalid("name", "must be 1 to 100 characters")));
        }
        let days = lifetime_days(expires_in_days)
            .map_err(|m| LoginError::Service(ServiceError::invalid("expires_in_days", m)))?;
        let user = self.authenticate(username, password, client).await?;
        let token = format!("rs_{}", random_token());
        let now = now_ms();
        let expires_at = expires_at(now, days);
        let (user_id, name, hash) = (user.id, name.to_string(), token_hash(&token));
        let id = self
            .db
            .write_one(move |c| {
                Box::pin(async move { store::api_tokens::insert(c, user_id, &name, &hash, now, expires_at).await })
            })
            .await
            .map_err(ServiceError::from)?;
        Ok(NewToken { id, token, expires_at })
    }

    /// The enabled user an unexpired bearer token belongs to.
    pub async fn token_user(&self, token: &str) -> Result<Option<UserView>, ServiceError> {
        let mut conn = self.db.conn().await?;
        let now = now_ms();
        let Some((token_id, last_used, user)) = store::users::by_token_hash(&mut conn, &token_hash(token), now).await?
        else {
            return Ok(None);
        };
        // The reading connection goes back first: holding it while waiting for the
        // writer's would let a burst of requests take every pooled connection.
        drop(conn);
        if store::api_tokens::use_worth_noting(last_used, now) {
            self.db.write_one(move |c| Box::pin(store::api_tokens::note_use(c, token_id, now))).await?;
        }
        Ok(Some(user.view).filter(|u| !u.disabled))
    }

    /// The caller's tokens.
    pub async fn list_tokens(&self, user: &UserView) -> Result<Vec<ApiToken>, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::api_tokens::list(&mut conn, Some(user.id)).await?)
    }

    /// Every user's tokens (admins).
    pub async fn list_all_tokens(&self, caller: &UserView) -> Result<Vec<ApiToken>, ServiceError> {
        if !caller.role.can(Permission::ManageUsers) {
            return Err(ServiceError::Forbidden {
                message: format!("your role ({}) may not manage users", caller.role),
            });
        }
        let mut conn = self.db.conn().await?;
        Ok(store::api_tokens::list(&mut conn, None).await?)
    }

    /// Revokes a token: the caller's own, or anyone's for an admin (audited). Another
    /// user's token is "not found" to a caller who may not manage users.
    pub async fn revoke_token(&self, caller: &UserView, id: i64) -> Result<(), ServiceError> {
        let not_found = move || ServiceError::NotFound { what: format!("token {id}") };
        let now = now_ms();
        let caller = caller.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let token = store::api_tokens::get(tx, id).await?.ok_or_else(not_found)?;
                let own = token.username == caller.username;
                if !own && !caller.role.can(Permission::ManageUsers) {
                    return Err(not_found());
                }
                store::api_tokens::delete(tx, id).await?;
                if !own {
                    let what = format!("{}: {:?}", token.username, token.name);
                    audit_user(
                        tx,
                        &Actor::user(caller.username.clone()),
                        EventKind::ApiTokenRevoked,
                        None,
                        Some(&what),
                        now,
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }
}
