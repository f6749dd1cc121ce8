-- Webhooks and the event stream. Each audit event carries the topics it belongs to
-- (a bit set decided by app/src/domain/webhooks.rs when it is written; 0: none, so
-- events written before this migration are neither delivered nor streamed). A
-- webhook subscribes to topics; the trigger below queues one delivery per matching
-- enabled webhook in the transaction that writes the event, so a delivery is never
-- lost and never blocks that transaction (senders work from the rows).
ALTER TABLE events ADD COLUMN topics INTEGER NOT NULL DEFAULT 0;
-- PostgreSQL records the writing transaction here for the event stream's order; on
-- SQLite writers take turns, so ids become visible in order and this stays 0.
ALTER TABLE events ADD COLUMN txid INTEGER NOT NULL DEFAULT 0;
CREATE INDEX events_topics ON events (txid, id) WHERE topics <> 0;

-- Who held the event's server when it was written: a tenant's stream shows the
-- events of their time with a server (from the allocation or reservation, which set
-- the holder first, to the release), never a previous or later holder's.
ALTER TABLE events ADD COLUMN holder TEXT;

CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    url         TEXT    NOT NULL,
    topics      INTEGER NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    -- The signing secret, sealed like BMC passwords (bound to the webhook's URL).
    secret      BLOB    NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    removed_at  INTEGER
);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks (id),
    event_id        INTEGER NOT NULL REFERENCES events (id),
    -- pending, delivered, failed (gave up), cancelled (the webhook was disabled or removed)
    status          TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    -- When a sender may try next; a sender claims a row by moving this forward.
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);

CREATE TRIGGER events_webhooks AFTER INSERT ON events WHEN NEW.topics <> 0
BEGIN
    INSERT INTO webhook_deliveries (webhook_id, event_id, created_at, next_attempt_at)
        SELECT w.id, NEW.id, NEW.at, NEW.at FROM webhooks w
        WHERE w.enabled = 1 AND w.removed_at IS NULL AND (w.topics & NEW.topics) <> 0;
END;
