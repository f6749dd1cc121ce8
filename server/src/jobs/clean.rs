//! Cleaning after release: boot the live image (as registration does), let the
//! agent run its steps (`erase_disks`), then `reset_bmc_boot` out of band (power off,
//! eject the media, clear the boot override) and move the server to `available`.
//! A failed step fails the job with the agent's reason; the server stays in
//! `cleaning` until an admin retries or acts.

use super::live::{AfterBoot, Entry, LiveBoot, Resume, open};
use super::machine::Machine;
use super::{JobContext, JobHandler, JobOutcome, StepError};
use app::backend::services::{Actor, StateChange};
use app::domain::{Action, JobPhase};
use std::sync::Arc;

pub struct Clean {
    pub live: Arc<LiveBoot>,
}

fn actor(ctx: &JobContext) -> Actor {
    Actor::system(format!("clean job {}", ctx.job.id))
}

impl Clean {
    /// Into the live image, then on once the agent reported (or failed).
    async fn enter(&self, ctx: &JobContext, entry: Entry) -> Result<JobOutcome, StepError> {
        match self.live.boot_until_agent(ctx, entry, false).await? {
            AfterBoot::Recorded(outcome) => Ok(outcome),
            AfterBoot::Failed(reason) => Err(failure(reason).into()),
            AfterBoot::Finish(bmc) => self.finish(ctx, Some(bmc)).await,
        }
    }

    /// Out of the live image and on to `available`, through `opened` (this run's
    /// machine) or, resumed after parking, a machine opened anew.
    async fn finish(&self, ctx: &JobContext, opened: Option<Machine<'_>>) -> Result<JobOutcome, StepError> {
        let bmc = match opened {
            Some(bmc) => bmc,
            None => open(ctx, &self.live.timeouts).await?.0,
        };
        ctx.log("reset_bmc_boot: powering off, ejecting the media, clearing the boot override").await;
        let off = ctx.timed("shut_down", self.live.shut_down_with(ctx, &bmc, async {})).await?;
        let change = StateChange::new(Action::CleaningSucceeded)
            .by_job(ctx.job.id, ctx.job.fence)
            .with_power(off.power_state, off.health);
        let server =
            ctx.backend.change_state(&actor(ctx), ctx.job.server_id, &change).await.map_err(|e| e.user_message())?;
        ctx.log(&format!("cleaned: {} is {}", server.name, server.state)).await;
        Ok(JobOutcome::Recorded)
    }
}

fn failure(reason: Option<String>) -> String {
    reason.unwrap_or_else(|| "a cleaning step failed in the live image".into())
}

#[async_trait::async_trait]
impl JobHandler for Clean {
    async fn run(&self, ctx: &JobContext) -> JobOutcome {
        let result = match Resume::of(ctx) {
            Resume::Aborting => return super::live::abort_cleanup(ctx, &self.live.timeouts).await,
            Resume::TakenOver => self.enter(ctx, Entry::TakenOver).await,
            Resume::AgentLate => Err(self.live.timeout_reason().into()),
            Resume::AgentFailed(reason) => Err(failure(Some(reason)).into()),
            Resume::AgentReported => self.finish(ctx, None).await,
            Resume::Fresh => self.enter(ctx, Entry::Fresh).await,
        };
        result.unwrap_or_else(|e| ctx.fail_or_retry(e))
    }

    async fn on_failure(&self, ctx: &JobContext, reason: &str) {
        // Leave the live image (best effort) so a failed cleaning does not leave the
        // server running it; the failure is recorded either way.
        // (Not after an identity mismatch: `open` refuses that machine.)
        if ctx.job.phase != JobPhase::Aborting
            && let Ok((bmc, _)) = open(ctx, &self.live.timeouts).await
            && let Err(e) = self.live.shut_down(ctx, &bmc).await
        {
            ctx.log(&format!("could not power off after the failure: {e}")).await;
        }
        let change = StateChange::new(Action::CleaningFailed).because(reason).by_job(ctx.job.id, ctx.job.fence);
        if let Err(e) = ctx.backend.change_state(&actor(ctx), ctx.job.server_id, &change).await {
            tracing::warn!(job = ctx.job.id, error = %app::backend::error_chain(&e), "recording a failed cleaning");
        }
    }
}
