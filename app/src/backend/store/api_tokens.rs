//! The `api_tokens` table: bearer tokens of the automation API (hashes only).

use crate::backend::db::DbError;
use sqlx::AnyConnection;

/// A token as its owner sees it (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

pub async fn insert(
    conn: &mut AnyConnection,
    user_id: i64,
    name: &str,
    token_hash: &str,
    now: i64,
) -> Result<i64, DbError> {
    sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(user_id)
    .bind(name)
    .bind(token_hash)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| DbError::query("creating an API token", e))
}

/// The user id behind a token hash; notes the use (at most once a minute).
pub async fn use_token(conn: &mut AnyConnection, token_hash: &str, now: i64) -> Result<Option<i64>, DbError> {
    let found: Option<(i64, i64, Option<i64>)> =
        sqlx::query_as("SELECT id, user_id, last_used_at FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| DbError::query("checking an API token", e))?;
    let Some((id, user_id, last)) = found else { return Ok(None) };
    if last.is_none_or(|t| t < now - 60_000) {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(conn)
            .await
            .map_err(|e| DbError::query("noting an API token's use", e))?;
    }
    Ok(Some(user_id))
}

pub async fn list_for_user(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<TokenRow>, DbError> {
    sqlx::query_as("SELECT id, name, created_at, last_used_at FROM api_tokens WHERE user_id = $1 ORDER BY id")
        .bind(user_id)
        .fetch_all(conn)
        .await
        .map_err(|e| DbError::query("listing API tokens", e))
}

/// Deletes a user's token; false when that user has no such token.
pub async fn delete(conn: &mut AnyConnection, id: i64, user_id: i64) -> Result<bool, DbError> {
    sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(|e| DbError::query("revoking an API token", e))
}
