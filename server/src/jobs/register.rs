//! Registration (and re-registration): verify the BMC, read the system, insert the
//! live image as virtual media, boot once from CD, power on, wait for the agent's
//! inventory (the job is parked meanwhile, holding no runner slot), then power off,
//! eject, and move the server on through the lifecycle service.

use super::{JobContext, JobHandler, JobOutcome};
use crate::bmc::redfish::RedfishBmc;
use crate::bmc::{Bmc, PowerAction};
use crate::live_image::LiveImage;
use app::backend::secrets::{random_token, token_hash};
use app::backend::services::{Actor, JobParams, StateChange};
use app::backend::store::{self, now_ms};
use app::domain::Action;
use std::sync::Arc;
use std::time::Duration;

/// What registration needs besides the job.
pub struct Register {
    /// The base URL the BMC and the agent reach Rackstate at.
    pub callback_url: String,
    pub live_image: Option<Arc<LiveImage>>,
    /// How long the live image has to report (RACKSTATE_AGENT_TIMEOUT_SECONDS).
    pub agent_timeout: Duration,
    /// How long a power change may take to show.
    pub power_timeout: Duration,
}

fn actor(ctx: &JobContext) -> Actor {
    Actor::system(format!("register job {}", ctx.job.id))
}

/// The BMC of the job's server, logged in with its stored credentials.
pub async fn connect(ctx: &JobContext) -> Result<RedfishBmc, String> {
    let creds = ctx.backend.bmc_login(ctx.job.server_id).await.map_err(|e| e.user_message())?;
    let password = creds.password.as_ref().map(|p| p.expose()).unwrap_or_default();
    RedfishBmc::new(&creds.address, &creds.username, password, creds.verify_tls).map_err(|e| e.to_string())
}

fn minutes(d: Duration) -> String {
    match d.as_secs() {
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

impl Register {
    async fn start(&self, ctx: &JobContext) -> Result<JobOutcome, String> {
        let bmc = connect(ctx).await?;
        ctx.log(&format!("checking the BMC at {}", bmc.address())).await;
        let sys = bmc.system().await.map_err(|e| e.to_string())?;
        let _ = ctx.backend.record_power(ctx.job.server_id, &sys.power_state, &sys.health).await;
        ctx.log(&format!(
            "BMC answers: {} {}, serial {}, power {}, health {}",
            sys.manufacturer, sys.model, sys.serial_number, sys.power_state, sys.health
        ))
        .await;
        match bmc.oob_inventory().await {
            Ok(inv) if !inv.cpus.is_empty() || !inv.disks.is_empty() || !inv.nics.is_empty() => {
                ctx.log(&format!(
                    "BMC inventory (out of band): {} CPU(s), {} GB RAM, {} drive(s), {} NIC(s), {} GPU(s)",
                    inv.cpus.len(),
                    inv.ram_gb(),
                    inv.disks.len(),
                    inv.nics.len(),
                    inv.gpus.len()
                ))
                .await
            }
            Ok(_) => ctx.log("the BMC lists no out-of-band inventory; the live image will discover the hardware").await,
            Err(e) => {
                ctx.log(&format!("no out-of-band inventory ({e}); the live image will discover the hardware")).await
            }
        }
        let Some(_image) = &self.live_image else {
            return Err("no live image is configured: set RACKSTATE_LIVE_IMAGE to the live image ISO \
                        (docs/live-image.md), then retry"
                .into());
        };
        let token = random_token();
        let id = ctx.job.id;
        if !store::jobs::set_agent_token(&mut *conn(ctx).await?, id, &ctx.owner, &token_hash(&token), now_ms())
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(lost_lease(ctx));
        }
        let url = format!("{}/agent/v1/jobs/{id}/live.iso?token={token}", self.callback_url);
        if let Some(old) = bmc.inserted_media().await.map_err(|e| e.to_string())? {
            ctx.log(&format!("ejecting media left in the drive ({})", redact(&old))).await;
            bmc.eject_media().await.map_err(|e| e.to_string())?;
        }
        ctx.log("inserting the live image as virtual media").await;
        bmc.insert_media(&url).await.map_err(|e| e.to_string())?;
        ctx.log("setting a one-time boot from virtual CD").await;
        bmc.boot_once_from_cd().await.map_err(|e| e.to_string())?;
        if sys.power_state.eq_ignore_ascii_case("on") {
            ctx.log("restarting the server into the live image").await;
            bmc.power(PowerAction::ForceRestart).await.map_err(|e| e.to_string())?;
        } else {
            ctx.log("powering on into the live image").await;
            bmc.power(PowerAction::On).await.map_err(|e| e.to_string())?;
        }
        bmc.wait_for_power("On", self.power_timeout).await.map_err(|e| format!("power never reached On: {e}"))?;
        let _ = ctx.backend.record_power(ctx.job.server_id, "On", &sys.health).await;
        ctx.log(&format!("powered on; waiting up to {} for the live image agent", minutes(self.agent_timeout))).await;
        let deadline = now_ms() + self.agent_timeout.as_millis() as i64;
        if store::jobs::wait_for_agent(&mut *conn(ctx).await?, id, &ctx.owner, deadline, now_ms())
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(JobOutcome::Recorded);
        }
        // Not parked: the agent was quicker than us, or we lost the job.
        let job = store::jobs::get(&mut *conn(ctx).await?, id).await.map_err(|e| e.to_string())?;
        match job {
            Some(j) if j.phase == "agent_reported" && j.lease_owner.as_deref() == Some(ctx.owner.as_str()) => {
                self.finish(ctx).await
            }
            _ => Ok(lost_lease(ctx)),
        }
    }

    async fn finish(&self, ctx: &JobContext) -> Result<JobOutcome, String> {
        let bmc = connect(ctx).await?;
        ctx.log("powering off").await;
        bmc.power(PowerAction::ForceOff).await.map_err(|e| e.to_string())?;
        bmc.wait_for_power("Off", self.power_timeout).await.map_err(|e| e.to_string())?;
        ctx.log("ejecting the live image").await;
        bmc.eject_media().await.map_err(|e| e.to_string())?;
        if let Err(e) = bmc.clear_boot_override().await {
            ctx.log(&format!("could not clear the boot override (harmless once the media is out): {e}")).await;
        }
        let sys = bmc.system().await.map_err(|e| e.to_string())?;
        let _ = ctx.backend.record_power(ctx.job.server_id, &sys.power_state, &sys.health).await;
        let change = StateChange::new(Action::RegistrationSucceeded).by_job(ctx.job.id, ctx.owner.clone());
        let server =
            ctx.backend.change_state(&actor(ctx), ctx.job.server_id, &change).await.map_err(|e| e.user_message())?;
        ctx.log(&format!("registered: {} is {}", server.name, server.state)).await;
        Ok(JobOutcome::Recorded)
    }
}

async fn conn(ctx: &JobContext) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, String> {
    ctx.backend.db.conn().await.map_err(|e| e.to_string())
}

fn lost_lease(ctx: &JobContext) -> JobOutcome {
    tracing::warn!(job = ctx.job.id, "lost the job to another runner; leaving it to them");
    JobOutcome::Recorded
}

/// A media URL without its token, for logs.
fn redact(url: &str) -> String {
    match url.split_once("token=") {
        Some((head, _)) => format!("{head}token=…"),
        None => url.to_string(),
    }
}

#[async_trait::async_trait]
impl JobHandler for Register {
    async fn run(&self, ctx: &JobContext) -> JobOutcome {
        let result = match ctx.job.phase.as_str() {
            // Claimed again while parked: the deadline passed without a report.
            "waiting" => Err(format!(
                "the live image agent did not report within {}: check that the server boots from virtual media \
                 and reaches {} over the network",
                minutes(self.agent_timeout),
                self.callback_url
            )),
            "agent_reported" => self.finish(ctx).await,
            // "start", or "booting" after a crash: begin again (every step is idempotent).
            _ => self.start(ctx).await,
        };
        result.unwrap_or_else(JobOutcome::Failed)
    }

    async fn on_failure(&self, ctx: &JobContext, reason: &str) {
        let params: JobParams = serde_json::from_str(&ctx.job.params).unwrap_or_default();
        let mut change =
            StateChange::new(Action::RegistrationFailed).because(reason).by_job(ctx.job.id, ctx.owner.clone());
        change.re_registration = params.re_registration;
        if let Err(e) = ctx.backend.change_state(&actor(ctx), ctx.job.server_id, &change).await {
            tracing::warn!(job = ctx.job.id, error = %e, "recording a failed registration");
        }
    }
}
