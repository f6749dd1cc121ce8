//! Aggregates for reports.

use crate::backend::db::DbError;
use sqlx::AnyConnection;

/// (type label or None, state, count) over all servers.
pub async fn type_state_counts(conn: &mut AnyConnection) -> Result<Vec<(Option<String>, String, i64)>, DbError> {
    // Group on the narrow index first, then join the (few) type labels.
    sqlx::query_as(
        "SELECT t.label, c.state, c.n FROM \
         (SELECT server_type_id, state, COUNT(*) AS n FROM servers GROUP BY server_type_id, state) c \
         LEFT JOIN server_types t ON t.id = c.server_type_id",
    )
    .fetch_all(conn)
    .await
    .map_err(|e| DbError::query("counting servers by type and state", e))
}

/// (type label or None, state, count) over the servers of one datacenter and/or rack.
pub async fn type_state_counts_at(
    conn: &mut AnyConnection,
    datacenter: Option<&str>,
    rack: Option<&str>,
) -> Result<Vec<(Option<String>, String, i64)>, DbError> {
    sqlx::query_as(
        "SELECT t.label, c.state, c.n FROM \
         (SELECT server_type_id, state, COUNT(*) AS n FROM servers \
          WHERE ($1 IS NULL OR datacenter = $1) AND ($2 IS NULL OR rack = $2) \
          GROUP BY server_type_id, state) c \
         LEFT JOIN server_types t ON t.id = c.server_type_id",
    )
    .bind(datacenter)
    .bind(rack)
    .fetch_all(conn)
    .await
    .map_err(|e| DbError::query("counting servers by type and state", e))
}

/// Every (datacenter, rack) that has servers, sorted.
pub async fn locations(conn: &mut AnyConnection) -> Result<Vec<(String, String)>, DbError> {
    sqlx::query_as("SELECT DISTINCT datacenter, rack FROM servers ORDER BY datacenter, rack")
        .fetch_all(conn)
        .await
        .map_err(|e| DbError::query("listing locations", e))
}

/// Jobs by kind and status.
pub async fn job_counts(conn: &mut sqlx::AnyConnection) -> Result<Vec<(String, String, i64)>, DbError> {
    sqlx::query_as("SELECT kind, status, COUNT(*) FROM jobs GROUP BY kind, status ORDER BY kind, status")
        .fetch_all(conn)
        .await
        .map_err(|e| DbError::query("counting jobs", e))
}
