//! The periodic BMC sweep: power and health from every BMC; one failing BMC does not
//! stop the sweep; repeated failures raise a warning on that server, never a state
//! change; an answer clears it. Servers with a running job are left to the job.

mod common;

use app::domain::ServerState;
use app::domain::power::PowerState;
use common::{spawn_app_with, wait_for_server};
use rackstate_server::bmc::redfish::RedfishConnector;
use rackstate_server::lab::Faults;
use rackstate_server::sweep::{PowerSweep, SweepReport};
use std::time::Duration;

#[tokio::test]
async fn sweep_records_power_and_warns_on_repeated_failures() {
    let app = spawn_app_with(|s| {
        s.workers = 4;
        s.demo_lab = 3;
        s.demo_lab_boot = Duration::from_millis(100);
        s.power_sync = None; // swept by hand below
    })
    .await;
    let servers = app.backend.list_servers(&Default::default()).await.unwrap();
    for s in &servers {
        wait_for_server(&app, s.id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
    }
    let sweep = PowerSweep {
        backend: app.backend.clone(),
        interval: Duration::from_secs(3600),
        concurrency: 2,
        bmc_timeout: Duration::from_secs(1),
        warn_after: 3,
        bmcs: std::sync::Arc::new(RedfishConnector::new(app.backend.bmc_reach.clone())),
    };
    let stalled = servers.iter().find(|s| s.name == "lab-02").unwrap().id;
    app.lab[1].set_faults(Faults { stall: true, ..Default::default() });
    for round in 1..=3 {
        assert_eq!(sweep.sweep_once().await, SweepReport { checked: 3, failed: 1 });
        let s = app.backend.server(stalled).await.unwrap();
        assert_eq!(s.bmc_warning.is_some(), round == 3, "warning after the third failure, not before");
        assert_eq!(s.state, ServerState::Unavailable, "a warning, never a state change");
    }
    let warned = app.backend.server(stalled).await.unwrap();
    assert!(warned.bmc_warning.unwrap().contains("did not answer 3 checks in a row"));
    assert_eq!(warned.power_state, PowerState::Unknown);
    for s in servers.iter().filter(|s| s.id != stalled) {
        let s = app.backend.server(s.id).await.unwrap();
        assert_eq!((s.power_state.as_str(), s.health.as_str(), s.bmc_warning), ("Off", "OK", None));
    }
    app.lab[1].set_faults(Faults::default());
    assert_eq!(sweep.sweep_once().await, SweepReport { checked: 3, failed: 0 });
    let s = app.backend.server(stalled).await.unwrap();
    assert_eq!((s.power_state.as_str(), s.bmc_warning), ("Off", None));

    // A server with a running job is the job's business.
    common::end_jobs(&app, stalled).await;
    sqlx::query("UPDATE jobs SET status = 'queued' WHERE server_id = $1")
        .bind(stalled)
        .execute(app.backend.db.pool())
        .await
        .unwrap();
    let workers_off = app.backend.sweep_targets().await.unwrap();
    assert!(!workers_off.contains(&stalled));
}
