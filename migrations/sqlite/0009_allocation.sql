-- Subscriptions (reservations for a tenant), deployments (allocations) and which
-- servers each holds. A server belongs to at most one live deployment: the partial
-- unique index enforces it whatever code runs against the database.

CREATE TABLE subscriptions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL,
    server_type_id INTEGER NOT NULL REFERENCES server_types (id),
    count          INTEGER NOT NULL,
    pinned         INTEGER NOT NULL DEFAULT 0,
    starts_at      INTEGER NOT NULL,
    ends_at        INTEGER,
    ended_at       INTEGER,
    created_by     TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX subscriptions_type ON subscriptions (server_type_id, ended_at);

-- The specific servers of a pinned subscription.
CREATE TABLE subscription_servers (
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id),
    server_id       INTEGER NOT NULL REFERENCES servers (id),
    PRIMARY KEY (subscription_id, server_id)
);

ALTER TABLE servers ADD COLUMN subscription_id INTEGER REFERENCES subscriptions (id);
CREATE INDEX servers_subscription ON servers (subscription_id);
CREATE INDEX servers_reserved_for ON servers (reserved_for);

CREATE TABLE deployments (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL,
    server_type_id INTEGER NOT NULL REFERENCES server_types (id),
    count          INTEGER NOT NULL,
    status         TEXT    NOT NULL,
    created_by     TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    released_at    INTEGER
);
CREATE INDEX deployments_user ON deployments (username, id);

CREATE TABLE deployment_servers (
    deployment_id INTEGER NOT NULL REFERENCES deployments (id),
    server_id     INTEGER NOT NULL REFERENCES servers (id),
    allocated_at  INTEGER NOT NULL,
    released_at   INTEGER,
    PRIMARY KEY (deployment_id, server_id)
);
CREATE UNIQUE INDEX deployment_servers_live ON deployment_servers (server_id) WHERE released_at IS NULL;
