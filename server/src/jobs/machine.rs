//! The one way a job reaches a machine: [`Machine::open`] logs in to the server's
//! BMC, reads what the BMC says the machine is, and has the service compare it with
//! the recorded identity (recording it at first registration). Only then does the job
//! get a `Machine`, and every power, boot or media action through it first checks that
//! this runner still holds the job (its fenced lease, by the monotonic clock).

use super::live::Timeouts;
use super::{JobContext, StepError};
use crate::bmc::{Bmc, BmcError, BmcErrorKind, BmcTarget, PowerAction, PowerState, SystemSummary};
use app::backend::services::{Actor, ServiceError};
use app::domain::identity::MachineIdentity;
use std::sync::atomic::Ordering;

/// A BMC proven to speak for the job's server, usable while the job is held.
pub struct Machine<'a> {
    bmc: Box<dyn Bmc>,
    ctx: &'a JobContext,
    /// How it was reached (the password it logged in with among them).
    target: Reached,
}

/// The BMC connection's terms, for a second login (a password rotation's check).
struct Reached {
    address: String,
    username: String,
    password: String,
    verify_tls: bool,
    tls_pin: Option<String>,
    timeout: std::time::Duration,
}

impl Reached {
    /// A connection on these terms with `password`, for `ctx`'s runner.
    fn target(
        &self,
        password: &str,
        ctx: &JobContext,
        fence: Option<std::sync::Arc<dyn Fn() -> bool + Send + Sync>>,
    ) -> BmcTarget {
        BmcTarget {
            address: self.address.clone(),
            username: self.username.clone(),
            password: password.to_string(),
            verify_tls: self.verify_tls,
            tls_pin: self.tls_pin.clone(),
            timeout: self.timeout,
            client_id: Some(ctx.owner.clone()),
            fence,
        }
    }
}

fn text(e: BmcError) -> StepError {
    StepError::from_bmc(e)
}

impl<'a> Machine<'a> {
    /// Connects to the server's BMC and checks the machine's identity. Err (logged,
    /// audited by the service on a mismatch) means the job must not touch it.
    pub async fn open(ctx: &'a JobContext, timeouts: &Timeouts) -> Result<(Machine<'a>, SystemSummary), StepError> {
        Self::open_as(ctx, timeouts, None).await
    }

    /// `open`, logging in with `password` instead of the stored one (a rotation's
    /// pending password).
    pub async fn open_as(
        ctx: &'a JobContext,
        timeouts: &Timeouts,
        password: Option<&app::backend::secrets::SecretString>,
    ) -> Result<(Machine<'a>, SystemSummary), StepError> {
        if ctx.identity_failed.load(Ordering::SeqCst) {
            return Err("identity_mismatch: not touching a machine whose identity did not match".into());
        }
        check_lease(ctx, "connecting to the BMC").await?;
        let access = ctx.backend.bmc_access(ctx.job.server_id).await.map_err(|e| e.user_message())?;
        let creds = &access.credentials;
        let Some(password) = password.or(creds.password.as_ref()) else {
            return Err("the server has no stored BMC password (it was forgotten, or the BMC address changed): \
                        enter it in the BMC access card, then retry"
                .into());
        };
        let lease = ctx.lease.clone();
        let reached = Reached {
            address: creds.address.clone(),
            username: creds.username.clone(),
            password: password.expose().to_string(),
            verify_tls: creds.verify_tls,
            tls_pin: creds.tls_pin.clone(),
            timeout: timeouts.bmc_request,
        };
        let target = reached.target(&reached.password, ctx, Some(std::sync::Arc::new(move || lease.held())));
        let bmc = ctx.bmcs.connect(target).map_err(text)?;
        ctx.log(&format!("checking the BMC at {}", bmc.address())).await;
        let actor = Actor::system(format!("{} job {}", ctx.job.kind, ctx.job.id));
        let sys = match bmc.system().await {
            Ok(sys) => sys,
            Err(BmcError { kind: BmcErrorKind::CertificateChanged { seen }, .. }) => {
                // Recorded for an admin to accept; the service's message says so.
                return Err(match ctx.backend.check_bmc_certificate(&actor, ctx.job.server_id, &seen).await {
                    Err(e) => e.user_message().into(),
                    Ok(()) => "the BMC's certificate changed while connecting; retry".into(),
                });
            }
            Err(e) => return Err(text(e)),
        };
        // Trust on first use: the certificate of the first successful exchange is pinned.
        if !creds.verify_tls
            && creds.tls_pin.is_none()
            && let Some(seen) = bmc.certificate_seen()
        {
            ctx.backend.check_bmc_certificate(&actor, ctx.job.server_id, &seen).await.map_err(|e| e.user_message())?;
            ctx.log(&format!("pinned the BMC's TLS certificate (SHA-256 {})", app::domain::tls_pin::display(&seen)))
                .await;
        }
        if (sys.power_state, sys.health) != (access.power, access.health) {
            let _ = ctx.backend.record_power(ctx.job.server_id, sys.power_state, sys.health).await;
        }
        ctx.log(&format!(
            "BMC answers: {} {}, serial {}, power {}, health {}",
            sys.manufacturer, sys.model, sys.serial_number, sys.power_state, sys.health
        ))
        .await;
        let manager_uuid = match bmc.manager_uuid().await {
            Ok(u) => u.unwrap_or_default(),
            Err(e) => {
                ctx.log(&format!("the BMC's own UUID is not readable ({e}); the system's identity decides")).await;
                String::new()
            }
        };
        let seen = MachineIdentity { system_uuid: sys.uuid.clone(), serial: sys.serial_number.clone(), manager_uuid };
        match ctx.backend.check_identity_against(&actor, ctx.job.server_id, Some(&access.recorded), &seen).await {
            Ok(()) => {
                for note in bmc.take_notes() {
                    ctx.log(&note).await;
                }
                ctx.log(&format!("identity confirmed: {seen}")).await
            }
            Err(ServiceError::IdentityMismatch { message }) => {
                ctx.identity_failed.store(true, Ordering::SeqCst);
                return Err(message.into());
            }
            Err(e) => return Err(e.user_message().into()),
        }
        Ok((Machine { bmc, ctx, target: reached }, sys))
    }

    async fn guard(&self, doing: &str) -> Result<(), StepError> {
        check_lease(self.ctx, doing).await
    }

    /// Puts what the BMC driver did differently (fallbacks, retries) in the job log.
    async fn log_notes(&self) {
        for note in self.bmc.take_notes() {
            self.ctx.log(&note).await;
        }
    }

    pub fn address(&self) -> &str {
        self.bmc.address()
    }

    /// The BMC user this job logs in as.
    pub fn username(&self) -> &str {
        &self.target.username
    }

    /// The password this job logged in with (the stored one).
    pub fn password(&self) -> &str {
        &self.target.password
    }

    /// Sets the password of BMC account `username`.
    pub async fn change_password(&self, username: &str, new_password: &str) -> Result<(), StepError> {
        self.guard("changing the BMC password").await?;
        let done = self.bmc.change_password(username, new_password).await.map_err(text);
        self.log_notes().await;
        done
    }

    /// Logs in anew with `password` and reads the system: Ok when the BMC takes it and
    /// still speaks for the same machine (`expect`'s UUID and serial).
    pub async fn login_works(&self, password: &str, expect: &SystemSummary) -> Result<(), StepError> {
        // Read-only: no fence (it changes nothing on the BMC).
        let bmc = self.ctx.bmcs.connect(self.target.target(password, self.ctx, None)).map_err(text)?;
        let sys = bmc.system().await.map_err(text)?;
        if sys.uuid != expect.uuid || sys.serial_number != expect.serial_number {
            return Err(format!(
                "identity_mismatch: the BMC answered as UUID {}, serial {} with the new password",
                sys.uuid, sys.serial_number
            )
            .into());
        }
        Ok(())
    }

    pub async fn system(&self) -> Result<SystemSummary, StepError> {
        self.bmc.system().await.map_err(text)
    }

    pub async fn oob_counts(&self) -> Result<crate::bmc::HardwareCounts, StepError> {
        self.bmc.oob_counts().await.map_err(text)
    }

    pub async fn firmware_inventory(&self) -> Result<Vec<app::domain::inventory::Firmware>, StepError> {
        self.bmc.firmware_inventory().await.map_err(text)
    }

    pub async fn inserted_media(&self) -> Result<Option<String>, StepError> {
        self.bmc.inserted_media().await.map_err(text)
    }

    pub async fn power(&self, action: PowerAction) -> Result<(), StepError> {
        self.guard(&format!("power {}", action.reset_type())).await?;
        self.bmc.power(action).await.map_err(text)
    }

    /// Until the BMC shows `want`; the system as that read had it.
    pub async fn wait_for_power(
        &self,
        want: PowerState,
        timeout: std::time::Duration,
    ) -> Result<SystemSummary, StepError> {
        self.bmc.wait_for_power(want, timeout).await.map_err(text)
    }

    /// `wait_for_power`, ended early when `until` says so (see `Bmc::wait_for_power_or`).
    pub async fn wait_for_power_or(
        &self,
        want: PowerState,
        timeout: std::time::Duration,
        until: &crate::bmc::Until,
        news: Option<&tokio::sync::Notify>,
    ) -> Result<Option<SystemSummary>, BmcError> {
        self.bmc.wait_for_power_or(want, timeout, until, news).await
    }

    /// The power state, re-read a few times while unknown; Err if it stays unknown.
    pub async fn settled_power(&self, first: PowerState) -> Result<PowerState, StepError> {
        self.bmc.settled_power(first, 3).await.map_err(text)
    }

    pub async fn boot_once_from_cd(&self) -> Result<(), StepError> {
        self.guard("setting a one-time boot from CD").await?;
        let done = self.bmc.boot_once_from_cd().await.map_err(text);
        self.log_notes().await;
        done
    }

    pub async fn boot_from_disk(&self) -> Result<(), StepError> {
        self.guard("setting a persistent boot from disk").await?;
        let done = self.bmc.boot_from_disk().await.map_err(text);
        self.log_notes().await;
        done
    }

    pub async fn clear_boot_override(&self) -> Result<(), StepError> {
        self.guard("clearing the boot override").await?;
        let done = self.bmc.clear_boot_override().await.map_err(text);
        self.log_notes().await;
        done
    }

    pub async fn insert_media(&self, url: &str) -> Result<(), StepError> {
        self.guard("inserting virtual media").await?;
        let done = self.bmc.insert_media(url).await.map_err(text);
        self.log_notes().await;
        done
    }

    pub async fn eject_media(&self) -> Result<(), StepError> {
        self.guard("ejecting virtual media").await?;
        let done = self.bmc.eject_media().await.map_err(text);
        self.log_notes().await;
        done
    }
}

/// Err when this runner no longer holds the job: it stops before `doing`.
async fn check_lease(ctx: &JobContext, doing: &str) -> Result<(), StepError> {
    if ctx.still_holds().await {
        Ok(())
    } else {
        tracing::warn!(job = ctx.job.id, doing, "lease no longer held: stopping before a BMC action");
        Err(format!("this runner no longer holds the job (lease expired or taken over); stopped before {doing}").into())
    }
}
