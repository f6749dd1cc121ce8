//! Benchmark (prints numbers; asserts nothing): a whole 1,000-server cycle in one
//! process, as an admin's scripts would drive it. The demo lab's servers (zero boot
//! delay) register; then, through the REST API with 16 clients, every one is made
//! available, allocated to a tenant and released (each cleaned back to available);
//! then the whole fleet is listed with detail (every page of 500). Prints each
//! phase's wall time, the listing's percentiles, the slowest database statement the
//! process logged, and the process's peak RSS (Rackstate and the lab's BMCs and agents
//! all run in it).
//!
//! Cleaning erases the lab's disks (files of 3 MiB each) as `RACKSTATE_BENCH_ERASE`
//! says: `metadata` by default, so the number is Rackstate's work and not this
//! machine's disk writing 12 GB; `secure` measures the full overwrite and its check.
//!
//!     cargo bench -p server --bench cycle
//!     RACKSTATE_BENCH_SERVERS=10000 cargo bench -p server --bench cycle
//!     RACKSTATE_BENCH_ERASE=secure cargo bench -p server --bench cycle
//!     RACKSTATE_BENCH_POSTGRES_URL=postgres://user:pass@127.0.0.1/postgres cargo bench -p server --bench cycle

use rackstate_server::{Application, Settings};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

mod common;
use common::{database, env_number, peak_rss_mb};

const ADMIN_PASSWORD: &str = "bench-admin-password";

fn main() {
    // sqlx logs a statement slower than its threshold (1 s) at WARN: counted below.
    let slow = SlowStatements::default();
    {
        use tracing_subscriber::Layer;
        use tracing_subscriber::layer::SubscriberExt;
        let only_warnings = slow.clone().with_filter(tracing_subscriber::filter::LevelFilter::WARN);
        let subscriber = tracing_subscriber::registry().with(only_warnings);
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(run(slow));
}

async fn run(slow: SlowStatements) {
    let servers = env_number("RACKSTATE_BENCH_SERVERS", 1000);
    let defaults = Settings::from_lookup(|_| None).unwrap();
    let workers = env_number("RACKSTATE_BENCH_WORKERS", defaults.workers);
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = database(dir.path()).await;
    let mut settings = defaults;
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.data_dir = dir.path().to_path_buf();
    settings.database_url = url;
    settings.admin_password = Some(rackstate_server::settings::Secret(ADMIN_PASSWORD.into()));
    settings.workers = workers;
    settings.demo_lab = servers;
    settings.demo_lab_boot = Duration::ZERO;
    let erase = std::env::var("RACKSTATE_BENCH_ERASE").unwrap_or_else(|_| "metadata".into());
    settings.erase_mode = app::domain::erase::EraseMode::parse(&erase).expect("secure, full or metadata");
    let app = Application::build(&settings).await.expect("Rackstate starts");
    let base = format!("http://{}", app.local_addr());
    let backend = app.backend().clone();
    tokio::spawn(app.serve(std::future::pending()));
    let db = backend.db.clone();
    let db_kind = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    println!("a {servers}-server cycle in one process ({db_kind}, {workers} workers, zero boot delay, {erase} erase):");

    let started = Instant::now();
    wait_for(&db, "SELECT COUNT(*) FROM servers WHERE state = 'unavailable'", "register", servers).await;
    println!("  registered:                      {:>7.2} s", started.elapsed().as_secs_f64());

    let http = reqwest::Client::new();
    let token = admin_token(&http, &base).await;
    let live = vec![base.clone()];
    let started = Instant::now();
    common::make_all_available(&http, &token, &live, &db).await;
    println!("  made available (REST, 16 clients): {:>5.2} s", started.elapsed().as_secs_f64());

    let started = Instant::now();
    common::allocate_and_release_all(&http, &token, &live, &db).await;
    let released = started.elapsed();
    wait_for(&db, "SELECT COUNT(*) FROM jobs WHERE kind = 'clean' AND status = 'succeeded'", "clean", servers).await;
    println!(
        "  allocated + released + cleaned:  {:>7.2} s  (allocate and release answered in {:.2} s)",
        started.elapsed().as_secs_f64(),
        released.as_secs_f64()
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
        "  list all {servers} with detail ({} page(s) of 500), 50 times: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        servers.div_ceil(500),
        ms(took[25]),
        ms(took[45]),
        ms(took[49])
    );
    println!("  statements over 1 s (sqlx's slow-statement warnings): {}", slow.count());
    println!("  peak RSS: {:.0} MB", peak_rss_mb());
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

async fn admin_token(http: &reqwest::Client, base: &str) -> String {
    let body = json!({ "username": "admin", "password": ADMIN_PASSWORD, "name": "bench" });
    let v: Value = http.post(format!("{base}/api/v1/tokens")).json(&body).send().await.unwrap().json().await.unwrap();
    v["token"].as_str().expect("a token").to_string()
}

/// Counts sqlx's slow-statement warnings.
#[derive(Clone, Default)]
struct SlowStatements(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl SlowStatements {
    fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SlowStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        if meta.target().starts_with("sqlx") && *meta.level() == tracing::Level::WARN {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
