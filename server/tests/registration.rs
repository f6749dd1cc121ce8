//! Registration end to end: the demo lab's simulated BMCs and OpenStack's
//! sushy-emulator as BMCs, the real agent code reporting through the agent API, and
//! the failures a real fleet produces, each ending in a failed job with a reason.

mod common;

use app::backend::secrets::SecretString;
use app::backend::services::{Actor, NewServer, StateChange};
use app::domain::EventKind;
use app::domain::JobStatus;
use app::domain::power::PowerState;
use app::domain::{Action, ServerState};
use common::{TestApp, latest_job, spawn_app_with, sushy, wait_for_server};
use rackstate_server::live_image::LiveImage;
use std::time::Duration;

fn bmc_server(name: &str, address: &str, password: &str) -> NewServer {
    NewServer {
        name: name.into(),
        bmc_address: address.into(),
        bmc_username: sushy::USER.into(),
        bmc_password: Some(SecretString::new(password)),
        bmc_verify_tls: true,
        ..Default::default()
    }
}

/// A simulation live image in the app's data directory.
fn sim_image(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("live.img");
    LiveImage::write_simulation_image(&path).unwrap();
    path
}

/// The job failed, the server is where the failure rule puts it, and the reason
/// says `what`.
async fn assert_failed(app: &TestApp, id: i64, state: ServerState, what: &str) {
    let s = wait_for_server(app, id, Duration::from_secs(60), |s| s.last_error.is_some()).await;
    assert_eq!(s.state, state);
    let error = s.last_error.unwrap();
    assert!(error.contains(what), "last_error {error:?} does not say {what:?}");
    let (job, steps) = latest_job(app, id).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.last_error.as_deref(), Some(error.as_str()));
    assert!(steps.iter().any(|m| m.starts_with("failed: ")), "{steps:?}");
    assert!(!app.backend.has_active_job(id).await.unwrap());
}

/// The lab's servers register on first start: discovered, typed (five types, one
/// with GPUs), powered off, unavailable. A used server re-registers back to used.
#[tokio::test]
async fn demo_lab_registers_and_re_registers() {
    let app = spawn_app_with(|s| {
        s.workers = 8;
        s.demo_lab = 6;
        s.demo_lab_boot = Duration::from_millis(200);
    })
    .await;
    let servers = app.backend.list_servers(&Default::default()).await.unwrap();
    assert_eq!(servers.len(), 6);
    for s in &servers {
        let s = wait_for_server(&app, s.id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
        assert!(s.server_type.is_some() && s.serial_number.as_deref().unwrap().starts_with("LAB"));
        assert_eq!(s.power_state, PowerState::Off);
        let (job, steps) = common::wait_for_step(&app, s.id, "registered: ").await;
        assert_eq!(job.status, JobStatus::Succeeded);
        assert_eq!(job.attempts, 1, "resuming after the agent reported is not a new attempt");
        for want in [
            "checking the BMC",
            "inserting the live image",
            "agent reported the inventory",
            "powering off",
            "registered",
        ] {
            assert!(steps.iter().any(|m| m.contains(want)), "no step {want:?} in {steps:?}");
        }
    }
    let types: std::collections::BTreeSet<String> = app
        .backend
        .list_servers(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .filter_map(|s| s.server_type)
        .collect();
    assert_eq!(types.len(), 5, "{types:?}");
    assert!(types.iter().any(|t| t.contains('G')), "a GPU type: {types:?}");
    // Each machine's agent ran once (it may still be finishing its last call).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !app.lab.iter().all(|m| m.agent_runs() == 1) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "agent runs: {:?}",
            app.lab.iter().map(|m| m.agent_runs()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(app.lab.iter().all(|m| !m.powered_on()));
    let events = app.backend.server_events(servers[0].id).await.unwrap();
    let registered = events.iter().find(|e| e.to_value.as_deref() == Some("unavailable")).unwrap();
    let job = latest_job(&app, servers[0].id).await.0.id;
    assert_eq!(registered.correlation_id, Some(format!("job-{job}")), "the job's events carry its id");

    // A used server re-registers (it reboots) and returns to used.
    let id = servers[0].id;
    sqlx::query("UPDATE servers SET state = 'used' WHERE id = $1")
        .bind(id)
        .execute(app.backend.db.pool())
        .await
        .unwrap();
    let s = app.backend.change_state(&Actor::user("admin"), id, &StateChange::new(Action::ReRegister)).await.unwrap();
    assert_eq!(s.state, ServerState::UsedRegistering);
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Used).await;
    let events = app.backend.server_events(id).await.unwrap();
    assert!(
        events.iter().any(|e| e.kind == EventKind::Inventory && e.reason.as_deref() == Some("inventory unchanged"))
    );
}

/// Ten servers on one sushy-emulator register at once. A harness receives the
/// emulator's change notifications; when a system powers on from the inserted CD,
/// it reads the image the emulator downloaded and runs the real agent with a
/// fixture hardware profile.
#[tokio::test]
async fn ten_concurrent_registrations_against_sushy() {
    let harness = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let notify = format!("http://{}/notify", harness.local_addr().unwrap());
    let emu = sushy::start_with(10, Some(&notify)).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::<String>::new()));
    let boots = seen.clone();
    let router = axum::Router::new().route(
        "/notify",
        axum::routing::put(move |axum::Json(system): axum::Json<serde_json::Value>| {
            let boots = boots.clone();
            async move {
                boot_if_live(&system, &boots);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(harness, router).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let image = sim_image(dir.path());
    let app = spawn_app_with(|s| {
        s.workers = 10;
        s.live_image = Some(image);
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let new = bmc_server(&format!("sushy-{i}"), &emu.system_address(i), sushy::PASSWORD);
        ids.push(app.backend.add_server(&Actor::user("admin"), &new).await.unwrap().id);
    }
    for id in ids {
        let s = wait_for_server(&app, id, Duration::from_secs(120), |s| {
            s.state != ServerState::Registering || s.last_error.is_some()
        })
        .await;
        assert_eq!(s.state, ServerState::Unavailable, "{:?}", s.last_error);
        assert!(s.server_type.is_some());
        assert_eq!(latest_job(&app, id).await.0.status, JobStatus::Succeeded);
    }
    assert_eq!(seen.lock().unwrap().len(), 10, "one live boot per server");
}

/// What a sushy system's notification says: powered on, booting from CD with an
/// image inserted. Then the "machine" boots the downloaded image and its agent runs.
fn boot_if_live(system: &serde_json::Value, seen: &std::sync::Mutex<std::collections::HashSet<String>>) {
    boot_with(system, seen, |index| Box::new(simulated(index)))
}

/// Emulator node `index` as a machine with the lab profile's hardware and real disk
/// files (one directory per test process and node).
fn simulated(index: usize) -> rackstate_server::agent::hardware::SimulatedMachine {
    let dir =
        std::env::temp_dir().join(format!("rackstate-test-disks-{}", std::process::id())).join(format!("node-{index}"));
    rackstate_server::agent::hardware::SimulatedMachine::new(
        rackstate_server::lab::profiles::inventory(index + 1),
        dir,
        rackstate_server::lab::DEFAULT_DISK_BYTES,
    )
    .expect("disk files")
}

type HardwareFor = fn(usize) -> Box<dyn rackstate_server::agent::hardware::Hardware>;

fn boot_with(
    system: &serde_json::Value,
    seen: &std::sync::Mutex<std::collections::HashSet<String>>,
    hardware: HardwareFor,
) {
    if system["power_state"] != "On" || !system["boot_device"].as_str().is_some_and(|d| d.eq_ignore_ascii_case("cd")) {
        return;
    }
    let Some(path) = system["boot_image"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .find_map(|v| (v[2] == true).then(|| v[0].as_str()).flatten())
    else {
        return;
    };
    let Some(config) = std::fs::read(path).ok().and_then(|b| rackstate_server::agent::BootConfig::from_image(&b))
    else {
        return;
    };
    if !seen.lock().unwrap().insert(config.token.clone()) {
        return;
    }
    let index: usize =
        system["name"].as_str().and_then(|n| n.strip_prefix("node-")).and_then(|i| i.parse().ok()).unwrap_or(0);
    let hardware = hardware(index);
    tokio::spawn(async move {
        rackstate_server::agent::run(&config, hardware.as_ref(), &Default::default()).await.expect("the agent reports");
    });
}

/// Wrong BMC credentials: the emulator's auth file refuses them; no retries.
#[tokio::test]
async fn wrong_bmc_credentials_fail_the_job() {
    let emu = sushy::start().await;
    let app = spawn_app_with(|s| s.workers = 2).await;
    let s = app
        .backend
        .add_server(&Actor::user("admin"), &bmc_server("wrong", &emu.url, "not-the-password"))
        .await
        .unwrap();
    assert_failed(&app, s.id, ServerState::Registering, "credentials refused").await;
}

/// Nothing listens at the BMC address.
#[tokio::test]
async fn unreachable_bmc_fails_the_job() {
    let app = spawn_app_with(|s| s.workers = 2).await;
    let address = format!("http://127.0.0.1:{}", sushy::free_port());
    let s = app.backend.add_server(&Actor::user("admin"), &bmc_server("gone", &address, "x")).await.unwrap();
    assert_failed(&app, s.id, ServerState::Registering, "cannot connect").await;
}

/// A BMC that answers 500 to everything.
#[tokio::test]
async fn bmc_answering_500_fails_the_job() {
    let router = axum::Router::new().fallback(|| async {
        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, r#"{"error":{"message":"controller busy"}}"#)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let app = spawn_app_with(|s| s.workers = 2).await;
    let s = app.backend.add_server(&Actor::user("admin"), &bmc_server("busy", &address, "x")).await.unwrap();
    assert_failed(&app, s.id, ServerState::Registering, "HTTP 500: controller busy").await;
}

/// The machine powers on but no agent ever reports: the job fails at the callback
/// timeout. A failed re-registration returns the server to unavailable.
#[tokio::test]
async fn agent_that_never_calls_back() {
    let emu = sushy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let image = sim_image(dir.path());
    let app = spawn_app_with(|s| {
        s.workers = 2;
        s.live_image = Some(image);
        s.agent_timeout = Duration::from_secs(2);
    })
    .await;
    let new = bmc_server("silent", &emu.url, sushy::PASSWORD);
    let s = app.backend.add_server(&Actor::user("admin"), &new).await.unwrap();
    assert_failed(&app, s.id, ServerState::Registering, "did not report within 2 seconds").await;
    // The same for a re-registration, which fails back to unavailable.
    sqlx::query("UPDATE servers SET state = 'unavailable', last_error = NULL WHERE id = $1")
        .bind(s.id)
        .execute(app.backend.db.pool())
        .await
        .unwrap();
    app.backend.change_state(&Actor::user("admin"), s.id, &StateChange::new(Action::ReRegister)).await.unwrap();
    assert_failed(&app, s.id, ServerState::Unavailable, "did not report within 2 seconds").await;
}

/// Without a live image, registration says how to configure one.
#[tokio::test]
async fn no_live_image_configured() {
    let emu = sushy::start().await;
    let app = spawn_app_with(|s| s.workers = 2).await;
    let s =
        app.backend.add_server(&Actor::user("admin"), &bmc_server("noimage", &emu.url, sushy::PASSWORD)).await.unwrap();
    assert_failed(&app, s.id, ServerState::Registering, "RACKSTATE_LIVE_IMAGE").await;
}

/// Decommissioning powers off, ejects, forgets the BMC password (audited) and ends in
/// `decommissioned`; inventory and audit stay. Registering it again starts the first
/// cycle, which needs the credentials again (the job says so).
#[tokio::test]
async fn decommission_then_register_again() {
    let app = spawn_app_with(|s| {
        s.workers = 4;
        s.demo_lab = 1;
        s.demo_lab_boot = Duration::from_millis(100);
    })
    .await;
    let id = app.backend.list_servers(&Default::default()).await.unwrap()[0].id;
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
    let admin = Actor::user("admin");
    let s = app.backend.change_state(&admin, id, &StateChange::new(Action::Decommission)).await.unwrap();
    assert_eq!(s.state, ServerState::Unavailable, "stays unavailable while the job runs");
    let s = wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Decommissioned).await;
    assert_eq!(s.power_state, PowerState::Off);
    assert!(s.server_type.is_some(), "the type (and inventory) stay");
    assert!(app.backend.bmc_login(id).await.unwrap().password.is_none(), "the BMC password is forgotten");
    let events = app.backend.server_events(id).await.unwrap();
    assert!(events.iter().any(|e| e.kind == EventKind::CredentialsForgotten));
    let (job, steps) = latest_job(&app, id).await;
    assert_eq!((job.kind.as_str(), job.status.as_str()), ("decommission", "succeeded"));
    assert!(steps.iter().any(|m| m == "forgetting the BMC credentials"), "{steps:?}");
    assert!(!app.lab[0].powered_on());

    let s = app.backend.change_state(&admin, id, &StateChange::new(Action::Register)).await.unwrap();
    assert_eq!(s.state, ServerState::Registering);
    assert_failed(&app, id, ServerState::Registering, "no stored BMC password").await;
}

/// Release starts cleaning: the live image boots, the agent erases the disks and
/// reports each, the job resets the BMC boot and the server is available again.
#[tokio::test]
async fn release_cleans_back_to_available() {
    let app = spawn_app_with(|s| {
        s.workers = 4;
        s.demo_lab = 1;
        s.demo_lab_boot = Duration::from_millis(100);
    })
    .await;
    let id = app.backend.list_servers(&Default::default()).await.unwrap()[0].id;
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
    let (admin, system) = (Actor::user("admin"), Actor::system("allocator"));
    app.backend.change_state(&admin, id, &StateChange::new(Action::SetAvailable)).await.unwrap();
    app.backend.change_state(&system, id, &StateChange::new(Action::Allocate)).await.unwrap();
    let s = app.backend.change_state(&system, id, &StateChange::new(Action::Release)).await.unwrap();
    assert_eq!(s.state, ServerState::Cleaning);
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Available).await;
    let (job, steps) = common::wait_for_step(&app, id, "cleaned: ").await;
    assert_eq!((job.kind.as_str(), job.status.as_str(), job.attempts), ("clean", "succeeded", 1));
    for want in [
        "the live image runs on the recorded machine (serial LAB00001, 2 disk(s) by serial)",
        "erase_disks: ok: 2 disk(s) erased and verified (secure mode)",
        "  disk0: ok: Overwrite with rackstate 0.1.0: zero overwrite of every byte; 3145728 bytes; verification passed",
        "erase certificate 1: 2 disk(s) erased and verified (secure mode)",
        "reset_bmc_boot: powering off, ejecting the media, clearing the boot override",
        "cleaned: lab-01 is available",
    ] {
        assert!(steps.iter().any(|m| m == want), "no step {want:?} in {steps:?}");
    }
    assert!(!app.lab[0].powered_on());
}

/// Hardware whose second disk cannot be written.
struct BrokenDisk(rackstate_server::agent::hardware::SimulatedMachine);

impl rackstate_server::agent::hardware::Hardware for BrokenDisk {
    fn inventory(&self) -> Result<app::domain::Inventory, String> {
        self.0.inventory()
    }
    fn block_devices(&self) -> Result<Vec<rackstate_server::agent::hardware::BlockDevice>, String> {
        self.0.block_devices()
    }
    fn erase(
        &self,
        device: &rackstate_server::agent::hardware::BlockDevice,
        mode: rackstate_server::agent::erase::EraseMode,
    ) -> Result<app::domain::erase::DiskErasure, String> {
        if device.name.starts_with("disk1") {
            return Err("write error: Input/output error".into());
        }
        self.0.erase(device, mode)
    }
}

/// An agent that reports a failed erase: the job fails with the agent's reason, the
/// server is powered off and stays in cleaning (sushy-emulator as the BMC).
#[tokio::test]
async fn failed_erase_fails_the_cleaning() {
    let harness = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let notify = format!("http://{}/notify", harness.local_addr().unwrap());
    let emu = sushy::start_with(1, Some(&notify)).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::<String>::new()));
    let boots = seen.clone();
    let router = axum::Router::new().route(
        "/notify",
        axum::routing::put(move |axum::Json(system): axum::Json<serde_json::Value>| {
            let boots = boots.clone();
            async move {
                boot_with(&system, &boots, |i| Box::new(BrokenDisk(simulated(i))));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(harness, router).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let image = sim_image(dir.path());
    let app = spawn_app_with(|s| {
        s.workers = 2;
        s.live_image = Some(image);
    })
    .await;
    let s = app
        .backend
        .add_server(&Actor::user("admin"), &bmc_server("broken", &emu.system_address(0), sushy::PASSWORD))
        .await
        .unwrap();
    wait_for_server(&app, s.id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
    let (admin, system) = (Actor::user("admin"), Actor::system("allocator"));
    app.backend.change_state(&admin, s.id, &StateChange::new(Action::SetAvailable)).await.unwrap();
    app.backend.change_state(&system, s.id, &StateChange::new(Action::Allocate)).await.unwrap();
    app.backend.change_state(&system, s.id, &StateChange::new(Action::Release)).await.unwrap();
    assert_failed(&app, s.id, ServerState::Cleaning, "erase_disks failed: 1 of 2 disk(s) could not be erased").await;
    let (_, steps) = latest_job(&app, s.id).await;
    assert!(steps.iter().any(|m| m.contains("disk1") && m.contains("FAILED: write error")), "{steps:?}");
    let s = app.backend.server(s.id).await.unwrap();
    assert_eq!(s.power_state, PowerState::Off);
}

/// Re-registering a server whose hardware changed (more RAM, a replaced NIC) records
/// the differences in the audit and moves it to the new type.
#[tokio::test]
async fn re_registration_records_hardware_changes() {
    let app = spawn_app_with(|s| {
        s.workers = 4;
        s.demo_lab = 1;
        s.demo_lab_boot = Duration::from_millis(100);
    })
    .await;
    let id = app.backend.list_servers(&Default::default()).await.unwrap()[0].id;
    let before = wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
    let mut hw = app.lab[0].hardware();
    for dimm in &mut hw.memory {
        dimm.size_mib *= 2; // 256 GB -> 512 GB
    }
    hw.nics[1].mac = "02:aa:bb:cc:dd:01".into();
    app.lab[0].set_hardware(hw);
    app.backend.change_state(&Actor::user("admin"), id, &StateChange::new(Action::ReRegister)).await.unwrap();
    let after = wait_for_server(&app, id, Duration::from_secs(60), |s| {
        s.state == ServerState::Unavailable && s.generation > before.generation + 1
    })
    .await;
    assert_ne!(after.server_type, before.server_type);
    assert!(after.server_type.as_deref().unwrap().contains(".512"), "{:?}", after.server_type);
    let events = app.backend.server_events(id).await.unwrap();
    let inventory = events.iter().rev().find(|e| e.kind == EventKind::Inventory).unwrap();
    assert_eq!(inventory.reason.as_deref(), Some("18 hardware change(s)"), "16 DIMMs, one NIC out, one in");
    let changes: Vec<app::domain::inventory::Change> =
        serde_json::from_str(inventory.details.as_deref().unwrap()).unwrap();
    assert!(changes.iter().any(|c| c.component == "nic" && c.kind() == "removed"));
    assert!(changes.iter().any(|c| c.component == "nic" && c.key == "02:aa:bb:cc:dd:01" && c.kind() == "added"));
    assert!(changes.iter().any(|c| c.component == "memory" && c.kind() == "changed"));
    let typed = events.iter().rev().find(|e| e.kind == EventKind::TypeChanged).unwrap();
    assert_eq!(typed.from_value, before.server_type);
    assert_eq!(typed.to_value, after.server_type);
}

/// Abort a registration waiting for its agent: the server is powered off, the media
/// ejected, the job ends aborted and the failure rule applies. Retry runs it again.
#[tokio::test]
async fn abort_then_retry() {
    let app = spawn_app_with(|s| {
        s.workers = 4;
        s.demo_lab = 1;
        s.demo_lab_boot = Duration::from_secs(3);
    })
    .await;
    let id = app.backend.list_servers(&Default::default()).await.unwrap()[0].id;
    let admin = Actor::user("admin");
    assert!(app.backend.retry_job(&admin, id).await.is_err(), "nothing to retry while it runs");
    // Wait until the machine is booting the live image.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while latest_job(&app, id).await.0.status != JobStatus::WaitingForAgent {
        assert!(tokio::time::Instant::now() < deadline, "the job never waited for its agent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(app.lab[0].powered_on());
    app.backend.abort_job(&admin, id).await.unwrap();
    assert!(app.backend.abort_job(&admin, id).await.is_err(), "aborting twice is refused");
    let s = wait_for_server(&app, id, Duration::from_secs(30), |s| s.last_error.is_some()).await;
    assert_eq!(s.state, ServerState::Registering);
    assert_eq!(s.last_error.as_deref(), Some("aborted by admin"));
    let (job, steps) = latest_job(&app, id).await;
    assert_eq!(job.status, JobStatus::Aborted);
    assert!(steps.iter().any(|m| m == "powered off") && steps.iter().any(|m| m == "ejected the media"), "{steps:?}");
    assert!(!app.lab[0].powered_on());
    assert!(app.backend.server_events(id).await.unwrap().iter().any(|e| e.kind == EventKind::JobAborted));
    // The machine's boot was cut short: its agent never ran.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(app.lab[0].agent_runs(), 0);

    app.backend.retry_job(&admin, id).await.unwrap();
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
    let events = app.backend.server_events(id).await.unwrap();
    assert!(events.iter().any(|e| e.kind == EventKind::JobRetried));
}

/// Aborting a job while a runner is working on it stops that work (the runner loses
/// its lease) and the cleanup runs (sushy-emulator as the BMC).
#[tokio::test]
async fn abort_a_running_job() {
    let emu = sushy::start().await;
    let dir = tempfile::tempdir().unwrap();
    let image = sim_image(dir.path());
    let app = spawn_app_with(|s| {
        s.workers = 2;
        s.live_image = Some(image);
        s.job_lease = Duration::from_secs(3);
    })
    .await;
    let s =
        app.backend.add_server(&Actor::user("admin"), &bmc_server("stuck", &emu.url, sushy::PASSWORD)).await.unwrap();
    // The emulator takes 1-11 s to power on: abort while the job waits for it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !latest_job(&app, s.id).await.1.iter().any(|m| m == "powering on into the live image") {
        assert!(tokio::time::Instant::now() < deadline, "the job never powered on");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.backend.abort_job(&Actor::user("admin"), s.id).await.unwrap();
    let s = wait_for_server(&app, s.id, Duration::from_secs(60), |s| s.last_error.is_some()).await;
    assert_eq!((s.state, s.last_error.as_deref()), (ServerState::Registering, Some("aborted by admin")));
    let (job, steps) = latest_job(&app, s.id).await;
    assert_eq!(job.status, JobStatus::Aborted);
    // The runner notices the abort at its next lease renewal (here within 1 s), so a
    // step in flight may still finish; but the job never parks or succeeds after it.
    let abort_at = steps.iter().position(|m| m.starts_with("aborted by admin")).unwrap();
    assert!(
        steps[abort_at..].iter().all(|m| !m.starts_with("registered") && !m.contains("agent reported")),
        "the aborted work went on: {steps:?}"
    );
    assert!(steps.iter().any(|m| m == "powered off"), "{steps:?}");
}

/// The whole cycle against sushy-emulator: register -> available -> allocate ->
/// release -> cleaning (the agent erases) -> available, the erase result in the log.
#[tokio::test]
async fn full_cycle_against_sushy() {
    let harness = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let notify = format!("http://{}/notify", harness.local_addr().unwrap());
    let emu = sushy::start_with(1, Some(&notify)).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::<String>::new()));
    let boots = seen.clone();
    let router = axum::Router::new().route(
        "/notify",
        axum::routing::put(move |axum::Json(system): axum::Json<serde_json::Value>| {
            let boots = boots.clone();
            async move {
                boot_if_live(&system, &boots);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(harness, router).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let image = sim_image(dir.path());
    let app = spawn_app_with(|s| {
        s.workers = 2;
        s.live_image = Some(image);
    })
    .await;
    let new = bmc_server("cycle", &emu.system_address(0), sushy::PASSWORD);
    let s = app.backend.add_server(&Actor::user("admin"), &new).await.unwrap();
    wait_for_server(&app, s.id, Duration::from_secs(90), |s| s.state == ServerState::Unavailable).await;
    let (admin, system) = (Actor::user("admin"), Actor::system("allocator"));
    app.backend.change_state(&admin, s.id, &StateChange::new(Action::SetAvailable)).await.unwrap();
    app.backend.change_state(&system, s.id, &StateChange::new(Action::Allocate)).await.unwrap();
    let s = app.backend.change_state(&system, s.id, &StateChange::new(Action::Release)).await.unwrap();
    assert_eq!(s.state, ServerState::Cleaning);
    let s = wait_for_server(&app, s.id, Duration::from_secs(90), |s| {
        s.state != ServerState::Cleaning || s.last_error.is_some()
    })
    .await;
    assert_eq!(s.state, ServerState::Available, "{:?}", s.last_error);
    let (job, steps) = latest_job(&app, s.id).await;
    assert_eq!((job.kind.as_str(), job.status.as_str()), ("clean", "succeeded"));
    assert!(steps.iter().any(|m| m == "erase_disks: ok: 2 disk(s) erased and verified (secure mode)"), "{steps:?}");
    assert!(steps.iter().any(|m| m.starts_with("reset_bmc_boot")), "{steps:?}");
    assert_eq!(seen.lock().unwrap().len(), 2, "two live boots: registration and cleaning");
}

/// An admin with one worker registers two servers whose iLO-like BMCs leave the power
/// state out for a second and a half after each power change: the second server's
/// registration starts while the first waits for its machine to show a power state
/// (On after the power-on, unless its agent reports first; Off after the shutdown),
/// instead of after the first finished.
#[tokio::test]
async fn a_job_waiting_on_its_bmc_gives_its_worker_to_another_server() {
    let app = spawn_app_with(|s| {
        s.workers = 1;
        s.demo_lab = 2;
        s.demo_lab_boot = Duration::ZERO;
        s.demo_lab_vendor = Some(rackstate_server::lab::Vendor::Ilo);
    })
    .await;
    let mut jobs = Vec::new();
    for name in ["lab-01", "lab-02"] {
        let id = app.backend.server_id_by_name(name).await.unwrap().unwrap();
        wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
        jobs.push(latest_job(&app, id).await.0.id);
    }
    let step_at = |job: i64, like: &'static str| {
        let app = &app;
        async move {
            let at: Option<i64> =
                sqlx::query_scalar("SELECT MIN(at) FROM job_steps WHERE job_id = $1 AND message LIKE $2")
                    .bind(job)
                    .bind(like)
                    .fetch_one(app.backend.db.pool())
                    .await
                    .unwrap();
            at.expect(like)
        }
    };
    let (first, second) = (jobs[0].min(jobs[1]), jobs[0].max(jobs[1]));
    let powered_off = step_at(first, "ejecting the live image").await;
    let second_began = step_at(second, "%").await;
    assert!(
        second_began < powered_off,
        "with one worker, the second registration began at {second_began}, after the first saw its machine off at \
         {powered_off}"
    );
}
