//! Failed logins, for throttling. Kept in the database so all replicas agree.

use crate::backend::db::DbError;
use sqlx::AnyConnection;

/// Failures for `key` since `since` (ms), and the oldest of them.
pub async fn recent(conn: &mut AnyConnection, key: &str, since: i64) -> Result<(i64, Option<i64>), DbError> {
    sqlx::query_as("SELECT COUNT(*), MIN(at) FROM login_failures WHERE key = $1 AND at > $2")
        .bind(key)
        .bind(since)
        .fetch_one(conn)
        .await
        .map_err(|e| DbError::query("reading login failures", e))
}

pub async fn record(conn: &mut AnyConnection, key: &str, now: i64) -> Result<(), DbError> {
    sqlx::query("INSERT INTO login_failures (key, at) VALUES ($1, $2)")
        .bind(key)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("recording a login failure", e))
}

/// Forgets failures older than `before`.
pub async fn prune(conn: &mut AnyConnection, before: i64) -> Result<(), DbError> {
    sqlx::query("DELETE FROM login_failures WHERE at <= $1")
        .bind(before)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("pruning login failures", e))
}
