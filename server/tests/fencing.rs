//! Fenced jobs against machines that outlive Rackstate: the demo lab runs as its own
//! process (`rackstate lab`), Rackstate processes are stopped (SIGSTOP) or killed
//! (kill -9) while their jobs act on the machines, and another process takes over.
//! Runs the real `rackstate` binary (SQLite and PostgreSQL).

mod common;

use app::backend::Db;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The lab as its own process; its machines (name, address, username, password).
struct LabProcess {
    child: Child,
    machines: Vec<Value>,
    _dir: tempfile::TempDir,
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_lab(machines: usize, boot_seconds: &str, bmc_delay_ms: &str) -> LabProcess {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_rackstate"))
        .args(["lab", "--machines", &machines.to_string(), "--boot-seconds", boot_seconds])
        .args(["--bmc-delay-ms", bmc_delay_ms, "--dir"])
        .arg(dir.path())
        .env("RACKSTATE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting rackstate lab");
    let state = dir.path().join("machines.json");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let machines = loop {
        if let Ok(text) = std::fs::read_to_string(&state)
            && let Ok(list) = serde_json::from_str::<Vec<Value>>(&text)
        {
            break list;
        }
        assert!(tokio::time::Instant::now() < deadline, "the lab never wrote its machines");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    LabProcess { child, machines, _dir: dir }
}

/// A Rackstate process on `port` (its own agent URL), with the lab's simulation image.
fn start(dir: &std::path::Path, url: &str, port: u16, workers: &str) -> Child {
    let agent_url = format!("http://127.0.0.1:{port}");
    let image = dir.join("live-image.img");
    rackstate_server::live_image::LiveImage::write_simulation_image(&image).unwrap();
    let image = image.display().to_string();
    common::start_binary(
        dir,
        url,
        port,
        &[
            ("RACKSTATE_WORKERS", workers),
            ("RACKSTATE_JOB_LEASE_SECONDS", "3"),
            ("RACKSTATE_AGENT_TIMEOUT_SECONDS", "600"),
            ("RACKSTATE_AGENT_URL", agent_url.as_str()),
            ("RACKSTATE_POWER_SYNC_SECONDS", "0"),
            ("RACKSTATE_LIVE_IMAGE", image.as_str()),
            ("RACKSTATE_BMC_NETWORKS", "any,127.0.0.0/8"),
        ],
    )
}

/// A first Rackstate process (A) on a fresh database, with the lab's machines added;
/// a port held for the second (B) until it starts (a port only looked up free could
/// become the source port of one of the many connections made meanwhile: B then
/// could not listen on it).
struct TwoProcesses {
    dir: tempfile::TempDir,
    url: String,
    a: Child,
    port_b: std::net::TcpListener,
}

/// Starts B on the port held for it.
fn start_b(dir: &std::path::Path, url: &str, port_b: std::net::TcpListener, workers: &str) -> Child {
    let port = port_b.local_addr().unwrap().port();
    drop(port_b);
    start(dir, url, port, workers)
}

async fn first_process(lab: &LabProcess, workers: &str) -> TwoProcesses {
    let dir = tempfile::tempdir().unwrap();
    let url = common::fresh_database_url(dir.path()).await;
    let port_a = common::sushy::free_port();
    let port_b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = start(dir.path(), &url, port_a, workers);
    let base_a = format!("http://127.0.0.1:{port_a}");
    common::wait_ready(&base_a).await;
    add_servers(&base_a, lab).await;
    TwoProcesses { dir, url, a, port_b }
}

async fn add_servers(base: &str, lab: &LabProcess) {
    let token = common::admin_token(base).await;
    let client = reqwest::Client::new();
    for m in &lab.machines {
        let body = serde_json::json!({
            "name": m["name"], "bmc_address": m["address"], "bmc_username": m["username"], "bmc_password": m["password"],
        });
        let resp = client.post(format!("{base}/api/v1/servers")).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    }
}

async fn job_counts(db: &Db) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status")
        .fetch_all(db.pool())
        .await
        .unwrap_or_default()
}

fn count(s: &[(String, i64)], status: &str) -> i64 {
    s.iter().filter(|(k, _)| k == status).map(|(_, n)| n).sum()
}

/// Waits up to `limit` until the jobs by status satisfy `done`; returns them.
async fn wait_for_jobs(
    db: &Db,
    limit: Duration,
    what: &str,
    done: impl Fn(&[(String, i64)]) -> bool,
) -> Vec<(String, i64)> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let s = job_counts(db).await;
        if done(&s) {
            return s;
        }
        if tokio::time::Instant::now() >= deadline {
            let failed: Vec<(i64, Option<String>)> =
                sqlx::query_as("SELECT id, last_error FROM jobs WHERE status = 'failed' ORDER BY id LIMIT 3")
                    .fetch_all(db.pool())
                    .await
                    .unwrap_or_default();
            let steps: Vec<(i64, String)> = sqlx::query_as("SELECT job_id, message FROM job_steps ORDER BY id")
                .fetch_all(db.pool())
                .await
                .unwrap_or_default();
            panic!("{what}: {s:?}; failed: {failed:?}; steps: {steps:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What changed at a lab BMC: (time, method path, client).
async fn actions(machine: &Value) -> Vec<(i64, String, String)> {
    let list: Vec<Value> = reqwest::Client::new()
        .get(format!("{}/lab/actions", machine["address"].as_str().unwrap()))
        .basic_auth(machine["username"].as_str().unwrap(), machine["password"].as_str())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.iter()
        .map(|a| {
            let what = format!("{} {}", a["method"].as_str().unwrap(), a["path"].as_str().unwrap());
            (a["at_ms"].as_i64().unwrap(), what, a["client"].as_str().unwrap().to_string())
        })
        .collect()
}

fn now_ms() -> i64 {
    app::backend::store::now_ms()
}

async fn connect(url: &str) -> Db {
    loop {
        if let Ok(db) = Db::connect(url, 2).await
            && sqlx::query("SELECT 1 FROM jobs LIMIT 1").execute(db.pool()).await.is_ok()
        {
            return db;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Rackstate process stopped (SIGSTOP) in the middle of a registration's BMC steps,
/// past its lease: another process takes the job over and finishes it (its agent
/// reports to the new process); when the stopped one resumes (SIGCONT), its stalled
/// runner performs no further BMC action for that job (no restart of a machine whose
/// agent has reported, no second eject).
#[tokio::test]
async fn a_stopped_runner_acts_no_more_after_a_takeover() {
    // Each BMC answer takes 400 ms, so the runner is stopped between its steps.
    let lab = start_lab(1, "1", "400").await;
    let TwoProcesses { dir, url, mut a, port_b } = first_process(&lab, "1").await;
    let machine = &lab.machines[0];
    let a_client = format!("-{}-", a.id());
    // Stop A right after its first change at the BMC.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !actions(machine).await.iter().any(|(_, _, c)| c.contains(&a_client)) {
        assert!(tokio::time::Instant::now() < deadline, "A never acted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Command::new("kill").args(["-STOP", &a.id().to_string()]).status().unwrap();
    let db = connect(&url).await;
    let mut b = start_b(dir.path(), &url, port_b, "1");
    // B takes the job over after A's lease, boots the machine with its own image (the
    // agent reports to B) and finishes the registration.
    let b_client = format!("-{}-", b.id());
    wait_for_jobs(&db, Duration::from_secs(90), "B never finished the registration", |s| count(s, "succeeded") == 1)
        .await;
    assert!(actions(machine).await.iter().any(|(_, _, c)| c.contains(&b_client)), "B acted");
    let resumed_at = now_ms();
    Command::new("kill").args(["-CONT", &a.id().to_string()]).status().unwrap();
    // The stalled runner had a boot to finish (power on, wait, park): give it time.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let late: Vec<_> =
        actions(machine).await.into_iter().filter(|(at, _, c)| *at > resumed_at && c.contains(&a_client)).collect();
    let _ = (a.kill(), b.kill(), a.wait(), b.wait());
    for (at, what, client) in actions(machine).await {
        eprintln!("{:>7} ms {what} by {client}", at - resumed_at);
    }
    eprintln!("A is {a_client}, B is {b_client}");
    assert!(late.is_empty(), "the stopped runner acted after it resumed: {late:?}");
    let attempts: i64 = sqlx::query_scalar("SELECT MAX(fence) FROM jobs").fetch_one(db.pool()).await.unwrap();
    assert!(attempts >= 2, "claimed again by B (fence {attempts})");
}

/// kill -9 of Rackstate while 50 registrations wait for their agents; the machines
/// (an out-of-process lab) keep running, but their agents call the dead process. A
/// second process with its own URL takes the parked jobs over after the lease,
/// re-checks each machine and boots it again: all 50 finish within lease + boot time,
/// none waits for the 10-minute agent timeout.
#[tokio::test]
async fn parked_jobs_of_a_killed_process_are_taken_over() {
    const MACHINES: usize = 50;
    let lab = start_lab(MACHINES, "6", "0").await;
    let TwoProcesses { dir, url, mut a, port_b } = first_process(&lab, "16").await;
    let db = connect(&url).await;
    wait_for_jobs(&db, Duration::from_secs(60), "the registrations never all parked", |s| {
        count(s, "waiting_for_agent") == MACHINES as i64
    })
    .await;
    a.kill().unwrap(); // SIGKILL, before any agent reports
    a.wait().unwrap();
    let killed = tokio::time::Instant::now();
    let mut b = start_b(dir.path(), &url, port_b, "16");
    let end = wait_for_jobs(&db, Duration::from_secs(90), "jobs still waiting after the takeover", |s| {
        count(s, "succeeded") + count(s, "failed") == MACHINES as i64
    })
    .await;
    let took = killed.elapsed();
    let _ = (b.kill(), b.wait());
    assert_eq!(count(&end, "succeeded"), MACHINES as i64, "{end:?}");
    eprintln!("all {MACHINES} registrations finished {took:?} after the kill");
    let unavailable: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM servers WHERE state = 'unavailable'")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(unavailable, MACHINES as i64);
}
