//! A power request (on, off, reset) carried out through the server's BMC, after the
//! same identity check as every other job. Off asks the operating system to shut
//! down and forces the machine off when it has not within the grace time. The server
//! keeps its state; the outcome is the job's.

use super::live::{Timeouts, open};
use super::{JobContext, JobHandler, JobOutcome, StepError};
use crate::bmc::{PowerAction, PowerState};
use app::backend::services::JobParams;
use app::domain::JobPhase;
use app::domain::power::PowerRequest;

pub struct Power {
    pub timeouts: Timeouts,
}

impl Power {
    async fn steps(&self, ctx: &JobContext, request: PowerRequest) -> Result<JobOutcome, StepError> {
        let (bmc, sys) = open(ctx, &self.timeouts).await?;
        // Decided only from a known state: an unknown one is re-read, never taken as off.
        let now = bmc.settled_power(sys.power_state).await?;
        let t = &self.timeouts;
        let end = match (request, now) {
            (PowerRequest::On, PowerState::On) | (PowerRequest::Off, PowerState::Off) => {
                ctx.log(&format!("already {now}; nothing to do")).await;
                now
            }
            (PowerRequest::On | PowerRequest::Reset, PowerState::Off) => {
                ctx.log("powering on").await;
                bmc.power(PowerAction::On).await?;
                ctx.timed("power_on", bmc.wait_for_power(PowerState::On, t.power)).await?;
                PowerState::On
            }
            (PowerRequest::Reset, _) => {
                ctx.log("restarting (forced)").await;
                bmc.power(PowerAction::ForceRestart).await?;
                ctx.timed("power_on", bmc.wait_for_power(PowerState::On, t.power)).await?;
                PowerState::On
            }
            (PowerRequest::Off, _) => {
                ctx.log(&format!(
                    "asking the operating system to shut down (forced off after {})",
                    super::live::minutes(t.shutdown_grace)
                ))
                .await;
                let graceful = match bmc.power(PowerAction::GracefulShutdown).await {
                    Ok(()) => ctx.timed("shutdown", bmc.wait_for_power(PowerState::Off, t.shutdown_grace)).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = graceful {
                    ctx.log(&format!("not off after the graceful shutdown ({e}); forcing it off")).await;
                    bmc.power(PowerAction::ForceOff).await?;
                    ctx.timed("power_off", bmc.wait_for_power(PowerState::Off, t.power)).await?;
                }
                PowerState::Off
            }
            (PowerRequest::On, _) => {
                // On the way (PoweringOn/Off): wait for it to be on.
                ctx.log(&format!("the machine is {now}; powering on")).await;
                bmc.power(PowerAction::On).await?;
                ctx.timed("power_on", bmc.wait_for_power(PowerState::On, t.power)).await?;
                PowerState::On
            }
        };
        let _ = ctx.backend.record_power(ctx.job.server_id, end, sys.health).await;
        ctx.log(&format!("power is {end}")).await;
        Ok(JobOutcome::Succeeded)
    }
}

#[async_trait::async_trait]
impl JobHandler for Power {
    async fn run(&self, ctx: &JobContext) -> JobOutcome {
        if ctx.job.phase == JobPhase::Aborting {
            // Stopped where it was: nothing to undo (no media, no boot override).
            return JobOutcome::Failed(ctx.job.last_error.clone().unwrap_or_else(|| "aborted".into()));
        }
        let params: JobParams = serde_json::from_str(&ctx.job.params).unwrap_or_default();
        let Some(request) = params.power else {
            return JobOutcome::Failed(format!(
                "power job #{} says no request (params {})",
                ctx.job.id, ctx.job.params
            ));
        };
        self.steps(ctx, request).await.unwrap_or_else(|e| ctx.fail_or_retry(e))
    }
}
