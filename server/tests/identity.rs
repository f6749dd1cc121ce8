//! Destructive work only on the right machine: each test is an attack or a fault from
//! the identity issue, reproduced against the real app and its lab (SQLite and
//! PostgreSQL).

mod common;

use app::backend::secrets::SecretString;
use app::backend::services::servers::BmcChange;
use app::backend::services::{Actor, ServiceError, StateChange};
use app::domain::EventKind;
use app::domain::JobStatus;
use app::domain::identity::MachineIdentity;
use app::domain::{Action, ServerState};
use common::{latest_job, spawn_app, spawn_app_with, wait_for_server};
use rackstate_server::agent::hardware::SIMULATED_DATA;
use rackstate_server::bmc::{Bmc, BmcConnector, BmcError, BmcTarget, PowerAction, SystemSummary};
use rackstate_server::jobs::Runner;
use rackstate_server::jobs::live::Timeouts;
use rackstate_server::jobs::power::Power;
use std::time::Duration;

async fn lab_app(machines: usize) -> common::TestApp {
    let app = spawn_app_with(|s| {
        s.workers = 4;
        s.demo_lab = machines;
        s.demo_lab_boot = Duration::from_millis(100);
    })
    .await;
    for s in app.backend.list_servers(&Default::default()).await.unwrap() {
        wait_for_server(&app, s.id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
    }
    app
}

async fn id_of(app: &common::TestApp, name: &str) -> i64 {
    app.backend.server_id_by_name(name).await.unwrap().unwrap()
}

/// Whether any of the machine's disk files still holds the data written before.
fn holds_data(machine: &rackstate_server::lab::Machine) -> bool {
    let sim = machine.simulated().unwrap();
    sim.inventory.disks.iter().any(|d| {
        let bytes = std::fs::read(sim.disk_path(&d.serial)).unwrap();
        bytes.windows(SIMULATED_DATA.len()).any(|w| w == SIMULATED_DATA)
    })
}

/// An operator adds a second server at lab-01's BMC, spelled another way: 409 naming
/// lab-01, nothing added; re-pointing lab-02 at it is refused the same way.
#[tokio::test]
async fn a_bmc_address_belongs_to_one_server() {
    let app = lab_app(2).await;
    let client = app.client_for(app::domain::Role::Operator).await;
    let lab01 = format!("http://127.0.0.1:{}/", app.lab[0].port);
    let resp = client
        .post(app.url("/api/add_server"))
        .form(&[
            ("name", "twin"),
            ("bmc_address", lab01.as_str()),
            ("bmc_username", "admin"),
            ("bmc_password", "x"),
            ("datacenter", ""),
            ("rack", ""),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("lab-01") && text.contains("already has the BMC"), "{text}");
    assert_eq!(app.backend.list_servers(&Default::default()).await.unwrap().len(), 2, "nothing added");

    let s = app.backend.server(id_of(&app, "lab-02").await).await.unwrap();
    let change = BmcChange {
        address: lab01.clone(),
        username: "admin".into(),
        password: Some(SecretString::new("x")),
        verify_tls: true,
        generation: s.generation,
    };
    let e = app.backend.change_bmc(&Actor::user("admin"), s.id, &change).await.unwrap_err();
    assert!(matches!(&e, ServiceError::Conflict { message } if message.contains("lab-01")), "{e:?}");
    // A decommissioned server frees its address.
    let lab01_id = id_of(&app, "lab-01").await;
    app.backend.change_state(&Actor::user("admin"), lab01_id, &StateChange::new(Action::Decommission)).await.unwrap();
    wait_for_server(&app, lab01_id, Duration::from_secs(60), |s| s.state == ServerState::Decommissioned).await;
    let s = app.backend.server(s.id).await.unwrap();
    let change = BmcChange { generation: s.generation, ..change };
    app.backend.change_bmc(&Actor::user("admin"), s.id, &change).await.unwrap();
}

/// A first registration whose machine reports a serial another live server holds is
/// refused: one machine cannot be two servers.
#[tokio::test]
async fn a_serial_belongs_to_one_server() {
    let app = spawn_app().await;
    let (servers, _) = common::typed_available(&app, "held", 0, 1).await;
    let serial = servers[0].serial_number.clone().unwrap();
    let newcomer = common::server_in_state(&app, "newcomer", ServerState::Registering).await;
    let seen = MachineIdentity { system_uuid: "u-new".into(), serial: serial.clone(), manager_uuid: String::new() };
    let e = app.backend.check_identity(&Actor::system("register job"), newcomer.id, &seen).await.unwrap_err();
    assert!(matches!(&e, ServiceError::IdentityMismatch { message } if message.contains("held-0")), "{e:?}");
    assert_eq!(e.code(), "identity_mismatch");
    let events = app.backend.server_events(newcomer.id).await.unwrap();
    assert!(events.iter().any(|e| e.kind == EventKind::IdentityMismatch), "audited");
    assert!(app.backend.recorded_identity(newcomer.id).await.unwrap().is_empty(), "nothing recorded");
}

/// Two servers' BMCs report one machine serial at the same moment (two replicas
/// registering them at once, each with its own view of the fleet): one server records
/// the serial, the other is refused as a second server of that machine, never both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_serial_claimed_by_two_servers_at_once_goes_to_one() {
    let app = spawn_app().await;
    let system = Actor::system("test");
    for round in 0..10 {
        let a = common::server_in_state(&app, &format!("twin-a{round}"), ServerState::Registering).await;
        let b = common::server_in_state(&app, &format!("twin-b{round}"), ServerState::Registering).await;
        let seen = |uuid: &str| MachineIdentity {
            system_uuid: uuid.into(),
            serial: format!("TWIN-{round}"),
            manager_uuid: String::new(),
        };
        let (first, second) =
            (seen("4c4c4544-0000-4000-8000-00000000a001"), seen("4c4c4544-0000-4000-8000-00000000b002"));
        let (ra, rb) = tokio::join!(
            app.backend.check_identity(&system, a.id, &first),
            app.backend.check_identity(&system, b.id, &second)
        );
        let refused =
            [&ra, &rb].into_iter().filter(|r| matches!(r, Err(ServiceError::IdentityMismatch { .. }))).count();
        assert!(ra.is_ok() != rb.is_ok() && refused == 1, "round {round}: {ra:?} / {rb:?}");
    }
}

/// The attack: an operator points a released server's BMC at another tenant's machine
/// in use (a different spelling of its address, with its password). The cleaning job
/// stops with identity_mismatch before any power, boot or media action; the other
/// machine is untouched and its disks keep their data.
#[tokio::test]
async fn a_cleaning_pointed_at_another_machine_touches_nothing() {
    let app = lab_app(2).await;
    let (admin, system) = (Actor::user("admin"), Actor::system("allocator"));
    let (mine, theirs) = (id_of(&app, "lab-01").await, id_of(&app, "lab-02").await);
    for id in [mine, theirs] {
        app.backend.change_state(&admin, id, &StateChange::new(Action::SetAvailable)).await.unwrap();
        app.backend.change_state(&system, id, &StateChange::new(Action::Allocate)).await.unwrap();
    }
    let victim = &app.lab[1];
    assert!(holds_data(victim), "the tenant's data is on lab-02's disks");
    let s = app.backend.server(mine).await.unwrap();
    let change = BmcChange {
        address: format!("http://localhost:{}", victim.port),
        username: victim.username.clone(),
        password: Some(SecretString::new(victim.password())),
        verify_tls: true,
        generation: s.generation,
    };
    app.backend.change_bmc(&Actor::user("operator"), mine, &change).await.unwrap();
    let before = victim.actions().len();
    let power_before = victim.powered_on();
    app.backend.change_state(&system, mine, &StateChange::new(Action::Release)).await.unwrap();
    let s = wait_for_server(&app, mine, Duration::from_secs(60), |s| s.last_error.is_some()).await;
    assert_eq!(s.state, ServerState::Cleaning, "the failure rule: stays in cleaning");
    let error = s.last_error.unwrap();
    assert!(
        error.starts_with("identity_mismatch") && error.contains("LAB00001") && error.contains("LAB00002"),
        "{error}"
    );
    let (job, steps) = latest_job(&app, mine).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert!(!steps.iter().any(|m| m.contains("powering") || m.contains("inserting")), "{steps:?}");
    assert_eq!(victim.actions().len(), before, "no request changed anything at lab-02: {:?}", victim.actions());
    assert_eq!(victim.powered_on(), power_before);
    assert!(holds_data(victim), "lab-02's disks keep their data");
    assert_eq!(app.backend.server(theirs).await.unwrap().state, ServerState::Used);
    let events = app.backend.server_events(mine).await.unwrap();
    assert!(events.iter().any(|e| e.kind == EventKind::IdentityMismatch), "audited");
}

/// An operator moves a server's BMC address to a host of their own without a
/// password: the stored (admin-only) password is forgotten, and the next job sends
/// no credentials there.
#[tokio::test]
async fn a_moved_address_gets_no_stored_password() {
    let app = lab_app(1).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = seen.clone();
    let router = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let log = log.clone();
        async move {
            let auth = headers.get("authorization").map(|v| v.to_str().unwrap_or("?").to_string());
            log.lock().unwrap().push(auth.unwrap_or_else(|| "(none)".into()));
            axum::http::StatusCode::UNAUTHORIZED
        }
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let id = id_of(&app, "lab-01").await;
    let s = app.backend.server(id).await.unwrap();
    let change = BmcChange {
        address: format!("http://127.0.0.1:{port}"),
        username: "admin".into(),
        password: None,
        verify_tls: true,
        generation: s.generation,
    };
    app.backend.change_bmc(&Actor::user("operator"), id, &change).await.unwrap();
    assert!(app.backend.bmc_login(id).await.unwrap().password.is_none());
    app.backend.change_state(&Actor::user("operator"), id, &StateChange::new(Action::ReRegister)).await.unwrap();
    let s = wait_for_server(&app, id, Duration::from_secs(60), |s| s.last_error.is_some()).await;
    assert!(s.last_error.unwrap().contains("no stored BMC password"));
    assert!(seen.lock().unwrap().iter().all(|a| !a.starts_with("Basic")), "{:?}", seen.lock().unwrap());
}

/// Secure mode (the default) erases every recorded disk of a lab machine and
/// verifies it: no byte of the tenant's data is left, and the certificate names each
/// disk with its method and verification.
#[tokio::test]
async fn secure_cleaning_leaves_no_data_and_a_certificate() {
    let app = lab_app(1).await;
    let (admin, system) = (Actor::user("admin"), Actor::system("allocator"));
    let id = id_of(&app, "lab-01").await;
    app.backend.change_state(&admin, id, &StateChange::new(Action::SetAvailable)).await.unwrap();
    app.backend.change_state(&system, id, &StateChange::new(Action::Allocate)).await.unwrap();
    assert!(holds_data(&app.lab[0]));
    app.backend.change_state(&system, id, &StateChange::new(Action::Release)).await.unwrap();
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Available).await;
    assert!(!holds_data(&app.lab[0]), "no original data survives");
    let certs = app.backend.erase_certificates(id).await.unwrap();
    assert_eq!(certs.len(), 1);
    let c = &certs[0];
    assert_eq!(c.mode, app::domain::erase::EraseMode::Secure);
    let recorded = app.backend.latest_inventory(id).await.unwrap().unwrap();
    let mut serials: Vec<&str> = c.disks.iter().map(|d| d.serial.as_str()).collect();
    serials.sort();
    let mut want: Vec<&str> = recorded.disks.iter().map(|d| d.serial.as_str()).collect();
    want.sort();
    assert_eq!(serials, want);
    assert!(c.disks.iter().all(|d| d.verification_result.starts_with("passed") && d.method_type == "Clear"));
    // Kept after the server leaves the rack; served under the API.
    app.backend.change_state(&admin, id, &StateChange::new(Action::SetUnavailable)).await.unwrap();
    app.backend.change_state(&admin, id, &StateChange::new(Action::RemoveFromRack)).await.unwrap();
    app.backend.create_user(&admin, "auditor", common::USER_PASSWORD, app::domain::Role::Viewer).await.unwrap();
    let body = serde_json::json!({ "username": "auditor", "password": common::USER_PASSWORD, "name": "audit" });
    let created: serde_json::Value =
        reqwest::Client::new().post(app.url("/api/v1/tokens")).json(&body).send().await.unwrap().json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    let resp = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/servers/{id}/erase-certificates/{}", c.id)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["disks"].as_array().unwrap().len(), want.len());
    assert_eq!(body["mode"], "secure");
}

/// Metadata mode, by explicit choice, wipes only the ends of each disk: data between
/// them stays, and the certificate says which mode cleaned the server.
#[tokio::test]
async fn metadata_mode_is_named_and_leaves_the_middle() {
    let app = spawn_app_with(|s| {
        s.workers = 4;
        s.demo_lab = 1;
        s.demo_lab_boot = Duration::from_millis(100);
        s.erase_mode = app::domain::erase::EraseMode::Metadata;
    })
    .await;
    let id = id_of(&app, "lab-01").await;
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Unavailable).await;
    let (admin, system) = (Actor::user("admin"), Actor::system("allocator"));
    app.backend.change_state(&admin, id, &StateChange::new(Action::SetAvailable)).await.unwrap();
    app.backend.change_state(&system, id, &StateChange::new(Action::Allocate)).await.unwrap();
    app.backend.change_state(&system, id, &StateChange::new(Action::Release)).await.unwrap();
    wait_for_server(&app, id, Duration::from_secs(60), |s| s.state == ServerState::Available).await;
    assert!(holds_data(&app.lab[0]), "metadata mode leaves data between the ends");
    let certs = app.backend.erase_certificates(id).await.unwrap();
    assert_eq!(certs[0].mode, app::domain::erase::EraseMode::Metadata);
    assert!(certs[0].disks.iter().all(|d| d.method_type.starts_with("None")));
}

/// A BMC of the test's own, plugged into the job runner where the Redfish driver
/// goes: it answers as the machine `answers_as` and records every request that would
/// change the machine.
struct RecordingBmc {
    answers_as: MachineIdentity,
    power: std::sync::Mutex<app::domain::power::PowerState>,
    changes: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl RecordingBmc {
    fn record(&self, what: &str) {
        self.changes.lock().unwrap().push(what.to_string());
    }
}

#[async_trait::async_trait]
impl Bmc for RecordingBmc {
    async fn system(&self) -> Result<SystemSummary, BmcError> {
        Ok(SystemSummary {
            manufacturer: "Test".into(),
            model: "Recorder".into(),
            serial_number: self.answers_as.serial.clone(),
            uuid: self.answers_as.system_uuid.clone(),
            bios_version: "1".into(),
            power_state: *self.power.lock().unwrap(),
            health: app::domain::power::Health::Ok,
        })
    }
    async fn oob_inventory(&self) -> Result<app::domain::Inventory, BmcError> {
        Ok(Default::default())
    }
    async fn power(&self, action: PowerAction) -> Result<(), BmcError> {
        self.record(action.reset_type());
        *self.power.lock().unwrap() = match action {
            PowerAction::On | PowerAction::ForceRestart => app::domain::power::PowerState::On,
            PowerAction::ForceOff | PowerAction::GracefulShutdown => app::domain::power::PowerState::Off,
        };
        Ok(())
    }
    async fn boot_once_from_cd(&self) -> Result<(), BmcError> {
        self.record("boot once from CD");
        Ok(())
    }
    async fn boot_from_disk(&self) -> Result<(), BmcError> {
        self.record("boot from disk");
        Ok(())
    }
    async fn clear_boot_override(&self) -> Result<(), BmcError> {
        self.record("clear boot override");
        Ok(())
    }
    async fn insert_media(&self, _url: &str) -> Result<(), BmcError> {
        self.record("insert media");
        Ok(())
    }
    async fn eject_media(&self) -> Result<(), BmcError> {
        self.record("eject media");
        Ok(())
    }
    async fn inserted_media(&self) -> Result<Option<String>, BmcError> {
        Ok(None)
    }
    async fn manager_uuid(&self) -> Result<Option<String>, BmcError> {
        Ok(Some(self.answers_as.manager_uuid.clone()))
    }
    fn address(&self) -> &str {
        "recording-bmc"
    }
}

/// Opens a [`RecordingBmc`] for every job.
struct Recorder {
    answers_as: MachineIdentity,
    changes: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl BmcConnector for Recorder {
    fn connect(&self, _target: BmcTarget) -> Result<Box<dyn Bmc>, BmcError> {
        Ok(Box::new(RecordingBmc {
            answers_as: self.answers_as.clone(),
            power: std::sync::Mutex::new(app::domain::power::PowerState::Off),
            changes: self.changes.clone(),
        }))
    }
}

/// Runs the server's queued power job through a runner whose BMCs answer as
/// `answers_as`; returns the job's status, its log and what the BMC was asked to change.
async fn power_on_through(
    app: &common::TestApp,
    id: i64,
    answers_as: &MachineIdentity,
) -> (JobStatus, Vec<String>, Vec<String>) {
    let admin = app.backend.list_users().await.unwrap().into_iter().find(|u| u.username == "admin").unwrap();
    let job_id = app.backend.request_power(&admin, id, app::domain::power::PowerRequest::On).await.unwrap();
    let changes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let connector = Recorder { answers_as: answers_as.clone(), changes: changes.clone() };
    let timeouts = Timeouts {
        bmc_request: Duration::from_secs(2),
        power: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(2),
    };
    let runner = Runner::new(app.backend.clone(), "seam", 1)
        .with_poll(Duration::from_millis(10))
        .with_bmcs(std::sync::Arc::new(connector))
        .handle(app::domain::JobKind::Power, Power { timeouts });
    let (stop, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(runner.run(rx));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (job, steps) = loop {
        let mut conn = app.backend.db.conn().await.unwrap();
        let job = app::backend::store::jobs::get(&mut conn, job_id).await.unwrap().expect("the power job");
        let steps: Vec<String> =
            app::backend::store::jobs::steps(&mut conn, job_id).await.unwrap().into_iter().map(|(_, m)| m).collect();
        if !job.status.is_active() {
            break (job, steps);
        }
        assert!(tokio::time::Instant::now() < deadline, "the power job did not end: {steps:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    stop.send(true).unwrap();
    task.await.unwrap();
    let changes = changes.lock().unwrap().clone();
    (job.status, steps, changes)
}

/// A server's BMC cable now leads to another tenant's machine (or its address was
/// reused): a power request reaches a BMC answering with another serial and UUID, the
/// job fails on the identity check, and that BMC is asked to change nothing. Through
/// the same seam, the right machine is powered on.
#[tokio::test]
async fn a_bmc_answering_for_another_machine_is_asked_to_change_nothing() {
    let app = spawn_app_with(|s| s.workers = 0).await;
    let s = common::server_in_state(&app, "rack-7", ServerState::Unavailable).await;
    let ours =
        MachineIdentity { system_uuid: "uuid-ours".into(), serial: "SN-OURS".into(), manager_uuid: "m-ours".into() };
    app.backend.check_identity(&Actor::system("test"), s.id, &ours).await.unwrap();
    app.backend
        .change_bmc(
            &Actor::user("admin"),
            s.id,
            &BmcChange {
                address: s.bmc_address.clone(),
                username: "admin".into(),
                password: Some(SecretString::new("pw")),
                verify_tls: true,
                generation: s.generation,
            },
        )
        .await
        .unwrap();

    let theirs = MachineIdentity {
        system_uuid: "uuid-theirs".into(),
        serial: "SN-THEIRS".into(),
        manager_uuid: "m-theirs".into(),
    };
    let (status, steps, changes) = power_on_through(&app, s.id, &theirs).await;
    assert_eq!(status, JobStatus::Failed, "{steps:?}");
    assert!(steps.iter().any(|m| m.contains("identity_mismatch")), "{steps:?}");
    assert!(changes.is_empty(), "the other machine's BMC was asked to change: {changes:?}");
    let events = app.backend.server_events(s.id).await.unwrap();
    assert!(events.iter().any(|e| e.kind == EventKind::IdentityMismatch), "audited");

    let (status, steps, changes) = power_on_through(&app, s.id, &ours).await;
    assert_eq!(status, JobStatus::Succeeded, "{steps:?}");
    assert_eq!(changes, ["On"]);
}
