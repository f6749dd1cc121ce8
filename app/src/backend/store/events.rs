//! The append-only `events` table (the audit). Nothing here updates or deletes, and
//! database triggers refuse it from anywhere else.

use crate::backend::db::DbError;
use crate::domain::EventKind;
use crate::model::Event;
use sqlx::AnyConnection;

#[derive(Clone)]
pub struct NewEvent<'a> {
    pub server_id: Option<i64>,
    pub actor: &'a str,
    pub kind: EventKind,
    pub from_value: Option<&'a str>,
    pub to_value: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub details: Option<&'a str>,
}

impl<'a> NewEvent<'a> {
    /// An event of `kind` about a server, by `actor`, with nothing else said yet.
    pub fn about(server_id: i64, actor: &'a str, kind: EventKind) -> Self {
        Self { server_id: Some(server_id), ..Self::fleet(actor, kind) }
    }

    /// An event of `kind` about no one server (the catalog, accounts), by `actor`.
    pub fn fleet(actor: &'a str, kind: EventKind) -> Self {
        Self { server_id: None, actor, kind, from_value: None, to_value: None, reason: None, details: None }
    }
}

/// The table and columns an event is written with (`at` first, so that a statement
/// writing an event beside other work can share its timestamp parameter).
pub(crate) const INSERT_INTO: &str =
    "events (at, server_id, actor, kind, from_value, to_value, reason, details, correlation_id, topics, holder)";

/// The values for `INSERT_INTO`: `at` from parameter `$at`, the fields `bind` binds
/// from parameter `$first` on, and the server's holder as the event is written (read
/// by the statement itself: the tenant a state change or release happens to).
pub(crate) fn values(at: usize, first: usize) -> String {
    let fields: Vec<String> = (first..first + 9).map(|n| format!("${n}")).collect();
    format!("${at}, {}, (SELECT reserved_for FROM servers WHERE id = ${first})", fields.join(", "))
}

/// Binds an event's fields (all but `at`), in `INSERT_INTO`'s order, after the
/// query's other parameters. Its topics are decided here, so every event written gets
/// them (and the webhook trigger sees them).
pub(crate) fn bind<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    e: &NewEvent<'q>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(e.server_id)
        .bind(e.actor)
        .bind(e.kind.as_str())
        .bind(e.from_value)
        .bind(e.to_value)
        .bind(e.reason)
        .bind(e.details)
        .bind(crate::backend::correlation_id())
        .bind(crate::domain::webhooks::topics_of(e.kind, e.from_value, e.to_value, e.details).0)
}

pub async fn append(conn: &mut AnyConnection, e: &NewEvent<'_>, now: i64) -> Result<i64, DbError> {
    use sqlx::Row;
    let sql = format!("INSERT INTO {INSERT_INTO} VALUES ({}) RETURNING id", values(1, 2));
    bind(sqlx::query(&sql).bind(now), e)
        .fetch_one(conn)
        .await
        .and_then(|row| row.try_get(0))
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
    #[sqlx(try_from = "String")]
    kind: EventKind,
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
