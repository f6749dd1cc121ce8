//! Load benchmark (prints numbers; asserts nothing): manual state changes through the
//! REST API, 200 concurrent clients, each toggling its own server between available
//! and unavailable with the generation it last saw. Prints changes per second and
//! latency percentiles. Server and clients share this process (and the 2 cores).
//!
//!     cargo bench -p server --bench state_changes
//!     RACKSTATE_BENCH_CLIENTS=50 RACKSTATE_BENCH_SECONDS=5 cargo bench -p server --bench state_changes
//!     RACKSTATE_BENCH_POSTGRES_URL=postgres://user:pass@127.0.0.1/postgres cargo bench -p server --bench state_changes
//!     RACKSTATE_BENCH_READ=1 cargo bench -p server --bench state_changes   (GET the server instead: the read path)
//!     RACKSTATE_BENCH_RATE=3000 cargo bench -p server --bench state_changes  (open loop, see below)
//!     RACKSTATE_BENCH_SERVE=1 cargo bench -p server --bench state_changes    (server only, see below)
//!     RACKSTATE_BENCH_TIMELINE=1 cargo bench ...   (also the worst latency of each 100 ms)
//!     RACKSTATE_BENCH_DB_CONNECTIONS=32 cargo bench ...   (the pool's size; RACKSTATE_DB_MAX_CONNECTIONS's default otherwise)
//!
//! By default each client sends its next request when the last one is answered (a
//! closed loop: throughput is what the server gives). With RACKSTATE_BENCH_RATE the
//! clients send on a fixed schedule that adds up to that many requests per second,
//! whatever the answers do, and a request's latency counts from when it was due, so
//! a server that falls behind shows it in the percentiles (no coordinated omission).
//!
//! With RACKSTATE_BENCH_SERVE=1 the benchmark only serves: it makes twice as many
//! servers as clients, prints the address and a token, and waits. Load it from
//! another process, e.g. wrk (Debian's package), whose script toggles the servers:
//!
//!     RACKSTATE_TOKEN=... wrk -t2 -c200 -d10s --latency -s server/benches/wrk/toggle.lua http://127.0.0.1:PORT

use rackstate_server::{Application, Settings};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

mod common;
use common::{database, drop_database, env_number, peak_rss_mb};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let clients = env_number("RACKSTATE_BENCH_CLIENTS", 200);
        let read_only = env_number("RACKSTATE_BENCH_READ", 0) == 1;
        let seconds = env_number("RACKSTATE_BENCH_SECONDS", 10) as u64;
        let rate = env_number("RACKSTATE_BENCH_RATE", 0);
        let serve_only = env_number("RACKSTATE_BENCH_SERVE", 0) == 1;
        let timeline = env_number("RACKSTATE_BENCH_TIMELINE", 0) == 1;
        let interval = (rate > 0).then(|| Duration::from_secs_f64(clients as f64 / rate as f64));
        let dir = tempfile::tempdir().unwrap();
        let (url, pg) = database(dir.path()).await;
        let mut settings = Settings::from_lookup(|_| None).unwrap();
        settings.listen = "127.0.0.1:0".parse().unwrap();
        settings.data_dir = dir.path().to_path_buf();
        settings.database_url = url;
        settings.admin_password = Some(rackstate_server::settings::Secret("bench-admin-password".into()));
        settings.workers = 0;
        settings.db_max_connections =
            env_number("RACKSTATE_BENCH_DB_CONNECTIONS", settings.db_max_connections as usize) as u32;
        let app = Application::build(&settings).await.expect("Rackstate starts");
        let base = format!("http://{}", app.local_addr());
        let backend = app.backend().clone();
        tokio::spawn(app.serve(std::future::pending()));

        // One typed, unavailable server per client.
        let db = backend.db.clone();
        sqlx::query(
            "INSERT INTO server_types (label, base_label, version, fingerprint, class, cores, ram_gb, disks, has_gpu, created_at) \
             VALUES ('M.64.256.2', 'M.64.256.2', 1, 'bench', 'M', 64, 256, 2, 0, 0)",
        )
        .execute(db.pool())
        .await
        .unwrap();
        let servers = if serve_only { 2 * clients } else { clients };
        for i in 0..servers {
            sqlx::query(
                "INSERT INTO servers (name, state, server_type_id, bmc_address, generation, created_at, updated_at) \
                 VALUES ($1, 'unavailable', (SELECT id FROM server_types LIMIT 1), $2, 1, 0, 0)",
            )
            .bind(format!("load-{i:04}"))
            .bind(format!("10.9.{}.{}", i / 250, i % 250 + 1))
            .execute(db.pool())
            .await
            .unwrap();
        }
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM servers ORDER BY id").fetch_all(db.pool()).await.unwrap();

        let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build().unwrap();
        let token = http
            .post(format!("{base}/api/v1/tokens"))
            .json(&json!({ "username": "admin", "password": "bench-admin-password", "name": "bench" }))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string();
        if serve_only {
            println!("serving {servers} unavailable servers, ids {}..={}", ids[0], ids[ids.len() - 1]);
            println!("  RACKSTATE_TOKEN={token} wrk -t2 -c{clients} -d10s --latency -s server/benches/wrk/toggle.lua {base}");
            println!("  (Ctrl-C ends)");
            tokio::signal::ctrl_c().await.ok();
            drop_database(pg, &db).await;
            return;
        }

        // Warm-up: every client opens its connection before the clock starts.
        let mut warm = tokio::task::JoinSet::new();
        for id in &ids {
            let (http, url, token) = (http.clone(), format!("{base}/api/v1/servers/{id}"), token.clone());
            warm.spawn(async move { http.get(url).bearer_auth(token).send().await.map(|r| r.status()) });
        }
        while let Some(r) = warm.join_next().await {
            assert_eq!(r.unwrap().unwrap(), 200, "warm-up request");
        }

        let started = Instant::now();
        let until = started + Duration::from_secs(seconds);
        let mut tasks = tokio::task::JoinSet::new();
        for (n, id) in ids.into_iter().enumerate() {
            let (http, base, token) = (http.clone(), base.clone(), token.clone());
            let read_only = read_only;
            tasks.spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0usize;
                let mut generation = 1i64;
                let mut available = false;
                // Open loop: client n's requests are due at its own phase of the interval.
                let mut due = interval.map(|iv| started + iv.mul_f64(n as f64 / clients as f64));
                while Instant::now() < until {
                    let state = if available { "unavailable" } else { "available" };
                    let t = match (due, interval) {
                        (Some(at), Some(iv)) => {
                            tokio::time::sleep_until(at.into()).await;
                            due = Some(at + iv);
                            at
                        }
                        _ => Instant::now(),
                    };
                    let resp = if read_only {
                        http.get(format!("{base}/api/v1/servers/{id}")).bearer_auth(&token).send().await
                    } else {
                        http.post(format!("{base}/api/v1/servers/{id}/state"))
                            .bearer_auth(&token)
                            .json(&json!({ "state": state, "generation": generation, "checked": true }))
                            .send()
                            .await
                    };
                    match resp {
                        Ok(r) if r.status() == 200 => {
                            let v: Value = r.json().await.unwrap_or(Value::Null);
                            latencies.push((t.duration_since(started), t.elapsed()));
                            generation = v["generation"].as_i64().unwrap_or(generation + 1);
                            available ^= !read_only;
                        }
                        Ok(r) => {
                            errors += 1;
                            eprintln!("server {id}: {} {}", r.status(), r.text().await.unwrap_or_default());
                            break;
                        }
                        Err(e) => {
                            errors += 1;
                            eprintln!("server {id}: {e}");
                            break;
                        }
                    }
                }
                (latencies, errors)
            });
        }
        let mut timed = Vec::new();
        let mut errors = 0;
        while let Some(r) = tasks.join_next().await {
            let (l, e) = r.unwrap();
            timed.extend(l);
            errors += e;
        }
        if timeline {
            // The worst latency of the requests due in each 100 ms: stalls show as spikes.
            let mut worst = vec![0f64; (seconds as usize + 1) * 10];
            for (at, latency) in &timed {
                let slot = &mut worst[(at.as_millis() / 100) as usize];
                *slot = slot.max(latency.as_secs_f64() * 1000.0);
            }
            println!("worst latency ms per 100 ms:");
            for (i, row) in worst.chunks(10).enumerate().take(seconds as usize) {
                let row: Vec<String> = row.iter().map(|ms| format!("{ms:5.0}")).collect();
                println!("  {i:>3}s {}", row.join(""));
            }
        }
        let mut all: Vec<Duration> = timed.into_iter().map(|(_, latency)| latency).collect();
        let wall = started.elapsed().as_secs_f64();
        all.sort();
        let db_kind = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
        let what = if read_only { "server reads (GET /api/v1/servers/{id})" } else { "manual state changes" };
        let mode = if rate > 0 { format!("open loop at {rate}/s") } else { "closed loop".to_string() };
        println!("{what} over REST ({db_kind}, {clients} concurrent clients, {mode}, {seconds} s):");
        println!("  changes:     {:>8}  ({:.0}/s)", all.len(), all.len() as f64 / wall);
        println!(
            "  latency ms:  p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
            percentile(&all, 0.50),
            percentile(&all, 0.90),
            percentile(&all, 0.99),
            percentile(&all, 1.0)
        );
        println!("  errors:      {errors}");
        println!("  peak RSS:    {:.0} MB", peak_rss_mb());
        drop_database(pg, &db).await;
    });
}
