//! The foundation: the app serves pages, health and server functions from its database.

mod common;
use common::spawn_app;

/// The home page is rendered on the server with the layout and the hydration scripts.
#[tokio::test]
async fn home_page_is_server_rendered() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains(">Rackstate</a>"), "top bar missing: {html}");
    for nav in ["Servers", "Utilization", "Users"] {
        assert!(html.contains(nav), "navigation lacks {nav}");
    }
    assert!(html.contains("/pkg/rackstate.js"), "hydration script missing");
}

/// The fleet summary server function reads the count from the database.
#[tokio::test]
async fn server_function_reads_the_database() {
    let app = spawn_app().await;
    for name in ["a", "b", "c"] {
        common::server_in_state(&app, name, app::domain::ServerState::Available).await;
    }
    let resp = app.client.post(app.url("/api/fleet_summary")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["servers"], 3);
    let expected = if common::test_db() == "postgres" { "PostgreSQL" } else { "SQLite" };
    assert_eq!(body["database"], expected);
}

/// Health answers 200 while the database answers.
#[tokio::test]
async fn healthz_ok() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

/// An unknown page is a 404 with a way back, not an error.
#[tokio::test]
async fn unknown_page_is_404() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}
