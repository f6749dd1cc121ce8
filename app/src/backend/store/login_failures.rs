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

/// Records an attempt as a failure before it is checked (committed at once, so that
/// concurrent attempts count each other); returns its id, for [`release`] when the
/// attempt succeeds after all.
pub async fn reserve(conn: &mut AnyConnection, key: &str, now: i64) -> Result<i64, DbError> {
    sqlx::query_scalar("INSERT INTO login_failures (key, at) VALUES ($1, $2) RETURNING id")
        .bind(key)
        .bind(now)
        .fetch_one(conn)
        .await
        .map_err(|e| DbError::query("recording a login attempt", e))
}

/// Takes back reserved attempts (it succeeded, or was refused unchecked).
pub async fn release(conn: &mut AnyConnection, ids: &[i64]) -> Result<(), DbError> {
    for id in ids {
        sqlx::query("DELETE FROM login_failures WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(|e| DbError::query("releasing a login attempt", e))?;
    }
    Ok(())
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
