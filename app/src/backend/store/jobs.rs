//! The `jobs` table (the durable job runner builds on it).

use crate::backend::db::DbError;
use sqlx::AnyConnection;

/// Statuses in which a job still holds its server.
pub const ACTIVE_STATUSES: &str = "('queued', 'running', 'waiting_for_agent')";

/// Whether a job is queued or running on the server.
pub async fn has_active(conn: &mut AnyConnection, server_id: i64) -> Result<bool, DbError> {
    let n: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM jobs WHERE server_id = $1 AND status IN {ACTIVE_STATUSES}"
    ))
    .bind(server_id)
    .fetch_one(conn)
    .await
    .map_err(|e| DbError::query("checking a server's jobs", e))?;
    Ok(n > 0)
}
