//! kill -9 of Rackstate while 100 registrations run, then a restart on the same
//! database: every job ends (succeeded, or failed with a reason); none is lost, none
//! runs twice. Runs the real `rackstate` binary with its demo lab.

mod common;

use app::backend::Db;
use std::process::Child;
use std::time::Duration;

const SERVERS: usize = 100;

fn start(data_dir: &std::path::Path, database_url: &str, port: u16) -> Child {
    let machines = SERVERS.to_string();
    common::start_binary(
        data_dir,
        database_url,
        port,
        &[
            ("RACKSTATE_DEMO_LAB", machines.as_str()),
            ("RACKSTATE_DEMO_LAB_BOOT_SECONDS", "1"),
            ("RACKSTATE_AGENT_TIMEOUT_SECONDS", "15"),
            ("RACKSTATE_JOB_LEASE_SECONDS", "4"),
            ("RACKSTATE_WORKERS", "16"),
        ],
    )
}

/// Jobs by status.
async fn statuses(db: &Db) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
        .fetch_all(db.pool())
        .await
        .unwrap_or_default()
}

fn count(s: &[(String, i64)], which: &[&str]) -> i64 {
    s.iter().filter(|(k, _)| which.contains(&k.as_str())).map(|(_, n)| n).sum()
}

#[tokio::test]
async fn kill_9_during_registrations() {
    let dir = tempfile::tempdir().unwrap();
    let url = common::fresh_database_url(dir.path()).await;
    let port = common::sushy::free_port();
    let mut first = start(dir.path(), &url, port);
    let db = loop {
        if let Ok(db) = Db::connect(&url, 2).await
            && sqlx::query("SELECT 1 FROM jobs LIMIT 1").execute(db.pool()).await.is_ok()
        {
            break db;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Kill while registrations are under way: some running or waiting for their agent.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let s = statuses(&db).await;
        if count(&s, &["running"]) >= 5
            && count(&s, &["waiting_for_agent"]) >= 5
            && count(&s, &["queued", "running", "waiting_for_agent"]) >= 50
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "registrations never got going: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let at_kill = statuses(&db).await;
    eprintln!("killed with jobs {at_kill:?}");

    let mut second = start(dir.path(), &url, port);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let end = loop {
        let s = statuses(&db).await;
        if count(&s, &["queued", "running", "waiting_for_agent"]) == 0 && count(&s, &["succeeded", "failed"]) > 0 {
            break s;
        }
        assert!(tokio::time::Instant::now() < deadline, "jobs still active after the restart: {s:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = second.kill();
    let _ = second.wait();
    eprintln!("after restart: {end:?}");

    // None lost or duplicated: one registration job per server, each ended.
    let per_server: Vec<(i64, i64)> =
        sqlx::query_as("SELECT s.id, COUNT(j.id) FROM servers s LEFT JOIN jobs j ON j.server_id = s.id GROUP BY s.id")
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(per_server.len(), SERVERS);
    assert!(per_server.iter().all(|(_, n)| *n == 1), "{per_server:?}");
    assert_eq!(count(&end, &["succeeded", "failed"]), SERVERS as i64, "{end:?}");
    // Failed ones say why; none ran to success twice; states match the outcomes.
    let unexplained: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE status = 'failed' AND (last_error IS NULL OR last_error = '')",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(unexplained, 0);
    let doubled: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT server_id FROM events WHERE kind = 'state_changed' AND to_value = 'unavailable' \
         GROUP BY server_id HAVING COUNT(*) > 1) d",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(doubled, 0, "a registration completed twice");
    let unavailable: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM servers WHERE state = 'unavailable'")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(unavailable, count(&end, &["succeeded"]));
    let failed_registering: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM servers WHERE state = 'registering' AND last_error IS NOT NULL")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(failed_registering, count(&end, &["failed"]));
}
