//! BMC password rotation: a new random password set through the BMC's
//! AccountService, checked by logging in with it, and only then stored; a BMC that
//! refuses or drops the change leaves the old password working and stored.

mod common;

use app::domain::{EventKind, JobStatus, Role, ServerState};
use common::{TestApp, api_token_for, latest_job, spawn_app_with, wait_for_server};
use rackstate_server::lab::Faults;
use serde_json::{Value, json};
use std::time::Duration;

/// One registered lab machine; its id and its BMC password.
async fn registered(app: &TestApp) -> (i64, String) {
    let id = app.backend.list_servers(&Default::default()).await.unwrap()[0].id;
    wait_for_server(app, id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
    (id, app.lab[0].password())
}

/// A Rackstate with a lab of one machine.
async fn lab_app() -> TestApp {
    spawn_app_with(|s| {
        s.workers = 2;
        s.demo_lab = 1;
        s.demo_lab_boot = Duration::from_millis(100);
    })
    .await
}

/// The server's stored BMC password.
async fn stored(app: &TestApp, id: i64) -> String {
    app.backend.bmc_login(id).await.unwrap().password.unwrap().expose().to_string()
}

/// Waits for the server's latest job to end; its status and step log.
async fn job_end(app: &TestApp, id: i64) -> (app::backend::store::jobs::JobRow, Vec<String>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (job, steps) = latest_job(app, id).await;
        if job.kind == app::domain::JobKind::RotateBmcPassword && !job.status.is_active() {
            return (job, steps);
        }
        assert!(tokio::time::Instant::now() < deadline, "still {:?}: {steps:?}", job.status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The admin as services see a caller.
fn admin() -> app::model::UserView {
    app::model::UserView { id: 1, username: "admin".into(), role: Role::Admin, disabled: false }
}

/// An admin rotates a server's BMC password: the BMC now takes only the new one, the
/// new one is what Rackstate stores (and the next job logs in with it), the audit
/// says who asked and that it was rotated, and no password appears in it.
#[tokio::test]
async fn a_rotated_password_works_is_stored_and_the_old_one_is_retired() {
    let app = lab_app().await;
    let (id, old) = registered(&app).await;
    app.backend.request_bmc_rotation(&admin(), id).await.unwrap();
    let (job, steps) = job_end(&app, id).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{steps:?}");
    let now = app.lab[0].password();
    assert_ne!(now, old, "the BMC has a new password");
    assert_eq!(stored(&app, id).await, now, "and it is the one stored");
    assert!(now.len() >= 12 && now.chars().any(|c| c.is_ascii_digit()), "{now}");

    let events = app.backend.server_events(id).await.unwrap();
    assert!(events.iter().any(|e| e.kind == EventKind::BmcRotationRequested && e.actor == "admin"));
    assert!(events.iter().any(|e| e.kind == EventKind::BmcPasswordRotated));
    let audit = serde_json::to_string(&events).unwrap();
    assert!(!audit.contains(&now) && !audit.contains(&old), "no password in the audit");

    // The next job reaches the BMC with the stored (new) password.
    let admin_actor = app::backend::services::Actor::user("admin");
    let change = app::backend::services::StateChange::new(app::domain::Action::ReRegister);
    app.backend.change_state(&admin_actor, id, &change).await.unwrap();
    let s = wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
    assert_eq!(s.last_error, None);
}

/// A BMC whose password policy refuses the new password: the job stops there, says
/// so, and the old password still opens the BMC and is still stored.
#[tokio::test]
async fn a_refused_password_change_keeps_the_old_one() {
    let app = lab_app().await;
    let (id, old) = registered(&app).await;
    app.lab[0].set_faults(Faults { refuses_password_change: true, ..Faults::default() });
    app.backend.request_bmc_rotation(&admin(), id).await.unwrap();
    let (job, steps) = job_end(&app, id).await;
    assert_eq!(job.status, JobStatus::Failed, "{steps:?}");
    let error = job.last_error.unwrap_or_default();
    assert!(error.contains("stopped at setting the new password on the BMC"), "{error}");
    assert!(error.contains("the old password is unchanged and still stored"), "{error}");
    assert_eq!((app.lab[0].password(), stored(&app, id).await), (old.clone(), old));
    assert!(app.backend.bmc_rotation_pending(id).await.unwrap().is_none(), "nothing left pending");
}

/// Firmware that answers the change with success but drops it: the new password does
/// not log in, so it is never stored; the old one keeps working.
#[tokio::test]
async fn a_dropped_password_change_is_never_stored() {
    let app = lab_app().await;
    let (id, old) = registered(&app).await;
    app.lab[0].set_faults(Faults { drops_password_change: true, ..Faults::default() });
    app.backend.request_bmc_rotation(&admin(), id).await.unwrap();
    let (job, steps) = job_end(&app, id).await;
    assert_eq!(job.status, JobStatus::Failed, "{steps:?}");
    let error = job.last_error.unwrap_or_default();
    assert!(error.contains("stopped at logging in with the new password"), "{error}");
    assert_eq!((app.lab[0].password(), stored(&app, id).await), (old.clone(), old));
    assert!(app.backend.bmc_rotation_pending(id).await.unwrap().is_none());
}

/// Rackstate stopped right after the BMC took a new password (before storing it):
/// the next rotation finds the pending password working and stores it, instead of
/// losing the only password the BMC takes.
#[tokio::test]
async fn a_rotation_that_stopped_after_the_bmc_took_the_password_is_finished_by_the_next() {
    let app = lab_app().await;
    let (id, old) = registered(&app).await;
    let pending = app::backend::services::rotation::random_bmc_password();
    app.backend.bmc_rotation_begin(id, &pending).await.unwrap();
    app.lab[0].set_password(pending.expose());
    app.backend.request_bmc_rotation(&admin(), id).await.unwrap();
    let (job, steps) = job_end(&app, id).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{steps:?}");
    assert!(steps.iter().any(|s| s.contains("takes the password an earlier run set")), "{steps:?}");
    assert_eq!(stored(&app, id).await, pending.expose());
    assert_ne!(stored(&app, id).await, old);
}

/// Through the API: an operator rotates a selection; a viewer may not; a server
/// without a stored password is refused by name while the others go ahead.
#[tokio::test]
async fn the_api_rotates_a_selection_and_names_each_refusal() {
    let app = lab_app().await;
    let (id, old) = registered(&app).await;
    let bare = common::server_in_state(&app, "no-password", ServerState::Unavailable).await;
    let client = reqwest::Client::new();
    let viewer = api_token_for(&app, Role::Viewer).await;
    let refused = client.post(app.url(&format!("/api/v1/servers/{id}/bmc/rotate"))).bearer_auth(&viewer).send();
    assert_eq!(refused.await.unwrap().status(), 403);
    let operator = api_token_for(&app, Role::Operator).await;
    let resp = client
        .post(app.url("/api/v1/bmc-rotations"))
        .bearer_auth(&operator)
        .json(&json!({ "server_ids": [id, bare.id] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body["items"][0]["job"].as_i64().is_some(), "{body}");
    assert!(body["items"][1]["error"].as_str().unwrap().contains("no BMC password is stored"), "{body}");
    let (job, steps) = job_end(&app, id).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{steps:?}");
    assert_ne!(app.lab[0].password(), old);
}

/// An admin adds a server asking for a random BMC password: once registered, its BMC
/// has a password nobody typed, and Rackstate stores it.
#[tokio::test]
async fn a_server_added_with_a_random_password_gets_one_after_registration() {
    use rackstate_server::lab::{Lab, LabConfig};
    // The demo lab of one brings the live image its machines boot; this test's machine
    // is another, added by hand.
    let app = lab_app().await;
    let config = LabConfig {
        machines: 2,
        boot_delay: Duration::from_millis(100),
        disk_dir: app.data_dir.join("own-lab"),
        disk_bytes: rackstate_server::lab::DEFAULT_DISK_BYTES,
        bmc_delay: Duration::ZERO,
        vendor: None,
    };
    // Machine 2 of its own lab: another serial than the demo lab's machine 1.
    let lab = Lab::serve(&config, Lab::specs(2).split_off(1)).await.unwrap();
    let m = lab.machines[0].clone();
    let typed = m.password();
    let new = app::backend::services::NewServer {
        name: "fresh".into(),
        bmc_address: m.address(),
        bmc_username: m.username.clone(),
        bmc_password: Some(app::backend::secrets::SecretString::new(typed.clone())),
        bmc_verify_tls: true,
        set_random_bmc_password: true,
        ..Default::default()
    };
    let s = app.backend.add_server(&app::backend::services::Actor::user("admin"), &new).await.unwrap();
    wait_for_server(&app, s.id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
    let (job, steps) = job_end(&app, s.id).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{steps:?}");
    assert_ne!(m.password(), typed, "the BMC got a password nobody typed");
    assert_eq!(stored(&app, s.id).await, m.password());
}
