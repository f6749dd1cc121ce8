//! The `webhooks` and `webhook_deliveries` tables. Deliveries are queued by a database
//! trigger on `events` (see migration 0018) in the transaction that writes the event;
//! senders claim due rows by moving `next_attempt_at` forward with a compare-and-set,
//! so two replicas never send one attempt twice.

use crate::backend::db::DbError;
use crate::domain::EventKind;
use crate::domain::webhooks::{DeliveryStatus, Topics};
use crate::model::{Webhook, WebhookDelivery};
use sqlx::AnyConnection;

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    url: String,
    topics: i64,
    description: String,
    enabled: i64,
    created_by: String,
    created_at: i64,
    pending: i64,
    failed: i64,
    delivered: i64,
}

const SELECT: &str = "SELECT w.id, w.url, w.topics, w.description, w.enabled, w.created_by, w.created_at, \
     (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending') AS pending, \
     (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'failed') AS failed, \
     (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'delivered') AS delivered \
     FROM webhooks w WHERE w.removed_at IS NULL";

impl Row {
    fn into_webhook(self) -> Webhook {
        Webhook {
            id: self.id,
            url: self.url,
            topics: Topics(self.topics).list(),
            description: self.description,
            enabled: self.enabled != 0,
            created_by: self.created_by,
            created_at: self.created_at,
            pending: self.pending,
            failed: self.failed,
            delivered: self.delivered,
        }
    }
}

/// What a new webhook is made of (its secret already sealed).
pub struct NewRow<'a> {
    pub url: &'a str,
    pub topics: Topics,
    pub description: &'a str,
    pub sealed_secret: &'a [u8],
    pub created_by: &'a str,
}

pub async fn insert(conn: &mut AnyConnection, w: &NewRow<'_>, now: i64) -> Result<i64, DbError> {
    sqlx::query_scalar(
        "INSERT INTO webhooks (url, topics, description, secret, enabled, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 1, $5, $6, $6) RETURNING id",
    )
    .bind(w.url)
    .bind(w.topics.0)
    .bind(w.description)
    .bind(w.sealed_secret)
    .bind(w.created_by)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| DbError::query("adding a webhook", e))
}

/// The webhooks not removed, oldest first.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<Webhook>, DbError> {
    sqlx::query_as::<_, Row>(&format!("{SELECT} ORDER BY w.id"))
        .fetch_all(conn)
        .await
        .map(|rows| rows.into_iter().map(Row::into_webhook).collect())
        .map_err(|e| DbError::query("reading webhooks", e))
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Webhook>, DbError> {
    sqlx::query_as::<_, Row>(&format!("{SELECT} AND w.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map(|row| row.map(Row::into_webhook))
        .map_err(|e| DbError::query("reading a webhook", e))
}

/// Changes what may change of a webhook (enabled, topics, description).
pub async fn update(
    conn: &mut AnyConnection,
    id: i64,
    enabled: bool,
    topics: Topics,
    description: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE webhooks SET enabled = $1, topics = $2, description = $3, updated_at = $4 \
         WHERE id = $5 AND removed_at IS NULL",
    )
    .bind(i64::from(enabled))
    .bind(topics.0)
    .bind(description)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await
    .map(|_| ())
    .map_err(|e| DbError::query("changing a webhook", e))
}

/// Removes a webhook (its row and delivery log stay for the record).
pub async fn remove(conn: &mut AnyConnection, id: i64, now: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE webhooks SET removed_at = $1, enabled = 0, updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("removing a webhook", e))
}

/// Cancels a webhook's pending deliveries (it was disabled or removed).
pub async fn cancel_pending(conn: &mut AnyConnection, webhook_id: i64, now: i64) -> Result<u64, DbError> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, last_error = COALESCE(last_error, 'cancelled'), \
         next_attempt_at = $2 WHERE webhook_id = $3 AND status = $4",
    )
    .bind(DeliveryStatus::Cancelled.as_str())
    .bind(now)
    .bind(webhook_id)
    .bind(DeliveryStatus::Pending.as_str())
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
    .map_err(|e| DbError::query("cancelling deliveries", e))
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    webhook_id: i64,
    event_id: i64,
    #[sqlx(try_from = "String")]
    kind: EventKind,
    server_id: Option<i64>,
    server_name: Option<String>,
    #[sqlx(try_from = "String")]
    status: DeliveryStatus,
    attempts: i64,
    created_at: i64,
    next_attempt_at: i64,
    last_attempt_at: Option<i64>,
    last_status: Option<i64>,
    last_error: Option<String>,
    delivered_at: Option<i64>,
}

const DELIVERY: &str = "SELECT d.id, d.webhook_id, d.event_id, e.kind, e.server_id, s.name AS server_name, \
     d.status, d.attempts, d.created_at, d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error, \
     d.delivered_at \
     FROM webhook_deliveries d JOIN events e ON e.id = d.event_id LEFT JOIN servers s ON s.id = e.server_id";

impl DeliveryRow {
    fn into_delivery(self) -> WebhookDelivery {
        WebhookDelivery {
            id: self.id,
            webhook_id: self.webhook_id,
            event_id: self.event_id,
            event_kind: self.kind,
            server_id: self.server_id,
            server_name: self.server_name,
            status: self.status,
            attempts: self.attempts,
            created_at: self.created_at,
            next_attempt_at: self.next_attempt_at,
            last_attempt_at: self.last_attempt_at,
            last_status: self.last_status,
            last_error: self.last_error,
            delivered_at: self.delivered_at,
        }
    }
}

/// A webhook's deliveries, newest first: up to `limit`, before delivery `before`, of
/// one status.
pub async fn deliveries(
    conn: &mut AnyConnection,
    webhook_id: i64,
    status: Option<DeliveryStatus>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<WebhookDelivery>, DbError> {
    sqlx::query_as::<_, DeliveryRow>(&format!(
        "{DELIVERY} WHERE d.webhook_id = $1 AND ($2 IS NULL OR d.status = $2) AND ($3 IS NULL OR d.id < $3) \
         ORDER BY d.id DESC LIMIT $4"
    ))
    .bind(webhook_id)
    .bind(status.map(|s| s.as_str()))
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await
    .map(|rows| rows.into_iter().map(DeliveryRow::into_delivery).collect())
    .map_err(|e| DbError::query("reading webhook deliveries", e))
}

pub async fn delivery(conn: &mut AnyConnection, id: i64) -> Result<Option<WebhookDelivery>, DbError> {
    sqlx::query_as::<_, DeliveryRow>(&format!("{DELIVERY} WHERE d.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map(|row| row.map(DeliveryRow::into_delivery))
        .map_err(|e| DbError::query("reading a webhook delivery", e))
}

/// Due deliveries: (id, next_attempt_at), oldest first.
pub async fn due(conn: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<(i64, i64)>, DbError> {
    sqlx::query_as(
        "SELECT id, next_attempt_at FROM webhook_deliveries WHERE status = $1 AND next_attempt_at <= $2 \
         ORDER BY next_attempt_at LIMIT $3",
    )
    .bind(DeliveryStatus::Pending.as_str())
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
    .map_err(|e| DbError::query("finding due deliveries", e))
}

/// Claims a due delivery for one attempt: moves its next attempt to `lease_until` if
/// it is still at `seen` (another sender moved it otherwise). A sender that dies
/// mid-attempt leaves the row due again at `lease_until`.
pub async fn claim(conn: &mut AnyConnection, id: i64, seen: i64, lease_until: i64) -> Result<bool, DbError> {
    sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at = $3 AND status = $4",
    )
    .bind(lease_until)
    .bind(id)
    .bind(seen)
    .bind(DeliveryStatus::Pending.as_str())
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
    .map_err(|e| DbError::query("claiming a delivery", e))
}

/// What a sender needs for one attempt.
#[derive(sqlx::FromRow)]
pub struct Attempt {
    pub id: i64,
    pub webhook_id: i64,
    pub url: String,
    pub secret: Vec<u8>,
    pub enabled: i64,
    pub attempts: i64,
    pub created_at: i64,
    pub event_id: i64,
    pub event_at: i64,
    pub server_id: Option<i64>,
    pub server_name: Option<String>,
    pub actor: String,
    pub kind: String,
    pub from_value: Option<String>,
    pub to_value: Option<String>,
    pub reason: Option<String>,
    pub details: Option<String>,
}

pub async fn attempt(conn: &mut AnyConnection, id: i64) -> Result<Option<Attempt>, DbError> {
    sqlx::query_as(
        "SELECT d.id, d.webhook_id, w.url, w.secret, w.enabled, d.attempts, d.created_at, e.id AS event_id, \
         e.at AS event_at, e.server_id, s.name AS server_name, e.actor, e.kind, e.from_value, e.to_value, e.reason, \
         e.details \
         FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.id = d.event_id \
         LEFT JOIN servers s ON s.id = e.server_id WHERE d.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(|e| DbError::query("reading a delivery to send", e))
}

/// Records an attempt's outcome: delivered, pending again at `next` or given up
/// (`status` Failed).
#[allow(clippy::too_many_arguments)]
pub async fn record(
    conn: &mut AnyConnection,
    id: i64,
    status: DeliveryStatus,
    http_status: Option<i64>,
    error: Option<&str>,
    next: i64,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, last_attempt_at = $2, \
         last_status = $3, last_error = $4, next_attempt_at = $5, \
         delivered_at = CASE WHEN $1 = 'delivered' THEN $2 ELSE delivered_at END \
         WHERE id = $6 AND status = 'pending'",
    )
    .bind(status.as_str())
    .bind(now)
    .bind(http_status)
    .bind(error)
    .bind(next)
    .bind(id)
    .execute(conn)
    .await
    .map(|_| ())
    .map_err(|e| DbError::query("recording a delivery attempt", e))
}

/// Deliveries by status, over every webhook (for metrics).
pub async fn status_counts(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>, DbError> {
    sqlx::query_as("SELECT status, COUNT(*) FROM webhook_deliveries GROUP BY status ORDER BY status")
        .fetch_all(conn)
        .await
        .map_err(|e| DbError::query("counting deliveries", e))
}

/// Drops finished deliveries (delivered, failed, cancelled) queued before `before`.
pub async fn prune(conn: &mut AnyConnection, before: i64) -> Result<u64, DbError> {
    sqlx::query("DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1")
        .bind(before)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| DbError::query("dropping old deliveries", e))
}

/// Queues the event of a delivery again for its webhook, as a new delivery (its own
/// id, so receivers that drop ids they have seen take it), due now; returns its id.
pub async fn redeliver(conn: &mut AnyConnection, of: &WebhookDelivery, now: i64) -> Result<i64, DbError> {
    sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, created_at, next_attempt_at) \
         VALUES ($1, $2, $3, $3) RETURNING id",
    )
    .bind(of.webhook_id)
    .bind(of.event_id)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| DbError::query("queueing a redelivery", e))
}

/// One audit event as the stream sends it.
#[derive(sqlx::FromRow)]
pub struct StreamRow {
    pub txid: i64,
    pub id: i64,
    pub at: i64,
    pub server_id: Option<i64>,
    pub server_name: Option<String>,
    pub bmc_address: Option<String>,
    pub actor: String,
    pub kind: String,
    pub from_value: Option<String>,
    pub to_value: Option<String>,
    pub reason: Option<String>,
    pub details: Option<String>,
    pub topics: i64,
    /// Whether `tenant` (as asked) held the server when the event was written.
    pub held: i64,
}

/// Where a stream is: the last event sent, in the stream's (txid, id) order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    pub txid: i64,
    pub id: i64,
}

/// Events after `after` with any topic, in the stream's order, up to `limit`; `held`
/// says for each whether `tenant` held its server when it was written.
///
/// The order is (writing transaction, id). On PostgreSQL an identity value is taken
/// before its transaction commits, so reading by id alone would step past an event
/// that commits later; only events of transactions older than every running one
/// (`txid_snapshot_xmin`) are read, and nothing can appear behind them. SQLite's
/// writers take turns, so there `txid` is 0 and the order is the id's.
pub async fn events_after(
    conn: &mut AnyConnection,
    after: Cursor,
    tenant: Option<&str>,
    limit: i64,
) -> Result<Vec<StreamRow>, DbError> {
    let settled = super::dialect::settled_events(conn);
    sqlx::query_as(&format!(
        "SELECT e.txid, e.id, e.at, e.server_id, s.name AS server_name, s.bmc_address, e.actor, e.kind, \
         e.from_value, e.to_value, e.reason, e.details, e.topics, \
         CASE WHEN e.holder = $1 THEN 1 ELSE 0 END AS held \
         FROM events e LEFT JOIN servers s ON s.id = e.server_id \
         WHERE e.topics <> 0 AND (e.txid > $2 OR (e.txid = $2 AND e.id > $3)) {settled} \
         ORDER BY e.txid, e.id LIMIT $4"
    ))
    .bind(tenant)
    .bind(after.txid)
    .bind(after.id)
    .bind(limit)
    .fetch_all(conn)
    .await
    .map_err(|e| DbError::query("reading events to stream", e))
}

/// Where a stream resumes after event `id` (a `Last-Event-ID`); None when there is
/// no such event.
pub async fn cursor_at(conn: &mut AnyConnection, id: i64) -> Result<Option<Cursor>, DbError> {
    sqlx::query_scalar("SELECT txid FROM events WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
        .map(|txid: Option<i64>| txid.map(|txid| Cursor { txid, id }))
        .map_err(|e| DbError::query("finding a stream's place", e))
}

/// Where a stream without `Last-Event-ID` starts: after everything written so far.
pub async fn cursor_now(conn: &mut AnyConnection) -> Result<Cursor, DbError> {
    let (txid, id): (i64, i64) = sqlx::query_as("SELECT COALESCE(MAX(txid), 0), COALESCE(MAX(id), 0) FROM events")
        .fetch_one(conn)
        .await
        .map_err(|e| DbError::query("reading the newest event", e))?;
    Ok(Cursor { txid, id })
}
