//! The agent API: only the job's token opens it, only while the job's live image
//! runs; a wrong token or a bad payload changes nothing and gets a clear error.

mod common;

use app::backend::secrets::{random_token, token_hash};
use app::backend::services::{Actor, NewServer};
use app::backend::store::{self, now_ms};
use app::domain::JobPhase;
use common::{TestApp, spawn_app_with};
use rackstate_server::agent::BootConfig;
use rackstate_server::live_image::LiveImage;

/// A server whose registration job is booting the live image with `token`.
async fn booting_job(app: &TestApp) -> (i64, i64, String) {
    let new = NewServer { name: "agent-api".into(), bmc_address: "127.0.0.1:9".into(), ..Default::default() };
    let s = app.backend.add_server(&Actor::user("admin"), &new).await.unwrap();
    let mut conn = app.backend.db.conn().await.unwrap();
    let job = store::jobs::claim(&mut conn, "test-runner", now_ms(), now_ms() + 60_000, 1).await.unwrap().remove(0);
    let token = random_token();
    assert!(store::jobs::set_agent_token(&mut conn, job.id, job.fence, &token_hash(&token), now_ms()).await.unwrap());
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

/// A cleaning job of `server_id`, claimed and booting the live image with a token.
async fn cleaning_job(app: &TestApp, server_id: i64) -> (i64, String) {
    common::end_jobs(app, server_id).await;
    let mut conn = app.backend.db.conn().await.unwrap();
    store::jobs::enqueue(&mut conn, server_id, app::domain::JobKind::Clean, "{}", now_ms()).await.unwrap();
    let job = store::jobs::claim(&mut conn, "test-runner", now_ms(), now_ms() + 60_000, 1).await.unwrap().remove(0);
    let token = random_token();
    assert!(store::jobs::set_agent_token(&mut conn, job.id, job.fence, &token_hash(&token), now_ms()).await.unwrap());
    (job.id, token)
}

/// What an honest agent reports for `disks` of the recorded inventory.
fn erase_report(inventory: &app::domain::Inventory, verified: bool) -> serde_json::Value {
    let devices: Vec<serde_json::Value> = inventory
        .disks
        .iter()
        .enumerate()
        .map(|(i, d)| {
            serde_json::json!({
                "device": format!("disk{i}"), "ok": true, "message": "erased", "serial": d.serial,
                "erasure": { "serial": d.serial, "model": d.model, "size_bytes": d.size_bytes,
                    "method": "nvme_sanitize_crypto", "tool": "nvme-cli 2.4: nvme sanitize --sanact=4",
                    "started_at": 1, "finished_at": 2, "bytes": d.size_bytes,
                    "verification": { "method": "read-back", "samples": 288, "passed": verified, "detail": "d" } }
            })
        })
        .collect();
    serde_json::json!({ "name": "erase_disks", "ok": true, "message": "erased", "devices": devices })
}

/// The attacks on cleaning through the agent: an agent on a machine with fewer or
/// other disks, or another system serial, gets no erase step and fails the job; one
/// that reports no disks, or unverified ones, fails it too; only a full verified
/// report passes and leaves a certificate.
#[tokio::test]
async fn a_cleaning_agent_must_prove_the_machine_and_its_erase() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("live.img");
    LiveImage::write_simulation_image(&image).unwrap();
    let app = spawn_app_with(|s| s.live_image = Some(image)).await;
    let (servers, _) = common::typed_available(&app, "tenant-box", 2, 1).await;
    let id = servers[0].id;
    sqlx::query("UPDATE servers SET state = 'cleaning' WHERE id = $1")
        .bind(id)
        .execute(app.backend.db.pool())
        .await
        .unwrap();
    let recorded = app.backend.latest_inventory(id).await.unwrap().unwrap();
    assert!(recorded.disks.len() >= 2);
    let client = reqwest::Client::new();
    let phase = |job: i64| {
        let app = &app;
        async move {
            let row = store::jobs::get(&mut app.backend.db.conn().await.unwrap(), job).await.unwrap().unwrap();
            (row.phase, row.last_error.unwrap_or_default())
        }
    };

    let mut fewer = recorded.clone();
    fewer.disks.pop();
    let mut other = recorded.clone();
    other.system.serial_number = "SOMEONE-ELSE".into();
    for (bad, want) in [(fewer, "missing"), (other, "system serial")] {
        let (job, token) = cleaning_job(&app, id).await;
        let url = |p: &str| app.url(&format!("/agent/v1/jobs/{job}/{p}"));
        let resp = client.get(url("steps")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(error_code(resp).await.0, 409, "no steps before the machine is proven");
        let resp = client.post(url("inventory")).bearer_auth(&token).json(&bad).send().await.unwrap();
        let (status, code, message) = error_code(resp).await;
        assert_eq!((status, code.as_str()), (409, "identity_mismatch"), "{message}");
        assert!(message.contains(want) && message.contains("nothing was erased"), "{message}");
        let resp = client.get(url("steps")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(error_code(resp).await.0, 409, "still no erase step");
        let (p, e) = phase(job).await;
        assert_eq!(p, JobPhase::AgentFailed, "{e}");
    }

    for (report, want) in [
        (
            serde_json::json!({ "name": "erase_disks", "ok": true, "message": "0 disk(s) erased", "devices": [] }),
            "not reported",
        ),
        (erase_report(&recorded, false), "verification failed"),
    ] {
        let (job, token) = cleaning_job(&app, id).await;
        let url = |p: &str| app.url(&format!("/agent/v1/jobs/{job}/{p}"));
        let resp = client.post(url("inventory")).bearer_auth(&token).json(&recorded).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let steps: serde_json::Value =
            client.get(url("steps")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        assert_eq!(steps["steps"][0]["params"]["mode"], "secure", "secure is the default");
        let resp = client.post(url("steps/0")).bearer_auth(&token).json(&report).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let (p, e) = phase(job).await;
        assert_eq!(p, JobPhase::AgentFailed);
        assert!(e.contains("erase_disks not verified") && e.contains(want), "{e}");
    }
    assert!(app.backend.erase_certificates(id).await.unwrap().is_empty(), "no certificate for a failed erase");

    let (job, token) = cleaning_job(&app, id).await;
    let url = |p: &str| app.url(&format!("/agent/v1/jobs/{job}/{p}"));
    client.post(url("inventory")).bearer_auth(&token).json(&recorded).send().await.unwrap();
    let resp =
        client.post(url("steps/0")).bearer_auth(&token).json(&erase_report(&recorded, true)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(phase(job).await.0, JobPhase::AgentReported);
    let certs = app.backend.erase_certificates(id).await.unwrap();
    assert_eq!(certs.len(), 1);
    assert!(certs[0].disks.iter().all(|d| d.method_type == "Purge" && d.method_used == "Crypto Erase"));
}
