//! The append-only `erase_certificates` table: each cleaning's evidence (the
//! certificate as JSON), kept for good; database triggers refuse updates and deletes.

use crate::backend::db::DbError;
use crate::domain::erase::EraseCertificate;
use sqlx::AnyConnection;

/// Stores a certificate in the cleaning's transaction; its id is the row's (read
/// back into `id` by every read).
pub async fn insert(conn: &mut AnyConnection, cert: &EraseCertificate) -> Result<i64, DbError> {
    let data = serde_json::to_string(cert).expect("a certificate serializes");
    sqlx::query_scalar(
        "INSERT INTO erase_certificates (server_id, job_id, mode, issued_at, data) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(cert.server_id)
    .bind(cert.job_id)
    .bind(cert.mode.as_str())
    .bind(cert.issued_at)
    .bind(data)
    .fetch_one(conn)
    .await
    .map_err(|e| DbError::query("storing an erase certificate", e))
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    data: String,
}

fn decode(row: Row) -> Result<EraseCertificate, DbError> {
    let mut cert: EraseCertificate = serde_json::from_str(&row.data)
        .map_err(|_| DbError::Corrupt { what: "erase_certificates.data", value: row.id.to_string() })?;
    cert.id = row.id;
    Ok(cert)
}

/// A server's certificates, newest first.
pub async fn for_server(conn: &mut AnyConnection, server_id: i64) -> Result<Vec<EraseCertificate>, DbError> {
    let rows: Vec<Row> =
        sqlx::query_as("SELECT id, data FROM erase_certificates WHERE server_id = $1 ORDER BY id DESC")
            .bind(server_id)
            .fetch_all(conn)
            .await
            .map_err(|e| DbError::query("reading erase certificates", e))?;
    rows.into_iter().map(decode).collect()
}

/// One certificate of a server.
pub async fn get(conn: &mut AnyConnection, server_id: i64, id: i64) -> Result<Option<EraseCertificate>, DbError> {
    let row: Option<Row> = sqlx::query_as("SELECT id, data FROM erase_certificates WHERE server_id = $1 AND id = $2")
        .bind(server_id)
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("reading an erase certificate", e))?;
    row.map(decode).transpose()
}
