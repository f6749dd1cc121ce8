//! `GET /api/v1/events/stream`: the audit as server-sent events, for what the token's
//! user may see, resumable with `Last-Event-ID`.

use super::ApiError;
use super::extract::{ApiResult, Caller, QueryOf, malformed, need};
use app::backend::Backend;
use app::backend::services::ServiceError;
use app::domain::webhooks::Topics;
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;

/// How often a stream looks for new events.
const POLL: Duration = Duration::from_millis(500);
/// Events read per look.
const BATCH: i64 = 200;

/// Shutdown, as the stream handlers see it: streams end so the process can stop.
#[derive(Clone)]
pub(crate) struct Stopping(pub tokio::sync::watch::Receiver<bool>);

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct StreamQuery {
    /// Comma-separated topics (state_changes, job_outcomes, hardware_changes,
    /// bmc_warnings, allocations); all when left out.
    #[serde(default)]
    topics: Option<String>,
    /// Resume after this event id, for clients that cannot send `Last-Event-ID`.
    #[serde(default)]
    after: Option<i64>,
}

/// Server-sent events of audit events, each `id: <event id>`, `event: <kind>`, `data:
/// <JSON>`. Starts at the newest event, or after `Last-Event-ID` (or `after`).
/// Admins, operators and viewers see every event; tenants their servers' state
/// changes, job outcomes and allocations from when they came to hold them. Ids are
/// unique but on PostgreSQL not always increasing (events come in commit order):
/// resume from the last one received.
#[utoipa::path(get, path = "/api/v1/events/stream", tag = "events", security(("bearer" = [])), params(StreamQuery, ("Last-Event-ID" = Option<i64>, Header, description = "the last event id received")), responses((status = 200, content_type = "text/event-stream", body = app::model::StreamEvent, description = "a stream of events, each data a StreamEvent"), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn stream(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ViewOwnServers>,
    Extension(Stopping(mut stopping)): Extension<Stopping>,
    headers: HeaderMap,
    QueryOf(q): QueryOf<StreamQuery>,
) -> ApiResult<Response> {
    let topics = match q.topics.as_deref() {
        Some(t) => Topics::parse([t]).map_err(|m| ServiceError::invalid("topics", m))?,
        None => Topics::all(),
    };
    if topics.is_empty() {
        return Err(ServiceError::invalid("topics", "name at least one topic").into());
    }
    let last = match headers.get("last-event-id").map(|v| v.to_str().map(str::trim)) {
        Some(Ok(v)) if !v.is_empty() => {
            Some(v.parse::<i64>().map_err(|_| malformed("Last-Event-ID must be an event id"))?)
        }
        Some(Err(_)) => return Err(malformed("Last-Event-ID must be an event id")),
        _ => q.after,
    };
    let cursor = backend.stream_cursor(last).await?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .unwrap_or_default();
    let state = (backend, user, cursor, Vec::<Event>::new(), token);
    let events = futures_util::stream::unfold(state, move |(backend, user, mut cursor, mut queue, token)| async move {
        loop {
            if let Some(next) = queue.pop() {
                return Some((Ok::<_, Infallible>(next), (backend, user, cursor, queue, token)));
            }
            // A token revoked (or its user disabled) ends its stream.
            if !matches!(backend.token_user(&token).await, Ok(Some(_))) {
                return None;
            }
            let (found, next) = backend.stream_events(&user, cursor, topics, BATCH).await.ok()?;
            // Progress (even past events this caller does not see): look again at once.
            let read_all = next == cursor;
            cursor = next;
            queue = found
                .into_iter()
                .rev()
                .map(|e| {
                    let data = serde_json::to_string(&e).unwrap_or_default();
                    Event::default().id(e.id.to_string()).event(e.kind.as_str()).data(data)
                })
                .collect();
            if queue.is_empty() && read_all {
                tokio::time::sleep(POLL).await;
            }
        }
    });
    let events = futures_util::StreamExt::take_until(events, async move {
        let _ = stopping.wait_for(|s| *s).await;
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response())
}
