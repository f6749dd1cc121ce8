//! Prometheus metrics: HTTP request latency, BMC request latency and errors by kind,
//! job run and step durations by kind and outcome (recorded in-process), and servers by
//! state and type and jobs by kind and status (read from the database at each scrape,
//! so every replica reports the whole fleet). The metric types and the OpenMetrics
//! text come from `prometheus-client`; this file names the metrics and their labels.

use app::backend::Backend;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::time::Duration;

/// What `/metrics` answers with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Seconds: from a fast page (5 ms) to a slow BMC or a whole job step (30 s).
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Clone, Copy)]
struct Seconds;

impl MetricConstructor<Histogram> for Seconds {
    fn new_metric(&self) -> Histogram {
        Histogram::new(BUCKETS)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobRunLabels {
    kind: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobStepLabels {
    kind: String,
    step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabels {
    state: String,
    server_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    status: String,
}

/// What this process records (shared handles: a scrape registers clones).
struct Recorded {
    http: Family<HttpLabels, Histogram, Seconds>,
    bmc: Histogram,
    bmc_errors: Family<ErrorLabels, Counter>,
    job_run: Family<JobRunLabels, Histogram, Seconds>,
    job_step: Family<JobStepLabels, Histogram, Seconds>,
}

static RECORDED: LazyLock<Recorded> = LazyLock::new(|| Recorded {
    http: Family::new_with_constructor(Seconds),
    bmc: Histogram::new(BUCKETS),
    bmc_errors: Family::default(),
    job_run: Family::new_with_constructor(Seconds),
    job_step: Family::new_with_constructor(Seconds),
});

pub fn http_request(method: &str, status: u16, d: Duration) {
    let labels = HttpLabels { method: method.to_string(), status: status.to_string() };
    RECORDED.http.get_or_create(&labels).observe(d.as_secs_f64());
}

/// One exchange with a BMC; `error` is the error kind when it failed.
pub fn bmc_request(d: Duration, error: Option<&'static str>) {
    RECORDED.bmc.observe(d.as_secs_f64());
    if let Some(kind) = error {
        RECORDED.bmc_errors.get_or_create(&ErrorLabels { kind: kind.to_string() }).inc();
    }
}

pub fn job_run(kind: &str, outcome: &'static str, d: Duration) {
    let labels = JobRunLabels { kind: kind.to_string(), outcome: outcome.to_string() };
    RECORDED.job_run.get_or_create(&labels).observe(d.as_secs_f64());
}

/// One named step of a job (BMC checks, booting the live image, shutting down).
pub fn job_step(kind: &str, step: &'static str, d: Duration) {
    let labels = JobStepLabels { kind: kind.to_string(), step: step.to_string() };
    RECORDED.job_step.get_or_create(&labels).observe(d.as_secs_f64());
}

/// The exposition text: fleet gauges read from the database now, then what this
/// process recorded.
pub async fn render(backend: &Backend) -> String {
    let mut registry = Registry::default();
    let servers = Family::<ServerLabels, Gauge>::default();
    match backend.utilization().await {
        Ok(u) => {
            for row in &u.rows {
                let server_type = row.server_type.clone().unwrap_or_default();
                for (s, n) in app::domain::ServerState::ALL.iter().zip(row.counts) {
                    let labels = ServerLabels { state: s.as_str().to_string(), server_type: server_type.clone() };
                    servers.get_or_create(&labels).set(n);
                }
            }
        }
        Err(e) => tracing::warn!(error = %app::backend::error_chain(&e), "metrics: reading servers"),
    }
    registry.register("rackstate_servers", "Servers by state and type", servers);
    let jobs = Family::<JobLabels, Gauge>::default();
    match backend.job_counts().await {
        Ok(rows) => {
            for (kind, status, n) in rows {
                jobs.get_or_create(&JobLabels { kind, status }).set(n);
            }
        }
        Err(e) => tracing::warn!(error = %app::backend::error_chain(&e), "metrics: reading jobs"),
    }
    registry.register("rackstate_jobs", "Jobs by kind and status", jobs);
    let deliveries = Family::<StatusLabels, Gauge>::default();
    // Every status has a series, 0 included: an alert on `failed` needs one to watch.
    for s in app::domain::webhooks::DeliveryStatus::ALL {
        deliveries.get_or_create(&StatusLabels { status: s.as_str().to_string() }).set(0);
    }
    match backend.delivery_counts().await {
        Ok(rows) => {
            for (status, n) in rows {
                deliveries.get_or_create(&StatusLabels { status }).set(n);
            }
        }
        Err(e) => tracing::warn!(error = %app::backend::error_chain(&e), "metrics: reading webhook deliveries"),
    }
    registry.register(
        "rackstate_webhook_deliveries",
        "Webhook deliveries by status (pending: waiting for an attempt; failed: given up)",
        deliveries,
    );
    let r = &*RECORDED;
    registry.register("rackstate_http_request_duration_seconds", "HTTP requests by method and status", r.http.clone());
    registry.register("rackstate_bmc_request_duration_seconds", "Exchanges with BMCs", r.bmc.clone());
    registry.register("rackstate_bmc_errors", "Failed BMC exchanges by error kind", r.bmc_errors.clone());
    registry.register("rackstate_job_run_duration_seconds", "Job runs by kind and outcome", r.job_run.clone());
    registry.register("rackstate_job_step_duration_seconds", "Named job steps by kind", r.job_step.clone());
    let mut out = String::new();
    if let Err(e) = encode(&mut out, &registry) {
        tracing::warn!(error = %app::backend::error_chain(&e), "metrics: encoding");
    }
    out
}
