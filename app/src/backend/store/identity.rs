//! A server's identity columns: the normalised BMC address (`bmc_key`), what its BMC
//! said the machine is at first registration (`system_uuid`, `system_serial`,
//! `manager_uuid`), and the look-ups that keep addresses and serials unique among
//! live servers (not decommissioned, not removed from the rack).

use crate::backend::db::DbError;
use crate::domain::identity::{MachineIdentity, bmc_key};
use sqlx::AnyConnection;

/// States whose servers no longer hold their address or serial.
const LIVE: &str = "state NOT IN ('decommissioned', 'removed_from_rack')";

/// Serialises identity checks with the writes they guard until the transaction ends:
/// on PostgreSQL a transaction-scoped advisory lock (two replicas adding the same BMC
/// at once: one waits and then sees the other's row); SQLite's write transaction is
/// already exclusive.
pub async fn lock(conn: &mut AnyConnection) -> Result<(), DbError> {
    if super::dialect::needs_locks(conn) {
        // An arbitrary constant naming "server identity" among advisory locks.
        sqlx::query("SELECT pg_advisory_xact_lock(7243100016)")
            .execute(conn)
            .await
            .map_err(|e| DbError::query("locking server identities", e))?;
    }
    Ok(())
}

/// The live server other than `except` whose BMC is `key`: (id, name).
pub async fn holder_of_bmc(conn: &mut AnyConnection, key: &str, except: i64) -> Result<Option<(i64, String)>, DbError> {
    sqlx::query_as(&format!("SELECT id, name FROM servers WHERE bmc_key = $1 AND id <> $2 AND {LIVE} LIMIT 1"))
        .bind(key)
        .bind(except)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("finding a server by BMC address", e))
}

/// The live server other than `except` that has this serial (from its inventory or
/// its BMC): (id, name). An empty serial belongs to no one.
pub async fn holder_of_serial(
    conn: &mut AnyConnection,
    serial: &str,
    except: i64,
) -> Result<Option<(i64, String)>, DbError> {
    let serial = serial.trim();
    if serial.is_empty() {
        return Ok(None);
    }
    sqlx::query_as(&format!(
        "SELECT id, name FROM servers WHERE (serial_number = $1 OR system_serial = $1) AND id <> $2 AND {LIVE} LIMIT 1"
    ))
    .bind(serial)
    .bind(except)
    .fetch_optional(conn)
    .await
    .map_err(|e| DbError::query("finding a server by serial", e))
}

/// What was recorded of the machine; empty fields were never reported.
pub async fn recorded(conn: &mut AnyConnection, id: i64) -> Result<Option<MachineIdentity>, DbError> {
    let row: Option<(String, String, String)> =
        sqlx::query_as("SELECT system_uuid, system_serial, manager_uuid FROM servers WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await
            .map_err(|e| DbError::query("reading a server's identity", e))?;
    Ok(row.map(|(system_uuid, serial, manager_uuid)| MachineIdentity { system_uuid, serial, manager_uuid }))
}

/// Records the fields of `seen` that are not recorded yet (first registration; a
/// Manager UUID again after new BMC access). Recorded fields never change here.
pub async fn record(conn: &mut AnyConnection, id: i64, seen: &MachineIdentity) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE servers SET \
         system_uuid = CASE WHEN system_uuid = '' THEN $1 ELSE system_uuid END, \
         system_serial = CASE WHEN system_serial = '' THEN $2 ELSE system_serial END, \
         manager_uuid = CASE WHEN manager_uuid = '' THEN $3 ELSE manager_uuid END \
         WHERE id = $4",
    )
    .bind(seen.system_uuid.trim())
    .bind(seen.serial.trim())
    .bind(seen.manager_uuid.trim())
    .bind(id)
    .execute(conn)
    .await
    .map(|_| ())
    .map_err(|e| DbError::query("recording a server's identity", e))
}

/// New BMC access (a board swap): the BMC's own UUID is learned again; the machine's
/// UUID and serial stay, so a new address must still reach the same machine.
pub async fn forget_manager(conn: &mut AnyConnection, id: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE servers SET manager_uuid = '' WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("forgetting a BMC's UUID", e))
}

/// Fills `bmc_key` for rows written before it existed (run after the migrations).
pub async fn backfill_bmc_keys(conn: &mut AnyConnection) -> Result<u64, DbError> {
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, bmc_address FROM servers WHERE bmc_key = ''")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| DbError::query("reading BMC addresses", e))?;
    for (id, address) in &rows {
        sqlx::query("UPDATE servers SET bmc_key = $1 WHERE id = $2")
            .bind(bmc_key(address))
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(|e| DbError::query("filling a BMC key", e))?;
    }
    Ok(rows.len() as u64)
}
