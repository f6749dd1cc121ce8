//! The fault matrix against the demo lab's BMCs: each fault ends in a failed job with
//! a reason an admin can act on, and the server where the lifecycle's failure rule
//! puts it (a failed re-registration returns to unavailable), its state intact.

mod common;

use app::backend::services::{Actor, StateChange};
use app::domain::JobStatus;
use app::domain::{Action, ServerState};
use common::{TestApp, latest_job, spawn_app_with, wait_for_server};
use rackstate_server::lab::Faults;
use std::time::Duration;

/// A lab of one registered server, with short BMC and power timeouts.
async fn registered_lab_server() -> (TestApp, i64) {
    let app = spawn_app_with(|s| {
        s.workers = 2;
        s.demo_lab = 1;
        s.demo_lab_boot = Duration::from_millis(100);
        s.bmc_timeout = Duration::from_secs(1);
        s.power_timeout = Duration::from_secs(2);
    })
    .await;
    let id = app.backend.list_servers(&Default::default()).await.unwrap()[0].id;
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
    (app, id)
}

/// Re-registers with `faults` injected and checks the failure says `what`.
async fn re_register_fails(faults: Faults, what: &str) {
    let (app, id) = registered_lab_server().await;
    let before = app.backend.server(id).await.unwrap();
    app.lab[0].set_faults(faults);
    app.backend.change_state(&Actor::user("admin"), id, &StateChange::new(Action::ReRegister)).await.unwrap();
    let s = wait_for_server(&app, id, Duration::from_secs(60), |s| s.last_error.is_some()).await;
    assert_eq!(s.state, ServerState::Unavailable, "a failed re-registration returns to unavailable");
    assert_eq!(s.server_type, before.server_type, "the type is intact");
    let error = s.last_error.unwrap();
    assert!(error.contains(what), "{error:?} does not say {what:?}");
    let (job, steps) = latest_job(&app, id).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert!(steps.iter().any(|m| m.starts_with("failed: ")), "{steps:?}");
    assert!(!app.backend.has_active_job(id).await.unwrap());
}

#[tokio::test]
async fn virtual_media_404() {
    re_register_fails(Faults { no_virtual_media: true, ..Default::default() }, "finding virtual media: HTTP 404").await;
}

#[tokio::test]
async fn bmc_that_stalls_past_the_timeout() {
    re_register_fails(Faults { stall: true, ..Default::default() }, "timed out after 1s").await;
}

#[tokio::test]
async fn malformed_json() {
    re_register_fails(Faults { malformed_json: true, ..Default::default() }, "unexpected answer: not JSON").await;
}

#[tokio::test]
async fn power_that_never_reaches_on() {
    re_register_fails(Faults { power_stuck_off: true, ..Default::default() }, "power never reached On").await;
}

/// An operator may retry failed jobs, but not a failed decommissioning: running it
/// again is decommissioning, which only admins may do (the same answer from the page's
/// server function and the API, decided by the service). An admin retries it.
#[tokio::test]
async fn only_admins_retry_a_failed_decommission() {
    let (app, id) = registered_lab_server().await;
    app.lab[0].set_faults(Faults { malformed_json: true, ..Default::default() });
    app.backend.change_state(&Actor::user("admin"), id, &StateChange::new(Action::Decommission)).await.unwrap();
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.last_error.is_some()).await;
    assert_eq!(latest_job(&app, id).await.0.status, JobStatus::Failed);
    app.lab[0].set_faults(Faults::default());
    let operator = app
        .backend
        .create_user(&Actor::user("admin"), "olga", common::USER_PASSWORD, app::domain::Role::Operator)
        .await
        .unwrap();
    let refused = app.backend.retry_job_for(&operator, id).await.unwrap_err();
    assert!(matches!(refused, app::backend::services::ServiceError::Forbidden { .. }), "{refused:?}");
    assert!(refused.to_string().contains("may not decommission"), "{refused}");
    assert_eq!(latest_job(&app, id).await.0.status, JobStatus::Failed, "nothing was queued");
    let admin = app.backend.list_users().await.unwrap().into_iter().find(|u| u.username == "admin").unwrap();
    app.backend.retry_job_for(&admin, id).await.unwrap();
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Decommissioned).await;
}
