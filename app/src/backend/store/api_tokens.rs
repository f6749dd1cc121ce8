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

/// Notes a token's use (at most once a minute: `last` is its last noted use).
pub async fn note_use(conn: &mut AnyConnection, id: i64, last: Option<i64>, now: i64) -> Result<(), DbError> {
    if last.is_none_or(|t| t < now - 60_000) {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(conn)
            .await
            .map_err(|e| DbError::query("noting an API token's use", e))?;
    }
    Ok(())
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
