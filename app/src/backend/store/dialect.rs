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

/// The condition (on `events e`) that an event's transaction ended before every one
/// still running: PostgreSQL hands out ids before commit, so a reader in id order
/// waits below its oldest running transaction; SQLite's writers take turns.
pub fn settled_events(conn: &AnyConnection) -> &'static str {
    match of(conn) {
        DbKind::Postgres => "AND e.txid < txid_snapshot_xmin(txid_current_snapshot())",
        DbKind::Sqlite => "",
    }
}
