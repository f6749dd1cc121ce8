//! The agent API: only the job's token opens it, only while the job's live image
//! runs; a wrong token or a bad payload changes nothing and gets a clear error.

mod common;

use app::backend::secrets::{random_token, token_hash};
use app::backend::services::{Actor, NewServer};
use app::backend::store::{self, now_ms};
use common::{TestApp, spawn_app_with};
use rackstate_server::agent::BootConfig;
use rackstate_server::live_image::LiveImage;

/// A server whose registration job is booting the live image with `token`.
async fn booting_job(app: &TestApp) -> (i64, i64, String) {
    let new = NewServer { name: "agent-api".into(), bmc_address: "127.0.0.1:9".into(), ..Default::default() };
    let s = app.backend.add_server(&Actor::user("admin"), &new).await.unwrap();
    let mut conn = app.backend.db.conn().await.unwrap();
    let job = store::jobs::claim(&mut conn, "test-runner", now_ms(), now_ms() + 60_000).await.unwrap().unwrap();
    let token = random_token();
    assert!(
        store::jobs::set_agent_token(&mut conn, job.id, job.fence, &token_hash(&token), now_ms()).await.unwrap()
    );
    (s.id, job.id, token)
}

async fn error_code(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap();
    (status, body["error"]["code"].as_str().unwrap().into(), body["error"]["message"].as_str().unwrap().into())
}

#[tokio::test]
async fn tokens_payloads_and_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("live.img");
    LiveImage::write_simulation_image(&image).unwrap();
    let app = spawn_app_with(|s| s.live_image = Some(image)).await;
    let (server_id, job, token) = booting_job(&app).await;
    let client = reqwest::Client::new();
    let url = |p: &str| app.url(&format!("/agent/v1/jobs/{job}/{p}"));
    let inventory = serde_json::to_value(rackstate_server::lab::profiles::inventory(4)).unwrap();
    let events_before = common::event_count(&app, server_id).await;

    // The image: the job's copy carries its callback, id and token; a wrong token gets none.
    let resp = client.get(url(&format!("live.iso?token={token}"))).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let config = BootConfig::from_image(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!((config.job, config.token.as_str(), config.callback.as_str()), (job, token.as_str(), app.base.as_str()));
    let resp = client.get(url("live.iso?token=wrong")).send().await.unwrap();
    assert_eq!(error_code(resp).await.0, 401);

    // Wrong or missing token: 401, nothing recorded.
    let resp = client.post(url("inventory")).bearer_auth("wrong").json(&inventory).send().await.unwrap();
    let (status, code, message) = error_code(resp).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    assert!(message.contains("wrong token"), "{message}");
    let resp = client.post(url("inventory")).json(&inventory).send().await.unwrap();
    assert_eq!(error_code(resp).await.0, 401);
    let resp = client
        .post(app.url(&format!("/agent/v1/jobs/{}/inventory", job + 1)))
        .bearer_auth(&token)
        .json(&inventory)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(resp).await.0, 401, "a token opens only its own job");

    // Malformed, unknown fields, invalid values, too large: clear errors.
    let resp = client.post(url("inventory")).bearer_auth(&token).body("{not json").send().await.unwrap();
    assert_eq!(error_code(resp).await.1, "malformed");
    let mut extra = inventory.clone();
    extra["cpus"][0]["flags"] = "avx512".into();
    let resp = client.post(url("inventory")).bearer_auth(&token).json(&extra).send().await.unwrap();
    let (status, _, message) = error_code(resp).await;
    assert_eq!(status, 400);
    assert!(message.contains("unknown field `flags`"), "{message}");
    let mut no_cpus = inventory.clone();
    no_cpus["cpus"] = serde_json::json!([]);
    let resp = client.post(url("inventory")).bearer_auth(&token).json(&no_cpus).send().await.unwrap();
    let (status, code, message) = error_code(resp).await;
    assert_eq!((status, code.as_str()), (422, "invalid_field"));
    assert!(message.contains("cpus: at least one CPU"), "{message}");
    let huge = format!("{{\"padding\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let resp = client.post(url("inventory")).bearer_auth(&token).body(huge).send().await.unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(common::event_count(&app, server_id).await, events_before, "nothing recorded");

    // The right token and a good inventory: typed; a repeat changes nothing.
    let resp = client.post(url("inventory")).bearer_auth(&token).json(&inventory).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let accepted: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(accepted["recorded"], true);
    assert!(accepted["server_type"].as_str().unwrap().contains('G'), "{accepted}");
    let after = common::event_count(&app, server_id).await;
    let resp = client.post(url("inventory")).bearer_auth(&token).json(&inventory).send().await.unwrap();
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["recorded"], false);
    assert_eq!(common::event_count(&app, server_id).await, after);
    let steps: serde_json::Value =
        client.get(url("steps")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(steps, serde_json::json!({ "steps": [] }));

    // Once the job has ended, its token opens nothing.
    common::end_jobs(&app, server_id).await;
    let resp = client.get(url("steps")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(error_code(resp).await.0, 401);
}
