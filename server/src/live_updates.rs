//! Routes of the web app beside the pages: the report's CSV export, and live updates
//! of a server page.
//!
//! Live updates of a server page: `GET /live/servers/{id}` is a stream of server-sent
//! events. It sends the page's fingerprints ("server|activity", see
//! `Backend::page_fingerprint`) at once and then whenever one changes; the page
//! refetches the part that changed. The stream polls the database (once a second),
//! so it follows changes made by any replica, worker or API client.

use app::api::ssr::CurrentUser;
use app::backend::Backend;
use app::domain::Permission;
use axum::Extension;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::time::Duration;

/// How often a stream looks for changes.
const POLL: Duration = Duration::from_secs(1);

/// The stream ends when `stopping` turns true (shutdown), so an open page never holds
/// the process; the browser reconnects to another replica or the restarted one.
pub async fn server_stream(
    backend: Backend,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    Extension(user): Extension<CurrentUser>,
    Path(id): Path<i64>,
) -> Response {
    let Some(user) = user.0 else {
        return (StatusCode::UNAUTHORIZED, "log in first").into_response();
    };
    if !user.role.can(Permission::ViewOwnServers) || backend.server_for(&user, id).await.is_err() {
        return (StatusCode::NOT_FOUND, format!("server {id} not found")).into_response();
    }
    let stream = futures_util::stream::unfold((backend, None::<String>), move |(backend, last)| async move {
        loop {
            if last.is_some() {
                tokio::time::sleep(POLL).await;
            }
            let now = match backend.page_fingerprint(id).await {
                Ok((server, activity)) => format!("{server}|{activity}"),
                // Gone (or the database is away): end the stream; the browser retries.
                Err(_) => return None,
            };
            if last.as_deref() != Some(now.as_str()) {
                let event = Event::default().event("change").data(now.clone());
                return Some((Ok::<_, Infallible>(event), (backend, Some(now))));
            }
        }
    });
    let stream = futures_util::StreamExt::take_until(stream, async move {
        let _ = stopping.wait_for(|s| *s).await;
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

/// Filters of the report's CSV export.
#[derive(serde::Deserialize, Default)]
pub struct ReportQuery {
    #[serde(default)]
    datacenter: Option<String>,
    #[serde(default)]
    rack: Option<String>,
}

/// `GET /reports/utilization.csv?datacenter=&rack=`: the report as a CSV download,
/// for a logged-in user who sees the fleet (the page's "Download CSV").
pub async fn utilization_csv(
    backend: Backend,
    Extension(user): Extension<CurrentUser>,
    axum::extract::Query(q): axum::extract::Query<ReportQuery>,
) -> Response {
    let Some(user) = user.0 else {
        return (StatusCode::UNAUTHORIZED, "log in first").into_response();
    };
    if !user.role.can(Permission::ViewFleet) {
        return (StatusCode::FORBIDDEN, format!("your role ({}) may not view fleet", user.role)).into_response();
    }
    let dc = q.datacenter.filter(|d| !d.is_empty());
    let rack = q.rack.filter(|r| !r.is_empty());
    match backend.utilization_at(dc.as_deref(), rack.as_deref()).await {
        Ok(u) => (
            [
                (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"utilization.csv\""),
            ],
            u.to_csv(),
        )
            .into_response(),
        Err(e) => {
            (StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), e.user_message())
                .into_response()
        }
    }
}
