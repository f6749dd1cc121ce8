//! The service layer: every change to a server passes through here, whoever asks (a
//! page, the REST API, a worker). Each change runs in one transaction with its
//! transition check and its audit event.

pub mod accounts;
pub mod agent;
pub mod allocation;
pub mod bmc_certificates;
pub mod deploy;
pub mod erase_certificates;
pub mod error;
pub mod firmware;
pub mod hardware;
pub mod identity;
pub mod images;
pub mod jobs;
pub mod lifecycle;
pub mod notes;
pub mod power;
pub mod rotation;
pub mod runner;
pub mod servers;
pub mod step_log;
pub mod tokens;
pub mod webhooks;
pub mod write;

pub use error::ServiceError;
pub use lifecycle::{JobParams, StateChange};
pub use servers::NewServer;

use crate::domain::Trigger;

/// Who makes a change: a person or the system. Recorded in the audit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    User {
        username: String,
    },
    /// A worker or the allocator, e.g. "register job 42".
    System {
        what: String,
    },
}

impl Actor {
    pub fn user(username: impl Into<String>) -> Self {
        Actor::User { username: username.into() }
    }
    pub fn system(what: impl Into<String>) -> Self {
        Actor::System { what: what.into() }
    }
    pub fn trigger(&self) -> Trigger {
        match self {
            Actor::User { .. } => Trigger::User,
            Actor::System { .. } => Trigger::System,
        }
    }
    /// How the audit names the actor: "alice" or "system: register job 42".
    pub fn audit_name(&self) -> String {
        match self {
            Actor::User { username } => username.clone(),
            Actor::System { what } => format!("system: {what}"),
        }
    }
}
