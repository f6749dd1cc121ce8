//! The Redfish driver (reqwest + rustls).
//!
//! Ours on purpose: what Rackstate needs from a BMC is a dozen calls, but each with
//! the vendor differences written down in docs/redfish.md (where virtual media lives,
//! PATCH-only media, sessions with ETags, omitted power state) and with our own
//! network policy and certificate pinning at every connection; a generic client would
//! still need all of that around it.
//!
//! Finds the system through `/redfish/v1/Systems`, virtual media under the system or
//! its managers (vendors differ), and prefers the actions a resource advertises over
//! guessed URLs.
//!
//! Credentials go only where `RACKSTATE_BMC_NETWORKS` allows: an IP literal is checked
//! here, a name at every resolution (it may point elsewhere by now); redirects are
//! never followed; answers are read up to a cap; an error keeps its status and the
//! Redfish message (sanitised), never the body.

use super::hints::{Hints, Learned, Login};
use super::{Bmc, BmcError, BmcErrorKind, HardwareCounts, PowerAction, SystemSummary};
use app::domain::Inventory;
use app::domain::inventory::{Cpu, Disk, DiskKind, Gpu, MemoryModule, Nic, SystemInfo};
use serde_json::{Value, json};
use std::time::Duration;

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
    /// How requests authenticate: decided at the first request (a Redfish session
    /// when the service offers one, else Basic).
    auth: tokio::sync::Mutex<Auth>,
    /// The certificate pin and the certificate last seen (unverified TLS).
    tls: std::sync::Arc<super::tls::TlsState>,
    /// What the driver did differently from the schema's plain path (fallbacks,
    /// retries), for the job log: taken with `take_notes`.
    notes: std::sync::Mutex<Vec<String>>,
    /// The system's path: from the address, the hints, or `Systems` (found once).
    system_path: tokio::sync::Mutex<Option<String>>,
    /// The address named the system: no hint or walk decides it.
    system_fixed: bool,
    /// The CD slot's path, from the hints or found once.
    media_path: tokio::sync::Mutex<Option<String>>,
    /// What connections to this BMC learned (with this client's key in them), when
    /// the client shares them (see `hints.rs`).
    hints: Option<(std::sync::Arc<Hints>, String)>,
    /// The hints this client started from and still trusts.
    hinted: std::sync::Mutex<Learned>,
    /// Resources as this client last read them, by path, for what does not change
    /// while a job holds the machine (links, actions, summaries): a real BMC takes a
    /// tenth of a second to seconds per request. Power and boot state, slots and
    /// anything checked after a change are always read afresh.
    known: std::sync::Mutex<std::collections::HashMap<String, Value>>,
}

/// How this client authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Auth {
    /// Not decided yet.
    Unknown,
    /// HTTP Basic on every request (the service offers no sessions, or refused one).
    Basic,
    /// A Redfish session (`X-Auth-Token`) created at `sessions`; `location` is
    /// deleted at the end.
    Session { token: String, location: Option<String>, sessions: String },
}

/// One request: what, where, with which body and precondition, as which step.
#[derive(Clone, Copy)]
struct Call<'a> {
    method: &'a reqwest::Method,
    path: &'a str,
    body: Option<&'a Value>,
    if_match: Option<&'a str>,
    doing: &'a str,
}

impl<'a> Call<'a> {
    fn get(path: &'a str, doing: &'a str) -> Self {
        Call { method: &reqwest::Method::GET, path, body: None, if_match: None, doing }
    }
}

/// One answer: its status, the headers Rackstate uses, and its JSON body (if any).
#[derive(Debug)]
struct Reply {
    status: u16,
    etag: Option<String>,
    location: Option<String>,
    token: Option<String>,
    text: String,
}

impl Reply {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.text).ok()
    }

    /// The resource's ETag: the header, else `@odata.etag` in the body.
    fn etag(&self) -> Option<String> {
        self.etag.clone().or_else(|| self.json().and_then(|v| v["@odata.etag"].as_str().map(str::to_string)))
    }
}

impl std::fmt::Debug for RedfishBmc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedfishBmc")
            .field("address", &self.address)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Drop for RedfishBmc {
    /// Logs out of a Redfish session (BMCs allow few at once): best effort, in the
    /// background, bounded by the request timeout.
    fn drop(&mut self) {
        let Ok(auth) = self.auth.try_lock() else { return };
        let Auth::Session { token, location: Some(location), .. } = &*auth else { return };
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let url = absolute(&self.base, location);
        let req = self
            .client
            .delete(url)
            .timeout(self.timeout)
            .header("X-Auth-Token", token)
            .header(reqwest::header::USER_AGENT, &self.user_agent);
        handle.spawn(async move {
            let _ = req.send().await;
        });
    }
}

/// A path or URL from a BMC's answer (Location headers may be absolute) as a URL.
fn absolute(base: &str, path_or_url: &str) -> String {
    if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
        // Only its path: credentials never go to another host a BMC names.
        let after_scheme = &path_or_url[path_or_url.find("//").map(|i| i + 2).unwrap_or(0)..];
        let path = after_scheme.find('/').map(|i| &after_scheme[i..]).unwrap_or("/");
        format!("{base}{path}")
    } else {
        format!("{base}{path_or_url}")
    }
}

impl RedfishBmc {
    /// Sets the boot override to `target` (`Once` or `Continuous`), with the system's
    /// boot mode sent back, and reads it back until the BMC shows it.
    async fn override_boot(&self, target: &str, enabled: &str, doing: &'static str) -> Result<(), BmcError> {
        let path = self.system_path().await?;
        let (system, etag) = self.read_kept(&path, doing).await?;
        let boot = &system["Boot"];
        if let Some(allowed) = boot["BootSourceOverrideTarget@Redfish.AllowableValues"].as_array() {
            let allowed: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
            if !allowed.contains(&target) {
                return Err(self.err(
                    doing,
                    BmcErrorKind::Unsupported(format!(
                        "a boot from {} (BootSourceOverrideTarget allows {})",
                        if target == "Cd" { "virtual CD" } else { "disk" },
                        allowed.join(", ")
                    )),
                ));
            }
        }
        let mut body = json!({ "Boot": { "BootSourceOverrideTarget": target, "BootSourceOverrideEnabled": enabled } });
        if let Some(mode) = boot["BootSourceOverrideMode"].as_str() {
            body["Boot"]["BootSourceOverrideMode"] = json!(mode);
            self.note(format!("boot override sent with the system's boot mode ({mode})"));
        }
        self.patch(&path, &body, etag, doing).await?;
        let confirm = "checking the boot override";
        let mut seen = Value::Null;
        for attempt in 0..MEDIA_CONFIRM_TRIES {
            if attempt > 0 {
                crate::jobs::slots::idle(Duration::from_secs(1)).await;
            }
            seen = self.get(&path, confirm).await?["Boot"].clone();
            let (seen_target, seen_enabled) = (
                seen["BootSourceOverrideTarget"].as_str().unwrap_or_default(),
                seen["BootSourceOverrideEnabled"].as_str().unwrap_or_default(),
            );
            // A one-time override some BMCs show as Continuous is fine; a persistent
            // one must stay.
            if seen_target.eq_ignore_ascii_case(target)
                && (seen_enabled == enabled || (enabled == "Once" && seen_enabled == "Continuous"))
            {
                return Ok(());
            }
        }
        Err(self.err(
            confirm,
            BmcErrorKind::Malformed(format!(
                "the BMC accepted the boot override but reports target {}, enabled {}",
                seen["BootSourceOverrideTarget"], seen["BootSourceOverrideEnabled"]
            )),
        ))
    }

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
        let mut system_path = None;
        if let Some(at) = base.find("/redfish/v1/Systems/") {
            system_path = Some(base[at..].to_string());
            base.truncate(at);
        }
        let resolver = std::sync::Arc::new(Guarded { networks: reach.networks.clone(), port: url.port });
        let tls = std::sync::Arc::new(super::tls::TlsState::default());
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(resolver);
        let config = super::tls::client_config(verify_tls, &reach.ca_certs, tls.clone()).map_err(|e| BmcError {
            bmc: address.clone(),
            doing: "setting up TLS".into(),
            kind: BmcErrorKind::Connect(e),
        })?;
        if let Some(config) = config {
            builder = builder.use_preconfigured_tls(config);
        }
        let client = builder.build().map_err(|e| BmcError {
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
            auth: tokio::sync::Mutex::new(Auth::Unknown),
            tls,
            notes: std::sync::Mutex::new(Vec::new()),
            system_fixed: system_path.is_some(),
            system_path: tokio::sync::Mutex::new(system_path),
            media_path: tokio::sync::Mutex::new(None),
            hints: None,
            hinted: Default::default(),
            known: Default::default(),
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

    /// Only the certificate with this SHA-256 is accepted (unverified TLS: the pin
    /// of trust on first use).
    pub fn with_tls_pin(self, pin: Option<String>) -> Self {
        if let Ok(mut p) = self.tls.pin.lock() {
            *p = pin;
        }
        self
    }

    /// Shares what connections to this BMC learn with `hints`, and starts from what
    /// they learned before (see `hints.rs`). Keyed by the address as entered: one BMC
    /// that manages several systems (a chassis manager, an emulator) is several
    /// addresses, each naming its system, and one system's CD slot is never another's.
    pub fn with_hints(mut self, hints: std::sync::Arc<Hints>) -> Self {
        let key = Hints::key(&self.address, &self.username);
        let mut learned = hints.get(&key);
        if self.system_fixed {
            learned.system_path = None;
        }
        *self.system_path.get_mut() = self.system_path.get_mut().take().or_else(|| learned.system_path.clone());
        *self.media_path.get_mut() = learned.media_path.clone();
        self.hinted = std::sync::Mutex::new(learned);
        self.hints = Some((hints, key));
        self
    }

    /// Records what this connection found out, for the next one.
    fn learn(&self, learn: impl FnOnce(&mut Learned)) {
        if let Some((hints, key)) = &self.hints {
            hints.learn(key, learn);
        }
    }

    /// Whether `e`, met at `path`, says a hint no longer holds (the hinted system or
    /// slot is not there): then the paths are forgotten, here and for the next
    /// connections, and the caller walks the service again once.
    async fn drop_stale_hint(&self, e: &BmcError, path: &str) -> bool {
        if !matches!(e.kind, BmcErrorKind::Status { code: 404, .. }) {
            return false;
        }
        let hinted = self.hinted.lock().map(|h| h.clone()).unwrap_or_default();
        let stale = hinted.system_path.as_deref() == Some(path) || hinted.media_path.as_deref() == Some(path);
        if !stale {
            return false;
        }
        self.unlearn(|l| {
            l.system_path = None;
            l.media_path = None;
        });
        if hinted.system_path.is_some() {
            *self.system_path.lock().await = None;
        }
        *self.media_path.lock().await = None;
        self.note(format!("{path} is gone (HTTP 404): looking for the system and its CD slot again"));
        true
    }

    /// Forgets hints of this BMC that did not hold, here and for the next connections.
    fn unlearn(&self, forget: impl Fn(&mut Learned)) {
        if let Ok(mut h) = self.hinted.lock() {
            forget(&mut h);
        }
        self.learn(forget);
    }

    /// Whether this client logged in the way the hints said, without asking the root.
    fn login_hinted(&self) -> Option<Login> {
        self.hinted.lock().ok().and_then(|h| h.login.clone())
    }

    fn note(&self, what: String) {
        if let Ok(mut n) = self.notes.lock() {
            n.push(what);
        }
    }

    /// Whether requests go with a Redfish session (after the first request).
    pub async fn uses_session(&self) -> bool {
        matches!(*self.auth.lock().await, Auth::Session { .. })
    }

    fn err(&self, doing: &str, kind: BmcErrorKind) -> BmcError {
        BmcError { bmc: self.address.clone(), doing: doing.to_string(), kind }
    }

    /// One request with bounded retries of transient failures; non-2xx answers are
    /// errors.
    async fn call(&self, c: Call<'_>) -> Result<Reply, BmcError> {
        let (method, doing) = (c.method, c.doing);
        let mut attempt = 0;
        loop {
            if *method != reqwest::Method::GET && self.may_act.as_ref().is_some_and(|may| !may()) {
                return Err(self.err(doing, BmcErrorKind::Fenced));
            }
            match self.call_once(c).await {
                Err(e) if e.is_transient() && attempt < MAX_RETRIES => {
                    tracing::debug!(bmc = %self.address, error = %app::backend::error_chain(&e), attempt, "retrying");
                    crate::jobs::slots::idle(RETRY_BACKOFF * 2u32.pow(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn call_once(&self, c: Call<'_>) -> Result<Reply, BmcError> {
        let started = std::time::Instant::now();
        let result = self.authenticated(c).await;
        let kind = result.as_ref().err().map(|e| match e.kind {
            BmcErrorKind::Connect(_) => "connect",
            BmcErrorKind::Timeout { .. } => "timeout",
            BmcErrorKind::Unauthorized => "unauthorized",
            BmcErrorKind::Status { .. } => "status",
            BmcErrorKind::Malformed(_) => "malformed",
            BmcErrorKind::Unsupported(_) => "unsupported",
            BmcErrorKind::Fenced => "fenced",
            BmcErrorKind::Refused(_) => "refused",
            BmcErrorKind::CertificateChanged { .. } => "certificate_changed",
        });
        crate::metrics::bmc_request(started.elapsed(), kind);
        result
    }

    /// Sends with this client's authentication (logging in first when undecided); a
    /// session that expired (401) logs in again once.
    async fn authenticated(&self, c: Call<'_>) -> Result<Reply, BmcError> {
        let doing = c.doing;
        // A failed login is reported as the step it was for.
        let auth = self.current_auth().await.map_err(|e| self.err(doing, e.kind))?;
        let reply = self.exchange(c, &auth).await?;
        // Basic as the hints said, refused: the BMC may want a session now.
        let hinted_basic = auth == Auth::Basic && self.login_hinted() == Some(Login::Basic);
        let reply = if reply.status == 401 && (matches!(auth, Auth::Session { .. }) || hinted_basic) {
            if hinted_basic {
                self.unlearn(|l| l.login = None);
                self.note("the BMC refused the Basic authentication it took before: logged in anew".into());
            }
            tracing::debug!(bmc = %self.address, "session expired; logging in again");
            let fresh = self.relogin(&auth, doing).await?;
            self.exchange(c, &fresh).await?
        } else {
            reply
        };
        if reply.status == 401 || reply.status == 403 {
            return Err(self.err(doing, BmcErrorKind::Unauthorized));
        }
        if !reply.ok() {
            let message = redfish_message(&reply.text);
            return Err(self.err(doing, BmcErrorKind::Status { code: reply.status, message }));
        }
        Ok(reply)
    }

    async fn current_auth(&self) -> Result<Auth, BmcError> {
        let mut auth = self.auth.lock().await;
        if *auth == Auth::Unknown {
            *auth = self.login().await?;
            self.note(match &*auth {
                Auth::Session { .. } => "logged in with a Redfish session".into(),
                _ => "the BMC offers no session: HTTP Basic authentication".into(),
            });
        }
        Ok(auth.clone())
    }

    /// Logs in again after `stale` was refused (unless another request already did).
    async fn relogin(&self, stale: &Auth, doing: &str) -> Result<Auth, BmcError> {
        let mut auth = self.auth.lock().await;
        if *auth == *stale {
            *auth = self.login().await.map_err(|e| self.err(doing, e.kind))?;
        }
        Ok(auth.clone())
    }

    /// Decides how to authenticate: a session through the service root's
    /// `Links.Sessions` when offered (iDRAC, iLO, XCC and others limit or refuse
    /// Basic), else Basic. Wrong credentials are an error either way.
    async fn login(&self) -> Result<Auth, BmcError> {
        match self.login_hinted() {
            Some(Login::Basic) => return Ok(Auth::Basic),
            Some(Login::Session { sessions }) => match self.create_session(&sessions).await? {
                Some(auth) => return Ok(auth),
                None => self.unlearn(|l| l.login = None),
            },
            None => {}
        }
        let auth = self.login_from_root().await?;
        self.learn(|l| {
            l.login = Some(match &auth {
                Auth::Session { sessions, .. } => Login::Session { sessions: sessions.clone() },
                _ => Login::Basic,
            })
        });
        Ok(auth)
    }

    /// `login` as the service root says.
    async fn login_from_root(&self) -> Result<Auth, BmcError> {
        let doing = "logging in";
        let root = match self.exchange(Call::get("/redfish/v1", doing), &Auth::Unknown).await {
            Ok(r) if r.ok() => r.json().unwrap_or(Value::Null),
            // Busy: undecided still; the caller's retry logs in again.
            Ok(r) if r.status >= 500 => {
                let message = redfish_message(&r.text);
                return Err(self.err(doing, BmcErrorKind::Status { code: r.status, message }));
            }
            Ok(_) => return Ok(Auth::Basic),
            Err(e) if e.is_transient() => return Err(e),
            Err(e) if matches!(e.kind, BmcErrorKind::Refused(_)) => return Err(e),
            Err(_) => return Ok(Auth::Basic),
        };
        // Kept: the firmware inventory and the accounts start from it.
        if let Ok(mut known) = self.known.lock() {
            known.insert("/redfish/v1".into(), root.clone());
        }
        let Some(sessions) = root["Links"]["Sessions"]["@odata.id"].as_str() else {
            return Ok(Auth::Basic);
        };
        // No session after all (not implemented, no token): Basic.
        Ok(self.create_session(sessions).await?.unwrap_or(Auth::Basic))
    }

    /// A session created at `sessions`; None when the service gave none (no such
    /// path, no token); wrong credentials are an error.
    async fn create_session(&self, sessions: &str) -> Result<Option<Auth>, BmcError> {
        let body = json!({ "UserName": self.username, "Password": self.password });
        let create =
            Call { method: &reqwest::Method::POST, body: Some(&body), ..Call::get(sessions, "creating a session") };
        let reply = self.exchange(create, &Auth::Unknown).await?;
        match (reply.status, reply.token.clone()) {
            (200..=299, Some(token)) => {
                let location = reply.location.clone().or_else(|| reply.json().and_then(|v| odata_id(&v)));
                Ok(Some(Auth::Session { token, location, sessions: sessions.to_string() }))
            }
            (401 | 403, _) => Err(self.err("logging in", BmcErrorKind::Unauthorized)),
            _ => Ok(None),
        }
    }

    /// One HTTP exchange as `auth` says (`Unknown`: no credentials); any status.
    async fn exchange(&self, c: Call<'_>, auth: &Auth) -> Result<Reply, BmcError> {
        let Call { method, path, body, if_match, doing } = c;
        let url = absolute(&self.base, path);
        let mut req = self.client.request(method.clone(), &url).timeout(self.timeout);
        req = match auth {
            Auth::Basic => req.basic_auth(&self.username, Some(&self.password)),
            Auth::Session { token, .. } => req.header("X-Auth-Token", token),
            Auth::Unknown => req,
        };
        req = req.header(reqwest::header::USER_AGENT, &self.user_agent);
        if let Some(tag) = if_match {
            req = req.header(reqwest::header::IF_MATCH, tag);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            let pinned = self.tls.pin.lock().ok().and_then(|p| p.clone());
            let changed = match (pinned, self.tls.seen()) {
                (Some(pin), Some(seen)) if !pin.eq_ignore_ascii_case(&seen) => Some(seen),
                _ => None,
            };
            let kind = if let Some(seen) = changed {
                BmcErrorKind::CertificateChanged { seen }
            } else if let Some(why) = refused_by_policy(&e) {
                BmcErrorKind::Refused(why)
            } else if e.is_timeout() {
                BmcErrorKind::Timeout { seconds: self.timeout.as_secs() }
            } else {
                BmcErrorKind::Connect(root_cause(&e))
            };
            self.err(doing, kind)
        })?;
        let status = resp.status();
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        if status.is_redirection() {
            let to = header("location").unwrap_or_default();
            let message = format!("redirects are not followed (to {})", sanitize(&to));
            return Err(self.err(doing, BmcErrorKind::Status { code: status.as_u16(), message }));
        }
        let (etag, location, token) = (header("etag"), header("location"), header("x-auth-token"));
        let text = self.read_capped(resp, doing).await?;
        Ok(Reply { status: status.as_u16(), etag, location, token, text })
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

    /// A resource with its ETag.
    async fn fetch(&self, path: &str, doing: &str) -> Result<(Value, Option<String>), BmcError> {
        let reply = self.call(Call::get(path, doing)).await?;
        let etag = reply.etag();
        let value = match reply.json() {
            Some(v) => v,
            None if reply.text.trim().is_empty() => {
                return Err(self.err(doing, BmcErrorKind::Malformed("empty body".into())));
            }
            None => {
                let e = serde_json::from_str::<Value>(&reply.text).err().map(|e| e.to_string()).unwrap_or_default();
                return Err(self.err(doing, BmcErrorKind::Malformed(format!("not JSON: {e}"))));
            }
        };
        Ok((value, etag))
    }

    async fn get(&self, path: &str, doing: &str) -> Result<Value, BmcError> {
        self.fetch(path, doing).await.map(|(v, _)| v)
    }

    /// A resource read now, kept for [`Self::links_of`].
    async fn read_kept(&self, path: &str, doing: &str) -> Result<(Value, Option<String>), BmcError> {
        let read = self.fetch(path, doing).await?;
        if let Ok(mut known) = self.known.lock() {
            known.insert(path.to_string(), read.0.clone());
        }
        Ok(read)
    }

    /// A resource for its links, actions or summaries: as this client last read it,
    /// else read now.
    async fn links_of(&self, path: &str, doing: &str) -> Result<Value, BmcError> {
        if let Some(v) = self.known.lock().ok().and_then(|k| k.get(path).cloned()) {
            return Ok(v);
        }
        self.read_kept(path, doing).await.map(|(v, _)| v)
    }

    /// The system's resource for its links, actions and summaries.
    async fn system_links(&self, doing: &str) -> Result<Value, BmcError> {
        let path = self.system_path().await?;
        self.links_of(&path, doing).await
    }

    /// PATCHes a resource with `If-Match` when it has an ETag (`etag`: from the read
    /// the caller just made; newer firmware demands it); a 412 (changed since) or 428
    /// (If-Match required) is retried once with the fresh ETag (or `*` when the BMC
    /// shows none).
    async fn patch(&self, path: &str, body: &Value, etag: Option<String>, doing: &str) -> Result<(), BmcError> {
        let mut etag = etag;
        let mut retried = false;
        loop {
            let call =
                Call { method: &reqwest::Method::PATCH, body: Some(body), if_match: etag.as_deref(), path, doing };
            match self.call(call).await {
                Err(BmcError { kind: BmcErrorKind::Status { code: 412 | 428, .. }, .. }) if !retried => {
                    retried = true;
                    etag = Some(self.fetch(path, doing).await?.1.unwrap_or_else(|| "*".into()));
                    self.note(format!("{doing}: the BMC refused the ETag (HTTP 412/428); sent again with a fresh one"));
                }
                other => return other.map(|_| ()),
            }
        }
    }

    async fn post(&self, path: &str, body: &Value, doing: &str) -> Result<(), BmcError> {
        self.call(Call { method: &reqwest::Method::POST, body: Some(body), ..Call::get(path, doing) }).await.map(|_| ())
    }

    async fn system_path(&self) -> Result<String, BmcError> {
        let mut path = self.system_path.lock().await;
        if let Some(p) = &*path {
            return Ok(p.clone());
        }
        let doing = "reading Systems";
        let systems = self.get("/redfish/v1/Systems", doing).await?;
        let found = first_member(&systems)
            .ok_or_else(|| self.err(doing, BmcErrorKind::Malformed("no system in the Systems collection".into())))?;
        self.learn(|l| l.system_path = Some(found.clone()));
        *path = Some(found.clone());
        Ok(found)
    }

    /// The CD/DVD virtual media slot (by `MediaTypes`): under the system (DMTF, newer
    /// iDRAC), else under its managers (iLO, older iDRAC, XCC, Supermicro).
    async fn media_path(&self) -> Result<String, BmcError> {
        let mut path = self.media_path.lock().await;
        if let Some(p) = &*path {
            return Ok(p.clone());
        }
        let found = self.find_media().await?;
        self.learn(|l| l.media_path = Some(found.clone()));
        *path = Some(found.clone());
        Ok(found)
    }

    /// The CD slot's read with its ETag (and its path), the slot found again once when
    /// the hinted one is gone.
    async fn read_slot(&self, doing: &str) -> Result<(String, Value, Option<String>), BmcError> {
        let slot = self.media_path().await?;
        match self.fetch(&slot, doing).await {
            Ok((v, etag)) => Ok((slot, v, etag)),
            Err(e) if self.drop_stale_hint(&e, &slot).await => {
                let slot = self.media_path().await?;
                let (v, etag) = self.fetch(&slot, doing).await?;
                Ok((slot, v, etag))
            }
            Err(e) => Err(e),
        }
    }

    /// Walks the system and its managers for the CD slot (see `media_path`).
    async fn find_media(&self) -> Result<String, BmcError> {
        let doing = "finding virtual media";
        let system = self.system_links(doing).await?;
        let mut collections: Vec<String> = Vec::new();
        if let Some(p) = odata_id(&system["VirtualMedia"]) {
            collections.push(p);
        }
        for m in system["Links"]["ManagedBy"].as_array().into_iter().flatten() {
            if let Some(mp) = odata_id(m) {
                let manager = self.links_of(&mp, doing).await?;
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
    }

    /// POSTs to an action the resource advertises, or to the conventional path.
    async fn action(&self, resource: &str, name: &str, body: Value, doing: &str) -> Result<(), BmcError> {
        let res = self.links_of(resource, doing).await?;
        let target = res["Actions"][format!("#{name}")]["target"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{resource}/Actions/{name}"));
        self.post(&target, &body, doing).await
    }

    /// The body of an InsertMedia action for `image`: `Image`, and what the action's
    /// `@Redfish.ActionInfo` (or inline `@Redfish.AllowableValues`) asks for. Inserted
    /// and WriteProtected go only when required (Supermicro X11/X12 refuse them).
    async fn insert_body(&self, action: &Value, image: &str, doing: &str) -> Result<Value, BmcError> {
        let mut body = json!({ "Image": image });
        let protocol = image.split("://").next().unwrap_or_default().to_ascii_uppercase();
        let mut params: Vec<Value> = Vec::new();
        if let Some(info) = action["@Redfish.ActionInfo"].as_str() {
            match self.get(info, doing).await {
                Ok(v) => params = v["Parameters"].as_array().cloned().unwrap_or_default(),
                Err(e) => {
                    tracing::debug!(bmc = %self.address, error = %app::backend::error_chain(&e), "ActionInfo unreadable; sending Image only")
                }
            }
        }
        if let Some(allowed) = action["TransferProtocolType@Redfish.AllowableValues"].as_array() {
            params.push(json!({ "Name": "TransferProtocolType", "AllowableValues": allowed }));
        }
        for p in &params {
            let name = p["Name"].as_str().unwrap_or_default();
            let allowed: Vec<&str> =
                p["AllowableValues"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let required = p["Required"].as_bool() == Some(true);
            match name {
                "TransferProtocolType" => {
                    if !allowed.is_empty() && !allowed.contains(&protocol.as_str()) {
                        return Err(self.err(
                            doing,
                            BmcErrorKind::Unsupported(format!(
                                "virtual media over {protocol} (the BMC offers {})",
                                allowed.join(", ")
                            )),
                        ));
                    }
                    body["TransferProtocolType"] = json!(protocol);
                }
                "Inserted" | "WriteProtected" if required => body[name] = json!(true),
                "TransferMethod" if required => {
                    let method = if allowed.is_empty() || allowed.contains(&"Stream") { "Stream" } else { allowed[0] };
                    body["TransferMethod"] = json!(method);
                }
                "Image" | "Inserted" | "WriteProtected" | "TransferMethod" => {}
                other if required => {
                    return Err(self.err(
                        doing,
                        BmcErrorKind::Unsupported(format!(
                            "InsertMedia requires {other}, which Rackstate does not send"
                        )),
                    ));
                }
                _ => {}
            }
        }
        Ok(body)
    }

    /// Waits until the slot reports `image` inserted (some BMCs mount in the
    /// background): a few reads a second apart.
    async fn confirm_inserted(&self, slot: &str, image: &str) -> Result<(), BmcError> {
        let doing = "checking the inserted virtual media";
        let mut seen = Value::Null;
        for attempt in 0..MEDIA_CONFIRM_TRIES {
            if attempt > 0 {
                crate::jobs::slots::idle(Duration::from_secs(1)).await;
            }
            seen = self.get(slot, doing).await?;
            if seen["Image"].as_str() == Some(image) && seen["Inserted"].as_bool() != Some(false) {
                return Ok(());
            }
        }
        Err(self.err(
            doing,
            BmcErrorKind::Malformed(format!(
                "the BMC accepted the image but its slot reports Image {:?}, Inserted {}",
                seen["Image"].as_str().map(redact_token).unwrap_or_else(|| "none".into()),
                seen["Inserted"]
            )),
        ))
    }
}

/// Reads of a virtual media slot after an insert before it must show the image.
const MEDIA_CONFIRM_TRIES: u32 = 5;

/// Whether a failed action means "use PATCH instead": the action is not there.
fn action_missing(e: &BmcError) -> bool {
    matches!(e.kind, BmcErrorKind::Status { code: 404 | 405 | 501, .. })
}

/// The HTTP status of an error, for notes.
fn status_of(e: &BmcError) -> String {
    match &e.kind {
        BmcErrorKind::Status { code, .. } => format!("HTTP {code}"),
        other => format!("{other:?}"),
    }
}

/// Whether a slot holds media: `Inserted`, or an `Image` where `Inserted` is absent.
fn slot_holds_media(vm: &Value) -> bool {
    match vm["Inserted"].as_bool() {
        Some(inserted) => inserted,
        None => vm["Image"].as_str().is_some_and(|i| !i.is_empty()),
    }
}

/// A media URL without its token (for messages).
fn redact_token(url: &str) -> String {
    match url.split_once("token=") {
        Some((head, _)) => format!("{head}token=…"),
        None => url.to_string(),
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

/// Resolves BMC names to the addresses credentials may go to, and only those (webhook
/// deliveries go through it too).
pub(crate) struct Guarded {
    pub(crate) networks: app::domain::bmc_address::BmcNetworks,
    pub(crate) port: u16,
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
        power_state: super::PowerState::from_redfish(v["PowerState"].as_str()),
        health: super::Health::from_redfish(v["Status"]["Health"].as_str()),
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

/// The system's physical NICs from its EthernetInterfaces: virtual interfaces
/// (`EthernetInterfaceType: Virtual`) and VLAN interfaces sharing a physical port's
/// MAC are left out, each MAC once.
pub fn parse_nics(interfaces: &[Value]) -> Vec<Nic> {
    let is_vlan =
        |v: &Value| v["VLAN"]["VLANEnable"].as_bool() == Some(true) && v["VLAN"]["VLANId"].as_u64().unwrap_or(0) > 0;
    let mut out: Vec<Nic> = Vec::new();
    for v in interfaces {
        if v["EthernetInterfaceType"] == "Virtual" || is_vlan(v) {
            continue;
        }
        if let Some(nic) = parse_nic(v).filter(|n| !out.iter().any(|o| o.mac == n.mac)) {
            out.push(nic);
        }
    }
    out
}

/// Disks of a SimpleStorage resource (`Devices`), empty bays left out.
pub fn parse_simple_storage(v: &Value) -> Vec<Disk> {
    v["Devices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["Status"]["State"] != "Absent")
        .filter(|d| d["CapacityBytes"].as_u64().unwrap_or(0) > 0 || !d["Model"].as_str().unwrap_or_default().is_empty())
        .map(|d| Disk {
            model: d["Model"].as_str().or(d["Name"].as_str()).unwrap_or_default().trim().to_string(),
            serial: d["SerialNumber"].as_str().or(d["Name"].as_str()).unwrap_or_default().trim().to_string(),
            size_bytes: d["CapacityBytes"].as_u64().unwrap_or(0),
            kind: DiskKind::Unknown,
        })
        .collect()
}

/// Links to the system's PCIe devices (`PCIeDevices` of the system, or under `Links`).
fn pcie_device_links(sys: &Value) -> Vec<String> {
    let mut links: Vec<String> = sys["PCIeDevices"].as_array().into_iter().flatten().filter_map(odata_id).collect();
    links.extend(sys["Links"]["PCIeDevices"].as_array().into_iter().flatten().filter_map(odata_id));
    links
}

/// A GPU from a PCIe device whose functions are display controllers or processing
/// accelerators.
pub fn parse_pcie_gpu(device: &Value, functions: &[Value]) -> Option<Gpu> {
    if device["Status"]["State"] == "Absent" {
        return None;
    }
    let gpu = functions
        .iter()
        .any(|f| matches!(f["DeviceClass"].as_str(), Some("DisplayController" | "ProcessingAccelerators")));
    gpu.then(|| Gpu {
        slot: device["Id"].as_str().unwrap_or_default().to_string(),
        model: device["Model"].as_str().or(device["Name"].as_str()).unwrap_or_default().trim().to_string(),
    })
}

/// A SoftwareInventory member of `UpdateService/FirmwareInventory`; None without a
/// version (or absent).
pub fn parse_firmware(v: &Value) -> Option<app::domain::inventory::Firmware> {
    if v["Status"]["State"] == "Absent" {
        return None;
    }
    let version = v["Version"].as_str().map(str::trim).filter(|s| !s.is_empty())?;
    let id = v["Id"].as_str().unwrap_or_default().to_string();
    Some(app::domain::inventory::Firmware {
        name: v["Name"].as_str().map(str::trim).filter(|s| !s.is_empty()).unwrap_or(&id).to_string(),
        id,
        version: version.to_string(),
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
    /// `Bmc::firmware_inventory`.
    async fn read_firmware_inventory(&self) -> Result<Vec<app::domain::inventory::Firmware>, BmcError> {
        let doing = "reading the firmware inventory";
        let root = self.links_of("/redfish/v1", doing).await?;
        let Some(update) = odata_id(&root["UpdateService"]) else { return Ok(Vec::new()) };
        let service = match self.get(&update, doing).await {
            Ok(s) => s,
            Err(BmcError { kind: BmcErrorKind::Status { code: 404, .. }, .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(self.members(&service["FirmwareInventory"], doing).await?.iter().filter_map(parse_firmware).collect())
    }

    /// `Bmc::change_password`: the account whose `UserName` is `username` among
    /// `AccountService/Accounts` gets `Password` (with its ETag where it has one).
    async fn set_account_password(&self, username: &str, new_password: &str) -> Result<(), BmcError> {
        let doing = "changing the BMC password";
        let root = self.links_of("/redfish/v1", doing).await?;
        let service_path = odata_id(&root["AccountService"]).unwrap_or_else(|| "/redfish/v1/AccountService".into());
        let service = self.get(&service_path, doing).await?;
        let Some(accounts) = odata_id(&service["Accounts"]) else {
            return Err(self.err(doing, BmcErrorKind::Unsupported("the AccountService lists no Accounts".into())));
        };
        let list = self.get(&accounts, doing).await?;
        for member in list["Members"].as_array().into_iter().flatten().filter_map(odata_id) {
            let (account, etag) = self.fetch(&member, doing).await?;
            if account["UserName"].as_str() == Some(username) {
                return self.patch(&member, &serde_json::json!({ "Password": new_password }), etag, doing).await;
            }
        }
        Err(self.err(doing, BmcErrorKind::Unsupported(format!("no BMC account named {username:?}"))))
    }

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

/// The Redfish driver as the connector jobs and the sweep use, with the process's
/// BMC address policy and CA certificates.
pub struct RedfishConnector {
    reach: std::sync::Arc<app::backend::BmcReach>,
    /// What its connections learned about each BMC (see `hints.rs`).
    hints: std::sync::Arc<Hints>,
}

impl RedfishConnector {
    pub fn new(reach: std::sync::Arc<app::backend::BmcReach>) -> Self {
        Self { reach, hints: Default::default() }
    }
}

impl super::BmcConnector for RedfishConnector {
    fn connect(&self, t: super::BmcTarget) -> Result<Box<dyn Bmc>, BmcError> {
        let mut bmc = RedfishBmc::new(&t.address, &t.username, &t.password, t.verify_tls, &self.reach)?
            .with_timeout(t.timeout)
            .with_tls_pin(t.tls_pin)
            .with_hints(self.hints.clone());
        if let Some(id) = &t.client_id {
            bmc = bmc.with_client_id(id);
        }
        if let Some(fence) = t.fence {
            bmc = bmc.with_fence(fence);
        }
        Ok(Box::new(bmc))
    }
}

#[async_trait::async_trait]
impl Bmc for RedfishBmc {
    fn address(&self) -> &str {
        &self.address
    }

    async fn firmware_inventory(&self) -> Result<Vec<app::domain::inventory::Firmware>, BmcError> {
        self.read_firmware_inventory().await
    }

    async fn change_password(&self, username: &str, new_password: &str) -> Result<(), BmcError> {
        self.set_account_password(username, new_password).await
    }

    fn certificate_seen(&self) -> Option<String> {
        self.tls.seen()
    }

    fn take_notes(&self) -> Vec<String> {
        self.notes.lock().map(|mut n| std::mem::take(&mut *n)).unwrap_or_default()
    }

    async fn system(&self) -> Result<SystemSummary, BmcError> {
        let doing = "reading the system";
        let path = self.system_path().await?;
        let (v, _) = match self.read_kept(&path, doing).await {
            Err(e) if self.drop_stale_hint(&e, &path).await => {
                let path = self.system_path().await?;
                self.read_kept(&path, doing).await?
            }
            other => other?,
        };
        parse_system(&v).map_err(|m| self.err(doing, BmcErrorKind::Malformed(m)))
    }

    async fn oob_inventory(&self) -> Result<Inventory, BmcError> {
        let doing = "reading the out-of-band inventory";
        let sys = self.system_links(doing).await?;
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
        if inv.disks.is_empty() {
            // Older BMCs (and some current ones) list disks only under SimpleStorage.
            for simple in self.members(&sys["SimpleStorage"], doing).await? {
                inv.disks.extend(parse_simple_storage(&simple));
            }
        }
        let interfaces = self.members(&sys["EthernetInterfaces"], doing).await?;
        inv.nics = parse_nics(&interfaces);
        if inv.gpus.is_empty() {
            for link in pcie_device_links(&sys) {
                let device = self.get(&link, doing).await?;
                let mut functions = Vec::new();
                for f in device["Links"]["PCIeFunctions"].as_array().into_iter().flatten().filter_map(odata_id) {
                    functions.push(self.get(&f, doing).await?);
                }
                if functions.is_empty() {
                    functions = self.members(&device["PCIeFunctions"], doing).await?;
                }
                inv.gpus.extend(parse_pcie_gpu(&device, &functions));
            }
        }
        Ok(inv)
    }

    /// From the system's `ProcessorSummary` and `MemorySummary`, the drive links of
    /// its storage controllers and the size of its interface collection: a handful of
    /// requests where the whole inventory takes one per module and drive (a real BMC
    /// answers a request in a tenth of a second or more). Without both summaries (or
    /// with zeros: some BMCs know nothing while the machine is off), the whole walk.
    async fn oob_counts(&self) -> Result<HardwareCounts, BmcError> {
        let doing = "reading the out-of-band inventory";
        let sys = self.system_links(doing).await?;
        let cpus = sys["ProcessorSummary"]["Count"].as_u64().filter(|n| *n > 0);
        let gib = sys["MemorySummary"]["TotalSystemMemoryGiB"].as_f64().filter(|g| *g > 0.0);
        let (Some(cpus), Some(gib)) = (cpus, gib) else {
            return Ok(HardwareCounts::of(&self.oob_inventory().await?));
        };
        let mut drives = 0;
        for storage in self.members(&sys["Storage"], doing).await? {
            drives += storage["Drives"].as_array().map_or(0, Vec::len);
        }
        if drives == 0 {
            for simple in self.members(&sys["SimpleStorage"], doing).await? {
                drives += parse_simple_storage(&simple).len();
            }
        }
        let nics = match odata_id(&sys["EthernetInterfaces"]) {
            Some(path) => self.get(&path, doing).await?["Members"].as_array().map_or(0, Vec::len),
            None => 0,
        };
        Ok(HardwareCounts { cpus: cpus as usize, ram_gb: gib.round() as u64, drives, nics, gpus: None })
    }

    async fn power(&self, action: PowerAction) -> Result<(), BmcError> {
        let doing = format!("power {}", action.reset_type());
        let path = self.system_path().await?;
        self.action(&path, "ComputerSystem.Reset", json!({ "ResetType": action.reset_type() }), &doing).await
    }

    /// Sets a one-time boot from virtual CD, as the service allows it: refused clearly
    /// when `Cd` is not among the allowable targets; the boot mode (UEFI) is sent back
    /// as the system reports it (some firmware falls back to legacy, or refuses the
    /// change, without it); the override is read back afterwards.
    async fn boot_once_from_cd(&self) -> Result<(), BmcError> {
        self.override_boot("Cd", "Once", "setting a one-time boot from CD").await
    }

    async fn boot_from_disk(&self) -> Result<(), BmcError> {
        self.override_boot("Hdd", "Continuous", "setting a persistent boot from disk").await
    }

    async fn clear_boot_override(&self) -> Result<(), BmcError> {
        let path = self.system_path().await?;
        let body = json!({ "Boot": { "BootSourceOverrideEnabled": "Disabled", "BootSourceOverrideTarget": "None" } });
        let doing = "clearing the boot override";
        let (_, etag) = self.fetch(&path, doing).await?;
        match self.patch(&path, &body, etag, doing).await {
            // Some services know no target "None" (sushy-emulator's libvirt driver
            // answers 500, some Supermicro firmware 400), and some ignore "Disabled"
            // and keep the last target: the disk is the target that is right either way.
            Err(e) if matches!(e.kind, BmcErrorKind::Status { code: 400 | 500, .. }) => {
                let (_, etag) = self.fetch(&path, doing).await?;
                let body =
                    json!({ "Boot": { "BootSourceOverrideEnabled": "Disabled", "BootSourceOverrideTarget": "Hdd" } });
                self.patch(&path, &body, etag, doing).await?;
                self.note(format!(
                    "the BMC refused boot target None ({}): cleared the override with target Hdd (the server's disk)",
                    status_of(&e)
                ));
                Ok(())
            }
            other => other,
        }
    }

    /// Ejects whatever is in the slot first (Supermicro refuses an insert over an
    /// image); then the advertised InsertMedia action, or a PATCH of the slot when the
    /// action is absent or answers 404/405 (Lenovo XCC and other services that make
    /// `Image` and `Inserted` writable instead); then reads the slot back.
    async fn insert_media(&self, image_url: &str) -> Result<(), BmcError> {
        let doing = "inserting virtual media";
        let (slot, vm, etag) = self.read_slot(doing).await?;
        let mut read = (vm, etag);
        if slot_holds_media(&read.0) {
            let held = read.0["Image"].as_str().filter(|i| !i.is_empty()).map(redact_token);
            self.note(format!(
                "the slot held media ({}): ejected it first",
                held.as_deref().unwrap_or("no image named")
            ));
            self.eject_media().await?;
            read = self.fetch(&slot, doing).await?;
        }
        let (vm, etag) = read;
        let action = &vm["Actions"]["#VirtualMedia.InsertMedia"];
        let patched = json!({ "Image": image_url, "Inserted": true, "WriteProtected": true });
        match action["target"].as_str() {
            Some(target) => {
                let body = self.insert_body(action, image_url, doing).await?;
                match self.post(target, &body, doing).await {
                    Ok(()) => self.note("virtual media inserted by the InsertMedia action".into()),
                    Err(e) if action_missing(&e) => {
                        self.patch(&slot, &patched, etag, doing).await?;
                        self.note(format!(
                            "InsertMedia answered {}: inserted by PATCH of the slot instead",
                            status_of(&e)
                        ));
                    }
                    Err(e) => return Err(e),
                }
            }
            None => {
                self.patch(&slot, &patched, etag, doing).await?;
                self.note("the slot offers no InsertMedia action: inserted by PATCH of the slot".into());
            }
        }
        self.confirm_inserted(&slot, image_url).await
    }

    /// The advertised EjectMedia action, or a PATCH of `Image: null, Inserted: false`;
    /// nothing when the slot is empty.
    async fn eject_media(&self) -> Result<(), BmcError> {
        let doing = "ejecting virtual media";
        let (slot, vm, etag) = self.read_slot(doing).await?;
        if !slot_holds_media(&vm) {
            return Ok(());
        }
        let patched = json!({ "Image": null, "Inserted": false });
        match vm["Actions"]["#VirtualMedia.EjectMedia"]["target"].as_str() {
            Some(target) => match self.post(target, &json!({}), doing).await {
                Ok(()) => Ok(()),
                Err(e) if action_missing(&e) => {
                    self.note(format!("EjectMedia answered {}: ejected by PATCH of the slot instead", status_of(&e)));
                    self.patch(&slot, &patched, etag, doing).await
                }
                Err(e) => Err(e),
            },
            None => {
                self.note("the slot offers no EjectMedia action: ejected by PATCH of the slot".into());
                self.patch(&slot, &patched, etag, doing).await
            }
        }
    }

    async fn manager_uuid(&self) -> Result<Option<String>, BmcError> {
        let doing = "reading the BMC's manager";
        let system = self.system_links(doing).await?;
        let Some(manager) = system["Links"]["ManagedBy"].as_array().and_then(|m| m.first()).and_then(odata_id) else {
            return Ok(None);
        };
        let m = self.read_kept(&manager, doing).await?.0;
        Ok(m["UUID"].as_str().map(str::trim).filter(|u| !u.is_empty()).map(str::to_string))
    }

    /// The image in the slot: Supermicro leaves `Image` set after an eject, so
    /// `Inserted: false` means empty whatever `Image` says.
    async fn inserted_media(&self) -> Result<Option<String>, BmcError> {
        let (_, vm, _) = self.read_slot("reading virtual media").await?;
        Ok(if slot_holds_media(&vm) {
            vm["Image"].as_str().filter(|i| !i.is_empty()).map(str::to_string)
        } else {
            None
        })
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
        assert_eq!(s.power_state, crate::bmc::PowerState::On);
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

    /// SimpleStorage lists disks on BMCs without Storage: present bays become disks,
    /// absent ones do not.
    #[test]
    fn parses_simple_storage_sample() {
        let disks = parse_simple_storage(&sample("simple_storage.json"));
        let got: Vec<(&str, u64)> = disks.iter().map(|d| (d.model.as_str(), d.size_bytes)).collect();
        assert_eq!(got, [("3000GT8", 8_000_000_000_000), ("3000GT7", 4_000_000_000_000)]);
    }

    /// VLAN interfaces (a port's MAC with a VLAN id) and virtual interfaces are not
    /// NICs; each port counts once.
    #[test]
    fn vlan_and_virtual_interfaces_are_not_nics() {
        let port = sample("ethernet_interfaces.json");
        let mut vlan = port.clone();
        vlan["Id"] = json!("12446A3B0411.100");
        vlan["VLAN"] = json!({ "VLANEnable": true, "VLANId": 100 });
        let mut virt = port.clone();
        virt["Id"] = json!("bond0");
        virt["MACAddress"] = json!("02:00:00:00:00:01");
        virt["EthernetInterfaceType"] = json!("Virtual");
        let nics = parse_nics(&[vlan, port, virt]);
        assert_eq!(nics.iter().map(|n| n.mac.as_str()).collect::<Vec<_>>(), ["12:44:6a:3b:04:11"]);
    }

    /// A PCIe device is a GPU when one of its functions is a display controller or an
    /// accelerator (the sample is a NIC).
    #[test]
    fn gpus_from_pcie_functions() {
        let device = sample("pcie_device.json");
        let mut function = sample("pcie_function.json");
        assert_eq!(parse_pcie_gpu(&device, std::slice::from_ref(&function)), None);
        function["DeviceClass"] = json!("DisplayController");
        let gpu = parse_pcie_gpu(&device, &[function]).unwrap();
        assert_eq!(gpu.slot, "196-0");
        assert!(gpu.model.starts_with("BCM957414"), "{}", gpu.model);
    }

    /// A VirtualMedia resource without actions (schema 1.6) is a CD slot that holds
    /// media; a Supermicro-style slot with Image left after eject holds none.
    #[test]
    fn virtual_media_without_actions() {
        let vm = sample("virtual_mediav1_6.json");
        assert!(vm["Actions"].is_null());
        assert!(is_cd(&vm) && slot_holds_media(&vm));
        let ejected = json!({ "Image": "http://x/live.iso", "Inserted": false, "MediaTypes": ["CD"] });
        assert!(!slot_holds_media(&ejected));
    }

    /// A SoftwareInventory sample becomes a firmware entry; one without a version none.
    #[test]
    fn parses_firmware_inventory_sample() {
        let fw = parse_firmware(&sample("softwareinventory.json")).unwrap();
        assert_eq!(
            (fw.id.as_str(), fw.name.as_str(), fw.version.as_str()),
            ("BMC", "Contoso BMC Firmware", "1.45.455b66-rev4")
        );
        assert_eq!(parse_firmware(&json!({ "Id": "X", "Name": "no version" })), None);
    }

    /// A missing PowerState is unknown, never off (iLO 6 in transitions).
    #[test]
    fn missing_power_state_is_unknown() {
        let mut sys = sample("system.json");
        sys.as_object_mut().unwrap().remove("PowerState");
        assert_eq!(parse_system(&sys).unwrap().power_state, crate::bmc::PowerState::Unknown);
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
