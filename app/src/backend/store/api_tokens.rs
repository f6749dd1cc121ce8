//! The `api_tokens` table: bearer tokens of the automation API (hashes only).

use crate::backend::db::DbError;
use crate::model::ApiToken;
use sqlx::AnyConnection;

pub async fn insert(
    conn: &mut AnyConnection,
    user_id: i64,
    name: &str,
    token_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<i64, DbError> {
    sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id",
    )
    .bind(user_id)
    .bind(name)
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .fetch_one(conn)
    .await
    .map_err(|e| DbError::query("creating an API token", e))
}

/// Whether a token's use is worth noting: at most once a minute (`last` is its last
/// noted use), so that reads by API clients do not each write.
pub fn use_worth_noting(last: Option<i64>, now: i64) -> bool {
    last.is_none_or(|t| t < now - 60_000)
}

/// Notes a token's use (see [`use_worth_noting`]).
pub async fn note_use(conn: &mut AnyConnection, id: i64, now: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("noting an API token's use", e))
}

const SELECT: &str = "SELECT t.id, u.username, t.name, t.created_at, t.expires_at, t.last_used_at \
                      FROM api_tokens t JOIN users u ON u.id = t.user_id";

/// One user's tokens (`Some(id)`), or everyone's (`None`), oldest first.
pub async fn list(conn: &mut AnyConnection, user_id: Option<i64>) -> Result<Vec<ApiToken>, DbError> {
    let query = match user_id {
        Some(_) => format!("{SELECT} WHERE t.user_id = $1 ORDER BY t.id"),
        None => format!("{SELECT} ORDER BY u.username, t.id"),
    };
    let mut q = sqlx::query_as(&query);
    if let Some(id) = user_id {
        q = q.bind(id);
    }
    q.fetch_all(conn).await.map_err(|e| DbError::query("listing API tokens", e))
}

/// One token, whoever's it is.
pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<ApiToken>, DbError> {
    sqlx::query_as(&format!("{SELECT} WHERE t.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("reading an API token", e))
}

/// Deletes a token; false when there is no such token.
pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<bool, DbError> {
    sqlx::query("DELETE FROM api_tokens WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(|e| DbError::query("revoking an API token", e))
}

/// Deletes every token of a user (password reset, disabling); returns how many.
pub async fn delete_for_user(conn: &mut AnyConnection, user_id: i64) -> Result<u64, DbError> {
    sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| DbError::query("revoking a user's API tokens", e))
}
