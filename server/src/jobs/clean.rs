//! Cleaning after release: boot the live image (as registration does), let the
//! agent run its steps (`erase_disks`), then `reset_bmc_boot` out of band (power off,
//! eject the media, clear the boot override) and move the server to `available`.
//! A failed step fails the job with the agent's reason; the server stays in
//! `cleaning` until an admin retries or acts.

use super::live::{Booted, Entry, LiveBoot, conn, lost_lease, open};
use super::{JobContext, JobHandler, JobOutcome};
use app::backend::services::{Actor, StateChange};
use app::backend::store;
use app::domain::Action;
use std::sync::Arc;

pub struct Clean {
    pub live: Arc<LiveBoot>,
}

fn actor(ctx: &JobContext) -> Actor {
    Actor::system(format!("clean job {}", ctx.job.id))
}

impl Clean {
    /// Into the live image, then on once the agent reported (or failed).
    async fn enter(&self, ctx: &JobContext, entry: Entry) -> Result<JobOutcome, String> {
        match self.live.enter(ctx, entry, false).await? {
            Booted::Parked => Ok(JobOutcome::Recorded),
            Booted::AgentDone => {
                let job = store::jobs::get(&mut *conn(ctx).await?, ctx.job.id).await.map_err(|e| e.to_string())?;
                match job {
                    Some(j) if j.phase == "agent_failed" => Err(failure(j.last_error)),
                    _ => self.finish(ctx).await,
                }
            }
            Booted::Lost => Ok(lost_lease(ctx)),
        }
    }

    async fn finish(&self, ctx: &JobContext) -> Result<JobOutcome, String> {
        let (bmc, _) = open(ctx, &self.live.timeouts).await?;
        ctx.log("reset_bmc_boot: powering off, ejecting the media, clearing the boot override").await;
        ctx.timed("shut_down", self.live.shut_down(ctx, &bmc)).await?;
        let change = StateChange::new(Action::CleaningSucceeded).by_job(ctx.job.id, ctx.job.fence);
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
        if ctx.job.phase == "aborting" {
            return super::live::abort_cleanup(ctx, &self.live.timeouts).await;
        }
        let result = match ctx.job.phase.as_str() {
            "waiting" if ctx.job.agent_deadline.is_some_and(|d| d > store::now_ms()) => {
                self.enter(ctx, Entry::TakenOver).await
            }
            "waiting" => Err(self.live.timeout_reason()),
            "agent_failed" => Err(failure(ctx.job.last_error.clone())),
            "agent_reported" => self.finish(ctx).await,
            _ => self.enter(ctx, Entry::Fresh).await,
        };
        result.unwrap_or_else(JobOutcome::Failed)
    }

    async fn on_failure(&self, ctx: &JobContext, reason: &str) {
        // Leave the live image (best effort) so a failed cleaning does not leave the
        // server running it; the failure is recorded either way.
        // (Not after an identity mismatch: `open` refuses that machine.)
        if ctx.job.phase != "aborting"
            && let Ok((bmc, _)) = open(ctx, &self.live.timeouts).await
            && let Err(e) = self.live.shut_down(ctx, &bmc).await
        {
            ctx.log(&format!("could not power off after the failure: {e}")).await;
        }
        let change = StateChange::new(Action::CleaningFailed).because(reason).by_job(ctx.job.id, ctx.job.fence);
        if let Err(e) = ctx.backend.change_state(&actor(ctx), ctx.job.server_id, &change).await {
            tracing::warn!(job = ctx.job.id, error = %e, "recording a failed cleaning");
        }
    }
}
