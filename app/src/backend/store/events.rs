//! The append-only `events` table (the audit). Nothing here updates or deletes, and
//! database triggers refuse it from anywhere else.

use crate::backend::db::DbError;
use crate::model::Event;
use sqlx::AnyConnection;

pub struct NewEvent<'a> {
    pub server_id: Option<i64>,
    pub actor: &'a str,
    pub kind: &'a str,
    pub from_value: Option<&'a str>,
    pub to_value: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub details: Option<&'a str>,
}

pub async fn append(conn: &mut AnyConnection, e: &NewEvent<'_>, now: i64) -> Result<i64, DbError> {
    sqlx::query_scalar(
        "INSERT INTO events (server_id, at, actor, kind, from_value, to_value, reason, details, correlation_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(e.server_id)
    .bind(now)
    .bind(e.actor)
    .bind(e.kind)
    .bind(e.from_value)
    .bind(e.to_value)
    .bind(e.reason)
    .bind(e.details)
    .bind(crate::backend::correlation_id())
    .fetch_one(conn)
    .await
    .map_err(|e| DbError::query("writing an audit event", e))
}

/// A server's events, oldest first.
pub async fn for_server(conn: &mut AnyConnection, server_id: i64) -> Result<Vec<Event>, DbError> {
    sqlx::query_as::<_, EventRow>(
        "SELECT id, server_id, at, actor, kind, from_value, to_value, reason, details, correlation_id \
         FROM events WHERE server_id = $1 ORDER BY id",
    )
    .bind(server_id)
    .fetch_all(conn)
    .await
    .map(|rows| rows.into_iter().map(EventRow::into_event).collect())
    .map_err(|e| DbError::query("reading audit events", e))
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    server_id: Option<i64>,
    at: i64,
    actor: String,
    kind: String,
    from_value: Option<String>,
    to_value: Option<String>,
    reason: Option<String>,
    details: Option<String>,
    correlation_id: Option<String>,
}

impl EventRow {
    fn into_event(self) -> Event {
        Event {
            id: self.id,
            server_id: self.server_id,
            at: self.at,
            actor: self.actor,
            kind: self.kind,
            from_value: self.from_value,
            to_value: self.to_value,
            reason: self.reason,
            details: self.details,
            correlation_id: self.correlation_id,
        }
    }
}
