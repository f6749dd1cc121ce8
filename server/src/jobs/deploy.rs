//! Deploying an operating system to a used server: boot the live image (as cleaning
//! does), the agent proves it runs on the recorded machine, writes the image to the
//! root disk and verifies it (`write_image`); then out of band: power off, eject the
//! media, set a persistent boot from disk, power on. The server stays `used` either
//! way; a failure leaves it off with the reason in the job (Retry or Release).

use super::live::{AfterBoot, Entry, LiveBoot, Resume, open};
use super::{JobContext, JobHandler, JobOutcome, StepError};
use crate::bmc::{PowerAction, PowerState};
use app::backend::services::JobParams;
use app::domain::JobPhase;
use std::sync::Arc;

pub struct Deploy {
    pub live: Arc<LiveBoot>,
}

fn image_name(ctx: &JobContext) -> String {
    let params: JobParams = serde_json::from_str(&ctx.job.params).unwrap_or_default();
    params.image.unwrap_or_else(|| "the image".into())
}

impl Deploy {
    async fn enter(&self, ctx: &JobContext, entry: Entry) -> Result<JobOutcome, StepError> {
        match self.live.boot_until_agent(ctx, entry, false).await? {
            AfterBoot::Recorded(outcome) => Ok(outcome),
            AfterBoot::Failed(reason) => Err(failure(reason).into()),
            // Opened anew: the health the final power-on records is read then.
            AfterBoot::Finish(_) => self.finish(ctx).await,
        }
    }

    async fn finish(&self, ctx: &JobContext) -> Result<JobOutcome, StepError> {
        let (bmc, sys) = open(ctx, &self.live.timeouts).await?;
        ctx.log("boot_from_disk: powering off, ejecting the live image, booting from the disk").await;
        ctx.timed("shut_down", self.live.shut_down(ctx, &bmc)).await?;
        bmc.boot_from_disk().await?;
        bmc.power(PowerAction::On).await?;
        ctx.timed("power_on", bmc.wait_for_power(PowerState::On, self.live.timeouts.power))
            .await
            .map_err(|e| format!("the server did not power on from its disk: {e}"))?;
        let _ = ctx.backend.record_power(ctx.job.server_id, PowerState::On, sys.health).await;
        ctx.log(&format!("deployed: {} written and verified; the server boots from its disk", image_name(ctx))).await;
        Ok(JobOutcome::Succeeded)
    }
}

fn failure(reason: Option<String>) -> String {
    reason.unwrap_or_else(|| "writing the image failed in the live image".into())
}

#[async_trait::async_trait]
impl JobHandler for Deploy {
    async fn run(&self, ctx: &JobContext) -> JobOutcome {
        let result = match Resume::of(ctx) {
            Resume::Aborting => return super::live::abort_cleanup(ctx, &self.live.timeouts).await,
            Resume::TakenOver => self.enter(ctx, Entry::TakenOver).await,
            Resume::AgentLate => {
                return super::live::stop_and_fail(ctx, &self.live.timeouts, self.live.timeout_reason()).await;
            }
            Resume::AgentFailed(reason) => Err(failure(Some(reason)).into()),
            Resume::AgentReported => self.finish(ctx).await,
            Resume::Fresh => self.enter(ctx, Entry::Fresh).await,
        };
        result.unwrap_or_else(|e| ctx.fail_or_retry(e))
    }

    async fn on_failure(&self, ctx: &JobContext, _reason: &str) {
        // Out of the live image (best effort): a half-written disk is not booted.
        if ctx.job.phase != JobPhase::Aborting
            && let Ok((bmc, _)) = open(ctx, &self.live.timeouts).await
            && let Err(e) = self.live.shut_down(ctx, &bmc).await
        {
            ctx.log(&format!("could not power off after the failure: {e}")).await;
        }
    }
}
