//! Server-only code: the database and the service layer. Compiled with `ssr` only,
//! never to wasm. Server functions, workers and the REST API all call these services,
//! so every change passes the same checks.

pub mod agent_reports;
pub mod db;
pub mod passwords;
pub mod secrets;
pub mod services;
pub mod store;

tokio::task_local! {
    /// The id of the work in progress: a request's id, or "job-<id>". Audit events
    /// record it, so an event leads to its log lines.
    pub static CORRELATION_ID: String;
}

/// The current request's or job's id, if any.
pub fn correlation_id() -> Option<String> {
    CORRELATION_ID.try_with(|c| c.clone()).ok()
}

pub use db::{Db, DbError, DbKind};
/// Milliseconds since the Unix epoch: the one clock of rows, leases and audit times.
pub use store::now_ms;

/// The longest login name looked at; longer is refused before any work (400).
pub const MAX_LOGIN_NAME: usize = 64;

/// A client's string as a log field: escaped (no forged lines or terminal codes) and
/// bounded (no megabytes of log from one request).
pub fn loggable(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_debug).collect();
    if s.chars().nth(64).is_some() {
        out.push('…');
    }
    out
}

/// The client a request came from: the peer, or behind a trusted proxy the address it
/// names (a request extension set by the server's `client_address` guard).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub std::net::IpAddr);

/// Everything a request handler needs, provided as Leptos context by the server.
#[derive(Clone)]
pub struct Backend {
    pub db: Db,
    /// Seals and opens BMC credentials.
    pub secrets: secrets::SecretBox,
    /// Where BMC credentials may be sent, and how much a BMC may answer.
    pub bmc_reach: std::sync::Arc<BmcReach>,
    /// Rung when this process made a job runnable (queued one, or an agent reported):
    /// its runner claims at once instead of at its next poll. Jobs made runnable by
    /// another process are found by the poll.
    pub jobs_ready: std::sync::Arc<tokio::sync::Notify>,
    /// Job step lines on their way to the database (written together under load).
    pub step_log: std::sync::Arc<services::step_log::StepLog>,
    /// This process's jobs that wait for their agents' reports (woken by them).
    pub agent_reports: std::sync::Arc<agent_reports::AgentReports>,
}

/// The limits of talking to BMCs (`RACKSTATE_BMC_NETWORKS`,
/// `RACKSTATE_BMC_MAX_RESPONSE_BYTES`), checked when an address is entered and at
/// every connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BmcReach {
    pub networks: crate::domain::bmc_address::BmcNetworks,
    pub max_response_bytes: usize,
    /// A private CA's certificates (DER) that verify BMCs (`RACKSTATE_BMC_CA_FILE`).
    pub ca_certs: Vec<Vec<u8>>,
}

/// A BMC answer larger than this is refused (a few MiB: Redfish resources are small).
pub const DEFAULT_BMC_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

impl Default for BmcReach {
    fn default() -> Self {
        Self {
            networks: crate::domain::bmc_address::BmcNetworks::any(),
            max_response_bytes: DEFAULT_BMC_MAX_RESPONSE_BYTES,
            ca_certs: Vec::new(),
        }
    }
}

impl Backend {
    pub fn new(db: Db, secrets: secrets::SecretBox) -> Self {
        Self {
            db,
            secrets,
            bmc_reach: Default::default(),
            jobs_ready: Default::default(),
            step_log: Default::default(),
            agent_reports: Default::default(),
        }
    }

    /// The same backend with these BMC limits.
    pub fn with_bmc_reach(mut self, reach: BmcReach) -> Self {
        self.bmc_reach = std::sync::Arc::new(reach);
        self
    }

    /// Number of servers the database knows, in any state.
    pub async fn servers_total(&self) -> Result<i64, DbError> {
        let mut conn = self.db.conn().await?;
        store::servers::count(&mut conn).await
    }
}

/// An error with its causes, "a: b: c", for logs.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut chain = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    chain
}
