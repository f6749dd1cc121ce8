//! The one error type of the service layer, with stable codes for the API edge.

use crate::backend::db::DbError;
use crate::domain::TransitionError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{what} not found")]
    NotFound { what: String },
    /// Someone else changed the thing first; nothing was written.
    #[error("{message}")]
    Conflict { message: String },
    #[error(transparent)]
    IllegalTransition(#[from] TransitionError),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    /// Several fields of one form are invalid: one "field: message" line each.
    #[error("{}", .errors.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("\n"))]
    InvalidFields { errors: Vec<(&'static str, String)> },
    /// A token or credential that does not open this door.
    #[error("{message}")]
    Unauthorized { message: String },
    /// The caller is known but may not do this (beyond the role's permission table,
    /// e.g. a tenant acting for another tenant).
    #[error("{message}")]
    Forbidden { message: String },
    /// An allocation asked for more servers than there are; nothing was allocated.
    #[error(
        "not enough servers of type {server_type}: asked for {requested}, {missing} missing; nothing was allocated"
    )]
    InsufficientCapacity { server_type: String, requested: i64, missing: i64 },
    /// The machine a BMC (or a live image's agent) speaks for is not the one
    /// recorded: nothing was powered, booted or erased.
    #[error("{message}")]
    IdentityMismatch { message: String },
    #[error("internal error")]
    Internal(#[from] DbError),
}

impl ServiceError {
    /// Stable snake_case code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::NotFound { .. } => "not_found",
            ServiceError::Conflict { .. } => "conflict",
            ServiceError::IllegalTransition(_) => "illegal_transition",
            ServiceError::Invalid { .. } | ServiceError::InvalidFields { .. } => "invalid_field",
            ServiceError::Unauthorized { .. } => "unauthorized",
            ServiceError::Forbidden { .. } => "forbidden",
            ServiceError::InsufficientCapacity { .. } => "insufficient_capacity",
            ServiceError::IdentityMismatch { .. } => "identity_mismatch",
            ServiceError::Internal(e) if e.is_unavailable() => "unavailable",
            ServiceError::Internal(_) => "internal",
        }
    }

    /// The HTTP status every edge (pages, REST, agent API) answers with; an internal
    /// error is logged here, once, with its cause.
    pub fn http_status(&self) -> u16 {
        match self {
            ServiceError::NotFound { .. } => 404,
            ServiceError::Conflict { .. }
            | ServiceError::IllegalTransition(_)
            | ServiceError::InsufficientCapacity { .. }
            | ServiceError::IdentityMismatch { .. } => 409,
            ServiceError::Forbidden { .. } => 403,
            ServiceError::Invalid { .. } | ServiceError::InvalidFields { .. } => 422,
            ServiceError::Unauthorized { .. } => 401,
            ServiceError::Internal(inner) => {
                tracing::error!(error = %crate::backend::error_chain(inner), "request failed");
                if inner.is_unavailable() { 503 } else { 500 }
            }
        }
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Invalid { field, message: message.into() }
    }

    /// The errors of a form's check: none is Ok, one an `Invalid`, more `InvalidFields`.
    pub fn check_fields(mut errors: Vec<(&'static str, String)>) -> Result<(), Self> {
        match errors.len() {
            0 => Ok(()),
            1 => {
                let (field, message) = errors.remove(0);
                Err(ServiceError::Invalid { field, message })
            }
            _ => Err(ServiceError::InvalidFields { errors }),
        }
    }

    /// The message a user may see; internal causes stay in the log.
    pub fn user_message(&self) -> String {
        match self {
            ServiceError::Internal(e) if e.is_unavailable() => {
                "the database is unavailable or busy: try again in a moment (logged on the server)".into()
            }
            ServiceError::Internal(_) => "internal error (logged on the server)".into(),
            other => other.to_string(),
        }
    }
}
