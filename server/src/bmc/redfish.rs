//! The Redfish driver (reqwest + rustls).
//!
//! Finds the system through `/redfish/v1/Systems`, virtual media under the system or
//! its managers (vendors differ), and prefers the actions a resource advertises over
//! guessed URLs.
//!
//! Credentials go only where `RACKSTATE_BMC_NETWORKS` allows: an IP literal is checked
//! here, a name at every resolution (it may point elsewhere by now); redirects are
//! never followed; answers are read up to a cap; an error keeps its status and the
//! Redfish message (sanitised), never the body.

use super::{Bmc, BmcError, BmcErrorKind, PowerAction, SystemSummary};
use app::domain::Inventory;
use app::domain::inventory::{Cpu, Disk, DiskKind, Gpu, MemoryModule, Nic, SystemInfo};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::OnceCell;

/// One HTTP exchange with a BMC; BMCs are slow, but not this slow.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Establishing the TCP/TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries after the first attempt for transient failures (connect, timeout, 5xx).
pub const MAX_RETRIES: u32 = 3;
/// The first retry's delay; it doubles each time.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(250);

pub struct RedfishBmc {
    address: String,
    base: String,
    username: String,
    password: String,
    client: reqwest::Client,
    /// One exchange's limit (REQUEST_TIMEOUT unless configured).
    timeout: Duration,
    /// The largest answer read.
    max_response: usize,
    /// The User-Agent sent: which Rackstate (and which runner) acts, for the BMC's log.
    user_agent: String,
    /// Asked before every attempt of a request that changes something: false stops it
    /// (a job's runner that lost its lease must not act, not even on a retry).
    may_act: Option<std::sync::Arc<dyn Fn() -> bool + Send + Sync>>,
    system_path: OnceCell<String>,
    media_path: OnceCell<String>,
}

impl std::fmt::Debug for RedfishBmc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedfishBmc")
            .field("address", &self.address)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl RedfishBmc {
    /// `address` is a host, host:port, or a full `http(s)://` base URL. Without a
    /// scheme, HTTPS is used. A path to one system (`.../redfish/v1/Systems/<id>`)
    /// picks that system on a BMC that manages several (chassis managers, emulators);
    /// otherwise the first system is used. `verify_tls` false accepts self-signed
    /// certificates.
    pub fn new(
        address: &str,
        username: &str,
        password: &str,
        verify_tls: bool,
        reach: &app::backend::BmcReach,
    ) -> Result<Self, BmcError> {
        let address = address.trim().trim_end_matches('/').to_string();
        let refused = |why: String| BmcError {
            bmc: address.clone(),
            doing: "checking the address".into(),
            kind: BmcErrorKind::Refused(why),
        };
        let url = app::domain::bmc_address::parse(&address).map_err(refused)?;
        if let Some(ip) = url.ip() {
            reach.networks.allows(std::net::SocketAddr::new(ip, url.port)).map_err(refused)?;
        }
        let mut base = if address.starts_with("http://") || address.starts_with("https://") {
            address.clone()
        } else {
            format!("https://{address}")
        };
        let system_path = OnceCell::new();
        if let Some(at) = base.find("/redfish/v1/Systems/") {
            let _ = system_path.set(base[at..].to_string());
            base.truncate(at);
        }
        let resolver = std::sync::Arc::new(Guarded { networks: reach.networks.clone(), port: url.port });
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .danger_accept_invalid_certs(!verify_tls)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(resolver)
            .build()
            .map_err(|e| BmcError {
                bmc: address.clone(),
                doing: "creating an HTTP client".into(),
                kind: BmcErrorKind::Connect(e.to_string()),
            })?;
        Ok(Self {
            address,
            base,
            username: username.to_string(),
            password: password.to_string(),
            client,
            timeout: REQUEST_TIMEOUT,
            max_response: reach.max_response_bytes,
            user_agent: format!("rackstate/{}", env!("CARGO_PKG_VERSION")),
            may_act: None,
            system_path,
            media_path: OnceCell::new(),
        })
    }

    /// Limits each exchange with the BMC to `timeout` (default REQUEST_TIMEOUT).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Names the runner acting in the User-Agent (a BMC's audit log then tells
    /// replicas apart).
    pub fn with_client_id(mut self, id: &str) -> Self {
        self.user_agent = format!("rackstate/{} ({id})", env!("CARGO_PKG_VERSION"));
        self
    }

    /// Every change (POST, PATCH, ...) and each of its retries first asks `may_act`.
    pub fn with_fence(mut self, may_act: std::sync::Arc<dyn Fn() -> bool + Send + Sync>) -> Self {
        self.may_act = Some(may_act);
        self
    }

    fn err(&self, doing: &str, kind: BmcErrorKind) -> BmcError {
        BmcError { bmc: self.address.clone(), doing: doing.to_string(), kind }
    }

    /// One request with bounded retries of transient failures.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        doing: &str,
    ) -> Result<Option<Value>, BmcError> {
        let mut attempt = 0;
        loop {
            if method != reqwest::Method::GET && self.may_act.as_ref().is_some_and(|may| !may()) {
                return Err(self.err(doing, BmcErrorKind::Fenced));
            }
            match self.call_once(method.clone(), path, body, doing).await {
                Err(e) if e.is_transient() && attempt < MAX_RETRIES => {
                    tracing::debug!(bmc = %self.address, error = %e, attempt, "retrying");
                    tokio::time::sleep(RETRY_BACKOFF * 2u32.pow(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn call_once(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        doing: &str,
    ) -> Result<Option<Value>, BmcError> {
        let started = std::time::Instant::now();
        let result = self.exchange(method, path, body, doing).await;
        let kind = result.as_ref().err().map(|e| match e.kind {
            BmcErrorKind::Connect(_) => "connect",
            BmcErrorKind::Timeout { .. } => "timeout",
            BmcErrorKind::Unauthorized => "unauthorized",
            BmcErrorKind::Status { .. } => "status",
            BmcErrorKind::Malformed(_) => "malformed",
            BmcErrorKind::Unsupported(_) => "unsupported",
            BmcErrorKind::Fenced => "fenced",
            BmcErrorKind::Refused(_) => "refused",
        });
        crate::metrics::bmc_request(started.elapsed(), kind);
        result
    }

    async fn exchange(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        doing: &str,
    ) -> Result<Option<Value>, BmcError> {
        let url = format!("{}{}", self.base, path);
        let mut req =
            self.client.request(method, &url).timeout(self.timeout).basic_auth(&self.username, Some(&self.password));
        req = req.header(reqwest::header::USER_AGENT, &self.user_agent);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            let kind = if let Some(why) = refused_by_policy(&e) {
                BmcErrorKind::Refused(why)
            } else if e.is_timeout() {
                BmcErrorKind::Timeout { seconds: self.timeout.as_secs() }
            } else {
                BmcErrorKind::Connect(root_cause(&e))
            };
            self.err(doing, kind)
        })?;
        let status = resp.status();
        if status.is_redirection() {
            let to = resp.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok()).unwrap_or("");
            let message = format!("redirects are not followed (to {})", sanitize(to));
            return Err(self.err(doing, BmcErrorKind::Status { code: status.as_u16(), message }));
        }
        let text = self.read_capped(resp, doing).await?;
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(self.err(doing, BmcErrorKind::Unauthorized));
        }
        if !status.is_success() {
            return Err(
                self.err(doing, BmcErrorKind::Status { code: status.as_u16(), message: redfish_message(&text) })
            );
        }
        if text.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| self.err(doing, BmcErrorKind::Malformed(format!("not JSON: {e}"))))
    }

    /// The answer's body, up to the cap; past it the exchange fails clearly (a BMC
    /// does not send megabytes of JSON; something else answers).
    async fn read_capped(&self, mut resp: reqwest::Response, doing: &str) -> Result<String, BmcError> {
        let too_big = || {
            self.err(
                doing,
                BmcErrorKind::Malformed(format!(
                    "the answer is larger than {} bytes (RACKSTATE_BMC_MAX_RESPONSE_BYTES); not read",
                    self.max_response
                )),
            )
        };
        if resp.content_length().is_some_and(|n| n as usize > self.max_response) {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) =
            resp.chunk().await.map_err(|e| self.err(doing, BmcErrorKind::Connect(root_cause(&e))))?
        {
            if body.len() + chunk.len() > self.max_response {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    async fn get(&self, path: &str, doing: &str) -> Result<Value, BmcError> {
        self.call(reqwest::Method::GET, path, None, doing)
            .await?
            .ok_or_else(|| self.err(doing, BmcErrorKind::Malformed("empty body".into())))
    }

    async fn system_path(&self) -> Result<&str, BmcError> {
        self.system_path
            .get_or_try_init(|| async {
                let doing = "reading Systems";
                let systems = self.get("/redfish/v1/Systems", doing).await?;
                first_member(&systems).ok_or_else(|| {
                    self.err(doing, BmcErrorKind::Malformed("no system in the Systems collection".into()))
                })
            })
            .await
            .map(String::as_str)
    }

    /// The CD/DVD virtual media slot: under the system, else under its managers.
    async fn media_path(&self) -> Result<&str, BmcError> {
        self.media_path
            .get_or_try_init(|| async {
                let doing = "finding virtual media";
                let system = self.get(self.system_path().await?, doing).await?;
                let mut collections: Vec<String> = Vec::new();
                if let Some(p) = odata_id(&system["VirtualMedia"]) {
                    collections.push(p);
                }
                for m in system["Links"]["ManagedBy"].as_array().into_iter().flatten() {
                    if let Some(mp) = odata_id(m) {
                        let manager = self.get(&mp, doing).await?;
                        if let Some(p) = odata_id(&manager["VirtualMedia"]) {
                            collections.push(p);
                        }
                    }
                }
                for c in collections {
                    let coll = self.get(&c, doing).await?;
                    for member in coll["Members"].as_array().into_iter().flatten().filter_map(odata_id) {
                        let vm = self.get(&member, doing).await?;
                        if is_cd(&vm) {
                            return Ok(member);
                        }
                    }
                }
                Err(self.err(doing, BmcErrorKind::Unsupported("no CD or DVD virtual media slot".into())))
            })
            .await
            .map(String::as_str)
    }

    /// POSTs to an action the resource advertises, or to the conventional path.
    async fn action(&self, resource: &str, name: &str, body: Value, doing: &str) -> Result<(), BmcError> {
        let res = self.get(resource, doing).await?;
        let target = res["Actions"][format!("#{name}")]["target"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{resource}/Actions/{name}"));
        self.call(reqwest::Method::POST, &target, Some(&body), doing).await.map(|_| ())
    }
}

/// The resolver's refusal (RACKSTATE_BMC_NETWORKS), if that is why a request failed:
/// final, not worth a retry.
fn refused_by_policy(e: &reqwest::Error) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::PermissionDenied
        {
            return Some(io.to_string());
        }
        cur = err.source();
    }
    None
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn odata_id(v: &Value) -> Option<String> {
    v["@odata.id"].as_str().map(str::to_string)
}

fn first_member(collection: &Value) -> Option<String> {
    collection["Members"].as_array()?.iter().find_map(odata_id)
}

fn is_cd(vm: &Value) -> bool {
    vm["MediaTypes"].as_array().into_iter().flatten().filter_map(Value::as_str).any(|t| t == "CD" || t == "DVD")
}

/// The message of a Redfish error body, sanitised; nothing of any other body (an
/// address that is not a BMC may answer with something secret).
fn redfish_message(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(sanitize))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "no Redfish error message".into())
}

/// Printable ASCII, at most 160 characters: safe for a log line and a page.
fn sanitize(s: &str) -> String {
    let clean: String = s.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(160).collect();
    clean.trim().to_string()
}

/// Resolves BMC names to the addresses credentials may go to, and only those.
struct Guarded {
    networks: app::domain::bmc_address::BmcNetworks,
    port: u16,
}

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (networks, port) = (self.networks.clone(), self.port);
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port)).await?.collect();
            let mut refused = Vec::new();
            let allowed: Vec<std::net::SocketAddr> = found
                .into_iter()
                .filter(|a| match networks.allows(*a) {
                    Ok(()) => true,
                    Err(why) => {
                        refused.push(why);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refused.first().cloned().unwrap_or_else(|| "no address".into());
                let e = std::io::Error::new(std::io::ErrorKind::PermissionDenied, format!("{host} resolves to {why}"));
                return Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Reads the fields Rackstate keeps from a ComputerSystem resource.
pub fn parse_system(v: &Value) -> Result<SystemSummary, String> {
    if !v.is_object() {
        return Err("ComputerSystem is not an object".into());
    }
    let s = |k: &str| v[k].as_str().unwrap_or_default().trim().to_string();
    Ok(SystemSummary {
        manufacturer: s("Manufacturer"),
        model: s("Model"),
        serial_number: s("SerialNumber"),
        uuid: s("UUID"),
        bios_version: s("BiosVersion"),
        power_state: v["PowerState"].as_str().unwrap_or("Unknown").to_string(),
        health: v["Status"]["Health"].as_str().unwrap_or("Unknown").to_string(),
    })
}

/// A Processor resource: a CPU, a GPU (ProcessorType "GPU"), or neither (absent
/// sockets, FPGAs...).
pub fn parse_processor(v: &Value) -> Option<Result<Cpu, Gpu>> {
    if v["Status"]["State"] == "Absent" {
        return None;
    }
    let text = |k: &str| v[k].as_str().unwrap_or_default().trim().to_string();
    let slot = Some(text("Socket")).filter(|s| !s.is_empty()).unwrap_or_else(|| text("Id"));
    match v["ProcessorType"].as_str() {
        Some("GPU") | Some("Accelerator") => Some(Err(Gpu { slot, model: text("Model") })),
        Some("CPU") | None => {
            let cores = v["TotalCores"].as_u64().unwrap_or(0) as u32;
            let threads = v["TotalThreads"].as_u64().unwrap_or(cores as u64) as u32;
            Some(Ok(Cpu { socket: slot, model: text("Model"), cores, threads }))
        }
        Some(_) => None,
    }
}

/// A Memory resource (a DIMM); None for empty slots.
pub fn parse_memory(v: &Value) -> Option<MemoryModule> {
    let size_mib = v["CapacityMiB"].as_u64().filter(|c| *c > 0)?;
    if v["Status"]["State"] == "Absent" {
        return None;
    }
    let slot = v["DeviceLocator"].as_str().or(v["Id"].as_str()).unwrap_or_default().to_string();
    Some(MemoryModule { slot, size_mib })
}

/// A Drive resource.
pub fn parse_drive(v: &Value) -> Option<Disk> {
    if v["Status"]["State"] == "Absent" {
        return None;
    }
    let kind = match (v["Protocol"].as_str(), v["MediaType"].as_str()) {
        (Some("NVMe"), _) => DiskKind::Nvme,
        (_, Some("SSD")) => DiskKind::Ssd,
        (_, Some("HDD")) => DiskKind::Hdd,
        _ => DiskKind::Unknown,
    };
    Some(Disk {
        model: v["Model"].as_str().unwrap_or_default().trim().to_string(),
        serial: v["SerialNumber"].as_str().or(v["Id"].as_str()).unwrap_or_default().trim().to_string(),
        size_bytes: v["CapacityBytes"].as_u64().unwrap_or(0),
        kind,
    })
}

/// An EthernetInterface resource of the system.
pub fn parse_nic(v: &Value) -> Option<Nic> {
    let mac = v["MACAddress"].as_str().or(v["PermanentMACAddress"].as_str())?.to_ascii_lowercase();
    Some(Nic {
        name: v["Id"].as_str().unwrap_or_default().to_string(),
        mac,
        speed_mbps: v["SpeedMbps"].as_u64().unwrap_or(0) as u32,
        switch: None,
        switch_port: None,
    })
}

impl RedfishBmc {
    /// The members of the collection `link` points to (empty when there is none).
    async fn members(&self, link: &Value, doing: &str) -> Result<Vec<Value>, BmcError> {
        let Some(path) = odata_id(link) else { return Ok(Vec::new()) };
        let coll = self.get(&path, doing).await?;
        let mut out = Vec::new();
        for m in coll["Members"].as_array().into_iter().flatten().filter_map(odata_id) {
            out.push(self.get(&m, doing).await?);
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Bmc for RedfishBmc {
    fn address(&self) -> &str {
        &self.address
    }

    async fn system(&self) -> Result<SystemSummary, BmcError> {
        let doing = "reading the system";
        let v = self.get(self.system_path().await?, doing).await?;
        parse_system(&v).map_err(|m| self.err(doing, BmcErrorKind::Malformed(m)))
    }

    async fn oob_inventory(&self) -> Result<Inventory, BmcError> {
        let doing = "reading the out-of-band inventory";
        let sys = self.get(self.system_path().await?, doing).await?;
        let summary = parse_system(&sys).map_err(|m| self.err(doing, BmcErrorKind::Malformed(m)))?;
        let mut inv = Inventory {
            system: SystemInfo {
                manufacturer: summary.manufacturer,
                model: summary.model,
                serial_number: summary.serial_number,
                uuid: summary.uuid,
                bios_version: summary.bios_version,
            },
            ..Default::default()
        };
        for p in self.members(&sys["Processors"], doing).await? {
            match parse_processor(&p) {
                Some(Ok(cpu)) => inv.cpus.push(cpu),
                Some(Err(gpu)) => inv.gpus.push(gpu),
                None => {}
            }
        }
        inv.memory = self.members(&sys["Memory"], doing).await?.iter().filter_map(parse_memory).collect();
        for storage in self.members(&sys["Storage"], doing).await? {
            for d in storage["Drives"].as_array().into_iter().flatten() {
                let Some(path) = odata_id(d) else { continue };
                if let Some(disk) = parse_drive(&self.get(&path, doing).await?) {
                    inv.disks.push(disk);
                }
            }
        }
        inv.nics = self.members(&sys["EthernetInterfaces"], doing).await?.iter().filter_map(parse_nic).collect();
        Ok(inv)
    }

    async fn power(&self, action: PowerAction) -> Result<(), BmcError> {
        let doing = format!("power {}", action.reset_type());
        let path = self.system_path().await?.to_string();
        self.action(&path, "ComputerSystem.Reset", json!({ "ResetType": action.reset_type() }), &doing).await
    }

    async fn boot_once_from_cd(&self) -> Result<(), BmcError> {
        let path = self.system_path().await?.to_string();
        let body = json!({ "Boot": { "BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once" } });
        self.call(reqwest::Method::PATCH, &path, Some(&body), "setting a one-time boot from CD").await.map(|_| ())
    }

    async fn clear_boot_override(&self) -> Result<(), BmcError> {
        let path = self.system_path().await?.to_string();
        let body = json!({ "Boot": { "BootSourceOverrideEnabled": "Disabled", "BootSourceOverrideTarget": "None" } });
        self.call(reqwest::Method::PATCH, &path, Some(&body), "clearing the boot override").await.map(|_| ())
    }

    async fn insert_media(&self, image_url: &str) -> Result<(), BmcError> {
        let path = self.media_path().await?.to_string();
        let body = json!({ "Image": image_url, "Inserted": true, "WriteProtected": true });
        self.action(&path, "VirtualMedia.InsertMedia", body, "inserting virtual media").await
    }

    async fn eject_media(&self) -> Result<(), BmcError> {
        let path = self.media_path().await?.to_string();
        self.action(&path, "VirtualMedia.EjectMedia", json!({}), "ejecting virtual media").await
    }

    async fn manager_uuid(&self) -> Result<Option<String>, BmcError> {
        let doing = "reading the BMC's manager";
        let system = self.get(self.system_path().await?, doing).await?;
        let Some(manager) = system["Links"]["ManagedBy"].as_array().and_then(|m| m.first()).and_then(odata_id) else {
            return Ok(None);
        };
        let m = self.get(&manager, doing).await?;
        Ok(m["UUID"].as_str().map(str::trim).filter(|u| !u.is_empty()).map(str::to_string))
    }

    async fn inserted_media(&self) -> Result<Option<String>, BmcError> {
        let path = self.media_path().await?.to_string();
        let vm = self.get(&path, "reading virtual media").await?;
        Ok(if vm["Inserted"].as_bool() == Some(true) { vm["Image"].as_str().map(str::to_string) } else { None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real vendor payloads shipped with PyPI's `sushy` parse into a summary.
    #[test]
    fn parses_sushy_system_samples() {
        let venv = std::env::var("RACKSTATE_TEST_VENV")
            .unwrap_or_else(|_| format!("{}/.cache/rackstate/venv", std::env::var("HOME").unwrap_or_default()));
        let dir = glob_site_packages(&venv).join("sushy/tests/unit/json_samples");
        let text = std::fs::read_to_string(dir.join("system.json"))
            .unwrap_or_else(|e| panic!("{}: {e} (run `make test`, which installs the venv)", dir.display()));
        let s = parse_system(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(s.manufacturer, "Contoso");
        assert_eq!(s.serial_number, "437XR1138R2");
        assert_eq!(s.power_state, "On");
        assert!(!s.uuid.is_empty());
    }

    fn glob_site_packages(venv: &str) -> std::path::PathBuf {
        let lib = std::path::Path::new(venv).join("lib");
        std::fs::read_dir(&lib)
            .ok()
            .and_then(|mut d| d.find_map(|e| e.ok().filter(|e| e.file_name().to_string_lossy().starts_with("python"))))
            .map(|e| e.path().join("site-packages"))
            .unwrap_or(lib)
    }

    fn sample(name: &str) -> Value {
        let venv = std::env::var("RACKSTATE_TEST_VENV")
            .unwrap_or_else(|_| format!("{}/.cache/rackstate/venv", std::env::var("HOME").unwrap_or_default()));
        let path = glob_site_packages(&venv).join("sushy/tests/unit/json_samples").join(name);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .unwrap()
    }

    /// Vendor payloads of Processors, Drives and EthernetInterfaces parse into the
    /// inventory model; a DIMM per the DMTF schema; empty slots are left out.
    #[test]
    fn parses_sushy_inventory_samples() {
        let cpu = parse_processor(&sample("processor.json")).unwrap().unwrap();
        assert_eq!((cpu.socket.as_str(), cpu.cores, cpu.threads), ("CPU 1", 8, 16));
        assert!(cpu.model.contains("Xeon"));
        let disk = parse_drive(&sample("drive.json")).unwrap();
        assert_eq!((disk.serial.as_str(), disk.size_bytes, disk.kind), ("1234570", 899527000000, DiskKind::Hdd));
        let nic = parse_nic(&sample("ethernet_interfaces.json")).unwrap();
        assert_eq!((nic.mac.as_str(), nic.speed_mbps), ("12:44:6a:3b:04:11", 1000));
        let dimm = json!({"Id": "DIMM1", "DeviceLocator": "PROC 1 DIMM 1", "CapacityMiB": 32768, "Status": {"State": "Enabled"}});
        assert_eq!(parse_memory(&dimm), Some(MemoryModule { slot: "PROC 1 DIMM 1".into(), size_mib: 32768 }));
        assert_eq!(parse_memory(&json!({"Id": "DIMM2", "Status": {"State": "Absent"}})), None);
        let gpu = json!({"Id": "GPU0", "ProcessorType": "GPU", "Model": "NVIDIA A100"});
        assert_eq!(parse_processor(&gpu), Some(Err(Gpu { slot: "GPU0".into(), model: "NVIDIA A100".into() })));
    }

    /// Errors name the BMC, the step and the cause; 5xx and connect errors are
    /// transient, 401 is not.
    #[test]
    fn error_text_and_transience() {
        let e = BmcError {
            bmc: "10.0.0.5".into(),
            doing: "reading Systems".into(),
            kind: BmcErrorKind::Timeout { seconds: 20 },
        };
        assert_eq!(e.to_string(), "BMC 10.0.0.5: reading Systems: timed out after 20s");
        assert!(e.is_transient());
        let e = BmcError { kind: BmcErrorKind::Unauthorized, ..e };
        assert!(!e.is_transient());
        let e = BmcError { kind: BmcErrorKind::Status { code: 503, message: "busy".into() }, ..e };
        assert!(e.is_transient());
    }

    /// A Redfish error body gives its message; anything else its first characters.
    #[test]
    fn error_messages() {
        assert_eq!(redfish_message(r#"{"error":{"message":"Not implemented"}}"#), "Not implemented");
        assert_eq!(redfish_message("Internal Server Error"), "no Redfish error message");
        assert_eq!(redfish_message(r#"{"error":{"message":"bad\u001b[31m\nthing"}}"#), "bad[31mthing");
    }
}
