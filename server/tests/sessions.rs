//! Logins, sessions and throttling over HTTP.

mod common;
use app::backend::services::Actor;
use app::domain::Role;
use common::{ADMIN_PASSWORD, TestApp, USER_PASSWORD, spawn_app, spawn_app_with};

fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("rackstate_session="))
        .map(|c| c.split(';').next().unwrap().to_string())
}

async fn whoami_status(app: &TestApp, client: &reqwest::Client) -> u16 {
    client.post(app.url("/api/list_servers")).send().await.unwrap().status().as_u16()
}

/// The session cookie is HttpOnly and SameSite=Lax, and login gives a new session id.
#[tokio::test]
async fn login_sets_a_fresh_http_only_cookie() {
    let app = spawn_app().await;
    let client = app.anonymous();
    let first = app.login_as(&client, "admin", ADMIN_PASSWORD).await;
    let raw = first.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(raw.contains("HttpOnly"), "{raw}");
    assert!(raw.contains("SameSite=Lax"), "{raw}");
    let c1 = session_cookie(&first).unwrap();
    let second = app.login_as(&client, "admin", ADMIN_PASSWORD).await;
    let c2 = session_cookie(&second).expect("login cycles the session id");
    assert_ne!(c1, c2);
    // The id before the second login no longer works.
    let replay = app.anonymous().post(app.url("/api/list_servers")).header("cookie", &c1).send().await.unwrap();
    assert_eq!(replay.status(), 401);
    assert_eq!(whoami_status(&app, &client).await, 200);
}

/// Unknown user and wrong password get the same status and message.
#[tokio::test]
async fn unknown_user_and_wrong_password_look_alike() {
    let app = spawn_app().await;
    let a = app.login_as(&app.anonymous(), "admin", "wrong-password-here").await;
    let (sa, ta) = (a.status(), a.text().await.unwrap());
    let b = app.login_as(&app.anonymous(), "nobody", "wrong-password-here").await;
    let (sb, tb) = (b.status(), b.text().await.unwrap());
    assert_eq!(sa, 401);
    assert_eq!(sa, sb);
    assert_eq!(ta, tb);
    assert!(ta.contains("wrong username or password"), "{ta}");
}

/// After 5 failures for one username, even the right password gets 429 with
/// Retry-After for the rest of the 15 minutes.
#[tokio::test]
async fn throttled_after_five_failures_from_one_client() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let r = app.login_as(&app.anonymous(), "admin", "not-the-password").await;
        assert_eq!(r.status(), 401);
    }
    let r = app.login_as(&app.anonymous(), "admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 429);
    let retry: i64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((800..=900).contains(&retry), "retry-after {retry}");
}

/// After 5 failures from one client address, other usernames are throttled too.
#[tokio::test]
async fn throttled_after_five_failures_per_address() {
    let app = spawn_app().await;
    for i in 0..5 {
        let r = app.login_as(&app.anonymous(), &format!("ghost{i}"), "not-the-password").await;
        assert_eq!(r.status(), 401);
    }
    let r = app.login_as(&app.anonymous(), "admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 429);
}

/// Logout ends the session: the old cookie is worthless afterwards.
#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    let client = app.anonymous();
    let login = app.login_as(&client, "admin", ADMIN_PASSWORD).await;
    let cookie = session_cookie(&login).unwrap();
    assert_eq!(whoami_status(&app, &client).await, 200);
    let out = client.post(app.url("/api/logout")).send().await.unwrap();
    assert!(out.status().is_success() || out.status().is_redirection());
    assert_eq!(whoami_status(&app, &client).await, 401);
    let replay = app.anonymous().post(app.url("/api/list_servers")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(replay.status(), 401);
}

/// Changing one's password ends the user's other sessions, not the current one.
#[tokio::test]
async fn password_change_ends_other_sessions() {
    let app = spawn_app().await;
    let a = app.client_for(Role::Operator).await;
    let b = app.client_for(Role::Operator).await;
    assert_eq!(whoami_status(&app, &b).await, 200);
    let r = a
        .post(app.url("/api/change_password"))
        .form(&[("current", USER_PASSWORD), ("new_password", "a-brand-new-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(whoami_status(&app, &a).await, 200);
    assert_eq!(whoami_status(&app, &b).await, 401);
    let fresh = app.login_as(&app.anonymous(), "operator", "a-brand-new-password").await;
    assert!(fresh.status().is_success() || fresh.status().is_redirection());
}

/// A disabled user is logged out everywhere and cannot log in.
#[tokio::test]
async fn disabled_user_is_out() {
    let app = spawn_app().await;
    let v = app.client_for(Role::Viewer).await;
    app.backend.set_disabled(&Actor::user("admin"), "viewer", true).await.unwrap();
    assert_eq!(whoami_status(&app, &v).await, 401);
    let r = app.login_as(&app.anonymous(), "viewer", USER_PASSWORD).await;
    assert_eq!(r.status(), 401);
}

/// A form posted from another site is refused, even with a valid session.
#[tokio::test]
async fn cross_site_posts_are_refused() {
    let app = spawn_app().await;
    let admin = app.client_for(Role::Admin).await;
    let r = admin
        .post(app.url("/api/create_user"))
        .header("origin", "https://evil.example")
        .form(&[("username", "mallory"), ("password", "mallory-password"), ("role", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(app.backend.list_users().await.unwrap().iter().all(|u| u.username != "mallory"));
}

/// The last admin cannot be demoted or disabled.
#[tokio::test]
async fn last_admin_stays() {
    let app = spawn_app().await;
    let e = app.backend.set_role(&Actor::user("admin"), "admin", Role::Viewer).await.unwrap_err();
    assert!(e.to_string().contains("last active admin"));
    let e = app.backend.set_disabled(&Actor::user("admin"), "admin", true).await.unwrap_err();
    assert!(e.to_string().contains("last active admin"));
}

/// With no users and no RACKSTATE_ADMIN_PASSWORD, a generated password is written
/// once to data/initial-admin-password with mode 0600, and it works.
#[tokio::test]
async fn first_start_generates_admin_password() {
    let dir = tempfile::tempdir().unwrap();
    let db = app::backend::Db::connect(&format!("sqlite://{}", dir.path().join("x.db").display()), 2).await.unwrap();
    db.migrate().await.unwrap();
    let secrets = app::backend::secrets::SecretBox::load(None, dir.path()).unwrap();
    let backend = app::backend::Backend::new(db, secrets);
    let path = backend.bootstrap_admin(dir.path(), None).await.unwrap().expect("password file");
    let password = std::fs::read_to_string(&path).unwrap().trim().to_string();
    assert!(password.len() >= 12);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(backend.authenticate("admin", &password, "test").await.is_ok());
    // A second start changes nothing.
    assert!(backend.bootstrap_admin(dir.path(), None).await.unwrap().is_none());
}

/// The SQLite database and its WAL hold password hashes, sealed secrets and the
/// audit: another local user cannot read them (created 0600).
#[tokio::test]
async fn the_sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.db");
    let db = app::backend::Db::connect(&format!("sqlite://{}", path.display()), 2).await.unwrap();
    db.migrate().await.unwrap();
    let wal = dir.path().join("private.db-wal");
    for p in [&path, &wal] {
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
}

/// A 200 KB username with a forged log line in it: 400 at once, and the log gets
/// nothing of it; a short one with a newline is logged escaped.
#[tokio::test]
async fn hostile_usernames_do_not_reach_the_log_raw() {
    let app = common::spawn_app().await;
    let huge = format!("admin\n2026-01-01T00:00:00Z INFO forged{}", "x".repeat(200_000));
    let resp = app
        .anonymous()
        .post(app.url("/api/login"))
        .form(&[("username", huge.as_str()), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = reqwest::Client::new()
        .post(app.url("/api/v1/tokens"))
        .json(&serde_json::json!({ "username": huge, "password": "x", "name": "n" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(app::backend::loggable("a\nb"), "a\\nb");
    assert_eq!(app::backend::loggable(&"y".repeat(100)).chars().count(), 65);
}

/// A stranger guesses alice's password from another address until refused: alice,
/// from her own address, still logs in (slowed, not locked out).
#[tokio::test]
async fn a_stranger_cannot_lock_out_an_account() {
    let app = spawn_app().await;
    for _ in 0..8 {
        let _ = app.backend.authenticate("admin", "guess", "10.6.6.6").await;
    }
    assert!(matches!(
        app.backend.authenticate("admin", "guess", "10.6.6.6").await,
        Err(app::backend::services::accounts::LoginError::Throttled { .. })
    ));
    let started = std::time::Instant::now();
    let me = app.backend.authenticate("admin", ADMIN_PASSWORD, "10.1.1.1").await.expect("the owner gets in");
    assert_eq!(me.username, "admin");
    assert!(started.elapsed() >= std::time::Duration::from_millis(200), "slowed down");
}

/// 40 concurrent wrong passwords from one client test at most five of them; the
/// rest are refused unchecked.
#[tokio::test]
async fn concurrent_failures_count_atomically() {
    let app = spawn_app().await;
    let attempts = (0..40).map(|i| {
        let backend = app.backend.clone();
        tokio::spawn(async move { backend.authenticate("admin", &format!("guess-{i}"), "10.7.7.7").await })
    });
    let mut checked = 0;
    for a in attempts {
        if matches!(a.await.unwrap(), Err(app::backend::services::accounts::LoginError::BadCredentials)) {
            checked += 1;
        }
    }
    assert!(checked <= 5, "{checked} passwords were tested");
}

/// A copy of the database holds no usable session: the table keeps a hash of each
/// session id, never the id the cookie carries.
#[tokio::test]
async fn session_ids_are_stored_hashed() {
    let app = spawn_app().await;
    let login = app.login_as(&app.anonymous(), "admin", ADMIN_PASSWORD).await;
    let cookie = session_cookie(&login).unwrap();
    let id = cookie.trim_start_matches("rackstate_session=").to_string();
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT id FROM sessions").fetch_all(app.backend.db.pool()).await.unwrap();
    assert!(!stored.is_empty());
    assert!(stored.iter().all(|s| *s != id && !s.contains(&id)), "{stored:?} holds {id}");
    assert!(stored.contains(&app::backend::secrets::token_hash(&id)));
}

async fn login_forwarded_for(app: &TestApp, forwarded_for: &str, password: &str) -> u16 {
    let client = app.anonymous();
    let resp = client
        .post(app.url("/api/login"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[("username", "admin"), ("password", password)])
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

/// Without RACKSTATE_TRUSTED_PROXIES a guesser cannot dodge the per-client limit by
/// writing a new X-Forwarded-For on every attempt: the peer address is the client.
#[tokio::test]
async fn forged_forwarded_for_does_not_reset_the_limit() {
    let app = spawn_app().await;
    for i in 0..5 {
        assert_eq!(login_forwarded_for(&app, &format!("198.51.100.{i}"), "guess").await, 401);
    }
    assert_eq!(login_forwarded_for(&app, "198.51.100.99", ADMIN_PASSWORD).await, 429);
}

/// Behind a trusted proxy, one user's bad passwords do not lock out the others who
/// come through the same proxy: the address the proxy appended is the client.
#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_counted_apart() {
    let app = spawn_app_with(|s| {
        s.trusted_proxies = app::domain::client_addr::TrustedProxies::parse("127.0.0.1").unwrap();
    })
    .await;
    for _ in 0..5 {
        // The client wrote its own header; the proxy appended what it saw.
        assert_eq!(login_forwarded_for(&app, "10.9.9.9, 198.51.100.1", "guess").await, 401);
    }
    assert_eq!(login_forwarded_for(&app, "198.51.100.1", "guess").await, 429, "the guesser is refused");
    assert_eq!(login_forwarded_for(&app, "198.51.100.2", ADMIN_PASSWORD).await, 200, "another user gets in");
}

/// A logged-in admin opens a page while the database cannot read sessions: the
/// answer is 503 "database unavailable", not the login page (they are logged in; a
/// login could not work either), and once the database reads again the same session
/// opens the page.
#[tokio::test]
async fn a_session_the_database_cannot_read_is_unavailable_not_logged_out() {
    let app = spawn_app().await;
    let client = app.client_for(Role::Admin).await;
    assert_eq!(client.get(app.url("/servers")).send().await.unwrap().status(), 200);
    let db = app.backend.db.pool();
    sqlx::query("ALTER TABLE sessions RENAME TO sessions_away").execute(db).await.unwrap();
    let page = client.get(app.url("/servers")).send().await.unwrap();
    assert_eq!(page.status(), 503, "{:?}", page.headers().get("location"));
    assert_eq!(page.text().await.unwrap(), "database unavailable");
    assert_eq!(whoami_status(&app, &client).await, 503);
    sqlx::query("ALTER TABLE sessions_away RENAME TO sessions").execute(db).await.unwrap();
    assert_eq!(client.get(app.url("/servers")).send().await.unwrap().status(), 200);
}
