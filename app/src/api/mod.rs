//! Server functions. Each one reads the backend and the caller from context, checks
//! permission, calls one service function and maps the error.
//!
//! `ENDPOINTS` lists every server function with the access it needs; the server's
//! middleware enforces it before the function runs (deny by default), and a test
//! fails when a server function is missing from it.

pub mod allocation;
pub mod auth;
pub mod codec;
mod error;
pub mod firmware;
pub mod images;
pub mod servers;
pub mod users;
pub mod webhooks;

use crate::domain::Permission;
pub use error::{ActionError, ErrorKind, FieldMessage};

/// What a caller needs to reach an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, logged in or not (the login itself).
    Public,
    /// Any logged-in user.
    LoggedIn,
    /// A logged-in user whose role has the permission.
    Needs(Permission),
    /// A logged-in user whose role has any of these permissions.
    NeedsAny(&'static [Permission]),
}

impl Access {
    /// Whether a logged-in user of `role` passes.
    pub fn allows(self, role: crate::domain::Role) -> bool {
        match self {
            Access::Public | Access::LoggedIn => true,
            Access::Needs(p) => role.can(p),
            Access::NeedsAny(ps) => ps.iter().any(|p| role.can(*p)),
        }
    }

    /// What the role lacks, for a refusal: "allocate own or allocate for tenants".
    pub fn describe(self) -> String {
        match self {
            Access::Public | Access::LoggedIn => "log in".into(),
            Access::Needs(p) => p.as_str().replace('_', " "),
            Access::NeedsAny(ps) => ps.iter().map(|p| p.as_str().replace('_', " ")).collect::<Vec<_>>().join(" or "),
        }
    }
}

/// Allocating and releasing: tenants for themselves, operators and admins for tenants.
pub const ALLOCATE: Access = Access::NeedsAny(&[Permission::AllocateOwn, Permission::AllocateForTenants]);

/// Power buttons: operators and admins on any server, tenants on their own (the
/// service checks which server).
pub const POWER: Access = Access::NeedsAny(&[Permission::PowerAnyServer, Permission::PowerOwnServers]);

/// Writing an image to a used server again: operators and admins on any, tenants on
/// their own (the service checks which server).
pub const DEPLOY: Access = Access::NeedsAny(&[Permission::DeployAnyServer, Permission::DeployOwnServers]);

/// The server list's bulk actions: whoever may press any of them (each action is
/// checked again against the role).
pub const BULK: Access =
    Access::NeedsAny(&[Permission::SetManualState, Permission::StartRegistration, Permission::Decommission]);

/// Every server function, by path, and who may call it.
pub const ENDPOINTS: &[(&str, Access)] = &[
    ("/api/login", Access::Public),
    ("/api/whoami", Access::Public),
    ("/api/logout", Access::LoggedIn),
    ("/api/change_password", Access::LoggedIn),
    ("/api/utilization", Access::Needs(Permission::ViewFleet)),
    ("/api/list_servers", Access::Needs(Permission::ViewFleet)),
    ("/api/server_detail", Access::Needs(Permission::ViewOwnServers)),
    ("/api/server_activity", Access::Needs(Permission::ViewOwnServers)),
    ("/api/add_server", Access::Needs(Permission::AddServer)),
    ("/api/bulk_action", BULK),
    ("/api/change_bmc", Access::Needs(Permission::EditBmc)),
    ("/api/accept_bmc_certificate", Access::Needs(Permission::EditBmc)),
    ("/api/set_server_state", Access::Needs(Permission::SetManualState)),
    ("/api/acknowledge_hardware", Access::Needs(Permission::AcknowledgeHardware)),
    ("/api/rotate_bmc_password", Access::Needs(Permission::EditBmc)),
    ("/api/firmware_drift", Access::Needs(Permission::ViewFleet)),
    ("/api/set_firmware_baseline", Access::Needs(Permission::ManageFirmwareBaselines)),
    ("/api/adopt_common_firmware", Access::Needs(Permission::ManageFirmwareBaselines)),
    ("/api/webhooks_data", Access::Needs(Permission::ManageWebhooks)),
    ("/api/add_webhook", Access::Needs(Permission::ManageWebhooks)),
    ("/api/set_webhook_enabled", Access::Needs(Permission::ManageWebhooks)),
    ("/api/remove_webhook", Access::Needs(Permission::ManageWebhooks)),
    ("/api/redeliver_webhook", Access::Needs(Permission::ManageWebhooks)),
    ("/api/start_registration", Access::Needs(Permission::StartRegistration)),
    ("/api/decommission_server", Access::Needs(Permission::Decommission)),
    ("/api/retry_job", Access::Needs(Permission::RetryAbortJobs)),
    ("/api/abort_job", Access::Needs(Permission::RetryAbortJobs)),
    ("/api/request_power", POWER),
    ("/api/images_data", Access::LoggedIn),
    ("/api/add_image", Access::Needs(Permission::ManageImages)),
    ("/api/retire_image", Access::Needs(Permission::ManageImages)),
    ("/api/redeploy_server", DEPLOY),
    ("/api/set_root_disk", Access::Needs(Permission::DeployAnyServer)),
    ("/api/save_notes", Access::Needs(Permission::EditNotes)),
    ("/api/preview_notes", Access::Needs(Permission::EditNotes)),
    ("/api/notes_history", Access::Needs(Permission::ViewFleet)),
    ("/api/reveal_bmc_credentials", Access::Needs(Permission::RevealBmcCredentials)),
    ("/api/list_users", Access::Needs(Permission::ManageUsers)),
    ("/api/subscriptions_data", Access::Needs(Permission::ManageSubscriptions)),
    ("/api/create_subscription", Access::Needs(Permission::ManageSubscriptions)),
    ("/api/resize_subscription", Access::Needs(Permission::ManageSubscriptions)),
    ("/api/end_subscription", Access::Needs(Permission::ManageSubscriptions)),
    ("/api/tenant_usage", Access::Needs(Permission::ManageSubscriptions)),
    ("/api/deployments_data", ALLOCATE),
    ("/api/allocate", ALLOCATE),
    ("/api/release_deployment", ALLOCATE),
    ("/api/create_user", Access::Needs(Permission::ManageUsers)),
    ("/api/set_user_role", Access::Needs(Permission::ManageUsers)),
    ("/api/set_user_disabled", Access::Needs(Permission::ManageUsers)),
    ("/api/reset_user_password", Access::Needs(Permission::ManageUsers)),
    ("/api/list_api_tokens", Access::Needs(Permission::ManageUsers)),
    ("/api/revoke_api_token", Access::Needs(Permission::ManageUsers)),
];

/// The access rule for a server function path, if it is listed.
pub fn access_for(path: &str) -> Option<Access> {
    ENDPOINTS.iter().find(|(p, _)| *p == path).map(|(_, a)| *a)
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Server-side helpers for server functions.

    use super::ActionError;
    use crate::backend::Backend;
    use crate::backend::services::{Actor, ServiceError};
    use crate::domain::Permission;
    use crate::model::UserView;
    use http::StatusCode;
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;

    /// The backend from the request's context; missing context is a wiring bug.
    pub fn use_backend() -> Result<Backend, ActionError> {
        use_context::<Backend>().ok_or_else(|| {
            tracing::error!("Backend missing from server function context");
            ActionError::new("internal error")
        })
    }

    /// The caller, resolved from the session by the server's middleware.
    #[derive(Clone, Debug, Default)]
    pub struct CurrentUser(pub Option<UserView>);

    /// The answer's status. Not for a form posted without JavaScript (it accepts
    /// HTML): that one is redirected back to its page with the error in the URL, which
    /// the page shows, and a 4xx status would stop the browser from following.
    pub fn set_status(status: StatusCode) {
        let from_plain_form = use_context::<http::request::Parts>().is_some_and(|p| {
            p.headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
        });
        if from_plain_form {
            return;
        }
        if let Some(r) = use_context::<ResponseOptions>() {
            r.set_status(status);
        }
    }

    /// Fails with `status` and a message the user may read.
    pub fn fail<T>(status: StatusCode, message: impl Into<String>) -> Result<T, ActionError> {
        set_status(status);
        Err(ActionError::new(message.into()))
    }

    pub async fn current_user() -> Option<UserView> {
        leptos_axum::extract::<axum_extension::Extension<CurrentUser>>()
            .await
            .ok()
            .and_then(|axum_extension::Extension(u)| u.0)
    }

    /// The logged-in caller with `permission`, as an audit actor; 401/403 otherwise.
    pub async fn require(permission: Option<Permission>) -> Result<(Backend, UserView, Actor), ActionError> {
        let backend = use_backend()?;
        let Some(user) = current_user().await else {
            return fail(StatusCode::UNAUTHORIZED, "log in first");
        };
        if let Some(p) = permission
            && !user.role.can(p)
        {
            return fail(
                StatusCode::FORBIDDEN,
                format!("your role ({}) may not {}", user.role, p.as_str().replace('_', " ")),
            );
        }
        let actor = Actor::user(user.username.clone());
        Ok((backend, user, actor))
    }

    /// The logged-in caller, whose role passes `access`; 401/403 otherwise.
    pub async fn require_access(access: super::Access) -> Result<(Backend, UserView, Actor), ActionError> {
        let (backend, user, actor) = require(None).await?;
        if !access.allows(user.role) {
            return fail(StatusCode::FORBIDDEN, format!("your role ({}) may not {}", user.role, access.describe()));
        }
        Ok((backend, user, actor))
    }

    /// Maps a service error to an HTTP status and a message safe to show (its
    /// invalid fields by name).
    pub fn service_error(e: ServiceError) -> ActionError {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        set_status(status);
        ActionError::from(e)
    }

    /// Re-export so server functions need not name axum.
    pub mod axum_extension {
        pub use axum::Extension;
    }
}
