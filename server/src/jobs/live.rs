//! Booting a server into the live image and back out, shared by the processes that
//! need the agent (registration, cleaning): check the BMC, give the job its agent
//! token, insert the job's copy of the image, boot once from virtual CD, power on,
//! and park the job until the agent reports; afterwards power off, eject the media
//! and clear the boot override (out of band).

use super::{JobContext, JobOutcome};
use crate::bmc::redfish::RedfishBmc;
use crate::bmc::{Bmc, PowerAction, SystemSummary};
use crate::live_image::LiveImage;
use app::backend::secrets::{random_token, token_hash};
use app::backend::store::{self, now_ms};
use std::sync::Arc;
use std::time::Duration;

/// How long a job waits for its BMC.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// One Redfish exchange (RACKSTATE_BMC_TIMEOUT_SECONDS).
    pub bmc_request: Duration,
    /// A power change to show (RACKSTATE_POWER_TIMEOUT_SECONDS).
    pub power: Duration,
}

/// What booting into the live image needs.
pub struct LiveBoot {
    /// The base URL the BMC and the agent reach Rackstate at.
    pub callback_url: String,
    pub live_image: Option<Arc<LiveImage>>,
    /// How long the live image has to report (RACKSTATE_AGENT_TIMEOUT_SECONDS).
    pub agent_timeout: Duration,
    pub timeouts: Timeouts,
}

/// Where a boot left the job.
pub enum Booted {
    /// Waiting for the agent; no runner slot held.
    Parked,
    /// The agent reported before the job could park: go on at once.
    AgentDone,
    /// Another runner holds the job now.
    Lost,
}

/// The BMC of the job's server, logged in with its stored credentials.
pub async fn connect(ctx: &JobContext, timeouts: &Timeouts) -> Result<RedfishBmc, String> {
    let creds = ctx.backend.bmc_login(ctx.job.server_id).await.map_err(|e| e.user_message())?;
    let password = creds.password.as_ref().map(|p| p.expose()).unwrap_or_default();
    RedfishBmc::new(&creds.address, &creds.username, password, creds.verify_tls)
        .map(|b| b.with_timeout(timeouts.bmc_request))
        .map_err(|e| e.to_string())
}

/// Checks the BMC's credentials and reads the system, recording power and health.
pub async fn check_bmc(ctx: &JobContext, bmc: &RedfishBmc) -> Result<SystemSummary, String> {
    ctx.log(&format!("checking the BMC at {}", bmc.address())).await;
    let sys = bmc.system().await.map_err(|e| e.to_string())?;
    let _ = ctx.backend.record_power(ctx.job.server_id, &sys.power_state, &sys.health).await;
    ctx.log(&format!(
        "BMC answers: {} {}, serial {}, power {}, health {}",
        sys.manufacturer, sys.model, sys.serial_number, sys.power_state, sys.health
    ))
    .await;
    Ok(sys)
}

/// A duration in words for messages: "30 minutes", "90 seconds", "0.3 seconds".
pub fn minutes(d: Duration) -> String {
    match d.as_secs() {
        0 => format!("{:.1} seconds", d.as_secs_f64()),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

pub async fn conn(ctx: &JobContext) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, String> {
    ctx.backend.db.conn().await.map_err(|e| e.to_string())
}

pub fn lost_lease(ctx: &JobContext) -> JobOutcome {
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

impl LiveBoot {
    /// Why a parked job was claimed again: its agent never reported.
    pub fn timeout_reason(&self) -> String {
        format!(
            "the live image agent did not report within {}: check that the server boots from virtual media \
             and reaches {} over the network",
            minutes(self.agent_timeout),
            self.callback_url
        )
    }

    /// Boots the server into the job's copy of the live image and parks the job.
    pub async fn boot(&self, ctx: &JobContext, bmc: &RedfishBmc, sys: &SystemSummary) -> Result<Booted, String> {
        if self.live_image.is_none() {
            return Err("no live image is configured: set RACKSTATE_LIVE_IMAGE to the live image ISO \
                        (docs/live-image.md), then retry"
                .into());
        }
        let token = random_token();
        let id = ctx.job.id;
        if !store::jobs::set_agent_token(&mut *conn(ctx).await?, id, &ctx.owner, &token_hash(&token), now_ms())
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(Booted::Lost);
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
        bmc.wait_for_power("On", self.timeouts.power).await.map_err(|e| format!("power never reached On: {e}"))?;
        let _ = ctx.backend.record_power(ctx.job.server_id, "On", &sys.health).await;
        ctx.log(&format!("powered on; waiting up to {} for the live image agent", minutes(self.agent_timeout))).await;
        let deadline = now_ms() + self.agent_timeout.as_millis() as i64;
        if store::jobs::wait_for_agent(&mut *conn(ctx).await?, id, &ctx.owner, deadline, now_ms())
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(Booted::Parked);
        }
        // Not parked: the agent was quicker than us, or we lost the job.
        let job = store::jobs::get(&mut *conn(ctx).await?, id).await.map_err(|e| e.to_string())?;
        Ok(match job {
            Some(j)
                if matches!(j.phase.as_str(), "agent_reported" | "agent_failed")
                    && j.lease_owner.as_deref() == Some(ctx.owner.as_str()) =>
            {
                Booted::AgentDone
            }
            _ => Booted::Lost,
        })
    }

    /// Out of the live image: power off, eject the media, clear the boot override.
    pub async fn shut_down(&self, ctx: &JobContext, bmc: &RedfishBmc) -> Result<(), String> {
        ctx.log("powering off").await;
        bmc.power(PowerAction::ForceOff).await.map_err(|e| e.to_string())?;
        bmc.wait_for_power("Off", self.timeouts.power).await.map_err(|e| e.to_string())?;
        ctx.log("ejecting the live image").await;
        bmc.eject_media().await.map_err(|e| e.to_string())?;
        if let Err(e) = bmc.clear_boot_override().await {
            ctx.log(&format!("could not clear the boot override (harmless once the media is out): {e}")).await;
        }
        let sys = bmc.system().await.map_err(|e| e.to_string())?;
        let _ = ctx.backend.record_power(ctx.job.server_id, &sys.power_state, &sys.health).await;
        Ok(())
    }
}

/// An aborted job's last act: power off, eject, clear the boot override, each best
/// effort and logged; then it fails with the abort's reason (the failure rule applies).
pub async fn abort_cleanup(ctx: &JobContext, timeouts: &Timeouts) -> JobOutcome {
    let reason = ctx.job.last_error.clone().unwrap_or_else(|| "aborted".into());
    match connect(ctx, timeouts).await {
        Ok(bmc) => {
            let power = async {
                bmc.power(PowerAction::ForceOff).await?;
                bmc.wait_for_power("Off", timeouts.power).await
            };
            match power.await {
                Ok(()) => {
                    ctx.log("powered off").await;
                    let _ = ctx.backend.record_power(ctx.job.server_id, "Off", "unknown").await;
                }
                Err(e) => ctx.log(&format!("could not power off: {e}")).await,
            }
            match bmc.eject_media().await {
                Ok(()) => ctx.log("ejected the media").await,
                Err(e) => ctx.log(&format!("could not eject the media: {e}")).await,
            }
            let _ = bmc.clear_boot_override().await;
        }
        Err(e) => ctx.log(&format!("cannot reach the BMC to clean up: {e}")).await,
    }
    JobOutcome::Failed(reason)
}
