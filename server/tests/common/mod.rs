//! `spawn_app()`: the real Rackstate on port 0 with a fresh database, SQLite or
//! PostgreSQL as `RACKSTATE_TEST_DB` says (the README's test command runs both).
#![allow(dead_code)]

pub mod sushy;

use rackstate_server::{Application, Settings};
use std::sync::atomic::{AtomicU32, Ordering};

/// The password of the `admin` user every test app starts with.
pub const ADMIN_PASSWORD: &str = "test-admin-password";
/// The password test helpers give the users they create.
pub const USER_PASSWORD: &str = "test-user-password";

pub struct TestApp {
    pub base: String,
    /// The fresh database's URL, for a second "process" (another pool) on it.
    pub database_url: String,
    pub client: reqwest::Client,
    pub backend: app::backend::Backend,
    /// The demo lab's machines, when the app runs one.
    pub lab: Vec<std::sync::Arc<rackstate_server::lab::Machine>>,
    pub data_dir: std::path::PathBuf,
    _data_dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

/// Which database the tests run against: `sqlite` (default) or `postgres`.
pub fn test_db() -> String {
    std::env::var("RACKSTATE_TEST_DB").unwrap_or_else(|_| "sqlite".into())
}

pub async fn fresh_database_url(data_dir: &std::path::Path) -> String {
    match test_db().as_str() {
        "sqlite" => format!("sqlite://{}", data_dir.join("rackstate.db").display()),
        "postgres" => {
            let admin = std::env::var("RACKSTATE_TEST_POSTGRES_URL").expect(
                "RACKSTATE_TEST_DB=postgres needs RACKSTATE_TEST_POSTGRES_URL (a role that may CREATE DATABASE)",
            );
            static N: AtomicU32 = AtomicU32::new(0);
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
            let name = format!("rackstate_test_{}_{}_{}", std::process::id(), nanos, N.fetch_add(1, Ordering::Relaxed));
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
                .await
                .expect("connecting to the PostgreSQL test server");
            sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE \"{name}\"").as_str())
                .await
                .expect("creating a test database");
            let (base, _) = admin.rsplit_once('/').expect("URL with a database path");
            format!("{base}/{name}")
        }
        other => panic!("RACKSTATE_TEST_DB must be sqlite or postgres, not {other:?}"),
    }
}

/// Starts Rackstate with a fresh database and returns once it accepts requests.
/// No job runner: tests that need one say so (`spawn_app_with`).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts Rackstate with settings adjusted by `configure` (workers default to 0).
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temporary data directory");
    let database_url = fresh_database_url(data_dir.path()).await;
    let mut settings = Settings::from_lookup(|_| None).expect("default settings");
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.data_dir = data_dir.path().to_path_buf();
    settings.database_url = database_url.clone();
    settings.site_root = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/site").into();
    settings.db_max_connections = 5;
    settings.session_idle_minutes = 60;
    settings.admin_password = Some(rackstate_server::settings::Secret(ADMIN_PASSWORD.into()));
    settings.workers = 0;
    // A BMC that does not answer fails a job at once, unless a test is about retries.
    settings.bmc_retries = 0;
    // The tests' BMCs (sushy-emulator, stub servers) listen on loopback.
    settings.bmc_networks = app::domain::bmc_address::BmcNetworks::any().with("127.0.0.0/8");
    configure(&mut settings);
    let app = Application::build(&settings).await.expect("Rackstate starts");
    let base = format!("http://{}", app.local_addr());
    let backend = app.backend().clone();
    let lab = app.lab().map(|l| l.machines.clone()).unwrap_or_default();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.serve(async move {
        let _ = rx.await;
    }));
    let client =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp {
        base,
        database_url,
        client,
        backend,
        lab,
        data_dir: data_dir.path().to_path_buf(),
        _data_dir: data_dir,
        _shutdown: tx,
    }
}

/// Adds a server and forces it into `state` with a direct UPDATE, ending the
/// registration job adding it queued (tests only: real code moves servers through
/// the service layer).
pub async fn server_in_state(app: &TestApp, name: &str, state: app::domain::ServerState) -> app::model::Server {
    use app::backend::services::{Actor, NewServer};
    let new = NewServer {
        name: name.into(),
        bmc_address: format!("http://127.0.0.1:8000/redfish/v1/Systems/{name}"),
        ..Default::default()
    };
    let s = app.backend.add_server(&Actor::user("admin"), &new).await.expect("add server");
    sqlx::query("UPDATE servers SET state = $1 WHERE id = $2")
        .bind(state.as_str())
        .bind(s.id)
        .execute(app.backend.db.pool())
        .await
        .unwrap();
    end_jobs(app, s.id).await;
    app.backend.server(s.id).await.unwrap()
}

/// `n` registered servers of lab hardware profile `profile` (0..5), set available;
/// returns them and their type label.
pub async fn typed_available(
    app: &TestApp,
    prefix: &str,
    profile: usize,
    n: usize,
) -> (Vec<app::model::Server>, String) {
    static SERIAL: AtomicU32 = AtomicU32::new(0);
    let mut out = Vec::new();
    for i in 0..n {
        let s = server_in_state(app, &format!("{prefix}-{i}"), app::domain::ServerState::Available).await;
        let index = SERIAL.fetch_add(1, Ordering::Relaxed) as usize * 5 + profile + 1;
        let inventory = rackstate_server::lab::profiles::inventory(index);
        let system = app::backend::services::Actor::system("test");
        let (s, _) = app.backend.record_inventory(&system, s.id, &inventory, 'C').await.unwrap();
        out.push(s);
    }
    let label = out[0].server_type.clone().expect("typed");
    (out, label)
}

/// Ends a server's queued or running jobs (as an abort would; tests only).
pub async fn end_jobs(app: &TestApp, id: i64) {
    sqlx::query("UPDATE jobs SET status = 'aborted', lease_owner = NULL WHERE server_id = $1 AND status IN ('queued', 'running', 'waiting_for_agent')")
        .bind(id)
        .execute(app.backend.db.pool())
        .await
        .unwrap();
}

/// Number of audit events of a server.
pub async fn event_count(app: &TestApp, id: i64) -> usize {
    app.backend.server_events(id).await.unwrap().len()
}

impl TestApp {
    /// A client with its own cookie jar, not logged in.
    pub fn anonymous(&self) -> reqwest::Client {
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
    }

    /// Logs `client` in; returns the response of the login call.
    pub async fn login_as(&self, client: &reqwest::Client, username: &str, password: &str) -> reqwest::Response {
        client
            .post(self.url("/api/login"))
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    /// A logged-in client for a new user with `role` (named after the role), or for
    /// `admin` when the role is admin.
    pub async fn client_for(&self, role: app::domain::Role) -> reqwest::Client {
        let client = self.anonymous();
        let (name, password) = if role == app::domain::Role::Admin {
            ("admin".to_string(), ADMIN_PASSWORD)
        } else {
            let name = role.as_str().to_string();
            if self.backend.list_users().await.unwrap().iter().all(|u| u.username != name) {
                let admin = app::backend::services::Actor::user("admin");
                self.backend.create_user(&admin, &name, USER_PASSWORD, role).await.unwrap();
            }
            (name, USER_PASSWORD)
        };
        let resp = self.login_as(&client, &name, password).await;
        assert!(resp.status().is_success() || resp.status().is_redirection(), "login as {name}: {}", resp.status());
        client
    }
}

/// Polls until `done` holds for the server, or panics after `timeout` with what it saw.
pub async fn wait_for_server(
    app: &TestApp,
    id: i64,
    timeout: std::time::Duration,
    done: impl Fn(&app::model::Server) -> bool,
) -> app::model::Server {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let s = app.backend.server(id).await.unwrap();
        if done(&s) {
            return s;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("server {} still {} (last error {:?}) after {timeout:?}", s.name, s.state, s.last_error);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The latest job of a server and its step log.
pub async fn latest_job(app: &TestApp, id: i64) -> (app::backend::store::jobs::JobRow, Vec<String>) {
    let mut conn = app.backend.db.conn().await.unwrap();
    let job = app::backend::store::jobs::latest_for_server(&mut conn, id).await.unwrap().expect("a job");
    let steps =
        app::backend::store::jobs::steps(&mut conn, job.id).await.unwrap().into_iter().map(|(_, m)| m).collect();
    (job, steps)
}

/// Waits until the server's latest job has logged a step starting with `prefix`
/// (a job logs its last step just after the state change it reports).
pub async fn wait_for_step(app: &TestApp, id: i64, prefix: &str) -> (app::backend::store::jobs::JobRow, Vec<String>) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (job, steps) = latest_job(app, id).await;
        if steps.iter().any(|m| m.starts_with(prefix)) {
            return (job, steps);
        }
        assert!(tokio::time::Instant::now() < deadline, "no step {prefix:?} in {steps:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Starts the real `rackstate` binary on `port` with `database_url`, the test admin
/// password and `env` on top (logs at warn to stderr).
pub fn start_binary(
    data_dir: &std::path::Path,
    database_url: &str,
    port: u16,
    env: &[(&str, &str)],
) -> std::process::Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rackstate"));
    cmd.env("RACKSTATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("RACKSTATE_DATA_DIR", data_dir)
        .env("RACKSTATE_DATABASE_URL", database_url)
        .env("RACKSTATE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RACKSTATE_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("starting rackstate")
}

/// An API token of `username` (logging in with `password`).
pub async fn api_token(app: &TestApp, username: &str, password: &str) -> String {
    let resp = reqwest::Client::new()
        .post(app.url("/api/v1/tokens"))
        .json(&serde_json::json!({ "username": username, "password": password, "name": "test" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_string()
}

/// An API token for a new user `api-<role>` of `role` (created through the service),
/// or for `admin`.
pub async fn api_token_for(app: &TestApp, role: app::domain::Role) -> String {
    if role == app::domain::Role::Admin {
        return api_token(app, "admin", ADMIN_PASSWORD).await;
    }
    let name = format!("api-{}", role.as_str());
    let admin = app::backend::services::Actor::user("admin");
    app.backend.create_user(&admin, &name, USER_PASSWORD, role).await.unwrap();
    api_token(app, &name, USER_PASSWORD).await
}

/// An API token of `admin` from the Rackstate at `base`.
pub async fn admin_token(base: &str) -> String {
    let body = serde_json::json!({ "username": "admin", "password": ADMIN_PASSWORD, "name": "test" });
    let v: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/tokens"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["token"].as_str().unwrap().to_string()
}

/// Waits until a Rackstate at `base` answers /readyz.
pub async fn wait_ready(base: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await
            && r.status().is_success()
        {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{base} never became ready");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
