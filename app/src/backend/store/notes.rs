//! The `server_notes` table: every version of a server's notes.

use crate::backend::db::DbError;
use crate::model::NoteVersion;
use sqlx::AnyConnection;

/// Up to `limit` versions older than `before` (all when None), newest first.
pub async fn history(
    conn: &mut AnyConnection,
    server_id: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<NoteVersion>, DbError> {
    sqlx::query_as(
        "SELECT version, text, author, created_at FROM server_notes WHERE server_id = $1 AND version < $2 \
         ORDER BY version DESC LIMIT $3",
    )
    .bind(server_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(conn)
    .await
    .map_err(|e| DbError::query("reading notes", e))
}

/// The newest version, if any.
pub async fn latest(conn: &mut AnyConnection, server_id: i64) -> Result<Option<NoteVersion>, DbError> {
    Ok(history(conn, server_id, None, 1).await?.into_iter().next())
}

/// The newest version number (0 when there are no notes).
pub async fn current_version(conn: &mut AnyConnection, server_id: i64) -> Result<i64, DbError> {
    sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM server_notes WHERE server_id = $1")
        .bind(server_id)
        .fetch_one(conn)
        .await
        .map_err(|e| DbError::query("reading the notes version", e))
}

/// Saves `version`; false when that version exists already (a concurrent save won).
pub async fn insert(
    conn: &mut AnyConnection,
    server_id: i64,
    version: i64,
    text: &str,
    author: &str,
    now: i64,
) -> Result<bool, DbError> {
    match sqlx::query(
        "INSERT INTO server_notes (server_id, version, text, author, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(server_id)
    .bind(version)
    .bind(text)
    .bind(author)
    .bind(now)
    .execute(conn)
    .await
    {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(DbError::query("saving notes", e)),
    }
}
