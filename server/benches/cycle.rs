//! Benchmark (prints numbers; asserts nothing): a whole 1,000-server cycle through one
//! `rackstate` process, as an admin's scripts would drive it, against the lab as a
//! process of its own (its BMCs and the agents of its live images are not
//! Rackstate's cost). Through the REST API with 16 clients every lab machine is
//! enrolled (and registers), made available, allocated to a tenant and released (each
//! cleaned back to available); then the whole fleet is listed with detail (every page
//! of 500). Prints each phase's wall time and the CPU seconds each process spent in
//! it, the listing's percentiles, the statements Rackstate logged as slow (over 1 s)
//! and each process's peak RSS.
//!
//! Cleaning erases the lab's disks as `RACKSTATE_BENCH_ERASE` says (`metadata` by
//! default; `secure` for the full overwrite and its check). The disks are files of
//! `RACKSTATE_BENCH_DISK_KIB` (128 KiB by default): on real hardware each machine
//! erases its own disks, while here a thousand machines' agents share this machine's
//! two cores and one disk with Rackstate (at the lab's usual 3 MiB the lab writes
//! 8 GB and spends about 25 CPU seconds per 1,000 cleanings, which the line shows).
//!
//!     cargo bench -p server --bench cycle
//!     RACKSTATE_BENCH_SERVERS=10000 cargo bench -p server --bench cycle
//!     RACKSTATE_BENCH_ERASE=secure cargo bench -p server --bench cycle
//!     RACKSTATE_BENCH_POSTGRES_URL=postgres://user:pass@127.0.0.1/postgres cargo bench -p server --bench cycle
//!
//! RACKSTATE_BENCH_WORKERS sets Rackstate's workers (its default otherwise);
//! RACKSTATE_BENCH_BMC_DELAY_MS makes each lab BMC take that long per request (a real
//! BMC answers in a tenth of a second to seconds); RACKSTATE_BENCH_LOG sets Rackstate's
//! RACKSTATE_LOG and RACKSTATE_BENCH_KEEP_LOG names a file its log is copied to.

use std::time::{Duration, Instant};

mod common;
use common::{Process, cpu_seconds, database, env_number};

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(run());
}

/// CPU seconds of Rackstate and of the lab since the last phase.
struct Cpu<'a> {
    rackstate: &'a Process,
    lab: &'a Process,
    at: (f64, f64),
}

impl<'a> Cpu<'a> {
    fn new(rackstate: &'a Process, lab: &'a Process) -> Self {
        Self { rackstate, lab, at: (cpu_seconds(rackstate.pid()), cpu_seconds(lab.pid())) }
    }

    /// "CPU: Rackstate x s, lab y s" for the phase that just ended.
    fn phase(&mut self) -> String {
        let now = (cpu_seconds(self.rackstate.pid()), cpu_seconds(self.lab.pid()));
        let line = format!("CPU: Rackstate {:.1} s, lab {:.1} s", now.0 - self.at.0, now.1 - self.at.1);
        self.at = now;
        line
    }
}

async fn run() {
    let servers = env_number("RACKSTATE_BENCH_SERVERS", 1000);
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = database(dir.path()).await;
    let erase = std::env::var("RACKSTATE_BENCH_ERASE").unwrap_or_else(|_| "metadata".into());
    let mut env = vec![("RACKSTATE_ERASE_MODE", erase.clone())];
    if let Ok(w) = std::env::var("RACKSTATE_BENCH_WORKERS") {
        env.push(("RACKSTATE_WORKERS", w));
    }
    if let Ok(l) = std::env::var("RACKSTATE_BENCH_LOG") {
        env.push(("RACKSTATE_LOG", l));
    }
    let disk_kib = env_number("RACKSTATE_BENCH_DISK_KIB", 128);
    let bmc_delay_ms = env_number("RACKSTATE_BENCH_BMC_DELAY_MS", 0);
    let lab_flags = format!("--disk-kib {disk_kib} --bmc-delay-ms {bmc_delay_ms}");
    let (lab, machines) = common::start_lab(servers, dir.path(), &lab_flags).await;
    let (rackstate, base, _) = common::start_rackstate("rackstate", dir.path(), &url, &env).await;
    let db = app::backend::Db::connect(&url, 2).await.unwrap();
    let db_kind = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    println!(
        "a {servers}-server cycle through one rackstate process ({db_kind}, {} workers, the lab a process of its own \
         with zero boot delay, {bmc_delay_ms} ms per BMC request, {erase} erase of {disk_kib} KiB disks):",
        std::env::var("RACKSTATE_BENCH_WORKERS").unwrap_or_else(|_| "default".into())
    );
    let http = reqwest::Client::new();
    let token = common::admin_token(&http, &base).await;
    let live = vec![base.clone()];
    let mut cpu = Cpu::new(&rackstate, &lab);

    let started = Instant::now();
    common::enrol_all(&http, &token, &live, &machines).await;
    let enrolled = started.elapsed();
    wait_for(&db, "SELECT COUNT(*) FROM servers WHERE state = 'unavailable'", "register", servers).await;
    println!(
        "  enrolled and registered:           {:>7.2} s  (enrolment answered in {:.2} s; {})",
        started.elapsed().as_secs_f64(),
        enrolled.as_secs_f64(),
        cpu.phase()
    );
    common::where_the_time_went(&db, "register").await;

    let started = Instant::now();
    common::make_all_available(&http, &token, &live, &db).await;
    println!("  made available (REST, 16 clients):  {:>6.2} s  ({})", started.elapsed().as_secs_f64(), cpu.phase());

    let started = Instant::now();
    common::allocate_and_release_all(&http, &token, &live, &db).await;
    let released = started.elapsed();
    wait_for(&db, "SELECT COUNT(*) FROM jobs WHERE kind = 'clean' AND status = 'succeeded'", "clean", servers).await;
    println!(
        "  allocated + released + cleaned:    {:>7.2} s  (allocate and release answered in {:.2} s; {})",
        started.elapsed().as_secs_f64(),
        released.as_secs_f64(),
        cpu.phase()
    );
    common::where_the_time_went(&db, "clean").await;

    let mut took = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        let listed = list_all(&http, &token, &base).await;
        took.push(started.elapsed());
        assert_eq!(listed, servers, "every server listed");
    }
    took.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  list all {servers} with detail ({} page(s) of 500), 50 times: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms ({})",
        servers.div_ceil(500),
        ms(took[25]),
        ms(took[45]),
        ms(took[49]),
        cpu.phase()
    );
    let warnings = common::warnings(dir.path(), "rackstate");
    let slow: usize = warnings.iter().filter(|(m, _)| m.contains("slow statement")).map(|(_, n)| n).sum();
    println!("  statements over 1 s (sqlx's slow-statement warnings): {slow}");
    println!(
        "  peak RSS: Rackstate {:.0} MiB, lab {:.0} MiB",
        common::peak_rss_mib_of(rackstate.pid()),
        common::peak_rss_mib_of(lab.pid())
    );
    println!("  Rackstate's warnings: {}", warnings.iter().map(|w| w.1).sum::<usize>());
    for (message, n) in warnings.iter().take(5) {
        println!("    {n:>5}  {message}");
    }
    drop(cpu);
    drop(rackstate);
    if let Ok(keep) = std::env::var("RACKSTATE_BENCH_KEEP_LOG") {
        let _ = std::fs::copy(dir.path().join("rackstate.log"), keep);
    }
    drop(lab);
    common::drop_database(pg, &db).await;
}

/// Waits until `count_sql` reaches `servers`, or a job of `kind` fails (then says so).
async fn wait_for(db: &app::backend::Db, count_sql: &str, kind: &str, servers: usize) {
    loop {
        let done: i64 = sqlx::query_scalar(count_sql).fetch_one(db.pool()).await.unwrap();
        let failed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = $1 AND status = 'failed'")
            .bind(kind)
            .fetch_one(db.pool())
            .await
            .unwrap();
        if failed > 0 {
            println!("  {failed} {kind} job(s) failed");
        }
        if done + failed >= servers as i64 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every page of the server list; how many servers it held.
async fn list_all(http: &reqwest::Client, token: &str, base: &str) -> usize {
    let mut listed = 0;
    for page in 1.. {
        // Counted, not built into a document: the client's own parsing is not timed.
        #[derive(serde::Deserialize)]
        struct Page {
            items: Vec<serde::de::IgnoredAny>,
        }
        let body = http
            .get(format!("{base}/api/v1/servers?per_page=500&page={page}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let items = serde_json::from_slice::<Page>(&body).expect("a page of servers").items.len();
        listed += items;
        if items < 500 {
            break;
        }
    }
    listed
}
