//! Helpers shared by the benchmarks.
#![allow(dead_code)]

pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Peak resident set size of this process, from /proc/self/status (VmHWM).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:").map(str::to_string)))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

pub async fn database(dir: &std::path::Path) -> (String, Option<(String, String)>) {
    let Ok(admin) = std::env::var("RACKSTATE_BENCH_POSTGRES_URL") else {
        return (format!("sqlite://{}", dir.join("bench.db").display()), None);
    };
    database_at(&admin).await
}

/// A new PostgreSQL database made through `admin` (a role that may create them): its
/// URL, and what `drop_database` needs.
pub async fn database_at(admin: &str) -> (String, Option<(String, String)>) {
    let admin = admin.to_string();
    use sqlx::{Connection, Executor};
    let name = format!("rackstate_bench_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL");
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    (format!("{base}/{name}"), Some((admin, name)))
}

/// Drops the bench's PostgreSQL database, if it made one.
pub async fn drop_database(pg: Option<(String, String)>, db: &app::backend::Db) {
    if let Some((admin, name)) = pg {
        db.pool().close().await;
        use sqlx::{Connection, Executor};
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        let _ = conn.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await;
    }
}
