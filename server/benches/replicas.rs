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
//! RACKSTATE_BENCH_SERVERS (1,000), RACKSTATE_BENCH_DISK_KIB (each lab disk's size,
//! 128 KiB: what cleaning writes and reads back), RACKSTATE_BENCH_WORKERS per replica (64),
//! RACKSTATE_BENCH_DB_CONNECTIONS per replica (the default) and
//! RACKSTATE_BENCH_LEASE_SECONDS (10: how long a dead replica's jobs wait) tune it.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

mod common;
use common::{Process, env_number};

struct Replica {
    name: &'static str,
    base: String,
    metrics: String,
    process: Process,
    /// Job runs by outcome, as last scraped (kept after the replica is killed).
    runs: BTreeMap<String, f64>,
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
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = common::database_at(&admin_url).await;
    let db = app::backend::Db::connect(&url, 4).await.unwrap();

    let started = Instant::now();
    let disk_kib = env_number("RACKSTATE_BENCH_DISK_KIB", 128);
    let (lab, machines) = common::start_lab(servers, dir.path(), &format!("--disk-kib {disk_kib}")).await;
    println!("{servers} lab machines up in {:.1} s (one process)", started.elapsed().as_secs_f64());

    // Three replicas: the same database and secret key, each its own agent URL.
    let mut replicas = Vec::new();
    let mut env = vec![("RACKSTATE_WORKERS", workers.to_string()), ("RACKSTATE_JOB_LEASE_SECONDS", lease.to_string())];
    if let Ok(n) = std::env::var("RACKSTATE_BENCH_DB_CONNECTIONS") {
        env.push(("RACKSTATE_DB_MAX_CONNECTIONS", n));
    }
    for name in ["replica-1", "replica-2", "replica-3"] {
        let (process, base, metrics) = common::start_rackstate(name, dir.path(), &url, &env).await;
        replicas.push(Replica { name, base, metrics, process, runs: BTreeMap::new() });
    }
    let http = reqwest::Client::new();
    let token = common::admin_token(&http, &replicas[0].base).await;

    // Enrolment, spread over the replicas by the client.
    let started = Instant::now();
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    common::enrol_all(&http, &token, &bases, &machines).await;
    let enrolled = started.elapsed();
    println!(
        "enrolled {servers} servers through 3 replicas in {:.1} s ({:.0}/s)",
        enrolled.as_secs_f64(),
        servers as f64 / enrolled.as_secs_f64()
    );

    // Registration, with replica-2 killed half-way.
    let victim = 1;
    let victim_pid = replicas[victim].process.pid();
    let mut killed_at: Option<Instant> = None;
    let mut takeover: Option<Duration> = None;
    loop {
        scrape(&http, &mut replicas).await;
        let (registered, failed) = counts(&db, "unavailable", "register").await;
        if killed_at.is_none() && registered * 2 >= servers as i64 {
            let r = &mut replicas[victim];
            r.process.kill();
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
    let live: Vec<String> = replicas.iter().filter(|r| r.process.alive()).map(|r| r.base.clone()).collect();
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
        let state = if r.process.alive() { "alive" } else { "killed" };
        println!("  {} ({state}): {total:.0} runs ({})", r.name, outcomes.join(", "));
    }
    // What the replicas warned of (RACKSTATE_LOG=warn), most frequent first.
    for r in &replicas {
        let top = common::warnings(dir.path(), r.name);
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
    for r in replicas.iter_mut().filter(|r| r.process.alive()) {
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
