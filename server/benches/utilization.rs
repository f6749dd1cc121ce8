//! Benchmark (prints numbers; asserts nothing): the utilization aggregate (types x
//! states counts) over 100,000 servers in 20 types and all states.
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
            "INSERT INTO servers (name, state, server_type_id, bmc_address, generation, created_at, updated_at) VALUES ",
        );
        for j in i..(i + 1000).min(SERVERS) {
            if j > i {
                sql.push(',');
            }
            let state = ServerState::ALL[j % ServerState::ALL.len()];
            sql.push_str(&format!(
                "('b{j}', '{}', {}, '10.{}.{}.{}', 1, 0, 0)",
                state.as_str(),
                j % TYPES + 1,
                j >> 16,
                (j >> 8) & 255,
                j & 255
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
        conn.execute(format!("DROP DATABASE {name}").as_str()).await.unwrap();
    } else {
        println!("utilization PostgreSQL: skipped (set RACKSTATE_BENCH_POSTGRES_URL)");
    }
}
