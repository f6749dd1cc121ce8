//! The foundation: the app serves pages, health and server functions from its database.

mod common;
use common::spawn_app;

/// The home page is rendered on the server with the layout and the hydration scripts.
#[tokio::test]
async fn home_page_is_server_rendered() {
    let app = spawn_app().await;
    let client = app.client_for(app::domain::Role::Viewer).await;
    let resp = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains(">Rackstate</a>"), "top bar missing: {html}");
    for nav in ["Servers", "Utilization", "Users"] {
        assert!(html.contains(nav), "navigation lacks {nav}");
    }
    assert!(html.contains("/pkg/rackstate.js"), "hydration script missing");
}

/// The utilization server function reads the counts from the database.
#[tokio::test]
async fn server_function_reads_the_database() {
    let app = spawn_app().await;
    for name in ["a", "b", "c"] {
        common::server_in_state(&app, name, app::domain::ServerState::Available).await;
    }
    let client = app.client_for(app::domain::Role::Viewer).await;
    let resp = client.post(app.url("/api/utilization")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["totals"]["total"], 3);
    assert_eq!(body["totals"]["counts"][2], 3, "three available: {body}");
}

/// Pages need a login: anonymous visitors are sent to the login page.
#[tokio::test]
async fn pages_redirect_to_login() {
    let app = spawn_app().await;
    let resp = app.anonymous().get(app.url("/servers?state=used")).send().await.unwrap();
    assert!(resp.status().is_redirection());
    assert_eq!(resp.headers()["location"], "/login?next=/servers%3Fstate%3Dused");
    let login = app.anonymous().get(app.url("/login")).send().await.unwrap();
    assert_eq!(login.status(), 200);
}

/// Every response carries the security headers; pages get a CSP with a nonce that
/// matches the hydration script's.
#[tokio::test]
async fn security_headers_everywhere() {
    let app = spawn_app().await;
    let resp = app.anonymous().get(app.url("/login")).send().await.unwrap();
    let h = resp.headers().clone();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    let csp = h["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let nonce = csp.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).expect("nonce in CSP");
    let html = resp.text().await.unwrap();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "hydration script lacks the nonce");
    let health = app.anonymous().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.headers()["x-content-type-options"], "nosniff");
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
    let client = app.client_for(app::domain::Role::Viewer).await;
    let resp = client.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}
