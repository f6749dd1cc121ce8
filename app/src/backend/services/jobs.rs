//! Retry and Abort: what an admin or operator does about a failed or stuck job.

use super::allocation::change_state_in;
use super::lifecycle::{JobParams, StateChange};
use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::store::{self, events::NewEvent, now_ms};
use crate::domain::{Action, JobKind, ServerState};
use crate::model::Server;

fn conflict(message: impl Into<String>) -> ServiceError {
    ServiceError::Conflict { message: message.into() }
}

use super::error::commit_error;

impl Backend {
    /// Aborts the server's running job: it stops, powers the server off and ejects
    /// the media (best effort, in its log), then the lifecycle's failure rule applies.
    pub async fn abort_job(&self, actor: &Actor, server_id: i64) -> Result<(), ServiceError> {
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let Some(job) = store::jobs::latest_for_server(&mut tx, server_id).await? else {
            return Err(conflict(format!("server {server_id} has no job")));
        };
        let reason = format!("aborted by {}", actor.audit_name());
        if !store::jobs::abort(&mut tx, job.id, &reason, now).await? {
            return Err(conflict(format!("the {} job #{} is not running ({})", job.kind, job.id, job.status)));
        }
        let message = if job.job_kind() == Some(JobKind::Power) {
            format!("{reason}: the power request stops where it is")
        } else {
            format!("{reason}: powering off and ejecting the media (best effort), then failing the job")
        };
        store::jobs::log_step(&mut tx, job.id, &message, now).await?;
        let event = NewEvent {
            server_id: Some(server_id),
            actor: &actor.audit_name(),
            kind: "job_aborted",
            from_value: None,
            to_value: None,
            reason: None,
            details: Some(&format!("{} job #{}", job.kind, job.id)),
        };
        store::events::append(&mut tx, &event, now).await?;
        tx.commit().await.map_err(commit_error)?;
        Ok(())
    }

    /// Runs the server's failed (or aborted) process again: the same job when the
    /// server is still where the process left it (registering, cleaning), else the
    /// action that starts it (re-register, decommission).
    pub async fn retry_job(&self, actor: &Actor, server_id: i64) -> Result<Server, ServiceError> {
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let server = store::servers::get(&mut tx, server_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound { what: format!("server {server_id}") })?;
        if store::jobs::has_active(&mut tx, server_id).await? {
            return Err(conflict(format!("a job is already running on {}", server.name)));
        }
        let Some(job) = store::jobs::latest_for_server(&mut tx, server_id).await? else {
            return Err(conflict(format!("{} has no job to retry", server.name)));
        };
        if !matches!(job.status.as_str(), "failed" | "aborted") {
            return Err(conflict(format!("the last job on {} {}; nothing to retry", server.name, job.status)));
        }
        let kind = job.job_kind().ok_or_else(|| conflict(format!("unknown job kind {}", job.kind)))?;
        let restart = match (kind, server.state) {
            (JobKind::Register, ServerState::Registering | ServerState::UsedRegistering)
            | (JobKind::Clean, ServerState::Cleaning) => None,
            (JobKind::Register, ServerState::Unavailable | ServerState::Used) => Some(Action::ReRegister),
            (JobKind::Decommission, ServerState::Unavailable | ServerState::Defective) => Some(Action::Decommission),
            // A power request is asked again as it was (its BMC password must still be known).
            (JobKind::Power, state) if state != ServerState::Decommissioned => None,
            // An image is written again while the server is still its tenant's.
            (JobKind::Deploy, ServerState::Used) => None,
            (_, state) => {
                return Err(conflict(format!(
                    "{} is {state} now; the failed {} job no longer applies",
                    server.name, job.kind
                )));
            }
        };
        let server = match restart {
            Some(action) => change_state_in(&mut tx, actor, server_id, &StateChange::new(action), now).await?,
            None => {
                let params: JobParams = serde_json::from_str(&job.params).unwrap_or_default();
                let params = serde_json::to_string(&params).expect("job params serialize");
                store::jobs::enqueue(&mut tx, server_id, kind, &params, now).await?;
                let event = NewEvent {
                    server_id: Some(server_id),
                    actor: &actor.audit_name(),
                    kind: "job_retried",
                    from_value: None,
                    to_value: None,
                    reason: None,
                    details: Some(&format!("{} job #{}", job.kind, job.id)),
                };
                store::events::append(&mut tx, &event, now).await?;
                server
            }
        };
        tx.commit().await.map_err(commit_error)?;
        Ok(server)
    }
}
