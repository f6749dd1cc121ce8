//! Starting and stopping replicas: two processes starting together on an empty
//! database, and SIGTERM.

mod common;
use common::{ADMIN_PASSWORD, fresh_database_url, start_binary, wait_ready};

fn port() -> u16 {
    common::sushy::free_port()
}

/// Waits for a child to exit by itself, at most `limit`; None if it is still running.
async fn exited_within(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits until both processes answer /readyz; Err names one that exited first.
async fn both_ready(a: &mut std::process::Child, pa: u16, b: &mut std::process::Child, pb: u16) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut ready = [false, false];
    while tokio::time::Instant::now() < deadline {
        for (i, (child, port)) in [(&mut *a, pa), (&mut *b, pb)].into_iter().enumerate() {
            if let Some(status) = child.try_wait().unwrap() {
                return Err(format!("replica {i} exited: {status}"));
            }
            if !ready[i] {
                ready[i] = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
                    .await
                    .is_ok_and(|r| r.status().is_success());
            }
        }
        if ready == [true, true] {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(format!("not ready after 60 s: {ready:?}"))
}

async fn users(database_url: &str) -> Vec<String> {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(database_url).await.unwrap();
    sqlx::query_scalar("SELECT username FROM users").fetch_all(&mut conn).await.unwrap()
}

async fn login_status(base: &str, password: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{base}/api/login"))
        .form(&[("username", "admin"), ("password", password)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Two replicas deployed at once on an empty database: one migrates while the other
/// waits, the first admin is created once, and both serve (three trials).
#[tokio::test]
async fn two_replicas_start_together_on_an_empty_database() {
    for trial in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_database_url(dir.path()).await;
        let (pa, pb) = (port(), port());
        let mut a = start_binary(dir.path(), &url, pa, &[("RACKSTATE_WORKERS", "1")]);
        let mut b = start_binary(dir.path(), &url, pb, &[("RACKSTATE_WORKERS", "1")]);
        let ready = both_ready(&mut a, pa, &mut b, pb).await;
        let _ = (a.kill(), b.kill(), a.wait(), b.wait());
        assert!(ready.is_ok(), "trial {trial}: {ready:?}");
        assert_eq!(users(&url).await, vec!["admin".to_string()], "trial {trial}");
    }
}

/// Two replicas start together with no admin password given: one generates it and
/// writes it once; the password in the file is the one that works.
#[tokio::test]
async fn the_generated_admin_password_is_written_once_and_works() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(dir.path()).await;
    let (pa, pb) = (port(), port());
    let start = |p| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rackstate"));
        cmd.env("RACKSTATE_LISTEN", format!("127.0.0.1:{p}"))
            .env("RACKSTATE_DATA_DIR", dir.path())
            .env("RACKSTATE_DATABASE_URL", &url)
            .env("RACKSTATE_LOG", "warn")
            .stdout(std::process::Stdio::null());
        cmd.spawn().unwrap()
    };
    let (mut a, mut b) = (start(pa), start(pb));
    let ready = both_ready(&mut a, pa, &mut b, pb).await;
    if ready.is_err() {
        let _ = (a.kill(), b.kill(), a.wait(), b.wait());
    }
    ready.unwrap();
    let password = std::fs::read_to_string(dir.path().join("initial-admin-password")).unwrap();
    let status = login_status(&format!("http://127.0.0.1:{pb}"), password.trim()).await;
    let _ = (a.kill(), b.kill(), a.wait(), b.wait());
    assert_eq!(status, 200);
    assert_eq!(users(&url).await.len(), 1);
}

/// SIGTERM while a browser holds a server's live stream open and a registration is
/// stuck on a BMC that never answers: the process stops claiming, ends the stream,
/// releases the job's lease for another process (the job is not failed) and exits
/// within 10 seconds.
#[tokio::test]
async fn sigterm_ends_streams_releases_jobs_and_exits_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(dir.path()).await;
    let p = port();
    let base = format!("http://127.0.0.1:{p}");
    let env = [("RACKSTATE_WORKERS", "2"), ("RACKSTATE_BMC_NETWORKS", "any,127.0.0.0/8")];
    let mut child = start_binary(dir.path(), &url, p, &env);
    wait_ready(&base).await;
    let http = reqwest::Client::new();
    let bearer = format!("Bearer {}", common::admin_token(&base).await);
    // A BMC that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server: serde_json::Value = http
        .post(format!("{base}/api/v1/servers"))
        .header("authorization", &bearer)
        .json(&serde_json::json!({
            "name": "stuck-01",
            "bmc_address": format!("http://{}/redfish/v1/Systems/1", silent.local_addr().unwrap()),
            "bmc_username": "root",
            "bmc_password": "calvin",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = server["id"].as_i64().unwrap();
    sqlx::any::install_default_drivers();
    let job_running = || async {
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url).await.unwrap();
        let row: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT status, lease_expires_at FROM jobs WHERE server_id = $1 ORDER BY id DESC LIMIT 1")
                .bind(id)
                .fetch_optional(&mut conn)
                .await
                .unwrap();
        row
    };
    for _ in 0..100 {
        if job_running().await.is_some_and(|(s, _)| s == "running") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // A logged-in browser on the server's page.
    let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let login = browser
        .post(format!("{base}/api/login"))
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let mut stream = browser.get(format!("{base}/live/servers/{id}")).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.chunk().await.unwrap().is_some(), "the stream sends its first event");

    let started = std::time::Instant::now();
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = exited_within(&mut child, std::time::Duration::from_secs(10)).await;
    let took = started.elapsed();
    if status.is_none() {
        let _ = (child.kill(), child.wait());
    }
    assert!(status.is_some_and(|s| s.success()), "exit {status:?} after {took:?}");
    let end = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(end.is_ok(), "the live stream is still open");
    let (status, lease) = job_running().await.unwrap();
    assert_eq!(status, "running", "the job is left for another process, not failed");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!(lease.is_some_and(|l| l < now), "the job's lease was released: {lease:?}");
    drop(silent);
}
