//! Benchmark (prints numbers; asserts nothing): over 100,000 servers in 20 types, all
//! states, 4 datacenters and 50 racks, two MACs each: the utilization aggregate (types
//! x states counts), and server list pages (the list page's queries: one page of
//! rows plus the total) searched, filtered and sorted.
//!
//!     cargo bench -p server --bench utilization
//!     RACKSTATE_BENCH_POSTGRES_URL=postgres://user:pass@127.0.0.1/postgres cargo bench -p server --bench utilization
//!
//! SQLite always runs; PostgreSQL runs when the URL is set (a role that may create
//! databases; the bench creates and drops its own).

use app::backend::{Backend, Db};
use app::domain::ServerState;
use sqlx::{Connection, Executor};
use std::time::{Duration, Instant};

const SERVERS: usize = 100_000;
const TYPES: usize = 20;
const RUNS: usize = 50;

async fn seed(db: &Db) {
    let mut conn = db.conn().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    for t in 1..=TYPES {
        tx.execute(
            format!(
                "INSERT INTO server_types (label, base_label, version, fingerprint, class, cores, ram_gb, disks, has_gpu, created_at) \
                 VALUES ('M.{c}.{r}', 'M.{c}.{r}', 1, 'fp{t}', 'M', {c}, {r}, 2, 0, 0)",
                c = t * 8,
                r = t * 32
            )
            .as_str(),
        )
        .await
        .unwrap();
    }
    let mut i = 0;
    while i < SERVERS {
        let mut sql = String::from(
            "INSERT INTO servers (name, state, server_type_id, bmc_address, serial_number, macs, datacenter, rack, \
             generation, created_at, updated_at) VALUES ",
        );
        for j in i..(i + 1000).min(SERVERS) {
            if j > i {
                sql.push(',');
            }
            let state = ServerState::ALL[j % ServerState::ALL.len()];
            sql.push_str(&format!(
                "('b{j}', '{}', {}, '10.{}.{}.{}', 'SN{j:08}', '02:00:{:02x}:{:02x}:{:02x}:00 02:00:{:02x}:{:02x}:{:02x}:01', \
                 'dc{}', 'r{:02}', 1, {j}, {j})",
                state.as_str(),
                j % TYPES + 1,
                j >> 16,
                (j >> 8) & 255,
                j & 255,
                j >> 16,
                (j >> 8) & 255,
                j & 255,
                j >> 16,
                (j >> 8) & 255,
                j & 255,
                j % 4,
                j % 50
            ));
        }
        tx.execute(sql.as_str()).await.unwrap();
        i += 1000;
    }
    tx.commit().await.unwrap();
    if db.kind() == app::backend::DbKind::Postgres {
        // Steady state: autovacuum keeps the visibility map current, so the
        // aggregate is an index-only scan of servers_type_state.
        conn.execute("VACUUM ANALYZE servers").await.unwrap();
    } else {
        conn.execute("ANALYZE").await.unwrap();
    }
}

async fn measure(label: &str, db: Db) {
    let t0 = Instant::now();
    seed(&db).await;
    let seeded = t0.elapsed();
    let key = "00".repeat(32);
    let backend = Backend::new(db, app::backend::secrets::SecretBox::from_hex(&key).unwrap());
    let first = backend.utilization().await.unwrap();
    assert_eq!(first.totals.total as usize, SERVERS, "seed mismatch");
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        std::hint::black_box(backend.utilization().await.unwrap());
        times.push(t.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "utilization {label}: {SERVERS} servers, {TYPES} types, {RUNS} runs: min {:.2} ms, median {:.2} ms, p95 {:.2} ms, max {:.2} ms (seeded in {:.1} s)",
        ms(times[0]),
        ms(times[RUNS / 2]),
        ms(times[RUNS * 95 / 100]),
        ms(times[RUNS - 1]),
        seeded.as_secs_f64()
    );
    list_pages(label, &backend).await;
}

/// Server list pages as the page asks for them (50 rows and the total).
async fn list_pages(label: &str, backend: &Backend) {
    use app::backend::services::servers::ListParams;
    let p = |f: fn(&mut ListParams)| {
        let mut params = ListParams::default();
        f(&mut params);
        params
    };
    let cases: Vec<(&str, ListParams)> = vec![
        ("first page by name", p(|_| {})),
        ("page 1000 by name", p(|q| q.page = Some(1000))),
        ("sorted by state, desc", p(|q| (q.sort, q.dir) = (Some("state".into()), Some("desc".into())))),
        ("sorted by changed, page 500", p(|q| (q.sort, q.page) = (Some("updated".into()), Some(500)))),
        ("state + type", p(|q| (q.state, q.server_type) = (Some("used".into()), Some("M.40.160".into())))),
        ("datacenter + rack", p(|q| (q.datacenter, q.rack) = (Some("dc2".into()), Some("r14".into())))),
        ("search a name", p(|q| q.q = Some("b99998".into()))),
        ("search a MAC", p(|q| q.q = Some("02:00:01:86:9E:01".into()))),
        ("search, no match", p(|q| q.q = Some("nothing-like-this".into()))),
    ];
    for (what, params) in cases {
        let first = backend.server_list_page(&params, false).await.unwrap();
        let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let t = Instant::now();
            std::hint::black_box(backend.server_list_page(&params, false).await.unwrap());
            times.push(t.elapsed());
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "server list {label}, {what}: {} rows of {}: median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
            first.items.len(),
            first.total,
            ms(times[RUNS / 2]),
            ms(times[RUNS * 95 / 100]),
            ms(times[RUNS - 1])
        );
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = Db::connect(&url, 4).await.unwrap();
    db.migrate().await.unwrap();
    measure("SQLite", db).await;

    if let Ok(admin) = std::env::var("RACKSTATE_BENCH_POSTGRES_URL") {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap();
        let name = format!("rackstate_bench_{}", std::process::id());
        conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
        let (base, _) = admin.rsplit_once('/').unwrap();
        let db = Db::connect(&format!("{base}/{name}"), 4).await.unwrap();
        db.migrate().await.unwrap();
        measure("PostgreSQL", db.clone()).await;
        db.close().await;
        conn.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.unwrap();
    } else {
        println!("utilization PostgreSQL: skipped (set RACKSTATE_BENCH_POSTGRES_URL)");
    }
}
