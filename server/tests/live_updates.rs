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
