//! The demo lab (`RACKSTATE_DEMO_LAB=N`): N simulated servers inside Rackstate, each
//! with its own Redfish BMC on a loopback port. When a machine boots from virtual CD
//! with media inserted, it downloads the image as a BMC would, reads the agent config
//! block from it, and runs the real agent code with its simulated hardware against
//! the agent API. On first start the lab's servers are added (so registration runs
//! at once); on later starts each machine's BMC comes back on the port recorded in
//! its server's BMC address. Each machine's disks are real files (sparse, scaled
//! down) under the lab's disk directory, so cleaning erases and verifies real bytes.
//! `rackstate lab` runs the machines as a process of their own (see [`Lab::serve`]),
//! so that stopping Rackstate does not stop them. Every BMC request that changes
//! something is logged with its time and client (`GET /lab/actions`).

pub mod profiles;
pub mod vendors;

use crate::agent::hardware::SimulatedMachine;
use crate::agent::{self, BootConfig, Patience};
use app::backend::Backend;
use app::backend::secrets::{SecretString, random_token};
use app::backend::services::{Actor, NewServer};
use app::domain::Inventory;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
pub use vendors::Vendor;

/// The lab's settings.
#[derive(Clone, Debug)]
pub struct LabConfig {
    pub machines: usize,
    /// From power-on until the live image's agent runs.
    pub boot_delay: Duration,
    /// Where each machine's disk files live (`<dir>/<machine>/<serial>.img`).
    pub disk_dir: std::path::PathBuf,
    /// The size of each simulated disk file (real disks scaled down).
    pub disk_bytes: u64,
    /// How long each BMC answer takes (real BMCs take hundreds of milliseconds).
    pub bmc_delay: Duration,
    /// Every machine speaks as this vendor; None mixes them (machine i gets
    /// `Vendor::for_index(i)`).
    pub vendor: Option<Vendor>,
}

/// The size of a lab disk file: big enough for a first and last MiB and blocks
/// between them, small enough for a lab of hundreds.
pub const DEFAULT_DISK_BYTES: u64 = 3 * 1024 * 1024;

/// One machine to serve: its name, profile index, port (0: any) and BMC login.
#[derive(Clone, Debug)]
pub struct MachineSpec {
    pub name: String,
    pub index: usize,
    pub port: u16,
    pub username: String,
    pub password: String,
}

/// A BMC request that changed something: what, when, by whom (User-Agent).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct BmcAction {
    pub at_ms: i64,
    pub method: String,
    pub path: String,
    pub client: String,
}

/// A running lab: its machines' BMCs serve until the lab is dropped.
pub struct Lab {
    pub machines: Vec<Arc<Machine>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}

/// One simulated server and its BMC.
pub struct Machine {
    pub name: String,
    pub port: u16,
    pub username: String,
    /// Changed through the BMC's `AccountService`, as on a real BMC.
    password: Mutex<String>,
    hardware: Mutex<Inventory>,
    disk_dir: std::path::PathBuf,
    disk_bytes: u64,
    bmc_delay: Duration,
    actions: Mutex<Vec<BmcAction>>,
    boot_delay: Duration,
    /// Which vendor's Redfish this BMC speaks.
    pub vendor: Vendor,
    /// Open Redfish sessions: token and id.
    sessions: Mutex<Vec<(String, u64)>>,
    state: Mutex<Power>,
    faults: Mutex<Faults>,
    http: reqwest::Client,
}

/// Ways a lab BMC can misbehave, as real ones do (for tests and demos).
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Virtual media resources answer 404 (a BMC without the feature or licence).
    pub no_virtual_media: bool,
    /// Every request hangs (a wedged BMC); clients hit their timeout.
    pub stall: bool,
    /// The system resource is cut-off JSON.
    pub malformed_json: bool,
    /// Power-on requests are accepted but the machine never powers on.
    pub power_stuck_off: bool,
    /// Its operating system ignores a graceful shutdown (accepted, nothing happens),
    /// as a hung or ACPI-deaf one does.
    pub ignores_shutdown: bool,
    /// A password change is refused (a password policy the new one does not meet).
    pub refuses_password_change: bool,
    /// A password change is answered 200 but not applied (firmware that drops it).
    pub drops_password_change: bool,
}

#[derive(Debug, Default)]
struct Power {
    on: bool,
    boot_target: String,
    boot_enabled: String,
    boot_mode: String,
    /// The image inserted (None: the slot is empty).
    media: Option<String>,
    /// Supermicro-like: the image last ejected, still shown as `Image`.
    stale_image: Option<String>,
    /// Bumped by every change: the ETag of the system and the media slot.
    version: u64,
    /// When power last changed (iLO-like BMCs omit PowerState for a moment after).
    power_changed: Option<std::time::Instant>,
    sessions_made: u64,
    /// Bumped by every power change: a boot in progress checks it is still current.
    epoch: u64,
    /// Live-image boots that ran the agent to the end.
    pub agent_runs: u64,
}

impl Lab {
    /// The machines of a lab of `n`: names lab-01.. (lab-0001.. from 100 on), fresh
    /// random BMC passwords.
    pub fn specs(n: usize) -> Vec<MachineSpec> {
        (1..=n)
            .map(|index| MachineSpec {
                name: if n < 100 { format!("lab-{index:02}") } else { format!("lab-{index:04}") },
                index,
                port: 0,
                username: "admin".into(),
                password: random_token()[..24].to_string(),
            })
            .collect()
    }

    /// Serves the machines' BMCs (no Rackstate needed: `rackstate lab`, tests). A
    /// machine whose port cannot be taken is skipped with a warning.
    pub async fn serve(config: &LabConfig, specs: Vec<MachineSpec>) -> Result<Lab, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("demo lab: HTTP client: {e}"))?;
        let mut lab = Lab { machines: Vec::new(), tasks: Vec::new() };
        for spec in specs {
            let listener = match TcpListener::bind(("127.0.0.1", spec.port)).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(name = %spec.name, port = spec.port, error = %app::backend::error_chain(&e), "demo lab: cannot take this BMC's port; the server stays unreachable");
                    continue;
                }
            };
            let port = listener.local_addr().map_err(|e| e.to_string())?.port();
            let machine = Arc::new(Machine {
                name: spec.name.clone(),
                port,
                username: spec.username,
                password: Mutex::new(spec.password),
                hardware: Mutex::new(profiles::inventory(spec.index)),
                disk_dir: config.disk_dir.join(&spec.name),
                disk_bytes: config.disk_bytes,
                bmc_delay: config.bmc_delay,
                actions: Mutex::new(Vec::new()),
                boot_delay: config.boot_delay,
                vendor: config.vendor.unwrap_or_else(|| Vendor::for_index(spec.index)),
                sessions: Mutex::new(Vec::new()),
                state: Mutex::new(Power { boot_mode: "UEFI".into(), ..Power::default() }),
                faults: Mutex::new(Faults::default()),
                http: http.clone(),
            });
            // The disks exist (with "tenant data") from the start.
            machine.simulated().map_err(|e| format!("demo lab: disk files of {}: {e}", spec.name))?;
            let app = machine.clone().router();
            lab.tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::warn!(error = %app::backend::error_chain(&e), "demo lab BMC stopped");
                }
            }));
            lab.machines.push(machine);
        }
        Ok(lab)
    }

    /// Starts the lab's BMCs inside Rackstate and adds its servers on first start; on
    /// later starts each BMC comes back on the port its server records.
    pub async fn start(backend: &Backend, config: &LabConfig) -> Result<Lab, String> {
        let mut specs = Vec::new();
        let mut new = Vec::new();
        for mut spec in Lab::specs(config.machines) {
            match backend.server_id_by_name(&spec.name).await.map_err(|e| e.user_message())? {
                Some(id) => {
                    let creds = backend.bmc_login(id).await.map_err(|e| e.user_message())?;
                    spec.port = creds.address.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).unwrap_or(0);
                    spec.username = creds.username;
                    spec.password = creds.password.map(|p| p.expose().to_string()).unwrap_or_default();
                }
                None => new.push(spec.name.clone()),
            }
            specs.push(spec);
        }
        let lab = Lab::serve(config, specs).await?;
        for m in lab.machines.iter().filter(|m| new.contains(&m.name)) {
            let index = m.index();
            let server = NewServer {
                name: m.name.clone(),
                bmc_address: m.address(),
                bmc_username: m.username.clone(),
                bmc_password: Some(SecretString::new(m.password())),
                bmc_verify_tls: true,
                datacenter: "lab".into(),
                rack: profiles::rack(index),
                ..NewServer::default()
            };
            backend.add_server(&Actor::system("demo lab"), &server).await.map_err(|e| e.user_message())?;
        }
        tracing::info!(machines = lab.machines.len(), "demo lab running");
        Ok(lab)
    }
}

fn redfish_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": { "code": "Base.1.0.GeneralError", "message": message } }))).into_response()
}

impl Machine {
    /// The BMC's address as Rackstate is given it.
    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The profile index of the machine (from its name).
    fn index(&self) -> usize {
        self.name.rsplit('-').next().and_then(|i| i.parse().ok()).unwrap_or(1)
    }

    /// The machine's hardware with its disks as files.
    pub fn simulated(&self) -> std::io::Result<SimulatedMachine> {
        SimulatedMachine::new(self.hardware(), self.disk_dir.clone(), self.disk_bytes)
    }

    /// The requests that changed something at this BMC, oldest first.
    pub fn actions(&self) -> Vec<BmcAction> {
        self.actions.lock().expect("lab machine lock").clone()
    }

    /// Live-image boots of this machine that ran the agent to the end.
    pub fn agent_runs(&self) -> u64 {
        self.state.lock().expect("lab machine lock").agent_runs
    }

    /// Makes the BMC misbehave (or behave again, with `Faults::default()`).
    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().expect("lab machine lock") = faults;
    }

    fn faults(&self) -> Faults {
        self.faults.lock().expect("lab machine lock").clone()
    }

    /// The machine's hardware now.
    pub fn hardware(&self) -> Inventory {
        self.hardware.lock().expect("lab machine lock").clone()
    }

    /// The BMC password now.
    pub fn password(&self) -> String {
        self.password.lock().expect("lab machine lock").clone()
    }

    /// Sets the BMC password by hand (as someone at the BMC's own page would).
    pub fn set_password(&self, password: &str) {
        *self.password.lock().expect("lab machine lock") = password.to_string();
    }

    /// Changes the machine's hardware (an upgrade, a replaced part): the next
    /// registration discovers it.
    pub fn set_hardware(&self, hardware: Inventory) {
        *self.hardware.lock().expect("lab machine lock") = hardware;
    }

    pub fn powered_on(&self) -> bool {
        self.state.lock().expect("lab machine lock").on
    }

    /// The boot override as set: (target, enabled), e.g. ("Hdd", "Continuous").
    pub fn boot_override(&self) -> (String, String) {
        let s = self.state.lock().expect("lab machine lock");
        (s.boot_target.clone(), s.boot_enabled.clone())
    }

    /// Ends every session, as a BMC does when they time out (for tests).
    pub fn expire_sessions(&self) {
        self.sessions.lock().expect("lab machine lock").clear();
    }

    /// Open sessions (for tests: a job logs out at its end).
    pub fn open_sessions(&self) -> usize {
        self.sessions.lock().expect("lab machine lock").len()
    }

    fn router(self: Arc<Self>) -> Router {
        let v = self.vendor;
        let system = v.system();
        let collection = v.media_collection();
        let slot = format!("{collection}/{{slot}}");
        let mut router = Router::new()
            .route("/redfish/v1", get(root))
            .route("/redfish/v1/SessionService/Sessions", post(create_session))
            .route("/redfish/v1/SessionService/Sessions/{id}", axum::routing::delete(delete_session))
            .route("/redfish/v1/Systems", get(systems))
            .route(system, get(system_resource).patch(patch_system))
            .route(&format!("{system}/Actions/ComputerSystem.Reset"), post(reset))
            .route(&format!("{system}/{{part}}"), get(oob_collection))
            .route(&format!("{system}/{{part}}/{{index}}"), get(oob_member))
            .route(&format!("{system}/Storage/1/Drives/{{index}}"), get(drive))
            .route(v.manager(), get(manager))
            .route(
                "/redfish/v1/UpdateService",
                get(|| async {
                    axum::Json(
                        json!({ "FirmwareInventory": { "@odata.id": "/redfish/v1/UpdateService/FirmwareInventory" } }),
                    )
                }),
            )
            .route("/redfish/v1/AccountService", get(account_service))
            .route("/redfish/v1/AccountService/Accounts", get(accounts))
            .route("/redfish/v1/AccountService/Accounts/{id}", get(account).patch(patch_account))
            .route("/redfish/v1/UpdateService/FirmwareInventory", get(firmware_collection))
            .route("/redfish/v1/UpdateService/FirmwareInventory/{id}", get(firmware_member))
            .route(&collection, get(media_collection))
            .route(&slot, get(media).patch(patch_media));
        if v.media_actions() {
            router = router
                .route(&format!("{slot}/Actions/VirtualMedia.InsertMedia"), post(insert))
                .route(&format!("{slot}/Actions/VirtualMedia.EjectMedia"), post(eject));
        }
        router
            .route("/lab/actions", get(|State(m): State<Arc<Machine>>| async move { axum::Json(m.actions()) }))
            // The lab's screwdriver (with the BMC's credentials): a part swapped by
            // hand, for tests and demos of what a re-registration finds.
            .route("/lab/hardware", get(lab_hardware).put(swap_hardware))
            .layer(axum::middleware::from_fn_with_state(self.clone(), record_action))
            .layer(axum::middleware::from_fn_with_state(self.clone(), authenticate))
            .layer(axum::middleware::from_fn_with_state(self.clone(), inject_faults))
            .with_state(self)
    }

    fn set_power(self: &Arc<Self>, on: bool) {
        let mut s = self.state.lock().expect("lab machine lock");
        s.epoch += 1;
        s.version += 1;
        s.power_changed = Some(std::time::Instant::now());
        s.on = on;
        if !on {
            return;
        }
        let boots_live = s.boot_target == "Cd" && s.boot_enabled != "Disabled" && s.media.is_some();
        if s.boot_enabled == "Once" {
            s.boot_enabled = "Disabled".into();
        }
        if let (true, Some(url)) = (boots_live, s.media.clone()) {
            let (me, epoch) = (self.clone(), s.epoch);
            tokio::spawn(async move { me.boot_live_image(url, epoch).await });
        }
    }

    /// The machine reads the live image from the virtual CD and its agent runs.
    async fn boot_live_image(self: Arc<Self>, url: String, epoch: u64) {
        tokio::time::sleep(self.boot_delay).await;
        let current = || self.state.lock().map(|s| s.epoch == epoch && s.on).unwrap_or(false);
        if !current() {
            return;
        }
        let image = match self.http.get(&url).send().await.and_then(|r| r.error_for_status()) {
            Ok(r) => r.bytes().await.ok(),
            Err(e) => {
                tracing::warn!(machine = %self.name, error = %app::backend::error_chain(&e), "demo lab: the virtual CD cannot be read; the machine hangs at boot");
                return;
            }
        };
        let Some(config) = image.as_deref().and_then(BootConfig::from_image) else {
            tracing::warn!(machine = %self.name, "demo lab: the live image has no agent config; the agent cannot report");
            return;
        };
        let hardware = match self.simulated() {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(machine = %self.name, error = %app::backend::error_chain(&e), "demo lab: the disk files cannot be opened");
                return;
            }
        };
        match agent::run(&config, &hardware, &Patience::default()).await {
            Ok(_) => {
                if let Ok(mut s) = self.state.lock() {
                    s.agent_runs += 1;
                }
            }
            Err(e) => {
                tracing::warn!(machine = %self.name, error = %app::backend::error_chain(&e), "demo lab: the agent failed")
            }
        }
    }
}

async fn inject_faults(State(m): State<Arc<Machine>>, req: Request, next: Next) -> Response {
    let faults = m.faults();
    if !m.bmc_delay.is_zero() {
        tokio::time::sleep(m.bmc_delay).await;
    }
    if faults.stall {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let path = req.uri().path().to_string();
    if faults.no_virtual_media && path.contains("/VirtualMedia") {
        return redfish_error(StatusCode::NOT_FOUND, "resource not found");
    }
    if faults.malformed_json && path == m.vendor.system() && req.method() == axum::http::Method::GET {
        return (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], r#"{"PowerState": "On", "Sta"#)
            .into_response();
    }
    next.run(req).await
}

/// Logs every authenticated request that changes something (POST, PATCH, ...) of
/// the machine (logging in and out of a session changes nothing of it).
async fn record_action(State(m): State<Arc<Machine>>, req: Request, next: Next) -> Response {
    if req.method() != axum::http::Method::GET && !req.uri().path().starts_with("/redfish/v1/SessionService") {
        let client =
            req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let action = BmcAction {
            at_ms: app::backend::now_ms(),
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
            client,
        };
        m.actions.lock().expect("lab machine lock").push(action);
    }
    next.run(req).await
}

/// Basic (unless the vendor takes sessions only) or a session's `X-Auth-Token`. The
/// service root and session login need neither.
async fn authenticate(State(m): State<Arc<Machine>>, req: Request, next: Next) -> Response {
    use base64::Engine;
    let path = req.uri().path();
    let open = path == "/redfish/v1"
        || path == "/lab/actions"
        || (path == "/redfish/v1/SessionService/Sessions" && req.method() == axum::http::Method::POST);
    let basic = !m.vendor.sessions_only()
        && req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .is_some_and(|d| d == format!("{}:{}", m.username, m.password()).as_bytes());
    let session = req
        .headers()
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| m.sessions.lock().expect("lab machine lock").iter().any(|(token, _)| token == t));
    if !(open || basic || session) {
        return redfish_error(StatusCode::UNAUTHORIZED, "authentication required");
    }
    next.run(req).await
}

/// The machine's hardware as it is now.
async fn lab_hardware(State(m): State<Arc<Machine>>) -> axum::Json<Inventory> {
    axum::Json(m.hardware())
}

/// Replaces the machine's hardware (as a technician would); a valid inventory only.
async fn swap_hardware(State(m): State<Arc<Machine>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<Inventory>(&body).map_err(|e| e.to_string()).and_then(|inv| {
        inv.validate()?;
        Ok(inv)
    }) {
        Ok(inv) => {
            m.set_hardware(inv);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => redfish_error(StatusCode::BAD_REQUEST, &format!("not a valid inventory: {e}")),
    }
}

async fn root(State(m): State<Arc<Machine>>) -> axum::Json<Value> {
    let mut v = json!({
        "@odata.id": "/redfish/v1",
        "RedfishVersion": "1.15.0",
        "Systems": { "@odata.id": "/redfish/v1/Systems" },
        "Managers": { "@odata.id": "/redfish/v1/Managers" },
        "UpdateService": { "@odata.id": "/redfish/v1/UpdateService" },
        "AccountService": { "@odata.id": "/redfish/v1/AccountService" },
    });
    if m.vendor.offers_sessions() {
        v["SessionService"] = json!({ "@odata.id": "/redfish/v1/SessionService" });
        v["Links"] = json!({ "Sessions": { "@odata.id": "/redfish/v1/SessionService/Sessions" } });
    }
    axum::Json(v)
}

async fn create_session(State(m): State<Arc<Machine>>, body: axum::Json<Value>) -> Response {
    if !m.vendor.offers_sessions() {
        return redfish_error(StatusCode::NOT_FOUND, "no session service");
    }
    if body["UserName"].as_str() != Some(m.username.as_str())
        || body["Password"].as_str() != Some(m.password().as_str())
    {
        return redfish_error(StatusCode::UNAUTHORIZED, "invalid credentials");
    }
    let token = random_token();
    let id = {
        let mut s = m.state.lock().expect("lab machine lock");
        s.sessions_made += 1;
        s.sessions_made
    };
    m.sessions.lock().expect("lab machine lock").push((token.clone(), id));
    let location = format!("/redfish/v1/SessionService/Sessions/{id}");
    let headers = [("X-Auth-Token", token), (header::LOCATION.as_str(), location.clone())];
    (StatusCode::CREATED, headers, axum::Json(json!({ "@odata.id": location, "Id": id.to_string() }))).into_response()
}

async fn delete_session(State(m): State<Arc<Machine>>, axum::extract::Path(id): axum::extract::Path<u64>) -> Response {
    let mut sessions = m.sessions.lock().expect("lab machine lock");
    let before = sessions.len();
    sessions.retain(|(_, i)| *i != id);
    if sessions.len() == before {
        redfish_error(StatusCode::NOT_FOUND, "no such session")
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

async fn systems(State(m): State<Arc<Machine>>) -> axum::Json<Value> {
    axum::Json(json!({ "Members": [{ "@odata.id": m.vendor.system() }] }))
}

/// The resource's ETag (the machine's change counter).
fn etag(version: u64) -> String {
    format!("\"v{version}\"")
}

/// Checks a PATCH's `If-Match` against the current ETag: 412 when stale, 428 when
/// missing where the vendor requires it.
fn precondition(m: &Machine, headers: &axum::http::HeaderMap, version: u64) -> Option<Response> {
    match headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        Some("*") => None,
        Some(tag) if tag == etag(version) => None,
        Some(_) => Some(redfish_error(StatusCode::PRECONDITION_FAILED, "the resource changed (ETag mismatch)")),
        None if m.vendor.requires_if_match() => {
            Some(redfish_error(StatusCode::PRECONDITION_REQUIRED, "If-Match is required to modify this resource"))
        }
        None => None,
    }
}

/// A resource answer with its ETag in the header and the body.
fn with_etag(mut v: Value, version: u64) -> Response {
    v["@odata.etag"] = json!(etag(version));
    ([(header::ETAG, etag(version))], axum::Json(v)).into_response()
}

async fn system_resource(State(m): State<Arc<Machine>>) -> Response {
    let s = m.state.lock().expect("lab machine lock");
    let hardware = m.hardware();
    let hw = &hardware.system;
    let system = m.vendor.system();
    let mut boot = json!({
        "BootSourceOverrideTarget": if s.boot_target.is_empty() { "None" } else { s.boot_target.as_str() },
        "BootSourceOverrideEnabled": if s.boot_enabled.is_empty() { "Disabled" } else { s.boot_enabled.as_str() },
    });
    if m.vendor == Vendor::Idrac {
        boot["BootSourceOverrideMode"] = json!(s.boot_mode);
        boot["BootSourceOverrideTarget@Redfish.AllowableValues"] =
            json!(["None", "Pxe", "Floppy", "Cd", "Hdd", "BiosSetup", "Utilities", "UefiTarget", "SDCard", "UefiHttp"]);
    }
    let mut v = json!({
        "@odata.id": system,
        "Id": system.rsplit('/').next(),
        "Name": m.name,
        "Manufacturer": hw.manufacturer,
        "Model": hw.model,
        "SerialNumber": hw.serial_number,
        "UUID": hw.uuid,
        "BiosVersion": hw.bios_version,
        "PowerState": if s.on { "On" } else { "Off" },
        "Status": { "State": "Enabled", "Health": "OK" },
        "Boot": boot,
        "Actions": { "#ComputerSystem.Reset": { "target": format!("{system}/Actions/ComputerSystem.Reset") } },
        "Links": { "ManagedBy": [{ "@odata.id": m.vendor.manager() }] },
        "Processors": { "@odata.id": format!("{system}/Processors") },
        "Memory": { "@odata.id": format!("{system}/Memory") },
        "Storage": { "@odata.id": format!("{system}/Storage") },
        "EthernetInterfaces": { "@odata.id": format!("{system}/EthernetInterfaces") },
    });
    if m.vendor.summarises_hardware() {
        v["ProcessorSummary"] = json!({ "Count": hardware.cpus.len(), "Status": { "State": "Enabled" } });
        v["MemorySummary"] = json!({ "TotalSystemMemoryGiB": hardware.ram_gb(), "Status": { "State": "Enabled" } });
    }
    if m.vendor == Vendor::Ilo && s.power_changed.is_some_and(|t| t.elapsed() < ILO_POWER_BLANK) {
        v.as_object_mut().expect("object").remove("PowerState");
    }
    if m.vendor.media_collection().starts_with(system) {
        v["VirtualMedia"] = json!({ "@odata.id": m.vendor.media_collection() });
    }
    with_etag(v, s.version)
}

/// How long an iLO-like BMC leaves PowerState out after a power change.
const ILO_POWER_BLANK: Duration = Duration::from_millis(1500);

async fn patch_system(
    State(m): State<Arc<Machine>>,
    headers: axum::http::HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let boot = &body["Boot"];
    let mut s = m.state.lock().expect("lab machine lock");
    if let Some(refused) = precondition(&m, &headers, s.version) {
        return refused;
    }
    if let Some(t) = boot["BootSourceOverrideTarget"].as_str() {
        s.boot_target = t.to_string();
    }
    if let Some(e) = boot["BootSourceOverrideEnabled"].as_str() {
        if !matches!(e, "Once" | "Continuous" | "Disabled") {
            return redfish_error(StatusCode::BAD_REQUEST, &format!("BootSourceOverrideEnabled {e} is not supported"));
        }
        s.boot_enabled = e.to_string();
    }
    if let Some(mode) = boot["BootSourceOverrideMode"].as_str() {
        if !matches!(mode, "UEFI" | "Legacy") {
            return redfish_error(StatusCode::BAD_REQUEST, &format!("BootSourceOverrideMode {mode} is not supported"));
        }
        s.boot_mode = mode.to_string();
    }
    s.version += 1;
    StatusCode::NO_CONTENT.into_response()
}

async fn reset(State(m): State<Arc<Machine>>, body: axum::Json<Value>) -> Response {
    let faults = m.faults();
    let stuck = faults.power_stuck_off;
    match body["ResetType"].as_str() {
        Some("GracefulShutdown") if faults.ignores_shutdown => {}
        Some("On" | "ForceRestart" | "GracefulRestart" | "PowerCycle") if stuck => m.set_power(false),
        Some("On") => m.set_power(true),
        Some("ForceRestart" | "GracefulRestart" | "PowerCycle") => m.set_power(true),
        Some("ForceOff" | "GracefulShutdown") => m.set_power(false),
        other => return redfish_error(StatusCode::BAD_REQUEST, &format!("ResetType {other:?} is not supported")),
    }
    StatusCode::NO_CONTENT.into_response()
}

/// The out-of-band inventory, from the machine's hardware profile: Processors (CPUs
/// then GPUs), Memory, Storage (one controller with the drives), EthernetInterfaces.
fn oob_items(m: &Machine, part: &str) -> Option<Vec<Value>> {
    let hw = &m.hardware();
    Some(match part {
        "Processors" => hw
            .cpus
            .iter()
            .map(|c| json!({ "Id": c.socket, "Socket": c.socket, "ProcessorType": "CPU", "Model": c.model,
                             "TotalCores": c.cores, "TotalThreads": c.threads, "Status": { "State": "Enabled" } }))
            .chain(hw.gpus.iter().map(|g| json!({ "Id": g.slot, "ProcessorType": "GPU", "Model": g.model })))
            .collect(),
        "Memory" => hw
            .memory
            .iter()
            .map(|d| json!({ "Id": d.slot, "DeviceLocator": d.slot, "CapacityMiB": d.size_mib, "Status": { "State": "Enabled" } }))
            .collect(),
        "Storage" => vec![json!({
            "Id": "1",
            "Drives": (0..hw.disks.len()).map(|i| json!({ "@odata.id": format!("{}/Storage/1/Drives/{i}", m.vendor.system()) })).collect::<Vec<_>>(),
        })],
        "EthernetInterfaces" => hw
            .nics
            .iter()
            .map(|n| json!({ "Id": n.name, "MACAddress": n.mac, "SpeedMbps": n.speed_mbps }))
            .collect(),
        _ => return None,
    })
}

async fn oob_collection(
    State(m): State<Arc<Machine>>,
    axum::extract::Path(part): axum::extract::Path<String>,
) -> Response {
    match oob_items(&m, &part) {
        Some(items) => axum::Json(json!({
            "Members": (0..items.len()).map(|i| json!({ "@odata.id": format!("{}/{part}/{}", m.vendor.system(), i + 1) })).collect::<Vec<_>>(),
        }))
        .into_response(),
        None => redfish_error(StatusCode::NOT_FOUND, "no such resource"),
    }
}

async fn oob_member(
    State(m): State<Arc<Machine>>,
    axum::extract::Path((part, index)): axum::extract::Path<(String, usize)>,
) -> Response {
    match oob_items(&m, &part).and_then(|items| items.into_iter().nth(index.wrapping_sub(1))) {
        Some(item) => axum::Json(item).into_response(),
        None => redfish_error(StatusCode::NOT_FOUND, "no such resource"),
    }
}

async fn drive(State(m): State<Arc<Machine>>, axum::extract::Path(index): axum::extract::Path<usize>) -> Response {
    match m.hardware().disks.get(index) {
        Some(d) => {
            let (media, protocol) = match d.kind {
                app::domain::inventory::DiskKind::Hdd => ("HDD", "SAS"),
                app::domain::inventory::DiskKind::Nvme => ("SSD", "NVMe"),
                _ => ("SSD", "SATA"),
            };
            axum::Json(json!({ "Id": index.to_string(), "Model": d.model, "SerialNumber": d.serial,
                               "CapacityBytes": d.size_bytes, "MediaType": media, "Protocol": protocol }))
            .into_response()
        }
        None => redfish_error(StatusCode::NOT_FOUND, "no such drive"),
    }
}

/// The machine's firmware as its BMC lists it: the BIOS (from the hardware profile),
/// the BMC's own, the NIC's and the RAID controller's.
fn firmware(m: &Machine) -> Vec<Value> {
    let bios = m.hardware().system.bios_version;
    let mut out = vec![json!({ "@odata.id": "/redfish/v1/UpdateService/FirmwareInventory/BIOS", "Id": "BIOS",
        "Name": "System BIOS", "Version": bios, "Status": { "State": "Enabled" } })];
    for (id, name, version) in profiles::component_firmware(m.index()) {
        let name = if id == "BMC" { format!("{} BMC firmware", m.vendor) } else { name.to_string() };
        out.push(json!({ "@odata.id": format!("/redfish/v1/UpdateService/FirmwareInventory/{id}"), "Id": id,
            "Name": name, "Version": version, "Status": { "State": "Enabled" } }));
    }
    out
}

/// The BMC's accounts: one, the user Rackstate logs in as (id 2, as on many BMCs where
/// 1 is reserved).
async fn account_service() -> axum::Json<Value> {
    axum::Json(json!({ "@odata.id": "/redfish/v1/AccountService", "Id": "AccountService",
        "Accounts": { "@odata.id": "/redfish/v1/AccountService/Accounts" } }))
}

async fn accounts() -> axum::Json<Value> {
    axum::Json(json!({ "@odata.id": "/redfish/v1/AccountService/Accounts",
        "Members": [{ "@odata.id": "/redfish/v1/AccountService/Accounts/2" }], "Members@odata.count": 1 }))
}

async fn account(State(m): State<Arc<Machine>>, axum::extract::Path(id): axum::extract::Path<String>) -> Response {
    if id != "2" {
        return redfish_error(StatusCode::NOT_FOUND, "no such account");
    }
    axum::Json(json!({ "@odata.id": "/redfish/v1/AccountService/Accounts/2", "Id": "2", "UserName": m.username,
        "RoleId": "Administrator", "Enabled": true, "Password": null }))
    .into_response()
}

/// Sets the account's password (the only property the lab lets change).
async fn patch_account(
    State(m): State<Arc<Machine>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::Json<Value>,
) -> Response {
    if id != "2" {
        return redfish_error(StatusCode::NOT_FOUND, "no such account");
    }
    let Some(password) = body.get("Password").and_then(Value::as_str) else {
        return redfish_error(StatusCode::BAD_REQUEST, "only Password can be changed");
    };
    let faults = m.faults();
    if faults.refuses_password_change || password.len() < 8 || password.len() > 20 {
        return redfish_error(
            StatusCode::BAD_REQUEST,
            "the password does not meet the password policy (8-20 characters)",
        );
    }
    if !faults.drops_password_change {
        *m.password.lock().expect("lab machine lock") = password.to_string();
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn firmware_collection(State(m): State<Arc<Machine>>) -> axum::Json<Value> {
    let members: Vec<Value> = firmware(&m).iter().map(|f| json!({ "@odata.id": f["@odata.id"] })).collect();
    axum::Json(json!({ "Members": members }))
}

async fn firmware_member(
    State(m): State<Arc<Machine>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    match firmware(&m).into_iter().find(|f| f["Id"] == id.as_str()) {
        Some(f) => axum::Json(f).into_response(),
        None => redfish_error(StatusCode::NOT_FOUND, "no such firmware"),
    }
}

async fn manager(State(m): State<Arc<Machine>>) -> axum::Json<Value> {
    let uuid = format!(
        "{:0>8}-0000-4000-8000-{:0>12}",
        m.port,
        m.name.bytes().fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(b as u64)) % 1_000_000_000_000
    );
    let manager = m.vendor.manager();
    let mut v = json!({ "@odata.id": manager, "Id": manager.rsplit('/').next(), "Name": "Lab BMC", "UUID": uuid });
    if m.vendor.media_collection().starts_with(manager) {
        v["VirtualMedia"] = json!({ "@odata.id": m.vendor.media_collection() });
    }
    axum::Json(v)
}

async fn media_collection(State(m): State<Arc<Machine>>) -> axum::Json<Value> {
    let collection = m.vendor.media_collection();
    let slots = m.vendor.other_slot().into_iter().chain([m.vendor.cd_slot()]);
    let members: Vec<Value> = slots.map(|s| json!({ "@odata.id": format!("{collection}/{s}") })).collect();
    axum::Json(json!({ "Members": members }))
}

async fn media(State(m): State<Arc<Machine>>, axum::extract::Path(slot): axum::extract::Path<String>) -> Response {
    let s = m.state.lock().expect("lab machine lock");
    let path = format!("{}/{slot}", m.vendor.media_collection());
    if Some(slot.as_str()) == m.vendor.other_slot() {
        let types = if m.vendor == Vendor::Ilo { json!(["Floppy", "USBStick"]) } else { json!(["USBStick"]) };
        return with_etag(
            json!({ "@odata.id": path, "Id": slot, "MediaTypes": types, "Inserted": false, "Image": null }),
            0,
        );
    }
    if slot != m.vendor.cd_slot() {
        return redfish_error(StatusCode::NOT_FOUND, "no such virtual media slot");
    }
    let image = s.media.clone().or_else(|| s.stale_image.clone());
    let mut v = json!({
        "@odata.id": path,
        "Id": slot,
        "MediaTypes": ["CD", "DVD"],
        "Inserted": s.media.is_some(),
        "WriteProtected": true,
        "Image": image,
    });
    if m.vendor.media_actions() {
        let insert = json!({ "target": format!("{path}/Actions/VirtualMedia.InsertMedia") });
        v["Actions"] = json!({
            "#VirtualMedia.InsertMedia": insert,
            "#VirtualMedia.EjectMedia": { "target": format!("{path}/Actions/VirtualMedia.EjectMedia") },
        });
    }
    with_etag(v, s.version)
}

/// Mounts `image` (an http(s) URL), as the vendor allows it.
fn mount(m: &Machine, s: &mut Power, image: Option<&str>) -> Result<(), Response> {
    let Some(image) = image.filter(|i| i.starts_with("http")) else {
        return Err(redfish_error(StatusCode::BAD_REQUEST, "Image must be an http(s) URL"));
    };
    if m.vendor == Vendor::Supermicro && s.media.is_some() {
        return Err(redfish_error(StatusCode::BAD_REQUEST, "a virtual media image is already mounted; eject it first"));
    }
    s.media = Some(image.to_string());
    s.stale_image = None;
    s.version += 1;
    Ok(())
}

/// Unmounts; a Supermicro-like BMC keeps showing the image.
fn unmount(m: &Machine, s: &mut Power) {
    let old = s.media.take();
    if m.vendor == Vendor::Supermicro {
        s.stale_image = old.or(s.stale_image.take());
    }
    s.version += 1;
}

async fn patch_media(
    State(m): State<Arc<Machine>>,
    axum::extract::Path(slot): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    if slot != m.vendor.cd_slot() {
        return redfish_error(StatusCode::METHOD_NOT_ALLOWED, "this slot cannot be modified");
    }
    let mut s = m.state.lock().expect("lab machine lock");
    if let Some(refused) = precondition(&m, &headers, s.version) {
        return refused;
    }
    let eject = body["Inserted"].as_bool() == Some(false) || body.get("Image").is_some_and(Value::is_null);
    if eject {
        unmount(&m, &mut s);
    } else if let Err(r) = mount(&m, &mut s, body["Image"].as_str()) {
        return r;
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn insert(State(m): State<Arc<Machine>>, body: axum::Json<Value>) -> Response {
    if m.vendor == Vendor::Supermicro
        && let Some(p) = ["Inserted", "WriteProtected"].into_iter().find(|p| body.get(*p).is_some())
    {
        return redfish_error(StatusCode::BAD_REQUEST, &format!("the property {p} is not supported by InsertMedia"));
    }
    let mut s = m.state.lock().expect("lab machine lock");
    match mount(&m, &mut s, body["Image"].as_str()) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

async fn eject(State(m): State<Arc<Machine>>) -> StatusCode {
    let mut s = m.state.lock().expect("lab machine lock");
    unmount(&m, &mut s);
    StatusCode::NO_CONTENT
}
