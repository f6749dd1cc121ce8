//! The `server_types` table: one row per distinct hardware fingerprint.

use crate::backend::db::DbError;
use crate::domain::TypeSpec;
use crate::domain::server_type::versioned_label;
use sqlx::AnyConnection;

/// The type with this fingerprint, created (with the next free `.vN`) when new.
/// Returns (id, label).
pub async fn find_or_create(conn: &mut AnyConnection, spec: &TypeSpec, now: i64) -> Result<(i64, String), DbError> {
    // Bounded: each round either finds the row or loses a race for a version number.
    for _ in 0..10 {
        let found: Option<(i64, String)> = sqlx::query_as("SELECT id, label FROM server_types WHERE fingerprint = $1")
            .bind(&spec.fingerprint)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| DbError::query("looking up a server type", e))?;
        if let Some(found) = found {
            return Ok(found);
        }
        let base = spec.base_label();
        let version: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM server_types WHERE base_label = $1")
                .bind(&base)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| DbError::query("numbering a server type", e))?;
        let label = versioned_label(&base, version as u32);
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO server_types (label, base_label, version, fingerprint, class, cores, ram_gb, \
             disks, has_gpu, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(&label)
        .bind(&base)
        .bind(version)
        .bind(&spec.fingerprint)
        .bind(spec.class.to_string())
        .bind(spec.cores as i64)
        .bind(spec.ram_gb as i64)
        .bind(spec.disks as i64)
        .bind(i64::from(spec.has_gpu))
        .bind(now)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| DbError::query("creating a server type", e))?;
        if let Some(id) = inserted {
            return Ok((id, label));
        }
    }
    Err(DbError::Contended { what: "creating a server type" })
}

/// The label of a type id.
pub async fn label(conn: &mut AnyConnection, id: i64) -> Result<Option<String>, DbError> {
    sqlx::query_scalar("SELECT label FROM server_types WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("reading a server type", e))
}

/// The id of the type with this label.
pub async fn id_by_label(conn: &mut AnyConnection, label: &str) -> Result<Option<i64>, DbError> {
    sqlx::query_scalar("SELECT id FROM server_types WHERE label = $1")
        .bind(label)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("finding a server type", e))
}

/// Every type label, sorted.
pub async fn labels(conn: &mut AnyConnection) -> Result<Vec<String>, DbError> {
    sqlx::query_scalar("SELECT label FROM server_types ORDER BY label")
        .fetch_all(conn)
        .await
        .map_err(|e| DbError::query("listing server types", e))
}

/// Serializes reservation and allocation of one server type until the transaction
/// ends. On PostgreSQL a row lock on the type (each transaction then reads what the
/// previous one committed); SQLite's write transaction is already exclusive.
pub async fn lock(conn: &mut AnyConnection, id: i64) -> Result<(), DbError> {
    lock_row(conn, id, "FOR UPDATE").await
}

/// Keeps `lock` off one server type until the transaction ends, without excluding
/// other holders of this one: what a server made available takes when its type had no
/// open subscription, so such moves of one type do not wait for each other's commit
/// while a subscription being created (which takes `lock`) still waits for them, or
/// they for it. A no-op on SQLite, as `lock` is.
pub async fn lock_shared(conn: &mut AnyConnection, id: i64) -> Result<(), DbError> {
    lock_row(conn, id, "FOR SHARE").await
}

async fn lock_row(conn: &mut AnyConnection, id: i64, mode: &str) -> Result<(), DbError> {
    if super::dialect::needs_locks(conn) {
        sqlx::query(&format!("SELECT id FROM server_types WHERE id = $1 {mode}"))
            .bind(id)
            .fetch_optional(conn)
            .await
            .map_err(|e| DbError::query("locking a server type", e))?;
    }
    Ok(())
}
