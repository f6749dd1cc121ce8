//! Benchmark (prints numbers; asserts nothing): 1,000 demo-lab servers register
//! through their simulated Redfish BMCs and the real agent code, with zero boot
//! delay. Prints the wall time until every server is `unavailable` and the peak RSS
//! of the process (BMCs, agents and Rackstate all run in it).
//!
//!     cargo bench -p server --bench registration
//!     RACKSTATE_BENCH_SERVERS=200 RACKSTATE_BENCH_WORKERS=32 cargo bench -p server --bench registration
//!     RACKSTATE_BENCH_POSTGRES_URL=postgres://user:pass@127.0.0.1/postgres cargo bench -p server --bench registration
//!
//! SQLite by default; PostgreSQL when the URL is set (a role that may create
//! databases; the bench creates and drops its own).

use rackstate_server::{Application, Settings};
use std::time::{Duration, Instant};

mod common;
use common::{database, env_number, peak_rss_mb};

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let servers = env_number("RACKSTATE_BENCH_SERVERS", 1000);
        let defaults = Settings::from_lookup(|_| None).unwrap();
        // The defaults a fresh install runs with, unless told otherwise.
        let workers = env_number("RACKSTATE_BENCH_WORKERS", defaults.workers);
        let dir = tempfile::tempdir().unwrap();
        let (url, pg) = database(dir.path()).await;
        let mut settings = Settings::from_lookup(|_| None).unwrap();
        settings.listen = "127.0.0.1:0".parse().unwrap();
        settings.data_dir = dir.path().to_path_buf();
        settings.database_url = url.clone();
        settings.admin_password = Some(rackstate_server::settings::Secret("bench-admin-password".into()));
        settings.workers = workers;
        settings.demo_lab = servers;
        settings.demo_lab_boot = Duration::ZERO;
        let started = Instant::now();
        let app = Application::build(&settings).await.expect("Rackstate starts");
        let added = started.elapsed();
        let backend = app.backend().clone();
        tokio::spawn(app.serve(std::future::pending()));
        let db = backend.db.clone();
        let done = loop {
            let (unavailable, failed): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM servers WHERE state = 'unavailable'), \
                        (SELECT COUNT(*) FROM jobs WHERE status = 'failed')",
            )
            .fetch_one(db.pool())
            .await
            .unwrap();
            if unavailable + failed >= servers as i64 {
                break (unavailable, failed);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let wall = started.elapsed();
        let db_kind = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
        println!("registration of {servers} lab servers ({db_kind}, {workers} workers, zero boot delay):");
        println!("  servers added (lab start):  {:>8.2} s", added.as_secs_f64());
        println!(
            "  all registered (wall time): {:>8.2} s  ({:.0} registrations/s)",
            wall.as_secs_f64(),
            servers as f64 / wall.as_secs_f64()
        );
        println!("  registration alone (after the lab started): {:>6.2} s", wall.saturating_sub(added).as_secs_f64());
        println!("  unavailable: {}  failed: {}", done.0, done.1);
        println!("  peak RSS: {:.0} MB", peak_rss_mb());
        common::where_the_time_went(&db, "register").await;
        common::drop_database(pg, &db).await;
    });
}
