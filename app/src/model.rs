//! Data the server sends to pages and API clients. Plain, serializable views:
//! secrets never appear in these types.

use crate::domain::ServerState;
use crate::domain::jobs::{JobEvent, JobKind, JobPhase, JobStatus, job_move};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Server {
    pub id: i64,
    pub name: String,
    pub state: ServerState,
    pub server_type: Option<String>,
    pub serial_number: Option<String>,
    /// Empty when the caller may not see it (a tenant); `null` on the wire then.
    #[serde(with = "hidden_when_empty")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>))]
    pub bmc_address: String,
    /// The BMC's TLS certificate is verified (false: self-signed accepted).
    pub bmc_verify_tls: bool,
    pub datacenter: String,
    pub rack: String,
    pub power_state: crate::domain::power::PowerState,
    pub health: crate::domain::power::Health,
    pub last_error: Option<String>,
    /// Set when the periodic sweep failed to reach the BMC several times in a row.
    pub bmc_warning: Option<String>,
    /// The tenant holding the server: reserved for them, or allocated to them.
    pub reserved_for: Option<String>,
    /// The subscription that reserved it (it returns there after cleaning).
    #[serde(default)]
    pub subscription_id: Option<i64>,
    /// The live deployment it is allocated to.
    #[serde(default)]
    pub deployment_id: Option<i64>,
    /// Hardware changes its registrations found since someone last acknowledged its
    /// hardware (empty: none). While there are, it is not set available.
    #[serde(default)]
    pub hardware_changes: Vec<crate::domain::inventory::Change>,
    pub generation: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A server as the API and the server page show it: the server (as the caller may
/// see it), the hardware its last registration found, and its running job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServerView {
    #[serde(flatten)]
    pub server: Server,
    pub hardware: Option<crate::domain::Inventory>,
    /// The job running on it (its steps; for a tenant they name no BMC).
    pub current_job: Option<JobView>,
}

/// A value the caller may not see is kept empty in memory and sent as `null`, so an
/// API client can tell "hidden" from a value.
mod hidden_when_empty {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &str, s: S) -> Result<S::Ok, S::Error> {
        if value.is_empty() { s.serialize_none() } else { s.serialize_some(value) }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
    }
}

/// One audit event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Event {
    pub id: i64,
    pub server_id: Option<i64>,
    pub at: i64,
    pub actor: String,
    pub kind: crate::domain::EventKind,
    pub from_value: Option<String>,
    pub to_value: Option<String>,
    pub reason: Option<String>,
    pub details: Option<String>,
    /// The request id (or "job-<id>") whose work wrote it, as in the logs.
    #[serde(default)]
    pub correlation_id: Option<String>,
}

/// A server's latest background job and its step log (the server page shows it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct JobView {
    pub id: i64,
    pub kind: JobKind,
    pub status: JobStatus,
    /// Where the job is in its process (e.g. "waiting" for the agent, "aborting").
    pub phase: JobPhase,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// The step log, oldest first.
    pub steps: Vec<JobStep>,
}

/// One line of a job's step log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct JobStep {
    /// Unix milliseconds.
    pub at: i64,
    pub message: String,
}

impl JobView {
    pub fn is_active(&self) -> bool {
        self.status.is_active()
    }
    /// Retry applies to a job that failed or was aborted.
    pub fn can_retry(&self) -> bool {
        self.status.is_retryable()
    }
    /// Abort applies to a running job not already being aborted.
    pub fn can_abort(&self) -> bool {
        job_move(JobEvent::Abort, self.status, self.phase).is_some()
    }
}

/// An operating system image in the catalog (its bytes stay where its URL says).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Image {
    pub id: i64,
    pub name: String,
    /// Where the servers' live image downloads it (http or https).
    pub url: String,
    /// Lower-case hex; checked against what was written to the disk.
    pub sha256: String,
    pub format: crate::domain::images::ImageFormat,
    /// The smallest disk it may be written to.
    pub min_disk_bytes: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    /// Retired images stay for the deployments that used them; no new one may.
    pub retired_at: Option<i64>,
}

/// A server's latest operating system deployment, as its page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeployView {
    pub job_id: i64,
    /// The catalog image's name.
    pub image: Option<String>,
    pub status: JobStatus,
    pub error: Option<String>,
    /// The job's steps, oldest first (progress).
    pub steps: Vec<String>,
    pub updated_at: i64,
    /// Why the caller may not deploy again now (None: they may).
    pub redeploy_refusal: Option<String>,
}

/// Which disk images are written to, for those who may choose: the current hint
/// (None: the smallest disk that fits) and the server's disks (serial, description).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootDiskChoice {
    pub current: Option<String>,
    pub disks: Vec<(String, String)>,
}

/// A server's power controls for the caller: the buttons they may press (none for a
/// role that never may) and the latest power request with its outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerControl {
    pub buttons: Vec<crate::domain::power::PowerButton>,
    pub last: Option<PowerJob>,
}

/// One power request as it went (or goes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PowerJob {
    pub job_id: i64,
    pub request: crate::domain::power::PowerRequest,
    pub status: JobStatus,
    pub error: Option<String>,
    /// When it last changed (unix ms).
    pub updated_at: i64,
}

/// Server types x states counts: the utilization report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Utilization {
    pub rows: Vec<UtilizationRow>,
    pub totals: UtilizationRow,
    /// Every (datacenter, rack) with servers, for the report's filters.
    #[serde(default)]
    pub locations: Vec<(String, String)>,
}

impl Utilization {
    /// The report as CSV: one row per type and a totals row.
    pub fn to_csv(&self) -> String {
        let mut csv = String::from("server_type");
        for s in ServerState::ALL {
            csv.push(',');
            csv.push_str(s.as_str());
        }
        csv.push_str(",total,utilization\n");
        let rows = self.rows.iter().map(|r| (r.server_type.clone().unwrap_or_else(|| "not typed yet".into()), r));
        for (label, row) in rows.chain(std::iter::once(("all types".to_string(), &self.totals))) {
            // Type labels are letters, digits and dots by construction: no quoting needed.
            csv.push_str(&label);
            for n in row.counts {
                csv.push_str(&format!(",{n}"));
            }
            csv.push_str(&format!(",{},{:.4}\n", row.total, row.utilization));
        }
        csv
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UtilizationRow {
    /// None: servers not yet typed (registration has not finished).
    pub server_type: Option<String>,
    /// Counts in the order of `ServerState::ALL`.
    pub counts: [i64; 10],
    pub total: i64,
    /// used / (total - decommissioned - removed_from_rack), 0 when nothing is in the fleet.
    pub utilization: f64,
}

impl UtilizationRow {
    pub fn count(&self, state: ServerState) -> i64 {
        self.counts[ServerState::ALL.iter().position(|s| *s == state).unwrap_or(0)]
    }

    /// Fills `total` and `utilization` from `counts`.
    pub fn finish(&mut self) {
        self.total = self.counts.iter().sum();
        let fleet: i64 = ServerState::ALL.iter().zip(self.counts).filter(|(s, _)| s.in_fleet()).map(|(_, n)| n).sum();
        let used = self.count(ServerState::Used) + self.count(ServerState::UsedRegistering);
        self.utilization = if fleet == 0 { 0.0 } else { used as f64 / fleet as f64 };
    }
}

/// A user as pages and the API see it (no password hash, ever).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub role: crate::domain::Role,
    pub disabled: bool,
}

/// A server's BMC certificate pin (trust on first use of self-signed BMCs): SHA-256
/// fingerprints, lower-case hex.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CertificatePin {
    pub pinned: Option<String>,
    /// A different certificate seen since: the server's jobs stop until an admin
    /// accepts it.
    pub offered: Option<String>,
}

/// An API token as its owner and admins see it (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow, utoipa::ToSchema))]
pub struct ApiToken {
    pub id: i64,
    /// Whose token it is.
    pub username: String,
    pub name: String,
    pub created_at: i64,
    /// Unix ms; past it the token is refused.
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
}

/// One saved version of a server's notes (Markdown).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow, utoipa::ToSchema))]
pub struct NoteVersion {
    pub version: i64,
    pub text: String,
    pub author: String,
    pub created_at: i64,
}

/// A server's notes: the current text and version (0: none yet), and the history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Notes {
    pub text: String,
    /// `text` rendered to safe HTML (Markdown; raw HTML shown as text, only http(s),
    /// mailto and relative links), by the server: the parser stays out of the browser.
    pub html: String,
    pub version: i64,
    /// One page of the versions, newest first (versions 1 to `version` exist).
    pub history: Vec<NoteVersion>,
    /// Older versions exist: ask for those before this version.
    pub next_before: Option<i64>,
}

/// A subscription: `count` servers of a type kept reserved for a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Subscription {
    pub id: i64,
    /// The tenant it reserves for.
    pub username: String,
    pub server_type: String,
    pub count: i64,
    /// Specific servers (by name) it holds; empty: any of the type.
    pub servers: Vec<String>,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    /// Servers it holds now: reserved, in use by the tenant, or being cleaned for it.
    pub filled: i64,
    /// Of those, reserved and free to allocate.
    pub reserved: i64,
    /// How many it is short of `count` (0 when full or ended).
    pub short: i64,
}

impl Subscription {
    pub fn is_active(&self) -> bool {
        self.ended_at.is_none()
    }
}

/// A deployment: servers allocated to a tenant together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Deployment {
    pub id: i64,
    pub username: String,
    pub server_type: String,
    pub count: i64,
    /// "active" or "released".
    pub status: String,
    pub created_by: String,
    pub created_at: i64,
    pub released_at: Option<i64>,
    /// The catalog image written to its servers (None: they were handed out as they are).
    #[serde(default)]
    pub image: Option<String>,
    /// The servers it holds now.
    pub servers: Vec<DeploymentServer>,
    /// Servers released from it, with their state now (cleaning, then back in the pool).
    #[serde(default)]
    pub released: Vec<DeploymentServer>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeploymentServer {
    pub id: i64,
    pub name: String,
    pub state: ServerState,
}

/// Servers a tenant holds, per state, for the admins' report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TenantUsage {
    pub username: String,
    pub reserved: i64,
    pub used: i64,
    pub cleaning: i64,
    /// Servers the tenant's active subscriptions are short of.
    pub short: i64,
}

/// One page of the server list: the servers, how many match in all, and the page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerListPage {
    pub items: Vec<Server>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
    /// Every (datacenter, rack) that has servers, for the filters.
    pub locations: Vec<(String, String)>,
}

/// What one server of a bulk action came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkOutcome {
    pub id: i64,
    /// The server's name, or `#id` when there is no such server.
    pub name: String,
    /// The state after the action, or None when it was refused.
    pub state: Option<ServerState>,
    /// Why it was refused (None when it was done).
    pub error: Option<String>,
}

/// A webhook: where events of its topics are delivered, signed with its secret (never
/// shown again after it was made).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub topics: Vec<crate::domain::webhooks::Topic>,
    pub description: String,
    pub enabled: bool,
    pub created_by: String,
    pub created_at: i64,
    /// Deliveries waiting for an attempt, given up, and delivered.
    pub pending: i64,
    pub failed: i64,
    pub delivered: i64,
}

/// One delivery of one audit event to one webhook (the delivery log).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    pub id: i64,
    pub webhook_id: i64,
    /// The audit event delivered (its id is the event stream's id too).
    pub event_id: i64,
    pub event_kind: crate::domain::EventKind,
    pub server_id: Option<i64>,
    pub server_name: Option<String>,
    pub status: crate::domain::webhooks::DeliveryStatus,
    pub attempts: i64,
    pub created_at: i64,
    /// When the next attempt may run (pending deliveries).
    pub next_attempt_at: i64,
    pub last_attempt_at: Option<i64>,
    /// The receiver's HTTP status at the last attempt (none when it was not reached).
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

/// A webhook just made, with its signing secret: the one time it is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewWebhook {
    pub webhook: Webhook,
    pub secret: String,
}

/// An audit event as webhooks deliver it and the event stream sends it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StreamEvent {
    /// The audit event's id (the stream's `id:`, what `Last-Event-ID` resumes from).
    pub id: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub kind: crate::domain::EventKind,
    pub topics: Vec<crate::domain::webhooks::Topic>,
    pub server_id: Option<i64>,
    pub server_name: Option<String>,
    /// Who did it ("system: ..." for Rackstate's own work).
    pub actor: String,
    /// The state, job kind or value before / after, as the event kind defines.
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: Option<String>,
    /// The event's details: JSON where the audit stores JSON, else text.
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub details: Option<serde_json::Value>,
}
