//! The `subscriptions` and `subscription_servers` tables.

use crate::backend::db::DbError;
use crate::model::Subscription;
use sqlx::AnyConnection;

/// `filled` counts the states of `ServerState::held_by_subscription`.
const SELECT: &str = "SELECT b.id, b.username, t.label AS server_type, b.server_type_id, b.count, b.pinned, \
    b.starts_at, b.ends_at, b.ended_at, b.created_by, b.created_at, \
    (SELECT COUNT(*) FROM servers s WHERE s.subscription_id = b.id \
        AND s.state IN ('available_reserved', 'used', 'used_registering', 'cleaning')) AS filled, \
    (SELECT COUNT(*) FROM servers s WHERE s.subscription_id = b.id AND s.state = 'available_reserved') AS reserved \
    FROM subscriptions b JOIN server_types t ON t.id = b.server_type_id";

#[derive(sqlx::FromRow)]
pub struct Row {
    pub id: i64,
    pub username: String,
    pub server_type: String,
    pub server_type_id: i64,
    pub count: i64,
    pub pinned: i64,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    pub filled: i64,
    pub reserved: i64,
}

impl Row {
    pub fn into_view(self, servers: Vec<String>) -> Subscription {
        let short = if self.ended_at.is_none() { (self.count - self.filled).max(0) } else { 0 };
        Subscription {
            id: self.id,
            username: self.username,
            server_type: self.server_type,
            count: self.count,
            servers,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            ended_at: self.ended_at,
            created_by: self.created_by,
            created_at: self.created_at,
            filled: self.filled,
            reserved: self.reserved,
            short,
        }
    }
}

pub struct NewSubscription<'a> {
    pub username: &'a str,
    pub server_type_id: i64,
    pub count: i64,
    pub pinned: bool,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    pub created_by: &'a str,
}

pub async fn insert(conn: &mut AnyConnection, new: &NewSubscription<'_>, now: i64) -> Result<i64, DbError> {
    sqlx::query_scalar(
        "INSERT INTO subscriptions (username, server_type_id, count, pinned, starts_at, ends_at, created_by, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
    )
    .bind(new.username)
    .bind(new.server_type_id)
    .bind(new.count)
    .bind(i64::from(new.pinned))
    .bind(new.starts_at)
    .bind(new.ends_at)
    .bind(new.created_by)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| DbError::query("creating a subscription", e))
}

pub async fn pin(conn: &mut AnyConnection, id: i64, server_id: i64) -> Result<(), DbError> {
    sqlx::query("INSERT INTO subscription_servers (subscription_id, server_id) VALUES ($1, $2)")
        .bind(id)
        .bind(server_id)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("pinning a server to a subscription", e))
}

/// Names of a pinned subscription's servers.
pub async fn pinned_names(conn: &mut AnyConnection, id: i64) -> Result<Vec<String>, DbError> {
    sqlx::query_scalar(
        "SELECT s.name FROM subscription_servers p JOIN servers s ON s.id = p.server_id \
         WHERE p.subscription_id = $1 ORDER BY s.name",
    )
    .bind(id)
    .fetch_all(conn)
    .await
    .map_err(|e| DbError::query("reading a subscription's servers", e))
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Row>, DbError> {
    sqlx::query_as(&format!("{SELECT} WHERE b.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("reading a subscription", e))
}

/// Subscriptions, newest first; of one tenant when `username` is given.
pub async fn list(conn: &mut AnyConnection, username: Option<&str>) -> Result<Vec<Row>, DbError> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE ($1 IS NULL OR b.username = $1) ORDER BY b.ended_at IS NOT NULL, b.id DESC"
    ))
    .bind(username)
    .fetch_all(conn)
    .await
    .map_err(|e| DbError::query("listing subscriptions", e))
}

/// Subscriptions of a type not yet ended, oldest first (the first to be filled).
pub async fn open_for_type(conn: &mut AnyConnection, type_id: i64) -> Result<Vec<Row>, DbError> {
    sqlx::query_as(&format!("{SELECT} WHERE b.server_type_id = $1 AND b.ended_at IS NULL ORDER BY b.id"))
        .bind(type_id)
        .fetch_all(conn)
        .await
        .map_err(|e| DbError::query("listing a type's subscriptions", e))
}

/// The condition that the type `type_id` (an SQL expression) has a subscription not
/// yet ended.
pub fn open_exists(type_id: &str) -> String {
    format!("EXISTS (SELECT 1 FROM subscriptions b WHERE b.server_type_id = {type_id} AND b.ended_at IS NULL)")
}

/// Whether a type has a subscription not yet ended.
pub async fn type_subscribed(conn: &mut AnyConnection, type_id: i64) -> Result<bool, DbError> {
    let found: Option<i64> = sqlx::query_scalar(&format!("SELECT 1 WHERE {}", open_exists("$1")))
        .bind(type_id)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("looking for a type's subscriptions", e))?;
    Ok(found.is_some())
}

/// Types with a subscription not yet ended (the periodic reconciliation's work list).
pub async fn open_types(conn: &mut AnyConnection) -> Result<Vec<i64>, DbError> {
    sqlx::query_scalar("SELECT DISTINCT server_type_id FROM subscriptions WHERE ended_at IS NULL ORDER BY 1")
        .fetch_all(conn)
        .await
        .map_err(|e| DbError::query("listing subscribed types", e))
}

pub async fn set_count(conn: &mut AnyConnection, id: i64, count: i64, now: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE subscriptions SET count = $1, updated_at = $2 WHERE id = $3")
        .bind(count)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("resizing a subscription", e))
}

/// Marks a subscription ended; false when it already was.
pub async fn end(conn: &mut AnyConnection, id: i64, now: i64) -> Result<bool, DbError> {
    sqlx::query("UPDATE subscriptions SET ended_at = $1, updated_at = $1 WHERE id = $2 AND ended_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(|e| DbError::query("ending a subscription", e))
}

/// Per tenant: reserved, used (incl. re-registering), cleaning servers held.
pub async fn tenant_usage(conn: &mut AnyConnection) -> Result<Vec<(String, String, i64)>, DbError> {
    sqlx::query_as(
        "SELECT reserved_for, state, COUNT(*) FROM servers WHERE reserved_for IS NOT NULL \
         GROUP BY reserved_for, state ORDER BY reserved_for",
    )
    .fetch_all(conn)
    .await
    .map_err(|e| DbError::query("counting servers per tenant", e))
}
