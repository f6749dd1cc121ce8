//! A machine's power state as its BMC reports it. A state the BMC does not report
//! (iLO 6 may omit it) or one Rackstate does not know is `Unknown`, never `Off`: no
//! power action is decided from it. Also the power requests people make and the
//! rule of who may make them (shared by the page and the service).

use super::ServerState;
use super::roles::{Permission, Role};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Stored and sent as Redfish spells it (`On`, `Off`, `PoweringOn`, `PoweringOff`),
/// or `unknown`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum PowerState {
    On,
    Off,
    PoweringOn,
    PoweringOff,
    #[default]
    #[serde(rename = "unknown")]
    Unknown,
}

impl PowerState {
    /// From Redfish `PowerState` (absent: unknown; case as vendors spell it).
    pub fn from_redfish(v: Option<&str>) -> Self {
        match v.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            Some("on") => PowerState::On,
            Some("off") => PowerState::Off,
            Some("poweringon") => PowerState::PoweringOn,
            Some("poweringoff") => PowerState::PoweringOff,
            _ => PowerState::Unknown,
        }
    }

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::On => "On",
            PowerState::Off => "Off",
            PowerState::PoweringOn => "PoweringOn",
            PowerState::PoweringOff => "PoweringOff",
            PowerState::Unknown => "unknown",
        }
    }

    /// Known on or off, not on the way.
    pub fn is_settled(self) -> bool {
        matches!(self, PowerState::On | PowerState::Off)
    }
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// From the database: a word Rackstate does not know is `Unknown`, never an error.
impl From<String> for PowerState {
    fn from(s: String) -> Self {
        PowerState::from_redfish(Some(&s))
    }
}

/// A machine's health as its BMC reports it (Redfish `Status.Health`). Absent or a
/// word Rackstate does not know is `Unknown`, never `OK`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Health {
    #[serde(rename = "OK")]
    Ok,
    Warning,
    Critical,
    #[default]
    #[serde(rename = "unknown")]
    Unknown,
}

impl Health {
    /// From Redfish `Status.Health` (case as vendors spell it).
    pub fn from_redfish(v: Option<&str>) -> Self {
        match v.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            Some("ok") => Health::Ok,
            Some("warning") => Health::Warning,
            Some("critical") => Health::Critical,
            _ => Health::Unknown,
        }
    }

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "OK",
            Health::Warning => "Warning",
            Health::Critical => "Critical",
            Health::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Health {
    fn from(s: String) -> Self {
        Health::from_redfish(Some(&s))
    }
}

/// What a person asks of a server's power (`POST /api/v1/servers/{id}/power`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum PowerRequest {
    /// Power on (nothing to do when it is on).
    On,
    /// Ask the operating system to shut down, then force it off after the grace time.
    Off,
    /// Restart at once (forced); a machine that is off is powered on.
    Reset,
}

impl PowerRequest {
    pub const ALL: [PowerRequest; 3] = [PowerRequest::On, PowerRequest::Off, PowerRequest::Reset];

    pub fn as_str(self) -> &'static str {
        match self {
            PowerRequest::On => "on",
            PowerRequest::Off => "off",
            PowerRequest::Reset => "reset",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s.trim().to_ascii_lowercase())
    }

    /// The button's words.
    pub fn label(self) -> &'static str {
        match self {
            PowerRequest::On => "Power on",
            PowerRequest::Off => "Power off",
            PowerRequest::Reset => "Reset",
        }
    }

    /// What the confirmation says happens (Off and Reset interrupt whatever runs).
    pub fn consequence(self) -> Option<&'static str> {
        match self {
            PowerRequest::On => None,
            PowerRequest::Off => Some(
                "The operating system is asked to shut down; if it has not within the grace time, \
                 the server is forced off. Unsaved work on it is lost.",
            ),
            PowerRequest::Reset => {
                Some("The server restarts at once, without shutting down. Unsaved work on it is lost.")
            }
        }
    }
}

impl fmt::Display for PowerRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the power rule needs to know about the server and the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerContext {
    pub state: ServerState,
    /// The server is held by the caller (reserved for or allocated to them).
    pub own: bool,
    /// A job is queued or running on the server.
    pub active_job: bool,
}

/// Whether `role` may control power at all (the page shows no power buttons else).
pub fn may_control_power(role: Role) -> bool {
    role.can(Permission::PowerAnyServer) || role.can(Permission::PowerOwnServers)
}

/// The rule: admins and operators control any server without a running job whose BMC
/// password is still known (not decommissioned); tenants their own `used` servers.
/// None when allowed, else why not (in words for the caller).
pub fn power_refusal(role: Role, ctx: PowerContext) -> Option<String> {
    let any = role.can(Permission::PowerAnyServer);
    if !any {
        if !role.can(Permission::PowerOwnServers) {
            return Some(format!("your role ({role}) may not control power"));
        }
        if !ctx.own || !matches!(ctx.state, ServerState::Used | ServerState::UsedRegistering) {
            return Some("tenants control the power of the servers allocated to them".into());
        }
    }
    if ctx.active_job {
        return Some(if any {
            "a job is running on it; wait for it or abort it first".into()
        } else {
            "Rackstate is working on this server (a job is running); try again when it ends".into()
        });
    }
    if ctx.state == ServerState::Decommissioned {
        return Some("a decommissioned server's BMC password was forgotten; register it again first".into());
    }
    None
}

/// One power button: what it asks and, when disabled, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerButton {
    pub request: PowerRequest,
    pub enabled: bool,
    pub why_not: Option<String>,
}

/// The power buttons for `role`: none for a role that never may (viewers).
pub fn power_buttons(role: Role, ctx: PowerContext) -> Vec<PowerButton> {
    if !may_control_power(role) {
        return Vec::new();
    }
    let why_not = power_refusal(role, ctx);
    PowerRequest::ALL
        .into_iter()
        .map(|request| PowerButton { request, enabled: why_not.is_none(), why_not: why_not.clone() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(state: ServerState, own: bool, active_job: bool) -> PowerContext {
        PowerContext { state, own, active_job }
    }

    /// An operator powers any registered server; a viewer never sees a power button.
    #[test]
    fn operators_power_any_viewers_none() {
        assert_eq!(power_refusal(Role::Operator, ctx(ServerState::Available, false, false)), None);
        assert_eq!(power_refusal(Role::Admin, ctx(ServerState::Used, false, false)), None);
        assert!(power_buttons(Role::Viewer, ctx(ServerState::Used, true, false)).is_empty());
        assert!(power_refusal(Role::Viewer, ctx(ServerState::Used, true, false)).unwrap().contains("viewer"));
    }

    /// A tenant powers their own used server, never another's nor one being cleaned.
    #[test]
    fn tenants_power_only_their_used_servers() {
        assert_eq!(power_refusal(Role::Tenant, ctx(ServerState::Used, true, false)), None);
        assert!(power_refusal(Role::Tenant, ctx(ServerState::Used, false, false)).is_some());
        assert!(power_refusal(Role::Tenant, ctx(ServerState::Cleaning, true, false)).is_some());
        assert!(power_refusal(Role::Tenant, ctx(ServerState::AvailableReserved, true, false)).is_some());
        let b = power_buttons(Role::Tenant, ctx(ServerState::Used, true, false));
        assert_eq!(b.iter().map(|b| b.request).collect::<Vec<_>>(), PowerRequest::ALL.to_vec());
        assert!(b.iter().all(|b| b.enabled));
    }

    /// A running job (registration, cleaning, another power action) blocks power for
    /// everyone; a decommissioned server has no BMC password to use.
    #[test]
    fn running_jobs_and_decommissioned_block() {
        for role in [Role::Admin, Role::Tenant] {
            let why = power_refusal(role, ctx(ServerState::Used, true, true)).unwrap();
            assert!(why.contains("job is running"), "{why}");
        }
        assert!(power_refusal(Role::Admin, ctx(ServerState::Decommissioned, false, false)).is_some());
        let b = power_buttons(Role::Admin, ctx(ServerState::Cleaning, false, true));
        assert!(b.iter().all(|b| !b.enabled && b.why_not.is_some()));
    }

    /// Requests parse from their API words only.
    #[test]
    fn requests_parse() {
        assert_eq!(PowerRequest::parse("OFF"), Some(PowerRequest::Off));
        assert_eq!(PowerRequest::parse("reset"), Some(PowerRequest::Reset));
        assert_eq!(PowerRequest::parse("cycle"), None);
        for r in PowerRequest::ALL {
            assert_eq!(PowerRequest::parse(r.as_str()), Some(r));
        }
    }

    /// A missing or strange PowerState is unknown, never off.
    #[test]
    fn missing_is_unknown_not_off() {
        assert_eq!(PowerState::from_redfish(None), PowerState::Unknown);
        assert_eq!(PowerState::from_redfish(Some("")), PowerState::Unknown);
        assert_eq!(PowerState::from_redfish(Some("Paused")), PowerState::Unknown);
        assert_eq!(PowerState::from_redfish(Some("OFF")), PowerState::Off);
        assert_eq!(PowerState::from_redfish(Some("PoweringOn")), PowerState::PoweringOn);
        assert!(!PowerState::PoweringOn.is_settled() && PowerState::On.is_settled());
    }
}
