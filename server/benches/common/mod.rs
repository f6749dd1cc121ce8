//! Helpers shared by the benchmarks.
#![allow(dead_code)]

pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Peak resident set size of this process, in MiB.
pub fn peak_rss_mb() -> f64 {
    peak_rss_mib_of(std::process::id())
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
/// the first was queued, queued-to-finished percentiles, and the step logs of the median
/// and the slowest job with milliseconds since each was queued.
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
    // The median job shows the usual path; the slowest, where the tail waits.
    for (label, offset) in [("median", jobs.len() / 2), ("slowest", jobs.len().saturating_sub(1))] {
        let job: Option<(i64, i64)> = sqlx::query_as(
            "SELECT id, created_at FROM jobs WHERE kind = $1 AND finished_at IS NOT NULL \
             ORDER BY finished_at - created_at, id LIMIT 1 OFFSET $2",
        )
        .bind(kind)
        .bind(offset as i64)
        .fetch_optional(db.pool())
        .await
        .unwrap();
        let Some((id, created)) = job else { continue };
        let steps: Vec<(i64, String)> =
            sqlx::query_as("SELECT at, message FROM job_steps WHERE job_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(db.pool())
                .await
                .unwrap();
        println!("  the {label} {kind} job ({id}), ms after it was queued:");
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

/// The benchmarks' administrator password and secret key (every replica the same).
pub const ADMIN_PASSWORD: &str = "bench-admin-password";
pub const SECRET_KEY: &str = "5f0c1e0d7a3b49c28e6f1d2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e";

/// A child process, killed (SIGKILL) when dropped.
pub struct Process(pub Option<std::process::Child>);

impl Process {
    pub fn pid(&self) -> u32 {
        self.0.as_ref().map(|c| c.id()).unwrap_or_default()
    }

    pub fn alive(&self) -> bool {
        self.0.is_some()
    }

    /// SIGKILL: no shutdown, leases left as they were.
    pub fn kill(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.0 = None;
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `rackstate lab` as a process of its own (a BMC port per machine, hence the file
/// limit; `args` adds flags), and its machines once it has written them.
pub async fn start_lab(servers: usize, dir: &std::path::Path, args: &str) -> (Process, Vec<serde_json::Value>) {
    let bin = env!("CARGO_BIN_EXE_rackstate");
    let lab_dir = dir.join("lab");
    let started = std::time::Instant::now();
    let lab = Process(Some(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -n 65536 2>/dev/null; exec {bin} lab --machines {servers} --boot-seconds 0 --dir {} {args}",
                lab_dir.display()
            ))
            .env("RACKSTATE_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("starting rackstate lab"),
    ));
    let machines = loop {
        if let Ok(text) = std::fs::read_to_string(lab_dir.join("machines.json"))
            && let Ok(list) = serde_json::from_str::<Vec<serde_json::Value>>(&text)
        {
            break list;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(600), "the lab never wrote its machines");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    (lab, machines)
}

/// A `rackstate` process on `database_url` named `name` (its data directory and logs
/// under `dir`), serving on a port of its own with its metrics on another; `env` adds
/// or overrides settings. Its base URL and metrics URL, once it is ready.
pub async fn start_rackstate(
    name: &str,
    dir: &std::path::Path,
    database_url: &str,
    env: &[(&str, String)],
) -> (Process, String, String) {
    let bin = env!("CARGO_BIN_EXE_rackstate");
    let (port, metrics_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let data = dir.join(name);
    std::fs::create_dir_all(&data).unwrap();
    let image = dir.join("live-image.img");
    if !image.exists() {
        rackstate_server::live_image::LiveImage::write_simulation_image(&image).unwrap();
    }
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n 65536 2>/dev/null; exec {bin}"))
        .envs([
            ("RACKSTATE_LISTEN", format!("127.0.0.1:{port}")),
            ("RACKSTATE_DATABASE_URL", database_url.to_string()),
            ("RACKSTATE_DATA_DIR", data.display().to_string()),
            ("RACKSTATE_SECRET_KEY", SECRET_KEY.to_string()),
            ("RACKSTATE_ADMIN_PASSWORD", ADMIN_PASSWORD.to_string()),
            ("RACKSTATE_AGENT_URL", base.clone()),
            ("RACKSTATE_POWER_SYNC_SECONDS", "0".into()),
            ("RACKSTATE_LIVE_IMAGE", image.display().to_string()),
            ("RACKSTATE_BMC_NETWORKS", "any,127.0.0.0/8".into()),
            ("RACKSTATE_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}")),
            ("RACKSTATE_LOG", "warn".into()),
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.clone())))
        .stdout(std::fs::File::create(dir.join(format!("{name}.log"))).unwrap())
        .stderr(std::fs::File::create(dir.join(format!("{name}.err"))).unwrap())
        .spawn()
        .expect("starting rackstate");
    let process = Process(Some(child));
    wait_ready(&base).await;
    (process, base, format!("http://127.0.0.1:{metrics_port}/metrics"))
}

async fn wait_ready(base: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
        if reqwest::get(format!("{base}/readyz")).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("{base} never became ready");
}

pub async fn admin_token(http: &reqwest::Client, base: &str) -> String {
    let body = serde_json::json!({ "username": "admin", "password": ADMIN_PASSWORD, "name": "bench" });
    let v: serde_json::Value =
        http.post(format!("{base}/api/v1/tokens")).json(&body).send().await.unwrap().json().await.unwrap();
    v["token"].as_str().expect("a token").to_string()
}

/// Through the REST API at `bases` (16 clients spreading requests over them): every
/// lab machine enrolled (and so queued for registration).
pub async fn enrol_all(http: &reqwest::Client, token: &str, bases: &[String], machines: &[serde_json::Value]) {
    let mut tasks = tokio::task::JoinSet::new();
    for (chunk_no, chunk) in machines.chunks(machines.len().div_ceil(16).max(1)).enumerate() {
        let (http, token, bases, chunk) = (http.clone(), token.to_string(), bases.to_vec(), chunk.to_vec());
        tasks.spawn(async move {
            for (i, m) in chunk.iter().enumerate() {
                let base = &bases[(chunk_no + i) % bases.len()];
                let body = serde_json::json!({
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
}

/// CPU seconds (user and system) process `pid` has used, from /proc/PID/stat.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return f64::NAN };
    // The fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set size of process `pid` (VmHWM), in MiB.
pub fn peak_rss_mib_of(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:").map(str::to_string)))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

/// The warning and error lines of a process's logs (RACKSTATE_LOG=warn), by message
/// (without timestamp and colours), most frequent first.
pub fn warnings(dir: &std::path::Path, name: &str) -> Vec<(String, usize)> {
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for file in [format!("{name}.log"), format!("{name}.err")] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")) {
            let plain: String = strip_ansi(line);
            let key = plain.split_once(": ").map(|(_, m)| m).unwrap_or(&plain).chars().take(160).collect();
            *seen.entry(key).or_default() += 1;
        }
    }
    let mut top: Vec<(String, usize)> = seen.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1));
    top
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
