-- Server notes: every saved version is kept (who and when); the newest is current.
CREATE TABLE server_notes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id  INTEGER NOT NULL REFERENCES servers (id),
    version    INTEGER NOT NULL,
    text       TEXT    NOT NULL,
    author     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (server_id, version)
);
