//! A server's BMC certificate pin: `bmc_cert_sha256` (trusted) and
//! `bmc_cert_offered` (a different certificate seen since, awaiting an admin).

use crate::backend::db::DbError;
use sqlx::AnyConnection;

/// (pinned, offered) of a server.
pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<(Option<String>, Option<String>)>, DbError> {
    sqlx::query_as("SELECT bmc_cert_sha256, bmc_cert_offered FROM servers WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("reading the BMC certificate pin", e))
}

/// Pins `fingerprint` where nothing is pinned yet; false when something was.
pub async fn pin_first(conn: &mut AnyConnection, id: i64, fingerprint: &str, now: i64) -> Result<bool, DbError> {
    sqlx::query("UPDATE servers SET bmc_cert_sha256 = $1, updated_at = $2 WHERE id = $3 AND bmc_cert_sha256 IS NULL")
        .bind(fingerprint)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(|e| DbError::query("pinning a BMC certificate", e))
}

/// Records a different certificate seen; false when it was already the one offered.
pub async fn offer(conn: &mut AnyConnection, id: i64, fingerprint: &str, now: i64) -> Result<bool, DbError> {
    sqlx::query(
        "UPDATE servers SET bmc_cert_offered = $1, updated_at = $2 WHERE id = $3 \
         AND (bmc_cert_offered IS NULL OR bmc_cert_offered <> $1)",
    )
    .bind(fingerprint)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
    .map_err(|e| DbError::query("recording a changed BMC certificate", e))
}

/// Pins the offered certificate if it is `fingerprint`; false otherwise.
pub async fn accept(conn: &mut AnyConnection, id: i64, fingerprint: &str, now: i64) -> Result<bool, DbError> {
    sqlx::query(
        "UPDATE servers SET bmc_cert_sha256 = bmc_cert_offered, bmc_cert_offered = NULL, updated_at = $1 \
         WHERE id = $2 AND bmc_cert_offered = $3",
    )
    .bind(now)
    .bind(id)
    .bind(fingerprint)
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
    .map_err(|e| DbError::query("accepting a BMC certificate", e))
}

/// Forgets both (new BMC access: its certificate is learned again).
pub async fn forget(conn: &mut AnyConnection, id: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE servers SET bmc_cert_sha256 = NULL, bmc_cert_offered = NULL WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("forgetting a BMC certificate pin", e))
}
