//! BMC password rotation, after the same identity check as every job: a new random
//! password is kept as pending, set on the BMC account Rackstate logs in as, and
//! only once a fresh login with it works does it replace the stored one. A failure
//! at any step leaves the old password working and stored, and says where it stopped.

use super::live::{Timeouts, open};
use super::machine::Machine;
use super::{JobContext, JobHandler, JobOutcome, StepError};
use crate::bmc::SystemSummary;
use app::domain::JobPhase;

pub struct Rotate {
    pub timeouts: Timeouts,
}

impl Rotate {
    async fn steps(&self, ctx: &JobContext) -> Result<JobOutcome, StepError> {
        let id = ctx.job.server_id;
        // A run that stopped after the BMC took its new password left it pending: if
        // the BMC takes it (and is still the same machine), that rotation is finished.
        let pending = ctx.backend.bmc_rotation_pending(id).await.map_err(|e| e.user_message())?;
        if let Some(p) = &pending
            && Machine::open_as(ctx, &self.timeouts, Some(p)).await.is_ok()
        {
            ctx.backend.bmc_rotation_commit(id, ctx.job.id).await.map_err(|e| e.user_message())?;
            ctx.log("the BMC takes the password an earlier run set: stored").await;
            return Ok(JobOutcome::Succeeded);
        }
        let (bmc, sys) = open(ctx, &self.timeouts).await?;
        if pending.is_some() {
            // The stored one opened the BMC: the earlier run's never took effect.
            ctx.log("a pending password from an earlier run is dropped: the BMC still takes the stored one").await;
            ctx.backend.bmc_rotation_abandon(id).await.map_err(|e| e.user_message())?;
        }
        let new = app::backend::services::rotation::random_bmc_password();
        ctx.backend.bmc_rotation_begin(id, &new).await.map_err(|e| e.user_message())?;
        let user = bmc.username().to_string();
        ctx.log(&format!("setting a new random password for BMC account {user} (kept as pending until it works)"))
            .await;
        if let Err(e) = bmc.change_password(&user, new.expose()).await {
            let _ = ctx.backend.bmc_rotation_abandon(id).await;
            return Err(stopped("setting the new password on the BMC", &e.message, "unchanged"));
        }
        ctx.log("logging in with the new password").await;
        match bmc.login_works(new.expose(), &sys).await {
            Ok(()) => {
                ctx.backend.bmc_rotation_commit(id, ctx.job.id).await.map_err(|e| e.user_message())?;
                ctx.log("the new password works: stored; the old one no longer opens the BMC").await;
                Ok(JobOutcome::Succeeded)
            }
            Err(e) => self.put_back(ctx, &bmc, &sys, &user, &e.message).await,
        }
    }

    /// The BMC took the change but the new password does not open it: the old one is
    /// set again (through whichever password still logs in) and checked.
    async fn put_back(
        &self,
        ctx: &JobContext,
        bmc: &Machine<'_>,
        sys: &SystemSummary,
        user: &str,
        why: &str,
    ) -> Result<JobOutcome, StepError> {
        let id = ctx.job.server_id;
        let old = bmc.password().to_string();
        ctx.log(&format!("the new password does not log in ({why}); setting the old one again")).await;
        if bmc.login_works(&old, sys).await.is_ok() {
            let _ = ctx.backend.bmc_rotation_abandon(id).await;
            return Err(stopped("logging in with the new password", why, "unchanged (the BMC kept it)"));
        }
        let restored = match bmc.change_password(user, &old).await {
            Ok(()) => bmc.login_works(&old, sys).await,
            Err(e) => Err(e),
        };
        match restored {
            Ok(()) => {
                let _ = ctx.backend.bmc_rotation_abandon(id).await;
                Err(stopped("logging in with the new password", why, "set again on the BMC"))
            }
            // Neither is proven: the new one stays pending for the next run and an admin.
            Err(e) => Err(format!(
                "stopped at logging in with the new password ({why}); putting the old one back failed too ({}): \
                 the stored password may no longer open the BMC; the new one is kept as pending",
                e.message
            )
            .into()),
        }
    }
}

/// Where the rotation stopped, and that the old password still works and is stored.
fn stopped(step: &str, why: &str, old: &str) -> StepError {
    format!("stopped at {step}: {why}; the old password is {old} and still stored").into()
}

#[async_trait::async_trait]
impl JobHandler for Rotate {
    async fn run(&self, ctx: &JobContext) -> JobOutcome {
        if ctx.job.phase == JobPhase::Aborting {
            // Stopped mid-way: if the BMC already took the pending password, it is the
            // one to keep (dropping it would lock Rackstate out); otherwise drop it.
            let id = ctx.job.server_id;
            if let Ok(Some(p)) = ctx.backend.bmc_rotation_pending(id).await {
                if Machine::open_as(ctx, &self.timeouts, Some(&p)).await.is_ok() {
                    let _ = ctx.backend.bmc_rotation_commit(id, ctx.job.id).await;
                    ctx.log("aborted after the BMC took the new password: the new password is stored").await;
                } else if Machine::open(ctx, &self.timeouts).await.is_ok() {
                    let _ = ctx.backend.bmc_rotation_abandon(id).await;
                } else {
                    ctx.log("neither password could be checked: the new one stays pending for the next rotation").await;
                }
            }
            return JobOutcome::Failed(ctx.job.last_error.clone().unwrap_or_else(|| "aborted".into()));
        }
        // Not retried by itself: a second attempt would set yet another password.
        self.steps(ctx).await.unwrap_or_else(|e| JobOutcome::Failed(e.message))
    }
}
