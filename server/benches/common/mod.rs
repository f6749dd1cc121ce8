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

/// Where the time went for the jobs of `kind`: how many finished in each second after
/// the first was queued, queued-to-finished percentiles, and the median job's step log
/// with milliseconds since it was queued.
pub async fn where_the_time_went(db: &app::backend::Db, kind: &str) {
    let jobs: Vec<(i64, i64)> =
        sqlx::query_as("SELECT created_at, finished_at FROM jobs WHERE kind = $1 AND finished_at IS NOT NULL")
            .bind(kind)
            .fetch_all(db.pool())
            .await
            .unwrap();
    let first = jobs.iter().map(|j| j.0).min().unwrap_or(0);
    let mut per_second = std::collections::BTreeMap::<i64, usize>::new();
    let mut took: Vec<i64> = jobs.iter().map(|(c, f)| f - c).collect();
    for (_, f) in &jobs {
        *per_second.entry((f - first) / 1000).or_default() += 1;
    }
    took.sort_unstable();
    let pct = |p: usize| took.get(took.len().saturating_sub(1) * p / 100).copied().unwrap_or(0);
    println!("  {kind} jobs, queued to finished: p50 {} ms, p90 {} ms, max {} ms", pct(50), pct(90), pct(100));
    let line: Vec<String> = per_second.iter().map(|(s, n)| format!("{s}s:{n}")).collect();
    println!("  finished per second since the first was queued: {}", line.join(" "));
    let median: Option<(i64, i64)> = sqlx::query_as(
        "SELECT id, created_at FROM jobs WHERE kind = $1 AND finished_at IS NOT NULL \
         ORDER BY finished_at - created_at LIMIT 1 OFFSET $2",
    )
    .bind(kind)
    .bind((jobs.len() / 2) as i64)
    .fetch_optional(db.pool())
    .await
    .unwrap();
    if let Some((id, created)) = median {
        let steps: Vec<(i64, String)> =
            sqlx::query_as("SELECT at, message FROM job_steps WHERE job_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(db.pool())
                .await
                .unwrap();
        println!("  the median {kind} job ({id}), ms after it was queued:");
        for (at, message) in steps {
            println!("    {:>6}  {}", at - created, message.chars().take(90).collect::<String>());
        }
    }
}

/// Through the REST API at `live` (16 clients spreading requests over them): every
/// server made available.
pub async fn make_all_available(http: &reqwest::Client, token: &str, live: &[String], db: &app::backend::Db) {
    use serde_json::json;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM servers ORDER BY id").fetch_all(db.pool()).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for (n, chunk) in ids.chunks(ids.len().div_ceil(16).max(1)).enumerate() {
        let (http, token, live, chunk) = (http.clone(), token.to_string(), live.to_vec(), chunk.to_vec());
        tasks.spawn(async move {
            for (i, id) in chunk.iter().enumerate() {
                let base = &live[(n + i) % live.len()];
                let body = json!({ "state": "available", "checked": true });
                let r = http
                    .post(format!("{base}/api/v1/servers/{id}/state"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "server {id}: {}", r.text().await.unwrap_or_default());
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Through the REST API at `live`: every server allocated to one tenant (per type, in
/// deployments of at most 1,000) and released, so every one is queued for cleaning.
pub async fn allocate_and_release_all(http: &reqwest::Client, token: &str, live: &[String], db: &app::backend::Db) {
    use serde_json::{Value, json};
    let user = json!({ "username": "bench-tenant", "password": "bench-tenant-password", "role": "tenant" });
    http.post(format!("{}/api/v1/users", live[0])).bearer_auth(&token).json(&user).send().await.unwrap();
    let types: Vec<(String, i64)> = sqlx::query_as(
        "SELECT t.label, COUNT(*) FROM servers s JOIN server_types t ON t.id = s.server_type_id GROUP BY t.label",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    // One deployment holds at most 1,000 servers: allocate each type in such parts.
    let parts: Vec<(String, i64)> = types
        .iter()
        .flat_map(|(label, count)| {
            (0..count.div_euclid(1000) + 1)
                .map(move |k| (label.clone(), (count - k * 1000).min(1000)))
                .filter(|(_, n)| *n > 0)
        })
        .collect();
    for (i, (label, count)) in parts.iter().enumerate() {
        let base = &live[i % live.len()];
        let body = json!({ "server_type": label, "count": count, "username": "bench-tenant" });
        let r = http.post(format!("{base}/api/v1/deployments")).bearer_auth(&token).json(&body).send().await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or_default();
        assert!(status.is_success(), "allocating {count} {label}: {v}");
        let id = v["id"].as_i64().unwrap();
        let r = http
            .post(format!("{base}/api/v1/deployments/{id}/release"))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "releasing {label}: {}", r.text().await.unwrap_or_default());
    }
}
