//! BMC drivers behind one trait. Redfish first (`redfish.rs`).
//!
//! Every call has a named timeout and an error that says which BMC, which resource
//! and what happened; transient failures are retried a bounded number of times.

pub mod hints;
pub mod redfish;
pub mod tls;

pub use app::domain::power::{Health, PowerState};
use std::fmt;

/// What the BMC says about the machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemSummary {
    pub manufacturer: String,
    pub model: String,
    pub serial_number: String,
    pub uuid: String,
    pub bios_version: String,
    pub power_state: PowerState,
    pub health: Health,
}

/// How many of each part a BMC lists; `gpus` is None when counted from summaries that
/// leave them out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HardwareCounts {
    pub cpus: usize,
    pub ram_gb: u64,
    pub drives: usize,
    pub nics: usize,
    pub gpus: Option<usize>,
}

impl HardwareCounts {
    pub fn of(inv: &app::domain::Inventory) -> Self {
        Self {
            cpus: inv.cpus.len(),
            ram_gb: inv.ram_gb(),
            drives: inv.disks.len(),
            nics: inv.nics.len(),
            gpus: Some(inv.gpus.len()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.cpus == 0 && self.ram_gb == 0 && self.drives == 0 && self.nics == 0 && self.gpus.unwrap_or(0) == 0
    }
}

impl std::fmt::Display for HardwareCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} CPU(s), {} GB RAM, {} drive(s), {} NIC(s)", self.cpus, self.ram_gb, self.drives, self.nics)?;
        match self.gpus {
            Some(gpus) => write!(f, ", {gpus} GPU(s)"),
            None => Ok(()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    On,
    ForceOff,
    GracefulShutdown,
    ForceRestart,
}

impl PowerAction {
    pub fn reset_type(self) -> &'static str {
        match self {
            PowerAction::On => "On",
            PowerAction::ForceOff => "ForceOff",
            PowerAction::GracefulShutdown => "GracefulShutdown",
            PowerAction::ForceRestart => "ForceRestart",
        }
    }
}

/// What went wrong, in words an admin can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BmcErrorKind {
    /// No connection (refused, unreachable, DNS): transient.
    Connect(String),
    /// No answer within the named timeout: transient.
    Timeout { seconds: u64 },
    /// 401/403: the credentials are wrong; never retried.
    Unauthorized,
    /// Another HTTP error status.
    Status { code: u16, message: String },
    /// The answer was not the Redfish we expected.
    Malformed(String),
    /// The BMC lacks something we need (e.g. virtual media).
    Unsupported(String),
    /// Not sent: the job's runner no longer holds the job (fencing).
    Fenced,
    /// Not sent: the address is not one credentials may go to (RACKSTATE_BMC_NETWORKS).
    Refused(String),
    /// Not sent: the BMC presented another certificate than the one pinned at first
    /// use (its SHA-256).
    CertificateChanged { seen: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BmcError {
    /// The BMC's address.
    pub bmc: String,
    /// What we were doing, e.g. "reading Systems".
    pub doing: String,
    pub kind: BmcErrorKind,
}

impl BmcError {
    /// Worth retrying: connection failures, timeouts, 5xx.
    pub fn is_transient(&self) -> bool {
        match &self.kind {
            BmcErrorKind::Connect(_) | BmcErrorKind::Timeout { .. } => true,
            BmcErrorKind::Status { code, .. } => *code >= 500,
            BmcErrorKind::Unauthorized
            | BmcErrorKind::Malformed(_)
            | BmcErrorKind::Unsupported(_)
            | BmcErrorKind::Fenced
            | BmcErrorKind::Refused(_)
            | BmcErrorKind::CertificateChanged { .. } => false,
        }
    }
}

impl fmt::Display for BmcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BMC {}: {}: ", self.bmc, self.doing)?;
        match &self.kind {
            BmcErrorKind::Connect(m) => write!(f, "cannot connect ({m})"),
            BmcErrorKind::Timeout { seconds } => write!(f, "timed out after {seconds}s"),
            BmcErrorKind::Unauthorized => {
                f.write_str("credentials refused (HTTP 401); check the BMC user and password")
            }
            BmcErrorKind::Status { code, message } => write!(f, "HTTP {code}: {message}"),
            BmcErrorKind::Malformed(m) => write!(f, "unexpected answer: {m}"),
            BmcErrorKind::Unsupported(m) => write!(f, "not supported by this BMC: {m}"),
            BmcErrorKind::Fenced => f.write_str("not sent: this runner no longer holds the job"),
            BmcErrorKind::Refused(m) => write!(f, "not sent: {m}"),
            BmcErrorKind::CertificateChanged { seen } => write!(
                f,
                "not sent: the BMC presented another TLS certificate (SHA-256 {}) than the one pinned at first use",
                app::domain::tls_pin::display(seen)
            ),
        }
    }
}

impl std::error::Error for BmcError {}

/// The operations registration, cleaning and decommissioning need from a BMC.
#[async_trait::async_trait]
pub trait Bmc: Send + Sync {
    /// Checks the credentials and reads the system.
    async fn system(&self) -> Result<SystemSummary, BmcError>;
    /// What the BMC itself knows of the hardware (Processors, Memory, Storage/Drives,
    /// EthernetInterfaces); lists are empty where the BMC offers none.
    async fn oob_inventory(&self) -> Result<app::domain::Inventory, BmcError>;
    /// How many of each part the BMC lists (registration's first look, for the job
    /// log). Drivers that can count from summaries override this: the whole inventory
    /// is a request per memory module and drive.
    async fn oob_counts(&self) -> Result<HardwareCounts, BmcError> {
        Ok(HardwareCounts::of(&self.oob_inventory().await?))
    }
    async fn power(&self, action: PowerAction) -> Result<(), BmcError>;
    /// Boots once from virtual CD/DVD at the next start.
    async fn boot_once_from_cd(&self) -> Result<(), BmcError>;
    /// Boots from the disk at every start (after an operating system was written).
    async fn boot_from_disk(&self) -> Result<(), BmcError>;
    /// Clears a boot override (back to the BMC's default order).
    async fn clear_boot_override(&self) -> Result<(), BmcError>;
    async fn insert_media(&self, image_url: &str) -> Result<(), BmcError>;
    async fn eject_media(&self) -> Result<(), BmcError>;
    /// The image currently inserted, if any.
    async fn inserted_media(&self) -> Result<Option<String>, BmcError>;
    /// The UUID of the BMC itself (the system's first Manager), where it offers one.
    async fn manager_uuid(&self) -> Result<Option<String>, BmcError>;

    /// The power state, read again while the BMC reports it unknown (some report it
    /// only after a moment): at most `tries` reads a second apart. Still unknown is an
    /// error: no power action is decided from an unknown state.
    async fn settled_power(&self, first: PowerState, tries: u32) -> Result<PowerState, BmcError> {
        let mut state = first;
        for _ in 0..tries {
            if state != PowerState::Unknown {
                return Ok(state);
            }
            crate::jobs::slots::idle(std::time::Duration::from_secs(1)).await;
            state = self.system().await?.power_state;
        }
        if state == PowerState::Unknown {
            return Err(BmcError {
                bmc: self.address().to_string(),
                doing: "reading the power state".into(),
                kind: BmcErrorKind::Malformed(
                    "the BMC does not report the power state (PowerState missing or unknown); \
                     no power action is decided from an unknown state"
                        .into(),
                ),
            });
        }
        Ok(state)
    }

    /// Waits until the BMC reports `want` (On or Off): power actions are not
    /// immediate on real hardware. The system as the read that showed `want` had it
    /// (its health too, so a caller recording both need not ask again).
    async fn wait_for_power(&self, want: PowerState, timeout: std::time::Duration) -> Result<SystemSummary, BmcError> {
        let never: &Until = &|| Box::pin(async { false });
        let shown = self.wait_for_power_or(want, timeout, never, None).await?;
        shown.ok_or_else(|| BmcError {
            bmc: self.address().to_string(),
            doing: format!("waiting for power {want}"),
            kind: BmcErrorKind::Malformed("the wait ended without a reading".into()),
        })
    }

    /// `wait_for_power`, ended early when `until` (asked after each read that did not
    /// show `want`) says so: the system when the BMC showed `want`, None when `until`
    /// ended the wait (other evidence that the machine is there, such as its agent's report).
    /// `news` rings when that evidence may have come: `until` is asked at once
    /// instead of after the next poll.
    async fn wait_for_power_or(
        &self,
        want: PowerState,
        timeout: std::time::Duration,
        until: &Until,
        news: Option<&tokio::sync::Notify>,
    ) -> Result<Option<SystemSummary>, BmcError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut woken = false;
        loop {
            if woken && until().await {
                return Ok(None);
            }
            let s = self.system().await?;
            if s.power_state == want {
                return Ok(Some(s));
            }
            if !woken && until().await {
                return Ok(None);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BmcError {
                    bmc: self.address().to_string(),
                    doing: format!("waiting for power {want}"),
                    kind: BmcErrorKind::Timeout { seconds: timeout.as_secs() },
                });
            }
            let news = async {
                match news {
                    Some(n) => n.notified().await,
                    None => std::future::pending().await,
                }
            };
            woken = crate::jobs::slots::idle_or(POWER_POLL_INTERVAL, news).await;
        }
    }

    /// The firmware versions the BMC lists (`UpdateService/FirmwareInventory`); empty
    /// where it lists none.
    async fn firmware_inventory(&self) -> Result<Vec<app::domain::inventory::Firmware>, BmcError> {
        Ok(Vec::new())
    }

    /// Sets the password of the BMC account `username` (Redfish `AccountService`).
    /// The session in use may end with it; callers log in again with the new one.
    async fn change_password(&self, username: &str, new_password: &str) -> Result<(), BmcError> {
        let _ = (username, new_password);
        Err(BmcError {
            bmc: self.address().to_string(),
            doing: "changing the BMC password".into(),
            kind: BmcErrorKind::Unsupported("this BMC driver cannot change passwords".into()),
        })
    }

    /// The certificate (SHA-256) seen on an unverified TLS connection, for pinning at
    /// first use; None over HTTP or with verified TLS.
    fn certificate_seen(&self) -> Option<String> {
        None
    }

    /// What the driver did differently from the plain path (fallbacks, retries) since
    /// last asked, for the job log.
    fn take_notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// The BMC's address, for messages.
    fn address(&self) -> &str;
}

/// Where one server's BMC is and the terms a job or the sweep talks to it on.
pub struct BmcTarget {
    pub address: String,
    pub username: String,
    pub password: String,
    pub verify_tls: bool,
    /// The certificate pinned at first use (unverified TLS).
    pub tls_pin: Option<String>,
    /// One exchange's limit.
    pub timeout: std::time::Duration,
    /// Which runner acts, for the BMC's log (jobs only).
    pub client_id: Option<String>,
    /// Asked before every request that changes something: false stops it (a job's
    /// lease). None for read-only callers (the sweep).
    pub fence: Option<std::sync::Arc<dyn Fn() -> bool + Send + Sync>>,
}

/// Opens BMC connections for jobs and the sweep. A running Rackstate uses
/// [`redfish::RedfishConnector`] (the demo lab and the VM lab are reached through it
/// too, over HTTP); tests may plug in a BMC of their own (one that records what it
/// was asked, or answers as another machine would).
pub trait BmcConnector: Send + Sync {
    fn connect(&self, target: BmcTarget) -> Result<Box<dyn Bmc>, BmcError>;
}

/// How often power state is polled while waiting for it to settle.
/// A check between power reads that may end a wait (see `Bmc::wait_for_power_or`).
pub type Until = dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> + Send + Sync;

pub const POWER_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);
/// How long a power change may take to show (sushy's fake driver: up to 11 s).
pub const POWER_SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
