//! Benchmark (prints numbers): three `rackstate` replicas on one PostgreSQL database,
//! each with its own workers, and the demo lab as a process of its own. Enrols the
//! lab's servers through all three (clients spread the requests; no load balancer),
//! kills one replica with SIGKILL when half are registered, and waits until every
//! server is registered; then makes them available, allocates them to a tenant and
//! releases them, so every one is cleaned, still on the two survivors. Prints job runs
//! per replica, how long the dead replica's jobs waited for a takeover, and whether
//! any server was lost, failed or registered twice.
//!
//!     RACKSTATE_BENCH_POSTGRES_URL=postgres://rackstate_test:rackstate_test@127.0.0.1:5432/postgres \
//!       RACKSTATE_BENCH_SERVERS=10000 cargo bench -p server --bench replicas
//!
//! RACKSTATE_BENCH_SERVERS (1,000), RACKSTATE_BENCH_WORKERS per replica (64),
//! RACKSTATE_BENCH_DB_CONNECTIONS per replica (the default) and
//! RACKSTATE_BENCH_LEASE_SECONDS (10: how long a dead replica's jobs wait) tune it.

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::env_number;

const ADMIN_PASSWORD: &str = "bench-admin-password";
const SECRET_KEY: &str = "5f0c1e0d7a3b49c28e6f1d2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e";

struct Replica {
    name: &'static str,
    base: String,
    metrics: String,
    child: Option<Child>,
    /// Job runs by outcome, as last scraped (kept after the replica is killed).
    runs: BTreeMap<String, f64>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Lab(Child);

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn main() {
    let Ok(admin_url) = std::env::var("RACKSTATE_BENCH_POSTGRES_URL") else {
        println!("replicas: set RACKSTATE_BENCH_POSTGRES_URL (a PostgreSQL role that may create databases)");
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(run(admin_url));
}

async fn run(admin_url: String) {
    let servers = env_number("RACKSTATE_BENCH_SERVERS", 1000);
    let workers = env_number("RACKSTATE_BENCH_WORKERS", 64);
    let lease = env_number("RACKSTATE_BENCH_LEASE_SECONDS", 10);
    let bin = env!("CARGO_BIN_EXE_rackstate");
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = common::database_at(&admin_url).await;
    let db = app::backend::Db::connect(&url, 4).await.unwrap();

    // The lab: one process, a BMC port per machine (hence the file limit).
    let lab_dir = dir.path().join("lab");
    let started = Instant::now();
    let lab = Lab(Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 65536 2>/dev/null; exec {bin} lab --machines {servers} --boot-seconds 0 --dir {}",
            lab_dir.display()
        ))
        .env("RACKSTATE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("starting rackstate lab"));
    let machines: Vec<Value> = loop {
        if let Ok(text) = std::fs::read_to_string(lab_dir.join("machines.json"))
            && let Ok(list) = serde_json::from_str::<Vec<Value>>(&text)
        {
            break list;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "the lab never wrote its machines");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("{servers} lab machines up in {:.1} s (one process)", started.elapsed().as_secs_f64());

    // Three replicas: the same database and secret key, each its own agent URL.
    let image = dir.path().join("live-image.img");
    rackstate_server::live_image::LiveImage::write_simulation_image(&image).unwrap();
    let mut replicas = Vec::new();
    for name in ["replica-1", "replica-2", "replica-3"] {
        let (port, metrics_port) = (free_port(), free_port());
        let base = format!("http://127.0.0.1:{port}");
        let data = dir.path().join(name);
        std::fs::create_dir_all(&data).unwrap();
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n 65536 2>/dev/null; exec {bin}"))
            .envs([
                ("RACKSTATE_LISTEN", format!("127.0.0.1:{port}")),
                ("RACKSTATE_DATABASE_URL", url.clone()),
                ("RACKSTATE_DATA_DIR", data.display().to_string()),
                ("RACKSTATE_SECRET_KEY", SECRET_KEY.to_string()),
                ("RACKSTATE_ADMIN_PASSWORD", ADMIN_PASSWORD.to_string()),
                ("RACKSTATE_WORKERS", workers.to_string()),
                ("RACKSTATE_JOB_LEASE_SECONDS", lease.to_string()),
                ("RACKSTATE_AGENT_URL", base.clone()),
                ("RACKSTATE_POWER_SYNC_SECONDS", "0".into()),
                ("RACKSTATE_LIVE_IMAGE", image.display().to_string()),
                ("RACKSTATE_BMC_NETWORKS", "any,127.0.0.0/8".into()),
                ("RACKSTATE_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}")),
                ("RACKSTATE_LOG", "warn".into()),
            ])
            .envs(std::env::var("RACKSTATE_BENCH_DB_CONNECTIONS").map(|n| ("RACKSTATE_DB_MAX_CONNECTIONS", n)))
            .stdout(std::fs::File::create(dir.path().join(format!("{name}.log"))).unwrap())
            .stderr(std::fs::File::create(dir.path().join(format!("{name}.err"))).unwrap())
            .spawn()
            .expect("starting rackstate");
        let replica = Replica {
            name,
            base,
            metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
            child: Some(child),
            runs: BTreeMap::new(),
        };
        wait_ready(&replica.base).await;
        replicas.push(replica);
    }
    let http = reqwest::Client::new();
    let token = admin_token(&http, &replicas[0].base).await;

    // Enrolment, spread over the replicas by the client.
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    for (chunk_no, chunk) in machines.chunks(machines.len().div_ceil(16).max(1)).enumerate() {
        let (http, token, bases, chunk) = (http.clone(), token.clone(), bases.clone(), chunk.to_vec());
        tasks.spawn(async move {
            for (i, m) in chunk.iter().enumerate() {
                let base = &bases[(chunk_no + i) % bases.len()];
                let body = json!({
                    "name": m["name"], "bmc_address": m["address"],
                    "bmc_username": m["username"], "bmc_password": m["password"],
                });
                let r = http.post(format!("{base}/api/v1/servers")).bearer_auth(&token).json(&body).send().await;
                let status = r.map(|r| r.status().as_u16()).unwrap_or(0);
                assert_eq!(status, 201, "enrolling {}", m["name"]);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let enrolled = started.elapsed();
    println!(
        "enrolled {servers} servers through 3 replicas in {:.1} s ({:.0}/s)",
        enrolled.as_secs_f64(),
        servers as f64 / enrolled.as_secs_f64()
    );

    // Registration, with replica-2 killed half-way.
    let victim = 1;
    let victim_pid = replicas[victim].child.as_ref().map(|c| c.id()).unwrap_or_default();
    let mut killed_at: Option<Instant> = None;
    let mut takeover: Option<Duration> = None;
    loop {
        scrape(&http, &mut replicas).await;
        let (registered, failed) = counts(&db, "unavailable", "register").await;
        if killed_at.is_none() && registered * 2 >= servers as i64 {
            let r = &mut replicas[victim];
            if let Some(c) = r.child.as_mut() {
                let _ = c.kill(); // SIGKILL: no shutdown, leases left as they were
                let _ = c.wait();
            }
            r.child = None;
            killed_at = Some(Instant::now());
            println!(
                "SIGKILL {} (pid {victim_pid}) at {registered} of {servers} registered, {:.1} s in",
                r.name,
                started.elapsed().as_secs_f64()
            );
        }
        if let Some(at) = killed_at
            && takeover.is_none()
            && held_by(&db, victim_pid).await == 0
        {
            takeover = Some(at.elapsed());
        }
        if registered + failed >= servers as i64 {
            println!(
                "registered: {registered}, failed: {failed}, in {:.1} s from the first enrolment",
                started.elapsed().as_secs_f64()
            );
            common::where_the_time_went(&db, "register").await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    match takeover {
        Some(t) => println!(
            "the dead replica's jobs were all claimed by the others {:.1} s after the kill (lease {lease} s)",
            t.as_secs_f64()
        ),
        None => println!("the dead replica held no job at the end"),
    }
    let twice: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT server_id FROM jobs WHERE kind = 'register' AND status = 'succeeded' \
         GROUP BY server_id HAVING COUNT(*) > 1) t",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    let lost: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM servers WHERE state <> 'unavailable'")
        .fetch_one(db.pool())
        .await
        .unwrap();
    println!("servers registered twice: {twice}; servers not registered: {lost}");

    // Cleaning: available, allocated to one tenant, released; on the two survivors.
    let live: Vec<String> = replicas.iter().filter(|r| r.child.is_some()).map(|r| r.base.clone()).collect();
    let started = Instant::now();
    common::make_all_available(&http, &token, &live, &db).await;
    common::allocate_and_release_all(&http, &token, &live, &db).await;
    println!(
        "{servers} made available, allocated and released (cleaning queued) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    loop {
        scrape(&http, &mut replicas).await;
        let (clean, failed) = counts(&db, "available", "clean").await;
        if clean + failed >= servers as i64 {
            println!(
                "cleaned: {clean}, failed: {failed}, in {:.1} s from the first state change",
                started.elapsed().as_secs_f64()
            );
            common::where_the_time_went(&db, "clean").await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("job runs per replica (from each one's /metrics; the dead one's as last scraped):");
    for r in &replicas {
        let total: f64 = r.runs.values().sum();
        let outcomes: Vec<String> = r.runs.iter().map(|(k, v)| format!("{k} {v:.0}")).collect();
        let state = if r.child.is_some() { "alive" } else { "killed" };
        println!("  {} ({state}): {total:.0} runs ({})", r.name, outcomes.join(", "));
    }
    // What the replicas warned of (RACKSTATE_LOG=warn), most frequent first.
    for r in &replicas {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for file in [format!("{}.log", r.name), format!("{}.err", r.name)] {
            let text = std::fs::read_to_string(dir.path().join(file)).unwrap_or_default();
            for line in text.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")) {
                // Without the timestamp and span fields: the message and its target.
                let plain: String = strip_ansi(line);
                let key = plain.split_once(": ").map(|(_, m)| m).unwrap_or(&plain).chars().take(160).collect();
                *seen.entry(key).or_default() += 1;
            }
        }
        let mut top: Vec<(String, usize)> = seen.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1));
        println!("{}: {} warning line(s)", r.name, top.iter().map(|t| t.1).sum::<usize>());
        for (message, n) in top.iter().take(5) {
            println!("  {n:>5}  {message}");
        }
    }
    drop(replicas);
    drop(lab);
    common::drop_database(pg, &db).await;
}

/// Servers in `state`, and jobs of `kind` that failed.
async fn counts(db: &app::backend::Db, state: &str, kind: &str) -> (i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM servers WHERE state = $1), \
                (SELECT COUNT(*) FROM jobs WHERE kind = $2 AND status = 'failed')",
    )
    .bind(state)
    .bind(kind)
    .fetch_one(db.pool())
    .await
    .unwrap()
}

/// Active jobs whose lease names the process `pid` (a runner's owner is
/// host-pid-random).
async fn held_by(db: &app::backend::Db, pid: u32) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running', 'waiting_for_agent') AND lease_owner LIKE $1",
    )
    .bind(format!("%-{pid}-%"))
    .fetch_one(db.pool())
    .await
    .unwrap()
}

/// Reads each live replica's job-run counts by outcome.
async fn scrape(http: &reqwest::Client, replicas: &mut [Replica]) {
    for r in replicas.iter_mut().filter(|r| r.child.is_some()) {
        let Ok(resp) = http.get(&r.metrics).send().await else { continue };
        let Ok(text) = resp.text().await else { continue };
        let mut runs: HashMap<String, f64> = HashMap::new();
        for line in text.lines().filter(|l| l.starts_with("rackstate_job_run_duration_seconds_count{")) {
            let outcome = line.split("outcome=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("?");
            let value: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
            *runs.entry(outcome.to_string()).or_default() += value;
        }
        r.runs = runs.into_iter().collect();
    }
}

async fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if reqwest::get(format!("{base}/readyz")).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{base} never became ready");
}

async fn admin_token(http: &reqwest::Client, base: &str) -> String {
    let body = json!({ "username": "admin", "password": ADMIN_PASSWORD, "name": "bench" });
    let v: Value = http.post(format!("{base}/api/v1/tokens")).json(&body).send().await.unwrap().json().await.unwrap();
    v["token"].as_str().expect("a token").to_string()
}

/// A log line without its terminal colours.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
