//! Power requests: who may press on, off or reset (the rule is
//! `domain::power::power_refusal`), the job that carries it out, its audit event.

use super::lifecycle::{JobParams, held_for_change, queue_job};
use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::store::{self, events::NewEvent, now_ms};
use crate::domain::EventKind;
use crate::domain::bmc_address::redact as redact_bmc;
use crate::domain::power::{PowerContext, PowerRequest, may_control_power, power_buttons, power_refusal};
use crate::domain::{JobKind, Permission};
use crate::model::{PowerControl, PowerJob, UserView};

impl Backend {
    /// Queues a power job for `request` on server `id` and audits who asked; returns
    /// the job's id. Refused (nothing written) when the caller may not, or a job runs.
    pub async fn request_power(&self, caller: &UserView, id: i64, request: PowerRequest) -> Result<i64, ServiceError> {
        if !may_control_power(caller.role) {
            return Err(ServiceError::Forbidden {
                message: format!("your role ({}) may not control power", caller.role),
            });
        }
        let now = now_ms();
        let by = caller.username.clone();
        let caller = caller.clone();
        let job = self
            .write_runnable(move |tx| {
                Box::pin(async move {
                    let (server, active_job, own) = held_for_change(tx, &caller, id).await?;
                    let ctx = PowerContext { state: server.state, own, active_job };
                    if let Some(why) = power_refusal(caller.role, ctx) {
                        return Err(ServiceError::Conflict {
                            message: format!("cannot {} {}: {why}", request.label().to_lowercase(), server.name),
                        });
                    }
                    let params = JobParams { power: Some(request), ..JobParams::default() };
                    let job = queue_job(tx, id, JobKind::Power, &params, now).await?;
                    let actor = Actor::user(caller.username.clone()).audit_name();
                    let details = format!("power job #{job}");
                    let event = NewEvent {
                        to_value: Some(request.as_str()),
                        details: Some(&details),
                        ..NewEvent::about(id, &actor, EventKind::PowerRequested)
                    };
                    store::events::append(tx, &event, now).await?;
                    Ok(job)
                })
            })
            .await?;
        tracing::info!(server = id, job, request = request.as_str(), by, "power requested");
        Ok(job)
    }

    /// The power buttons `caller` gets on server `id` and its latest power request
    /// (for a tenant, without the BMC's address).
    pub async fn power_control(&self, caller: &UserView, id: i64) -> Result<PowerControl, ServiceError> {
        let server = self.server_for(caller, id).await?;
        let mut conn = self.db.conn().await?;
        let active_job = store::jobs::has_active(&mut conn, id).await?;
        let own = server.reserved_for.as_deref() == Some(caller.username.as_str());
        let buttons = power_buttons(caller.role, PowerContext { state: server.state, own, active_job });
        let last = match store::jobs::latest_of_kind(&mut conn, id, JobKind::Power).await? {
            None => None,
            Some((job, updated_at)) => {
                let params: JobParams = serde_json::from_str(&job.params).unwrap_or_default();
                let mut error = job.last_error;
                if !caller.role.can(Permission::ViewFleet) {
                    let address = store::servers::bmc_credentials(&mut conn, id)
                        .await?
                        .map(|c| c.bmc_address)
                        .unwrap_or_default();
                    error = error.map(|e| redact_bmc(&e, &address));
                }
                params.power.map(|request| PowerJob { job_id: job.id, request, status: job.status, error, updated_at })
            }
        };
        Ok(PowerControl { buttons, last })
    }
}
