//! Registration (and re-registration): verify the BMC, read the system, insert the
//! live image as virtual media, boot once from CD, power on, wait for the agent's
//! inventory (the job is parked meanwhile, holding no runner slot), then power off,
//! eject, and move the server on through the lifecycle service.

use super::live::{Entered, Entry, LiveBoot, Resume, lost_lease, open};
use super::machine::Machine;
use super::{JobContext, JobHandler, JobOutcome, StepError};
use app::backend::services::{Actor, JobParams, StateChange};
use app::domain::Action;
use std::sync::Arc;

/// Registration and re-registration.
pub struct Register {
    pub live: Arc<LiveBoot>,
}

fn actor(ctx: &JobContext) -> Actor {
    Actor::system(format!("register job {}", ctx.job.id))
}

impl Register {
    /// Into the live image (out-of-band inventory logged first on a fresh start), then
    /// on once the agent reported.
    async fn enter(&self, ctx: &JobContext, entry: Entry) -> Result<JobOutcome, StepError> {
        match self.live.enter(ctx, entry, true).await? {
            Entered::Parked => Ok(JobOutcome::Recorded),
            Entered::AgentDone(bmc) => self.finish(ctx, Some(bmc)).await,
            Entered::Lost => Ok(lost_lease(ctx)),
        }
    }

    /// Out of the live image and on through the lifecycle, through `opened` (this
    /// run's machine) or, resumed after parking, a machine opened anew.
    async fn finish(&self, ctx: &JobContext, opened: Option<Machine<'_>>) -> Result<JobOutcome, StepError> {
        let bmc = match opened {
            Some(bmc) => bmc,
            None => open(ctx, &self.live.timeouts).await?.0,
        };
        // The firmware is read while the power goes.
        let off = ctx.timed("shut_down", self.live.shut_down_with(ctx, &bmc, record_firmware(ctx, &bmc))).await?;
        let change = StateChange::new(Action::RegistrationSucceeded)
            .by_job(ctx.job.id, ctx.job.fence)
            .with_power(off.power_state, off.health);
        let server =
            ctx.backend.change_state(&actor(ctx), ctx.job.server_id, &change).await.map_err(|e| e.user_message())?;
        ctx.log(&format!("registered: {} is {}", server.name, server.state)).await;
        let params: app::backend::services::JobParams = serde_json::from_str(&ctx.job.params).unwrap_or_default();
        if params.rotate_bmc_password {
            // Asked for when the server was added: its BMC gets a password of ours.
            let actor = app::backend::services::Actor::system(format!("register job {}", ctx.job.id));
            match ctx.backend.queue_bmc_rotation(&actor, ctx.job.server_id).await {
                Ok(job) => ctx.log(&format!("a random BMC password was asked for: rotation job #{job} queued")).await,
                Err(e) => ctx.log(&format!("the random BMC password was not set: {}", e.user_message())).await,
            }
        }
        Ok(JobOutcome::Recorded)
    }
}

/// The BMC's firmware list, kept with the agent's inventory (best effort: logged).
async fn record_firmware(ctx: &JobContext, bmc: &Machine<'_>) {
    match bmc.firmware_inventory().await {
        Ok(firmware) if !firmware.is_empty() => match ctx.backend.record_firmware(ctx.job.server_id, &firmware).await {
            Ok(()) => ctx.log(&format!("firmware versions of {} component(s) recorded", firmware.len())).await,
            Err(e) => ctx.log(&format!("firmware versions not recorded: {}", e.user_message())).await,
        },
        Ok(_) => ctx.log("the BMC lists no firmware inventory").await,
        Err(e) => ctx.log(&format!("no firmware inventory ({e})")).await,
    }
}

#[async_trait::async_trait]
impl JobHandler for Register {
    async fn run(&self, ctx: &JobContext) -> JobOutcome {
        let result = match Resume::of(ctx) {
            Resume::Aborting => return super::live::abort_cleanup(ctx, &self.live.timeouts).await,
            // Claimed again while parked: its process died before the deadline, or
            // the deadline passed without a report.
            Resume::TakenOver => self.enter(ctx, Entry::TakenOver).await,
            Resume::AgentLate => {
                return super::live::stop_and_fail(ctx, &self.live.timeouts, self.live.timeout_reason()).await;
            }
            Resume::AgentReported => self.finish(ctx, None).await,
            // The agent's report was refused (its serial is another server's): the
            // machine is not booted again.
            Resume::AgentFailed(reason) => return super::live::stop_and_fail(ctx, &self.live.timeouts, reason).await,
            // A start, or "booting" after a crash: begin again (every step is idempotent).
            Resume::Fresh => self.enter(ctx, Entry::Fresh).await,
        };
        result.unwrap_or_else(|e| ctx.fail_or_retry(e))
    }

    async fn on_failure(&self, ctx: &JobContext, reason: &str) {
        let params: JobParams = serde_json::from_str(&ctx.job.params).unwrap_or_default();
        let mut change = StateChange::new(Action::RegistrationFailed).because(reason).by_job(ctx.job.id, ctx.job.fence);
        change.re_registration = params.re_registration;
        if let Err(e) = ctx.backend.change_state(&actor(ctx), ctx.job.server_id, &change).await {
            tracing::warn!(job = ctx.job.id, error = %app::backend::error_chain(&e), "recording a failed registration");
        }
    }
}
