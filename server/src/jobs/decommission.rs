//! Decommissioning: power off, eject media, clear the boot override (out of band),
//! then forget the BMC credentials and move the server to `decommissioned` in one
//! transaction. Inventory and audit stay. (Admins can reveal the credentials first;
//! the server page offers it.)

use super::live::{Timeouts, open};
use super::{JobContext, JobHandler, JobOutcome};
use crate::bmc::{PowerAction, PowerState};
use app::backend::services::{Actor, StateChange};
use app::domain::{Action, JobPhase};

pub struct Decommission {
    pub timeouts: Timeouts,
}

fn actor(ctx: &JobContext) -> Actor {
    Actor::system(format!("decommission job {}", ctx.job.id))
}

impl Decommission {
    async fn steps(&self, ctx: &JobContext) -> Result<JobOutcome, String> {
        ctx.timed("power_off_and_eject", self.power_off_and_eject(ctx)).await?;
        ctx.log("forgetting the BMC credentials").await;
        let change = StateChange::new(Action::DecommissionSucceeded).by_job(ctx.job.id, ctx.job.fence);
        let server =
            ctx.backend.change_state(&actor(ctx), ctx.job.server_id, &change).await.map_err(|e| e.user_message())?;
        ctx.log(&format!("decommissioned: {} is {}", server.name, server.state)).await;
        Ok(JobOutcome::Recorded)
    }

    async fn power_off_and_eject(&self, ctx: &JobContext) -> Result<(), String> {
        let (bmc, sys) = open(ctx, &self.timeouts).await?;
        // Anything but a known Off (on, on the way, unknown) gets a forced power-off,
        // which is safe from any state; the wait then confirms Off.
        if sys.power_state != PowerState::Off {
            ctx.log("powering off").await;
            bmc.power(PowerAction::ForceOff).await?;
            bmc.wait_for_power(PowerState::Off, self.timeouts.power).await?;
        }
        let _ = ctx.backend.record_power(ctx.job.server_id, PowerState::Off, sys.health).await;
        match bmc.inserted_media().await {
            Ok(Some(_)) => {
                ctx.log("ejecting virtual media").await;
                bmc.eject_media().await?;
            }
            Ok(None) => {}
            Err(e) => ctx.log(&format!("cannot read virtual media (left as is): {e}")).await,
        }
        if let Err(e) = bmc.clear_boot_override().await {
            ctx.log(&format!("could not clear the boot override: {e}")).await;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl JobHandler for Decommission {
    async fn run(&self, ctx: &JobContext) -> JobOutcome {
        if ctx.job.phase == JobPhase::Aborting {
            return super::live::abort_cleanup(ctx, &self.timeouts).await;
        }
        self.steps(ctx).await.unwrap_or_else(JobOutcome::Failed)
    }

    async fn on_failure(&self, ctx: &JobContext, reason: &str) {
        let change = StateChange::new(Action::DecommissionFailed).because(reason).by_job(ctx.job.id, ctx.job.fence);
        if let Err(e) = ctx.backend.change_state(&actor(ctx), ctx.job.server_id, &change).await {
            tracing::warn!(job = ctx.job.id, error = %app::backend::error_chain(&e), "recording a failed decommission");
        }
    }
}
