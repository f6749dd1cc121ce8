//! `/metrics` in Prometheus format: behind a token on the main listener, or open on
//! a separate address; fleet gauges from the database, latencies from this process.

mod common;

use app::domain::ServerState;
use common::{spawn_app, spawn_app_with, wait_for_server};
use rackstate_server::settings::Secret;
use std::time::Duration;

const TOKEN: &str = "metrics-token-0123456789";

#[tokio::test]
async fn metrics_behind_a_token() {
    let app = spawn_app_with(|s| {
        s.workers = 2;
        s.demo_lab = 1;
        s.demo_lab_boot = Duration::from_millis(100);
        s.metrics_token = Some(Secret(TOKEN.into()));
    })
    .await;
    let id = app.backend.list_servers(&Default::default()).await.unwrap()[0].id;
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
    let client = reqwest::Client::new();
    assert_eq!(client.get(app.url("/metrics")).send().await.unwrap().status(), 401);
    assert_eq!(
        client.get(app.url("/metrics")).bearer_auth("wrong-token-wrong-token").send().await.unwrap().status(),
        401
    );
    let resp = client.get(app.url("/metrics")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text; version=1.0.0")
    );
    let text = resp.text().await.unwrap();
    for want in [
        "rackstate_servers{state=\"unavailable\",server_type=\"M.64.256.2\"} 1",
        "rackstate_jobs{kind=\"register\",status=\"succeeded\"} 1",
        "# TYPE rackstate_bmc_request_duration_seconds histogram",
        "rackstate_job_run_duration_seconds_count{kind=\"register\",outcome=\"recorded\"}",
        "rackstate_job_step_duration_seconds_count{kind=\"register\",step=\"boot_live_image\"}",
        "rackstate_job_step_duration_seconds_count{kind=\"register\",step=\"shut_down\"}",
        "rackstate_http_request_duration_seconds_bucket{le=\"+Inf\",method=\"GET\",status=\"200\"}",
        "rackstate_bmc_request_duration_seconds_count",
        "rackstate_webhook_deliveries{status=\"failed\"} 0",
        "# EOF",
    ] {
        assert!(text.contains(want), "no {want:?} in\n{text}");
    }
}

#[tokio::test]
async fn metrics_off_by_default_or_on_their_own_address() {
    let app = spawn_app().await;
    assert_eq!(reqwest::get(app.url("/metrics")).await.unwrap().status(), 404);
    let port = common::sushy::free_port();
    let app = spawn_app_with(|s| s.metrics_listen = Some(format!("127.0.0.1:{port}").parse().unwrap())).await;
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
    // An empty fleet has no server series yet; the process's own histograms are there.
    assert!(text.contains("# TYPE rackstate_bmc_request_duration_seconds histogram"), "{text}");
    drop(app);
}
