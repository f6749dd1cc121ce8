-- Lifecycle core: server types, servers, inventories, append-only audit events, jobs.
-- Booleans are integers 0/1 in both databases (sqlx's Any driver cannot decode SQLite BOOLEAN).
-- Timestamps are unix milliseconds; the same schema lives in migrations/postgres.

CREATE TABLE server_types (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    label       TEXT    NOT NULL UNIQUE,
    base_label  TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    fingerprint TEXT    NOT NULL UNIQUE,
    class       TEXT    NOT NULL,
    cores       INTEGER NOT NULL,
    ram_gb      INTEGER NOT NULL,
    disks       INTEGER NOT NULL,
    has_gpu     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (base_label, version)
);

CREATE TABLE servers (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL UNIQUE,
    state          TEXT    NOT NULL,
    server_type_id INTEGER REFERENCES server_types (id),
    serial_number  TEXT,
    bmc_address    TEXT    NOT NULL,
    bmc_username   TEXT    NOT NULL DEFAULT '',
    bmc_secret     BLOB,
    bmc_verify_tls INTEGER NOT NULL DEFAULT 1,
    datacenter     TEXT    NOT NULL DEFAULT '',
    rack           TEXT    NOT NULL DEFAULT '',
    power_state    TEXT    NOT NULL DEFAULT 'unknown',
    health         TEXT    NOT NULL DEFAULT 'unknown',
    last_error     TEXT,
    reserved_for   TEXT,
    generation     INTEGER NOT NULL DEFAULT 1,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX servers_type_state ON servers (server_type_id, state);
CREATE INDEX servers_state ON servers (state);

CREATE TABLE inventories (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id  INTEGER NOT NULL REFERENCES servers (id),
    data       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX inventories_server ON inventories (server_id, id);

CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id  INTEGER REFERENCES servers (id),
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    from_value TEXT,
    to_value   TEXT,
    reason     TEXT,
    details    TEXT
);
CREATE INDEX events_server ON events (server_id, id);

-- The audit is append-only, whatever code runs against the database.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id        INTEGER NOT NULL REFERENCES servers (id),
    kind             TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    params           TEXT    NOT NULL DEFAULT '{}',
    last_error       TEXT,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    run_after        INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER
);
CREATE INDEX jobs_server ON jobs (server_id, id);
CREATE INDEX jobs_runnable ON jobs (status, run_after);
