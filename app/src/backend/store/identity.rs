//! A server's identity columns: the normalised BMC address (`bmc_key`), what its BMC
//! said the machine is at first registration (`system_uuid`, `system_serial`,
//! `manager_uuid`), and the look-ups that keep addresses and serials unique among
//! live servers (not decommissioned, not removed from the rack).

use crate::backend::db::DbError;
use crate::domain::identity::{MachineIdentity, bmc_key};
use sqlx::AnyConnection;

/// States whose servers no longer hold their address or serial.
const LIVE: &str = "state NOT IN ('decommissioned', 'removed_from_rack')";

/// What an identity check guards: a BMC (by its normalised key) or a serial.
#[derive(Clone, Copy, Debug)]
pub enum Claim<'a> {
    Bmc(&'a str),
    Serial(&'a str),
}

/// Serialises an identity check with the write it guards until the transaction ends,
/// per claimed BMC or serial: on PostgreSQL a transaction-scoped advisory lock on the
/// claim (two replicas adding the same BMC at once: one waits and then sees the
/// other's row; servers with other BMCs or serials do not wait); SQLite's write
/// transaction is already exclusive. A transaction claims one thing, so these locks
/// never wait on each other in a circle.
pub async fn lock(conn: &mut AnyConnection, claim: Claim<'_>) -> Result<(), DbError> {
    if super::dialect::needs_locks(conn) {
        // Arbitrary constants naming the two kinds of claim among advisory locks; the
        // claim itself is hashed into the second key (a collision only makes two
        // claims wait for each other).
        let (kind, what) = match claim {
            Claim::Bmc(key) => (724_310_001, key),
            Claim::Serial(serial) => (724_310_002, serial.trim()),
        };
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(kind)
            .bind(fnv1a(what))
            .execute(conn)
            .await
            .map_err(|e| DbError::query("locking a server identity", e))?;
    }
    Ok(())
}

/// A stable 32-bit hash (FNV-1a), the same in every replica and release.
fn fnv1a(s: &str) -> i32 {
    let hash = s.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    hash as i32
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
