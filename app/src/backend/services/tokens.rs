//! API tokens: created by logging in (same throttling, same message for an unknown
//! user and a wrong password), stored hashed, listed and revoked by their owner.

use super::ServiceError;
use super::accounts::LoginError;
use crate::backend::Backend;
use crate::backend::secrets::{random_token, token_hash};
use crate::backend::store::{self, api_tokens::TokenRow, now_ms};
use crate::model::UserView;

/// A new token: shown once.
#[derive(Debug)]
pub struct NewToken {
    pub id: i64,
    pub token: String,
}

impl Backend {
    pub async fn create_token(
        &self,
        username: &str,
        password: &str,
        name: &str,
        client: &str,
    ) -> Result<NewToken, LoginError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(LoginError::Service(ServiceError::invalid("name", "must be 1 to 100 characters")));
        }
        let user = self.authenticate(username, password, client).await?;
        let token = format!("rs_{}", random_token());
        let mut conn = self.db.conn().await.map_err(ServiceError::from)?;
        let id = store::api_tokens::insert(&mut conn, user.id, name, &token_hash(&token), now_ms())
            .await
            .map_err(ServiceError::from)?;
        Ok(NewToken { id, token })
    }

    /// The enabled user a bearer token belongs to.
    pub async fn token_user(&self, token: &str) -> Result<Option<UserView>, ServiceError> {
        let mut conn = self.db.conn().await?;
        let Some((token_id, last_used, user)) = store::users::by_token_hash(&mut conn, &token_hash(token)).await?
        else {
            return Ok(None);
        };
        store::api_tokens::note_use(&mut conn, token_id, last_used, now_ms()).await?;
        Ok(Some(user.view).filter(|u| !u.disabled))
    }

    pub async fn list_tokens(&self, user: &UserView) -> Result<Vec<TokenRow>, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::api_tokens::list_for_user(&mut conn, user.id).await?)
    }

    pub async fn revoke_token(&self, user: &UserView, id: i64) -> Result<(), ServiceError> {
        let mut conn = self.db.conn().await?;
        if !store::api_tokens::delete(&mut conn, id, user.id).await? {
            return Err(ServiceError::NotFound { what: format!("token {id}") });
        }
        Ok(())
    }
}
