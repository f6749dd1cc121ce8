//! Roles and the permission table (role x permission). Pure and shared with the UI,
//! so pages show only what the server will accept; the server checks it on every call.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Role {
    Admin,
    Operator,
    Viewer,
    Tenant,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Operator, Role::Viewer, Role::Tenant];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
            Role::Tenant => "tenant",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn can(self, p: Permission) -> bool {
        PERMISSIONS.iter().any(|(perm, roles)| *perm == p && roles.contains(&self))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// The fleet-wide utilization report and the list of all servers.
    ViewFleet,
    /// Servers reserved for or allocated to oneself.
    ViewOwnServers,
    /// Audit events and job logs of servers one may see.
    ViewAudit,
    AddServer,
    /// The buttons Available, Unavailable, Defective, Removed from rack.
    SetManualState,
    /// Register a decommissioned server, re-register an unavailable or used one.
    StartRegistration,
    Decommission,
    RetryAbortJobs,
    EditNotes,
    /// Allocate and release for any tenant.
    AllocateForTenants,
    /// Allocate and release from one's own subscriptions.
    AllocateOwn,
    RevealBmcCredentials,
    /// Replace a server's BMC address, user, password and TLS setting.
    EditBmc,
    ManageUsers,
    ManageSubscriptions,
    /// Power on, off and reset any server without a running job.
    PowerAnyServer,
    /// Add and retire operating system images in the catalog.
    ManageImages,
    /// Write an image to any used server again (re-deploy).
    DeployAnyServer,
    /// Write an image to one's own used servers again (re-deploy).
    DeployOwnServers,
    /// Power on, off and reset the servers allocated to oneself.
    PowerOwnServers,
    /// Acknowledge the hardware changes a registration found (so the server may be
    /// set available again).
    AcknowledgeHardware,
    /// Set a server type's firmware baseline (component -> version).
    ManageFirmwareBaselines,
    /// Add, change and remove webhooks; see their delivery logs and redeliver.
    ManageWebhooks,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ViewFleet => "view_fleet",
            Permission::ViewOwnServers => "view_own_servers",
            Permission::ViewAudit => "view_audit",
            Permission::AddServer => "add_server",
            Permission::SetManualState => "set_manual_state",
            Permission::StartRegistration => "start_registration",
            Permission::Decommission => "decommission",
            Permission::RetryAbortJobs => "retry_abort_jobs",
            Permission::EditNotes => "edit_notes",
            Permission::AllocateForTenants => "allocate_for_tenants",
            Permission::AllocateOwn => "allocate_own",
            Permission::RevealBmcCredentials => "reveal_bmc_credentials",
            Permission::EditBmc => "edit_bmc",
            Permission::ManageUsers => "manage_users",
            Permission::ManageSubscriptions => "manage_subscriptions",
            Permission::PowerAnyServer => "power_any_server",
            Permission::ManageImages => "manage_images",
            Permission::DeployAnyServer => "deploy_any_server",
            Permission::DeployOwnServers => "deploy_own_servers",
            Permission::PowerOwnServers => "power_own_servers",
            Permission::AcknowledgeHardware => "acknowledge_hardware",
            Permission::ManageFirmwareBaselines => "manage_firmware_baselines",
            Permission::ManageWebhooks => "manage_webhooks",
        }
    }
}

use Role::{Admin as A, Operator as O, Tenant as T, Viewer as V};

/// The permission table: which roles hold each permission.
pub const PERMISSIONS: &[(Permission, &[Role])] = &[
    (Permission::ViewFleet, &[A, O, V]),
    (Permission::ViewOwnServers, &[A, O, V, T]),
    (Permission::ViewAudit, &[A, O, V]),
    (Permission::AddServer, &[A, O]),
    (Permission::SetManualState, &[A]),
    (Permission::StartRegistration, &[A, O]),
    (Permission::Decommission, &[A]),
    (Permission::RetryAbortJobs, &[A, O]),
    (Permission::EditNotes, &[A, O]),
    (Permission::AllocateForTenants, &[A, O]),
    (Permission::AllocateOwn, &[T]),
    (Permission::RevealBmcCredentials, &[A]),
    (Permission::EditBmc, &[A, O]),
    (Permission::ManageUsers, &[A]),
    (Permission::ManageSubscriptions, &[A]),
    (Permission::PowerAnyServer, &[A, O]),
    (Permission::PowerOwnServers, &[T]),
    (Permission::ManageImages, &[A]),
    (Permission::DeployAnyServer, &[A, O]),
    (Permission::DeployOwnServers, &[T]),
    (Permission::AcknowledgeHardware, &[A, O]),
    (Permission::ManageFirmwareBaselines, &[A]),
    (Permission::ManageWebhooks, &[A]),
];

/// The permission a lifecycle action needs from a user (None: only the system takes
/// it). The transition table decides; every row of an action names the same one.
pub fn permission_for_action(action: super::Action) -> Option<Permission> {
    super::transitions::TRANSITIONS.iter().find(|t| t.action == action).and_then(|t| t.permission)
}

/// Minimum password length.
pub const MIN_PASSWORD_LEN: usize = 12;
const MAX_PASSWORD_LEN: usize = 1024;

/// Checks a new password's length (characters, not bytes).
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(format!("must be at least {MIN_PASSWORD_LEN} characters"));
    }
    if n > MAX_PASSWORD_LEN {
        return Err(format!("must be at most {MAX_PASSWORD_LEN} characters"));
    }
    Ok(())
}

/// A login name: 2 to 32 of lowercase letters, digits, '.', '_' and '-', starting
/// with a letter or digit. Stored and compared lowercase.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        let ok_len = (2..=32).contains(&s.len());
        let ok_chars = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        let ok_start = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if ok_len && ok_chars && ok_start {
            Ok(Username(s))
        } else {
            Err("must be 2 to 32 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit".into())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The Markdown page `docs/permissions.md`.
pub fn permissions_doc() -> String {
    let mut out = String::from(
        "# Permissions\n\n<!-- Generated from app/src/domain/roles.rs (UPDATE_DOCS=1 cargo test -p app \
         permissions_doc rewrites it). Do not edit. -->\n\n| permission |",
    );
    for r in Role::ALL {
        out.push_str(&format!(" {r} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(Role::ALL.len()));
    out.push('\n');
    for (p, _) in PERMISSIONS {
        out.push_str(&format!("| {} |", p.as_str()));
        for r in Role::ALL {
            out.push_str(if r.can(*p) { " yes |" } else { " |" });
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/permissions.md is what the table generates.
    #[test]
    fn permissions_doc_is_current() {
        crate::domain::assert_doc_current("permissions.md", &permissions_doc());
    }

    /// The roles of the issue: viewers change nothing; operators cannot press manual
    /// buttons, decommission, reveal secrets or manage users; tenants see only their own.
    #[test]
    fn role_boundaries() {
        let changes = [
            Permission::AddServer,
            Permission::SetManualState,
            Permission::StartRegistration,
            Permission::Decommission,
            Permission::RetryAbortJobs,
            Permission::EditNotes,
            Permission::AllocateForTenants,
            Permission::AllocateOwn,
            Permission::ManageUsers,
            Permission::ManageSubscriptions,
            Permission::RevealBmcCredentials,
            Permission::PowerAnyServer,
            Permission::PowerOwnServers,
            Permission::ManageImages,
            Permission::DeployAnyServer,
            Permission::DeployOwnServers,
        ];
        assert!(changes.iter().all(|p| !Role::Viewer.can(*p)));
        for p in [
            Permission::SetManualState,
            Permission::Decommission,
            Permission::RevealBmcCredentials,
            Permission::ManageUsers,
        ] {
            assert!(!Role::Operator.can(p));
            assert!(Role::Admin.can(p));
        }
        assert!(!Role::Tenant.can(Permission::ViewFleet));
        assert!(Role::Tenant.can(Permission::ViewOwnServers));
    }

    /// Every permission appears once in the table.
    #[test]
    fn permissions_listed_once() {
        for (i, (p, _)) in PERMISSIONS.iter().enumerate() {
            assert!(PERMISSIONS[i + 1..].iter().all(|(q, _)| q != p));
        }
    }

    /// Usernames are normalized and validated.
    #[test]
    fn usernames() {
        assert_eq!(Username::parse(" Alice ").unwrap().as_str(), "alice");
        assert!(Username::parse("a").is_err());
        assert!(Username::parse("-x").is_err());
        assert!(Username::parse("bob smith").is_err());
    }

    /// Passwords: at least 12 characters.
    #[test]
    fn passwords() {
        assert!(check_password("short").is_err());
        assert!(check_password("correct horse").is_ok());
    }
}
