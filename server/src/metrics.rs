//! Prometheus metrics: HTTP request latency, BMC request latency and errors by kind,
//! job run and step durations by kind and outcome (recorded in-process), and servers by state
//! and type and jobs by kind and status (read from the database at each scrape, so
//! every replica reports the whole fleet). Text exposition format 0.0.4.

use app::backend::Backend;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// Labels as `k="v"` pairs, in order.
type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Registry {
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
    counters: BTreeMap<(&'static str, Labels), u64>,
}

fn registry() -> &'static Mutex<Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(Mutex::default)
}

fn observe(name: &'static str, labels: Labels, d: Duration) {
    if let Ok(mut r) = registry().lock() {
        r.histograms.entry((name, labels)).or_default().observe(d.as_secs_f64());
    }
}

fn count(name: &'static str, labels: Labels) {
    if let Ok(mut r) = registry().lock() {
        *r.counters.entry((name, labels)).or_default() += 1;
    }
}

pub fn http_request(method: &str, status: u16, d: Duration) {
    observe(
        "rackstate_http_request_duration_seconds",
        vec![("method", method.into()), ("status", status.to_string())],
        d,
    );
}

/// One exchange with a BMC; `error` is the error kind when it failed.
pub fn bmc_request(d: Duration, error: Option<&'static str>) {
    observe("rackstate_bmc_request_duration_seconds", vec![], d);
    if let Some(kind) = error {
        count("rackstate_bmc_errors_total", vec![("kind", kind.into())]);
    }
}

pub fn job_run(kind: &str, outcome: &'static str, d: Duration) {
    observe("rackstate_job_run_duration_seconds", vec![("kind", kind.into()), ("outcome", outcome.into())], d);
}

/// One named step of a job (BMC checks, booting the live image, shutting down).
pub fn job_step(kind: &str, step: &'static str, d: Duration) {
    observe("rackstate_job_step_duration_seconds", vec![("kind", kind.into()), ("step", step.into())], d);
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn labels(l: &[(&'static str, String)], extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
}

/// The exposition text: fleet gauges from the database, then what this process recorded.
pub async fn render(backend: &Backend) -> String {
    let mut out = String::new();
    out.push_str("# HELP rackstate_servers Servers by state and type.\n# TYPE rackstate_servers gauge\n");
    match backend.utilization().await {
        Ok(u) => {
            for row in &u.rows {
                let t = row.server_type.clone().unwrap_or_default();
                for (s, n) in app::domain::ServerState::ALL.iter().zip(row.counts) {
                    let l = labels(&[("state", s.as_str().to_string()), ("server_type", t.clone())], None);
                    let _ = writeln!(out, "rackstate_servers{l} {n}");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading servers"),
    }
    out.push_str("# HELP rackstate_jobs Jobs by kind and status.\n# TYPE rackstate_jobs gauge\n");
    match backend.job_counts().await {
        Ok(rows) => {
            for (kind, status, n) in rows {
                let _ = writeln!(out, "rackstate_jobs{} {n}", labels(&[("kind", kind), ("status", status)], None));
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading jobs"),
    }
    let Ok(r) = registry().lock() else { return out };
    let mut last = "";
    for ((name, l), c) in &r.counters {
        if *name != last {
            let _ = writeln!(out, "# TYPE {name} counter");
            last = name;
        }
        let _ = writeln!(out, "{name}{} {c}", labels(l, None));
    }
    for ((name, l), h) in &r.histograms {
        if *name != last {
            let _ = writeln!(out, "# TYPE {name} histogram");
            last = name;
        }
        for (b, c) in BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(out, "{name}_bucket{} {c}", labels(l, Some(("le", b.to_string()))));
        }
        let _ = writeln!(out, "{name}_bucket{} {}", labels(l, Some(("le", "+Inf".into()))), h.count);
        let _ = writeln!(out, "{name}_sum{} {}", labels(l, None), h.sum);
        let _ = writeln!(out, "{name}_count{} {}", labels(l, None), h.count);
    }
    out
}
