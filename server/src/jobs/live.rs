//! Booting a server into the live image and back out, shared by the processes that
//! need the agent (registration, cleaning): check the BMC, give the job its agent
//! token, insert the job's copy of the image, boot once from virtual CD, power on,
//! and park the job until the agent reports; afterwards power off, eject the media
//! and clear the boot override (out of band). A parked job taken over from a dead
//! process re-checks the machine and boots it again only if it must.

use super::machine::Machine;
use super::{JobContext, JobOutcome, StepError};
use crate::bmc::{PowerAction, PowerState, SystemSummary};
use crate::live_image::LiveImage;
use app::backend::agent_reports::ReportWatch;
use app::backend::now_ms;
use app::backend::secrets::{random_token, token_hash};
use app::backend::services::runner::Claim;
use app::domain::JobPhase;
use std::sync::Arc;
use std::time::Duration;

/// How long a job waits for its BMC.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// One Redfish exchange (RACKSTATE_BMC_TIMEOUT_SECONDS).
    pub bmc_request: Duration,
    /// A power change to show (RACKSTATE_POWER_TIMEOUT_SECONDS).
    pub power: Duration,
    /// A requested power-off: the operating system's time to shut down before it is
    /// forced off (RACKSTATE_SHUTDOWN_GRACE_SECONDS).
    pub shutdown_grace: Duration,
}

/// What booting into the live image needs.
pub struct LiveBoot {
    /// The base URL the agent reaches Rackstate at.
    pub callback_url: String,
    /// The base URL the BMC downloads the job's image from (usually the same).
    pub media_url: String,
    pub live_image: Option<Arc<LiveImage>>,
    /// How long the live image has to report (RACKSTATE_AGENT_TIMEOUT_SECONDS).
    pub agent_timeout: Duration,
    pub timeouts: Timeouts,
}

/// How a job comes to the live image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A start (or a restart after a crash while booting): boot it.
    Fresh,
    /// Taken over while parked (its process died): re-check, boot only if needed.
    TakenOver,
}

/// Where entering the live image left the job: as [`Booted`], with the job's machine
/// when the agent reported within this run (its identity was checked minutes, or
/// milliseconds, ago, and the agent's report proved it again: finishing needs no
/// second login).
pub enum Entered<'a> {
    Parked,
    AgentDone(Machine<'a>),
    Lost,
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

/// The job's machine, its identity checked (see [`Machine::open`]).
pub async fn open<'a>(ctx: &'a JobContext, timeouts: &Timeouts) -> Result<(Machine<'a>, SystemSummary), StepError> {
    ctx.timed("check_bmc", Machine::open(ctx, timeouts)).await
}

/// A duration in words for messages: "30 minutes", "90 seconds", "0.3 seconds".
pub fn minutes(d: Duration) -> String {
    match d.as_secs() {
        0 => format!("{:.1} seconds", d.as_secs_f64()),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

pub fn lost_lease(ctx: &JobContext) -> JobOutcome {
    tracing::warn!(job = ctx.job.id, "lost the job to another runner; leaving it to them");
    JobOutcome::Recorded
}

/// What the BMC lists of the hardware, in the job log (registration's first look; the
/// live image's agent has the last word).
async fn survey_out_of_band(ctx: &JobContext, bmc: &Machine<'_>) {
    match bmc.oob_counts().await {
        // Any part counts: some BMCs list only memory, or only drives.
        Ok(counts) if !counts.is_empty() => ctx.log(&format!("BMC inventory (out of band): {counts}")).await,
        Ok(_) => ctx.log("the BMC lists no out-of-band inventory; the live image will discover the hardware").await,
        Err(e) => ctx.log(&format!("no out-of-band inventory ({e}); the live image will discover the hardware")).await,
    }
}

/// Where a claimed job that boots the live image stands (its phase, read once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Asked to stop: clean up and fail.
    Aborting,
    /// A start, or a restart after a crash while booting: boot it.
    Fresh,
    /// Claimed again while parked before its deadline (its process died).
    TakenOver,
    /// Parked past its deadline: the agent never reported.
    AgentLate,
    /// The agent reported a failed step (the reason).
    AgentFailed(String),
    /// The agent reported: finish out of band.
    AgentReported,
}

impl Resume {
    pub fn of(ctx: &JobContext) -> Self {
        match ctx.job.phase {
            JobPhase::Aborting => Resume::Aborting,
            JobPhase::Waiting if ctx.job.agent_deadline.is_some_and(|d| d > now_ms()) => Resume::TakenOver,
            JobPhase::Waiting => Resume::AgentLate,
            JobPhase::AgentFailed => Resume::AgentFailed(ctx.job.last_error.clone().unwrap_or_default()),
            JobPhase::AgentReported => Resume::AgentReported,
            JobPhase::Start | JobPhase::Booting => Resume::Fresh,
        }
    }
}

/// What a boot into the live image came to, for the handler.
pub enum AfterBoot<'a> {
    /// The job is recorded (parked, or another runner holds it).
    Recorded(JobOutcome),
    /// The agent reported: finish now, through the machine this run opened.
    Finish(Machine<'a>),
    /// A step of the agent failed, with its reason.
    Failed(Option<String>),
}

impl LiveBoot {
    /// Into the live image, and where that leaves the job (the agent may have been
    /// quicker than the parking).
    pub async fn boot_until_agent<'a>(
        &self,
        ctx: &'a JobContext,
        entry: Entry,
        survey: bool,
    ) -> Result<AfterBoot<'a>, StepError> {
        Ok(match self.enter(ctx, entry, survey).await? {
            Entered::Parked => AfterBoot::Recorded(JobOutcome::Recorded),
            Entered::Lost => AfterBoot::Recorded(lost_lease(ctx)),
            Entered::AgentDone(bmc) => {
                let job = ctx.backend.job_row(ctx.job.id).await.map_err(|e| e.to_string())?;
                match job {
                    Some(j) if j.phase == JobPhase::AgentFailed => AfterBoot::Failed(j.last_error),
                    _ => AfterBoot::Finish(bmc),
                }
            }
        })
    }

    /// Opens the job's machine (its identity checked) and boots it into the live image
    /// (`survey`: log the BMC's inventory first), or, taken over, resumes.
    pub async fn enter<'a>(&self, ctx: &'a JobContext, entry: Entry, survey: bool) -> Result<Entered<'a>, StepError> {
        let (bmc, sys) = open(ctx, &self.timeouts).await?;
        let booted = match entry {
            Entry::Fresh => {
                if survey {
                    survey_out_of_band(ctx, &bmc).await;
                }
                ctx.timed("boot_live_image", self.boot(ctx, &bmc, &sys)).await?
            }
            Entry::TakenOver => self.resume(ctx, &bmc, &sys).await?,
        };
        Ok(match booted {
            Booted::Parked => Entered::Parked,
            Booted::AgentDone => Entered::AgentDone(bmc),
            Booted::Lost => Entered::Lost,
        })
    }

    /// Why a parked job was claimed again: its agent never reported.
    pub fn timeout_reason(&self) -> String {
        format!(
            "the live image agent did not report within {}: check that the server boots from virtual media \
             and reaches {} over the network",
            minutes(self.agent_timeout),
            self.callback_url
        )
    }

    /// The URL prefix of this job's images served by this Rackstate.
    fn image_prefix(&self, ctx: &JobContext) -> String {
        format!("{}/agent/v1/jobs/{}/live.iso", self.media_url, ctx.job.id)
    }

    /// A parked job taken over from a process that died: if the machine is on with
    /// this job's image (as served here) in its drive, its agent can still report, so
    /// the job parks again until its deadline; otherwise it boots the live image again.
    pub async fn resume(&self, ctx: &JobContext, bmc: &Machine<'_>, sys: &SystemSummary) -> Result<Booted, StepError> {
        let media = bmc.inserted_media().await?;
        let ours = media.as_deref().is_some_and(|m| m.starts_with(&self.image_prefix(ctx)));
        if sys.power_state == PowerState::On && ours {
            ctx.log("taken over while waiting for the agent: the machine is on with this job's live image; waiting on")
                .await;
            let deadline = ctx.job.agent_deadline.unwrap_or_else(|| now_ms() + self.agent_timeout.as_millis() as i64);
            return self.park(ctx, deadline).await;
        }
        ctx.log(&format!(
            "taken over while waiting for the agent: the machine is {} with {}; booting the live image again",
            sys.power_state.as_str().to_lowercase(),
            if ours {
                "this job's image"
            } else if media.is_some() {
                "other media"
            } else {
                "no media"
            }
        ))
        .await;
        self.boot(ctx, bmc, sys).await
    }

    /// Parks the job until its agent reports or `deadline`.
    async fn park(&self, ctx: &JobContext, deadline: i64) -> Result<Booted, StepError> {
        if ctx.backend.park_job(Claim::from(&ctx.job), deadline, ctx.lease_length).await.map_err(|e| e.to_string())? {
            return Ok(Booted::Parked);
        }
        // Not parked: the agent was quicker than us, or we lost the job.
        Ok(if agent_done(&ctx.backend, Claim::from(&ctx.job)).await? { Booted::AgentDone } else { Booted::Lost })
    }

    /// Waits until the BMC shows the machine On, or until its agent reported: a report
    /// proves the machine runs this job's image, and some BMCs leave `PowerState` out
    /// for seconds after a power change (iLO 6), which the job need not sit through.
    /// True when the BMC showed On, false when the agent was first. A report made to
    /// this process ends the wait at once (`watch`); one made to another replica, at
    /// the next power poll.
    async fn wait_until_on(
        &self,
        ctx: &JobContext,
        bmc: &Machine<'_>,
        watch: &ReportWatch<'_>,
    ) -> Result<bool, StepError> {
        let (backend, claim) = (ctx.backend.clone(), Claim::from(&ctx.job));
        // A database hiccup here only means the BMC is asked again.
        let reported: &crate::bmc::Until = &move || {
            let backend = backend.clone();
            Box::pin(async move { agent_done(&backend, claim).await.unwrap_or(false) })
        };
        bmc.wait_for_power_or(PowerState::On, self.timeouts.power, reported, Some(watch.news()))
            .await
            .map(|shown| shown.is_some())
            .map_err(|e| format!("power never reached On: {e}").into())
    }

    /// Boots the server into the job's copy of the live image and parks the job.
    pub async fn boot(&self, ctx: &JobContext, bmc: &Machine<'_>, sys: &SystemSummary) -> Result<Booted, StepError> {
        if self.live_image.is_none() {
            return Err("no live image is configured: set RACKSTATE_LIVE_IMAGE to the live image ISO \
                        (docs/live-image.md), then retry"
                .into());
        }
        let token = random_token();
        if !ctx.backend.set_agent_token(Claim::from(&ctx.job), &token_hash(&token)).await.map_err(|e| e.to_string())? {
            return Ok(Booted::Lost);
        }
        // Heard from now on: the agent may report as soon as the machine is on.
        let watch = ctx.backend.agent_reports.watch(ctx.job.id);
        let url = format!("{}?token={token}", self.image_prefix(ctx));
        // Media left in the drive is ejected first by the insert (its note says so).
        ctx.log("inserting the live image as virtual media").await;
        bmc.insert_media(&url).await?;
        ctx.log("setting a one-time boot from virtual CD").await;
        bmc.boot_once_from_cd().await?;
        // Power on, or restart when already on: decided from a known state only.
        if bmc.settled_power(sys.power_state).await? == PowerState::On {
            ctx.log("restarting the server into the live image").await;
            bmc.power(PowerAction::ForceRestart).await?;
        } else {
            ctx.log("powering on into the live image").await;
            bmc.power(PowerAction::On).await?;
        }
        let shown = self.wait_until_on(ctx, bmc, &watch).await?;
        let _ = ctx.backend.record_power(ctx.job.server_id, PowerState::On, sys.health).await;
        if shown {
            ctx.log(&format!("powered on; waiting up to {} for the live image agent", minutes(self.agent_timeout)))
                .await;
        } else {
            ctx.log("the live image agent reported before the BMC showed power On").await;
        }
        self.park(ctx, now_ms() + self.agent_timeout.as_millis() as i64).await
    }

    /// Out of the live image, the power recorded as the read that showed Off had it
    /// (the failure paths; a job's last move records the reading with the move).
    pub async fn shut_down(&self, ctx: &JobContext, bmc: &Machine<'_>) -> Result<(), StepError> {
        let off = self.shut_down_with(ctx, bmc, async {}).await?;
        let _ = ctx.backend.record_power(ctx.job.server_id, off.power_state, off.health).await;
        Ok(())
    }

    /// Out of the live image: power off, eject the media, clear the boot override,
    /// then wait until the BMC shows Off (the read that showed it is returned). The
    /// media, the override and `meanwhile` (what else the job reads from the BMC) go
    /// while the power does: some BMCs take seconds to show Off (an iLO leaves
    /// PowerState out meanwhile), and the job need not sit through that first.
    pub async fn shut_down_with(
        &self,
        ctx: &JobContext,
        bmc: &Machine<'_>,
        meanwhile: impl std::future::Future<Output = ()>,
    ) -> Result<SystemSummary, StepError> {
        ctx.log("powering off").await;
        bmc.power(PowerAction::ForceOff).await?;
        ctx.log("ejecting the live image").await;
        bmc.eject_media().await?;
        if let Err(e) = bmc.clear_boot_override().await {
            ctx.log(&format!("could not clear the boot override (harmless once the media is out): {e}")).await;
        }
        meanwhile.await;
        bmc.wait_for_power(PowerState::Off, self.timeouts.power).await
    }
}

/// Whether the job's agent reported (or reported a failure) under this claim.
async fn agent_done(backend: &app::backend::Backend, claim: Claim) -> Result<bool, StepError> {
    let job = backend.job_row(claim.id).await.map_err(|e| e.to_string())?;
    Ok(job
        .is_some_and(|j| matches!(j.phase, JobPhase::AgentReported | JobPhase::AgentFailed) && j.fence == claim.fence))
}

/// An aborted job's last act: see [`stop_and_fail`], with the abort's reason.
pub async fn abort_cleanup(ctx: &JobContext, timeouts: &Timeouts) -> JobOutcome {
    let reason = ctx.job.last_error.clone().unwrap_or_else(|| "aborted".into());
    stop_and_fail(ctx, timeouts, reason).await
}

/// A job giving up on its machine (aborted, or its live image never reported): power
/// off, eject, clear the boot override, each best effort and logged, so a machine that
/// hung while booting is not left running; then the job fails with `reason` (the
/// failure rule applies).
pub async fn stop_and_fail(ctx: &JobContext, timeouts: &Timeouts, reason: String) -> JobOutcome {
    match Machine::open(ctx, timeouts).await {
        Ok((bmc, _)) => {
            let power = async {
                bmc.power(PowerAction::ForceOff).await?;
                bmc.wait_for_power(PowerState::Off, timeouts.power).await
            };
            match power.await {
                Ok(off) => {
                    ctx.log("powered off").await;
                    let _ = ctx.backend.record_power(ctx.job.server_id, off.power_state, off.health).await;
                }
                Err(e) => ctx.log(&format!("could not power off: {e}")).await,
            }
            match bmc.eject_media().await {
                Ok(()) => ctx.log("ejected the media").await,
                Err(e) => ctx.log(&format!("could not eject the media: {e}")).await,
            }
            let _ = bmc.clear_boot_override().await;
        }
        Err(e) => ctx.log(&format!("not cleaning up through the BMC: {e}")).await,
    }
    JobOutcome::Failed(reason)
}
