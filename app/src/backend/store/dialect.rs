//! Where Rackstate's SQL differs between SQLite and PostgreSQL: the one place that
//! asks which database a connection speaks. Everything else is written once.

use crate::backend::db::DbKind;
use sqlx::AnyConnection;

/// The database a connection speaks.
pub fn of(conn: &AnyConnection) -> DbKind {
    if conn.backend_name() == "PostgreSQL" { DbKind::Postgres } else { DbKind::Sqlite }
}

/// Case-insensitive LIKE: SQLite's LIKE already is (for ASCII), PostgreSQL needs ILIKE.
pub fn ilike(conn: &AnyConnection) -> &'static str {
    match of(conn) {
        DbKind::Postgres => "ILIKE",
        DbKind::Sqlite => "LIKE",
    }
}

/// Whether rows and advisory locks must be taken to serialise writers: SQLite's write
/// transaction is already exclusive, PostgreSQL's are not.
pub fn needs_locks(conn: &AnyConnection) -> bool {
    of(conn) == DbKind::Postgres
}

/// What a SELECT that picks rows to claim ends with: on PostgreSQL the rows are locked
/// and rows another transaction holds are passed over, so replicas claiming at the
/// same moment take different jobs instead of waiting on (or deadlocking over) each
/// other's rows; SQLite's writers take turns.
pub fn skip_locked(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Postgres => " FOR UPDATE SKIP LOCKED",
        DbKind::Sqlite => "",
    }
}

/// What an UPDATE whose rows are named by id (`WHERE id IN (...) AND <recheck>`) puts
/// after its table so that the ids find the rows: on SQLite `NOT INDEXED` (the rowid
/// is still used). Without it SQLite's planner, which has no statistics here, drove a
/// claim from the recheck's status indexes and read every due queued job at each
/// claim: 1.5-1.8 ms a claim with 5,000 queued against 0.3 ms, and 3.3 ms on average
/// (35 s of the single writer's time) over a 10,000-server cycle. PostgreSQL finds
/// them by the primary key on its own.
pub fn by_id(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Sqlite => " NOT INDEXED",
        DbKind::Postgres => "",
    }
}

/// Whether writes to many rows are worth folding into statements of many rows: on
/// PostgreSQL every statement is a round trip to another process; on SQLite it is a
/// call into the library, cheaper than building and preparing a statement of hundreds
/// of rows (1,000 servers allocated and released: 0.20-0.22 s a statement each, 0.27-0.28
/// s in statements of 500).
pub fn batches_writes(conn: &AnyConnection) -> bool {
    of(conn) == DbKind::Postgres
}

/// The condition (on `events e`) that an event's transaction ended before every one
/// still running: PostgreSQL hands out ids before commit, so a reader in id order
/// waits below its oldest running transaction; SQLite's writers take turns.
pub fn settled_events(conn: &AnyConnection) -> &'static str {
    match of(conn) {
        DbKind::Postgres => "AND e.txid < txid_snapshot_xmin(txid_current_snapshot())",
        DbKind::Sqlite => "",
    }
}

/// One text holding a JSON array with a JSON array per row of `from` (a subquery
/// aliased `p`) of its `columns`, in no set order: many rows as one, where a row each
/// would cross from SQLite's thread to the request's one at a time.
pub fn json_rows(conn: &AnyConnection, columns: &[&str], from: &str) -> String {
    let values: Vec<String> = columns.iter().map(|c| format!("p.{c}")).collect();
    match of(conn) {
        DbKind::Postgres => {
            format!("SELECT CAST(json_agg(json_build_array({})) AS TEXT) FROM {from}", values.join(", "))
        }
        DbKind::Sqlite => format!("SELECT json_group_array(json_array({})) FROM {from}", values.join(", ")),
    }
}
