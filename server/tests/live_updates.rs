//! The server page's live stream: server-sent events that say when the server or its
//! activity changed, for those who may see the server.

mod common;

use app::backend::services::{Actor, StateChange};
use app::domain::{Action, Role, ServerState};
use common::{server_in_state, spawn_app};
use std::time::Duration;

/// Reads the stream until an event with data arrives; returns its data line.
async fn next_change(resp: &mut reqwest::Response) -> String {
    let mut buf = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(end) = buf.find("\n\n") {
            let event: String = buf[..end].to_string();
            buf.drain(..end + 2);
            if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                assert!(event.contains("event: change"), "{event}");
                return data.to_string();
            }
        }
    }
}

#[tokio::test]
async fn stream_follows_state_and_activity() {
    let app = spawn_app().await;
    let s = server_in_state(&app, "live", ServerState::Unavailable).await;
    let admin = app.client_for(Role::Admin).await;
    let mut resp = admin.get(app.url(&format!("/live/servers/{}", s.id))).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let first = next_change(&mut resp).await;
    let (server, activity) = first.split_once('|').unwrap();
    // A state change changes both parts (new generation, new audit event).
    let change = StateChange::new(Action::SetAvailable);
    app.backend.change_state(&Actor::user("admin"), s.id, &change).await.unwrap();
    let second = next_change(&mut resp).await;
    let (server2, activity2) = second.split_once('|').unwrap();
    assert_ne!(server, server2);
    assert_ne!(activity, activity2);
    // Notes or nothing at all: no event (the next one is the keep-alive, not data).
    let quiet = tokio::time::timeout(Duration::from_millis(2500), next_change(&mut resp)).await;
    assert!(quiet.is_err(), "an event without a change: {quiet:?}");

    // Tenants see only their own servers' streams; anonymous visitors log in first.
    let tenant = app.client_for(Role::Tenant).await;
    let other = tenant.get(app.url(&format!("/live/servers/{}", s.id))).send().await.unwrap();
    assert_eq!(other.status(), 404);
    let anon = app.anonymous().get(app.url(&format!("/live/servers/{}", s.id))).send().await.unwrap();
    assert!(anon.status().is_redirection());
    let missing = admin.get(app.url("/live/servers/999999")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

/// The report filtered by datacenter and rack, on the page and as a CSV download.
#[tokio::test]
async fn report_filters_and_csv() {
    let app = spawn_app().await;
    for (name, dc, rack) in [("a", "fra1", "r1"), ("b", "fra1", "r2"), ("c", "ams1", "r1")] {
        let s = server_in_state(&app, name, ServerState::Available).await;
        sqlx::query("UPDATE servers SET datacenter = $1, rack = $2 WHERE id = $3")
            .bind(dc)
            .bind(rack)
            .bind(s.id)
            .execute(app.backend.db.pool())
            .await
            .unwrap();
    }
    let viewer = app.client_for(Role::Viewer).await;
    let csv = |q: &'static str| {
        let viewer = viewer.clone();
        let url = app.url(&format!("/reports/utilization.csv{q}"));
        async move {
            let resp = viewer.get(url).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            assert!(resp.headers()["content-disposition"].to_str().unwrap().contains("utilization.csv"));
            resp.text().await.unwrap()
        }
    };
    let total = |csv: &str| csv.lines().last().unwrap().split(',').nth(11).unwrap().to_string();
    assert_eq!(total(&csv("").await), "3");
    assert_eq!(total(&csv("?datacenter=fra1").await), "2");
    assert_eq!(total(&csv("?datacenter=fra1&rack=r2").await), "1");
    assert_eq!(total(&csv("?rack=r1").await), "2");
    assert_eq!(total(&csv("?datacenter=nowhere").await), "0");
    let tenant = app.client_for(Role::Tenant).await;
    assert_eq!(tenant.get(app.url("/reports/utilization.csv")).send().await.unwrap().status(), 403);
    assert!(app.anonymous().get(app.url("/reports/utilization.csv")).send().await.unwrap().status().is_redirection());
    // The page: the filter form with the locations, the chosen one selected.
    let html = viewer.get(app.url("/?datacenter=fra1")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("data-testid=\"report-filter\""), "{html}");
    assert!(html.contains("value=\"ams1\""));
    assert!(html.contains("/reports/utilization.csv?datacenter=fra1&amp;rack="));
}
