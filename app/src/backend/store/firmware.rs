//! The `server_firmware` and `firmware_baselines` tables: each server's component
//! versions (newest registration) and each type's baseline.

use crate::backend::db::DbError;
use crate::domain::inventory::Firmware;
use sqlx::AnyConnection;

/// Replaces the server's component versions with `firmware` (one row per component
/// id; a repeated id keeps its first entry).
pub async fn replace(conn: &mut AnyConnection, server_id: i64, firmware: &[Firmware]) -> Result<(), DbError> {
    sqlx::query("DELETE FROM server_firmware WHERE server_id = $1")
        .bind(server_id)
        .execute(&mut *conn)
        .await
        .map_err(|e| DbError::query("replacing firmware versions", e))?;
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<&Firmware> = firmware.iter().filter(|f| seen.insert(f.id.as_str())).collect();
    if rows.is_empty() {
        return Ok(());
    }
    // One statement for all of the server's components.
    let values: Vec<String> =
        (0..rows.len()).map(|i| format!("($1, ${}, ${}, ${})", 2 + i * 3, 3 + i * 3, 4 + i * 3)).collect();
    let sql = format!("INSERT INTO server_firmware (server_id, component, name, version) VALUES {}", values.join(", "));
    let mut q = sqlx::query(&sql).bind(server_id);
    for f in rows {
        q = q.bind(f.id.as_str()).bind(f.name.as_str()).bind(f.version.as_str());
    }
    q.execute(conn).await.map_err(|e| DbError::query("storing firmware versions", e))?;
    Ok(())
}

/// How many servers of each type run each version of each component:
/// (type label, component, a name of it, version, servers). Servers removed from the
/// rack are not counted.
pub async fn version_counts(
    conn: &mut AnyConnection,
    type_label: Option<&str>,
) -> Result<Vec<(String, String, String, String, i64)>, DbError> {
    let filter = if type_label.is_some() { "AND t.label = $1" } else { "" };
    let sql = format!(
        "SELECT t.label, f.component, MAX(f.name), f.version, COUNT(*) FROM server_firmware f \
         JOIN servers s ON s.id = f.server_id JOIN server_types t ON t.id = s.server_type_id \
         WHERE s.state <> 'removed_from_rack' {filter} \
         GROUP BY t.label, f.component, f.version ORDER BY t.label, f.component"
    );
    let mut q = sqlx::query_as(&sql);
    if let Some(label) = type_label {
        q = q.bind(label);
    }
    q.fetch_all(conn).await.map_err(|e| DbError::query("counting firmware versions", e))
}

/// Each server of a type with its component versions: (server id, server name,
/// component, version), by server name.
pub async fn of_type(conn: &mut AnyConnection, type_id: i64) -> Result<Vec<(i64, String, String, String)>, DbError> {
    sqlx::query_as(
        "SELECT s.id, s.name, f.component, f.version FROM server_firmware f JOIN servers s ON s.id = f.server_id \
         WHERE s.server_type_id = $1 AND s.state <> 'removed_from_rack' ORDER BY s.name, f.component",
    )
    .bind(type_id)
    .fetch_all(conn)
    .await
    .map_err(|e| DbError::query("reading a type's firmware", e))
}

/// A server's component versions: (component, name, version).
pub async fn of_server(conn: &mut AnyConnection, server_id: i64) -> Result<Vec<(String, String, String)>, DbError> {
    sqlx::query_as("SELECT component, name, version FROM server_firmware WHERE server_id = $1 ORDER BY component")
        .bind(server_id)
        .fetch_all(conn)
        .await
        .map_err(|e| DbError::query("reading a server's firmware", e))
}

/// Baselines: (type label, component, version), of one type or all.
pub async fn baselines(
    conn: &mut AnyConnection,
    type_label: Option<&str>,
) -> Result<Vec<(String, String, String)>, DbError> {
    let filter = if type_label.is_some() { "WHERE t.label = $1" } else { "" };
    let sql = format!(
        "SELECT t.label, b.component, b.version FROM firmware_baselines b \
         JOIN server_types t ON t.id = b.server_type_id {filter} ORDER BY t.label, b.component"
    );
    let mut q = sqlx::query_as(&sql);
    if let Some(label) = type_label {
        q = q.bind(label);
    }
    q.fetch_all(conn).await.map_err(|e| DbError::query("reading firmware baselines", e))
}

/// Replaces a type's baseline with `entries` (component, version).
pub async fn set_baseline(
    conn: &mut AnyConnection,
    type_id: i64,
    entries: &[(String, String)],
    who: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM firmware_baselines WHERE server_type_id = $1")
        .bind(type_id)
        .execute(&mut *conn)
        .await
        .map_err(|e| DbError::query("replacing a firmware baseline", e))?;
    for (component, version) in entries {
        sqlx::query(
            "INSERT INTO firmware_baselines (server_type_id, component, version, set_by, set_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(type_id)
        .bind(component)
        .bind(version)
        .bind(who)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(|e| DbError::query("storing a firmware baseline", e))?;
    }
    Ok(())
}
