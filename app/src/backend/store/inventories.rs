//! The `inventories` table: every discovered inventory is kept, newest last, so a
//! re-registration can be compared with the one before.

use crate::backend::db::DbError;
use crate::domain::Inventory;
use sqlx::AnyConnection;

pub async fn insert(conn: &mut AnyConnection, server_id: i64, inv: &Inventory, now: i64) -> Result<i64, DbError> {
    let data = serde_json::to_string(inv).map_err(|e| DbError::Encode { what: "inventory", message: e.to_string() })?;
    sqlx::query_scalar("INSERT INTO inventories (server_id, data, created_at) VALUES ($1, $2, $3) RETURNING id")
        .bind(server_id)
        .bind(data)
        .bind(now)
        .fetch_one(conn)
        .await
        .map_err(|e| DbError::query("storing an inventory", e))
}

/// The newest `n` inventories of a server, newest first.
pub async fn latest(conn: &mut AnyConnection, server_id: i64, n: i64) -> Result<Vec<Inventory>, DbError> {
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT data FROM inventories WHERE server_id = $1 ORDER BY id DESC LIMIT $2")
            .bind(server_id)
            .bind(n)
            .fetch_all(conn)
            .await
            .map_err(|e| DbError::query("reading inventories", e))?;
    rows.iter().map(|d| parse(d)).collect()
}

/// An inventory as stored (`inventories.data`).
pub fn parse(data: &str) -> Result<Inventory, DbError> {
    serde_json::from_str(data)
        .map_err(|_| DbError::Corrupt { what: "inventories.data", value: data.chars().take(80).collect() })
}

/// One inventory by its id.
pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Inventory>, DbError> {
    let data: Option<String> = sqlx::query_scalar("SELECT data FROM inventories WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("reading an inventory", e))?;
    data.map(|d| {
        serde_json::from_str(&d)
            .map_err(|_| DbError::Corrupt { what: "inventories.data", value: d.chars().take(80).collect() })
    })
    .transpose()
}

/// Sets the firmware list of a server's newest inventory to the BMC's `firmware` plus
/// the entries already there (the agent's) for components the BMC does not list.
/// Returns the list stored; None when the server has no inventory.
pub async fn set_firmware(
    conn: &mut AnyConnection,
    server_id: i64,
    firmware: &[crate::domain::inventory::Firmware],
) -> Result<Option<Vec<crate::domain::inventory::Firmware>>, DbError> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT id, data FROM inventories WHERE server_id = $1 ORDER BY id DESC LIMIT 1")
            .bind(server_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| DbError::query("reading inventories", e))?;
    let Some((id, data)) = row else { return Ok(None) };
    let mut inv: Inventory = serde_json::from_str(&data)
        .map_err(|_| DbError::Corrupt { what: "inventories.data", value: data.chars().take(80).collect() })?;
    let mut merged = firmware.to_vec();
    merged.extend(inv.firmware.into_iter().filter(|a| !firmware.iter().any(|b| b.id == a.id)));
    inv.firmware = merged.clone();
    let data =
        serde_json::to_string(&inv).map_err(|e| DbError::Encode { what: "inventory", message: e.to_string() })?;
    sqlx::query("UPDATE inventories SET data = $1 WHERE id = $2")
        .bind(data)
        .bind(id)
        .execute(conn)
        .await
        .map_err(|e| DbError::query("storing firmware versions", e))?;
    Ok(Some(merged))
}
