//! Power control: tenants power their own used servers, admins and operators any
//! server without a running job, viewers none; each request is a job, audited, and
//! shown with its outcome. The demo lab's BMCs, on SQLite or PostgreSQL.

mod common;

use app::backend::services::allocation::AllocationRequest;
use app::backend::services::{Actor, StateChange};
use app::domain::EventKind;
use app::domain::JobStatus;
use app::domain::power::PowerRequest;
use app::domain::power::PowerState;
use app::domain::{Action, Role, ServerState};
use app::model::UserView;
use common::{TestApp, USER_PASSWORD, spawn_app_with, wait_for_server};
use serde_json::{Value, json};
use std::time::Duration;

/// One lab machine, registered (unavailable, off), with a short shutdown grace.
async fn lab_app() -> (TestApp, i64) {
    let app = spawn_app_with(|s| {
        s.workers = 4;
        s.demo_lab = 1;
        s.demo_lab_boot = Duration::from_millis(100);
        s.shutdown_grace = Duration::from_secs(2);
        s.bmc_timeout = Duration::from_secs(3);
    })
    .await;
    let id = app.backend.list_servers(&Default::default()).await.unwrap()[0].id;
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
    wait_power_job_done(&app, id).await;
    (app, id)
}

async fn user(app: &TestApp, name: &str, role: Role) -> UserView {
    app.backend.create_user(&Actor::user("admin"), name, USER_PASSWORD, role).await.unwrap()
}

async fn find_user(app: &TestApp, name: &str) -> UserView {
    app.backend.list_users().await.unwrap().into_iter().find(|u| u.username == name).expect("the user")
}

/// Makes the server available and allocates it to a new tenant `name`.
async fn allocate_to(app: &TestApp, id: i64, name: &str) -> UserView {
    let tenant = user(app, name, Role::Tenant).await;
    let admin = Actor::user("admin");
    let s = app.backend.change_state(&admin, id, &StateChange::new(Action::SetAvailable)).await.unwrap();
    let operator = user(app, &format!("{name}-ops"), Role::Operator).await;
    let req = AllocationRequest {
        tenant: Some(name.into()),
        server_type: s.server_type.clone().expect("typed"),
        count: 1,
        ..Default::default()
    };
    app.backend.allocate(&operator, &req).await.unwrap();
    assert_eq!(app.backend.server(id).await.unwrap().state, ServerState::Used);
    tenant
}

/// Waits until no job runs on the server.
async fn wait_power_job_done(app: &TestApp, id: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while app.backend.has_active_job(id).await.unwrap() {
        assert!(tokio::time::Instant::now() < deadline, "a job still runs on server {id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The latest power request as the caller sees it.
async fn last_power(app: &TestApp, caller: &UserView, id: i64) -> app::model::PowerJob {
    app.backend.power_control(caller, id).await.unwrap().last.expect("a power request")
}

async fn token(app: &TestApp, username: &str) -> String {
    common::api_token(app, username, USER_PASSWORD).await
}

async fn post_power(app: &TestApp, token: &str, id: i64, action: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/servers/{id}/power")))
        .bearer_auth(token)
        .json(&json!({ "action": action }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json::<Value>().await.unwrap_or(Value::Null))
}

/// A tenant powers the server allocated to them on, resets it and powers it off
/// through the API; the lab machine follows, each request is audited with the
/// tenant's name, and the power state is recorded.
#[tokio::test]
async fn tenant_powers_their_server_on_and_off() {
    let (app, id) = lab_app().await;
    allocate_to(&app, id, "acme").await;
    assert!(!app.lab[0].powered_on());
    let t = token(&app, "acme").await;

    let (status, body) = post_power(&app, &t, id, "on").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["last"]["request"], "on");
    wait_power_job_done(&app, id).await;
    assert!(app.lab[0].powered_on());
    assert_eq!(app.backend.server(id).await.unwrap().power_state, PowerState::On);

    for action in ["reset", "off"] {
        let (status, body) = post_power(&app, &t, id, action).await;
        assert_eq!(status, 202, "{body}");
        wait_power_job_done(&app, id).await;
    }
    assert!(!app.lab[0].powered_on());
    let s = app.backend.server(id).await.unwrap();
    assert_eq!((s.state, s.power_state.as_str()), (ServerState::Used, "Off"), "the tenant keeps the server");

    let resp = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/servers/{id}/power")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["power_state"], "Off");
    assert_eq!(body["last"]["request"], "off");
    assert_eq!(body["last"]["status"], "succeeded");
    assert_eq!(body["allowed"], json!(["on", "off", "reset"]));

    let asked: Vec<(String, Option<String>)> = app
        .backend
        .server_events(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::PowerRequested)
        .map(|e| (e.actor, e.to_value))
        .collect();
    let want: Vec<(String, Option<String>)> =
        ["on", "reset", "off"].iter().map(|a| ("acme".to_string(), Some(a.to_string()))).collect();
    assert_eq!(asked, want);
}

/// A viewer may not power anything (403, no job); another tenant does not even
/// learn the server exists (404); a made-up action is a 422 naming the field.
#[tokio::test]
async fn viewers_and_other_tenants_cannot_power() {
    let (app, id) = lab_app().await;
    allocate_to(&app, id, "acme").await;
    user(&app, "watcher", Role::Viewer).await;
    user(&app, "rival", Role::Tenant).await;
    let (status, body) = post_power(&app, &token(&app, "watcher").await, id, "off").await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{body}");
    let (status, body) = post_power(&app, &token(&app, "rival").await, id, "off").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    let (status, body) = post_power(&app, &token(&app, "acme").await, id, "cycle").await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("action:"), "{body}");
    assert!(!app.backend.server_events(id).await.unwrap().iter().any(|e| e.kind == EventKind::PowerRequested));
    let viewer = find_user(&app, "watcher").await;
    assert!(app.backend.power_control(&viewer, id).await.unwrap().buttons.is_empty(), "a viewer sees no buttons");
}

/// An operating system that ignores the shutdown request is forced off once the
/// grace time is over, and the job log says so.
#[tokio::test]
async fn ignored_shutdown_is_forced_off_after_the_grace_time() {
    let (app, id) = lab_app().await;
    let operator = user(&app, "olga", Role::Operator).await;
    app.backend.request_power(&operator, id, PowerRequest::On).await.unwrap();
    wait_power_job_done(&app, id).await;
    assert!(app.lab[0].powered_on());
    app.lab[0].set_faults(rackstate_server::lab::Faults { ignores_shutdown: true, ..Default::default() });
    let job = app.backend.request_power(&operator, id, PowerRequest::Off).await.unwrap();
    wait_power_job_done(&app, id).await;
    assert!(!app.lab[0].powered_on());
    let steps: Vec<String> = app.backend.job(job).await.unwrap().steps.into_iter().map(|s| s.message).collect();
    assert!(steps.iter().any(|m| m.starts_with("asking the operating system to shut down")), "{steps:?}");
    assert!(steps.iter().any(|m| m.starts_with("not off after the graceful shutdown")), "{steps:?}");
    assert_eq!(last_power(&app, &operator, id).await.status, JobStatus::Succeeded);
}

/// While a job runs on a server (here: a power action), nobody can ask for another
/// power action; releasing the server aborts that job, and cleaning starts only once
/// the aborted job has let go of the machine.
#[tokio::test]
async fn release_aborts_a_running_power_job_and_cleaning_follows() {
    let (app, id) = lab_app().await;
    let tenant = allocate_to(&app, id, "acme").await;
    // An operating system that ignores the shutdown keeps the off request running.
    app.backend.request_power(&tenant, id, PowerRequest::On).await.unwrap();
    wait_power_job_done(&app, id).await;
    app.lab[0].set_faults(rackstate_server::lab::Faults { ignores_shutdown: true, ..Default::default() });
    let off = app.backend.request_power(&tenant, id, PowerRequest::Off).await.unwrap();
    let again = app.backend.request_power(&tenant, id, PowerRequest::Reset).await.unwrap_err();
    assert!(again.to_string().contains("job is running"), "{again}");
    let deployment = app.backend.server(id).await.unwrap().deployment_id.expect("allocated");
    app.backend.release(&tenant, deployment, None).await.unwrap();
    assert_eq!(app.backend.server(id).await.unwrap().state, ServerState::Cleaning);
    app.lab[0].set_faults(Default::default());
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Available).await;
    let power_job = app.backend.job(off).await.unwrap();
    assert_eq!(power_job.status, JobStatus::Aborted, "{power_job:?}");
    assert!(power_job.last_error.as_deref().unwrap_or_default().contains("released from deployment"));
    let events = app.backend.server_events(id).await.unwrap();
    assert!(events.iter().any(|e| e.kind == EventKind::JobAborted), "audited");
}

/// A BMC that does not answer fails the power job with the reason; the tenant keeps
/// the server, sees the failure without the BMC's address, and an operator retries it.
#[tokio::test]
async fn unreachable_bmc_fails_the_request_with_the_reason() {
    let (app, id) = lab_app().await;
    let tenant = allocate_to(&app, id, "acme").await;
    let address = app.backend.server(id).await.unwrap().bmc_address;
    app.lab[0].set_faults(rackstate_server::lab::Faults { stall: true, ..Default::default() });
    sqlx::query("UPDATE servers SET power_state = 'On' WHERE id = $1")
        .bind(id)
        .execute(app.backend.db.pool())
        .await
        .unwrap();
    app.backend.request_power(&tenant, id, PowerRequest::Off).await.unwrap();
    wait_power_job_done(&app, id).await;
    let seen = last_power(&app, &tenant, id).await;
    assert_eq!(seen.status, JobStatus::Failed);
    let error = seen.error.expect("the reason");
    assert!(error.contains("timed out") && !error.contains(&address), "{error}");
    let s = app.backend.server(id).await.unwrap();
    assert_eq!(s.state, ServerState::Used);
    assert_eq!(s.power_state, PowerState::On, "a failed request assumes nothing about power");

    app.lab[0].set_faults(Default::default());
    app.backend.retry_job(&Actor::user("admin"), id).await.unwrap();
    wait_power_job_done(&app, id).await;
    assert_eq!(last_power(&app, &tenant, id).await.status, JobStatus::Succeeded);
    assert!(!app.lab[0].powered_on());
}

/// A BMC that stops answering for a while (rebooting): the power job is started
/// again with a growing wait, says so in its log, and succeeds once the BMC is back.
#[tokio::test]
async fn a_bmc_that_is_away_for_a_while_is_tried_again() {
    let app = spawn_app_with(|s| {
        s.workers = 4;
        s.demo_lab = 1;
        s.demo_lab_boot = Duration::from_millis(100);
        s.bmc_timeout = Duration::from_secs(2);
        s.bmc_retries = 3;
        s.bmc_retry_base = Duration::from_secs(1);
    })
    .await;
    let id = app.backend.list_servers(&Default::default()).await.unwrap()[0].id;
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
    wait_power_job_done(&app, id).await;
    let operator = user(&app, "olga", Role::Operator).await;
    app.lab[0].set_faults(rackstate_server::lab::Faults { stall: true, ..Default::default() });
    let job = app.backend.request_power(&operator, id, PowerRequest::On).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let steps: Vec<String> = app.backend.job(job).await.unwrap().steps.into_iter().map(|s| s.message).collect();
        if steps.iter().any(|m| m.starts_with("will retry in 1s: ") && m.ends_with("(attempt 1 of 4)")) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no retry in {steps:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.lab[0].set_faults(Default::default());
    wait_power_job_done(&app, id).await;
    let done = app.backend.job(job).await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");
    assert!(done.attempts >= 2, "{done:?}");
    assert!(app.lab[0].powered_on());
}

/// After a cleaning failed, an admin powers the machine on to look at it: the failed
/// cleaning is still the job the page offers to retry.
#[tokio::test]
async fn a_power_action_does_not_hide_a_failed_cleaning() {
    let (app, id) = lab_app().await;
    let tenant = allocate_to(&app, id, "acme").await;
    app.lab[0].set_faults(rackstate_server::lab::Faults { no_virtual_media: true, ..Default::default() });
    let deployment = app.backend.server(id).await.unwrap().deployment_id.unwrap();
    app.backend.release(&tenant, deployment, None).await.unwrap();
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.last_error.is_some()).await;
    wait_power_job_done(&app, id).await;
    let admin = find_user(&app, "admin").await;
    app.backend.request_power(&admin, id, PowerRequest::On).await.unwrap();
    wait_power_job_done(&app, id).await;
    let job = app.backend.latest_job(id).await.unwrap().unwrap();
    assert_eq!((job.kind.as_str(), job.status.as_str()), ("clean", "failed"));
    app.lab[0].set_faults(Default::default());
    app.backend.retry_job(&Actor::user("admin"), id).await.unwrap();
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Available).await;
}
