//! The foundation: the app serves pages, health and server functions from its database.

mod common;
use common::spawn_app;

/// The home page is rendered on the server with the layout and the hydration scripts;
/// the navigation offers what the role may open.
#[tokio::test]
async fn home_page_is_server_rendered() {
    use app::domain::Role;
    let app = spawn_app().await;
    let cases: [(Role, &[&str], &[&str]); 3] = [
        (Role::Viewer, &[">Servers<", ">Utilization<"], &[">Users<", ">Subscriptions<", ">Deployments<"]),
        (Role::Admin, &[">Servers<", ">Utilization<", ">Users<", ">Subscriptions<", ">Deployments<"], &[]),
        (Role::Tenant, &[">My servers<"], &[">Servers<", ">Users<", ">Utilization<"]),
    ];
    for (role, shown, hidden) in cases {
        let client = app.client_for(role).await;
        let resp = client.get(app.url("/")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let html = resp.text().await.unwrap();
        assert!(html.contains(">Rackstate</a>"), "top bar missing: {html}");
        let nav = &html[html.find("<nav").unwrap()..html.find("</nav>").unwrap()];
        for want in shown {
            assert!(nav.contains(want), "{role}: navigation lacks {want}: {nav}");
        }
        for not in hidden {
            assert!(!nav.contains(not), "{role}: navigation shows {not}: {nav}");
        }
        // The JS glue by name (under a content version when the site is built:
        // server/src/assets.rs).
        let glue = html.split("import(\"").nth(1).and_then(|rest| rest.split('"').next());
        assert!(
            glue.is_some_and(|js| js.starts_with("/pkg/") && js.ends_with("/rackstate.js")),
            "hydration script missing: {glue:?}"
        );
    }
}

/// The home page's report server function reads the counts from the database (and
/// answers the report as the page shows it).
#[tokio::test]
async fn server_function_reads_the_database() {
    let app = spawn_app().await;
    for name in ["a", "b", "c"] {
        common::server_in_state(&app, name, app::domain::ServerState::Available).await;
    }
    let client = app.client_for(app::domain::Role::Viewer).await;
    let resp = client.post(app.url("/api/utilization")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // (Without the framework's empty comments, which mark text boundaries.)
    let html = resp.json::<String>().await.unwrap().replace("<!>", "");
    let total = html.split("data-testid=\"total-servers\"").nth(1).unwrap_or_default();
    assert!(total.contains(">3</a>"), "three servers in all: {html}");
    assert!(html.contains("href=\"/servers?state=available&amp;type=\">3</a>"), "three available: {html}");
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

/// `/healthz` answers while the process runs; `/readyz` while the database answers
/// with every migration applied, and says what is missing otherwise. No login needed.
#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let resp = app.anonymous().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app.anonymous().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 5").execute(app.backend.db.pool()).await.unwrap();
    let resp = app.anonymous().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.text().await.unwrap(), "migrations not applied: [5]");
    app.backend.db.pool().close().await;
    let resp = app.anonymous().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(app.anonymous().get(app.url("/healthz")).send().await.unwrap().status(), 200);
}

/// An unknown page is a 404 with a way back, not an error.
#[tokio::test]
async fn unknown_page_is_404() {
    let app = spawn_app().await;
    let client = app.client_for(app::domain::Role::Viewer).await;
    let resp = client.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

/// Every response carries a request id: the caller's when sane, else a new one.
#[tokio::test]
async fn request_ids() {
    let app = spawn_app().await;
    let resp = app.anonymous().get(app.url("/healthz")).send().await.unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 16);
    let resp = app.anonymous().get(app.url("/healthz")).header("x-request-id", "lb-1234-abcd").send().await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "lb-1234-abcd");
    let resp =
        app.anonymous().get(app.url("/healthz")).header("x-request-id", "bad id; drop table").send().await.unwrap();
    assert_ne!(resp.headers()["x-request-id"], "bad id; drop table");
}
