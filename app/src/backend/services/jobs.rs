//! Retry and Abort: what an admin or operator does about a failed or stuck job.

use super::allocation::change_state_in;
use super::lifecycle::{JobParams, StateChange, abort_in};
use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::store::{self, events::NewEvent, now_ms};
use crate::domain::EventKind;
use crate::domain::JobKind;
use crate::domain::jobs::{Restart, restart_for, retry_needs};
use crate::model::{Server, UserView};

fn conflict(message: impl Into<String>) -> ServiceError {
    ServiceError::Conflict { message: message.into() }
}

impl Backend {
    /// Aborts the server's running job: it stops, powers the server off and ejects
    /// the media (best effort, in its log), then the lifecycle's failure rule applies.
    pub async fn abort_job(&self, actor: &Actor, server_id: i64) -> Result<(), ServiceError> {
        let now = now_ms();
        let actor = actor.clone();
        self.write_runnable(move |tx| {
            Box::pin(async move {
                let Some(job) = store::jobs::latest_for_server(tx, server_id).await? else {
                    return Err(conflict(format!("server {server_id} has no job")));
                };
                let reason = format!("aborted by {}", actor.audit_name());
                let message = if job.kind == JobKind::Power {
                    format!("{reason}: the power request stops where it is")
                } else {
                    format!("{reason}: powering off and ejecting the media (best effort), then failing the job")
                };
                if !abort_in(tx, &job, &reason, &message, &actor.audit_name(), now).await? {
                    return Err(conflict(format!("the {} job #{} is not running ({})", job.kind, job.id, job.status)));
                }
                Ok(())
            })
        })
        .await
    }

    /// Retry as `caller` asks it (pages and API): their role must allow what the job
    /// does (`domain::jobs::retry_needs`), then [`Self::retry_job`].
    pub async fn retry_job_for(&self, caller: &UserView, server_id: i64) -> Result<Server, ServiceError> {
        if let Some(job) = self.latest_job(server_id).await?
            && let Some(needed) = retry_needs(job.kind)
            && !caller.role.can(needed)
        {
            return Err(ServiceError::Forbidden {
                message: format!("your role ({}) may not {}", caller.role, job.kind),
            });
        }
        self.retry_job(&Actor::user(caller.username.clone()), server_id).await
    }

    /// Runs the server's failed (or aborted) process again: the same job when the
    /// server is still where the process left it (registering, cleaning), else the
    /// action that starts it (re-register, decommission).
    pub async fn retry_job(&self, actor: &Actor, server_id: i64) -> Result<Server, ServiceError> {
        let now = now_ms();
        let actor = actor.clone();
        self.write_runnable(move |tx| {
            Box::pin(async move {
                let server = store::servers::get(tx, server_id)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound { what: format!("server {server_id}") })?;
                if store::jobs::has_active(tx, server_id).await? {
                    return Err(conflict(format!("a job is already running on {}", server.name)));
                }
                let Some(job) = store::jobs::latest_for_server(tx, server_id).await? else {
                    return Err(conflict(format!("{} has no job to retry", server.name)));
                };
                if !job.status.is_retryable() {
                    return Err(conflict(format!("the last job on {} {}; nothing to retry", server.name, job.status)));
                }
                let kind = job.kind;
                let server = match restart_for(kind, server.state) {
                    Restart::NoLonger => {
                        return Err(conflict(format!(
                            "{} is {} now; the failed {kind} job no longer applies",
                            server.name, server.state
                        )));
                    }
                    Restart::Action(action) => {
                        change_state_in(tx, &actor, server_id, &StateChange::new(action), now).await?
                    }
                    Restart::SameJob => {
                        let params: JobParams = serde_json::from_str(&job.params).unwrap_or_default();
                        let params = serde_json::to_string(&params).expect("job params serialize");
                        store::jobs::enqueue(tx, server_id, kind, &params, now).await?;
                        let who = actor.audit_name();
                        let event = NewEvent {
                            details: Some(&format!("{} job #{}", job.kind, job.id)),
                            ..NewEvent::about(server_id, &who, EventKind::JobRetried)
                        };
                        store::events::append(tx, &event, now).await?;
                        server
                    }
                };
                Ok(server)
            })
        })
        .await
    }
}
