CREATE TABLE servers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    state      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
