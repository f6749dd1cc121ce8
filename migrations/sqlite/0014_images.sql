-- The image catalog (operating system images the servers download; not stored
-- here) and the image a deployment writes to its servers.
CREATE TABLE images (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL UNIQUE,
    url            TEXT    NOT NULL,
    sha256         TEXT    NOT NULL,
    format         TEXT    NOT NULL,
    min_disk_bytes INTEGER,
    created_by     TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    -- Retired images stay for the deployments that used them; no new one may.
    retired_at     INTEGER
);
ALTER TABLE deployments ADD COLUMN image_id INTEGER REFERENCES images (id);
-- What its servers' config drive carries besides the host name: SSH public keys
-- (JSON list) and cloud-init user data.
ALTER TABLE deployments ADD COLUMN ssh_keys TEXT;
ALTER TABLE deployments ADD COLUMN user_data TEXT;
-- The disk an image is written to, by serial (a root-disk hint; NULL: the smallest
-- disk that fits).
ALTER TABLE servers ADD COLUMN root_disk_serial TEXT;
