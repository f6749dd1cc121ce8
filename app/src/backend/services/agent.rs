//! The live-image agent's side of a job: it authenticates with the job's token (only
//! its hash is stored; valid only while the job's live image runs), reports the
//! machine's inventory, and asks for steps. A cleaning's agent must first prove it
//! runs on the recorded machine (system and disk serials) before it is given any
//! erase step, and its erase report becomes the job's verdict and certificate.

use super::{Actor, ServiceError, servers::record_inventory_in};
use crate::backend::Backend;
use crate::backend::secrets::token_hash;
use crate::backend::store::{self, jobs::JobRow, now_ms};
use crate::domain::EventKind;
use crate::domain::agent::{AgentStep, AgentSteps, InventoryAccepted, StepResult};
use crate::domain::erase::{self, CertifiedDisk, EraseCertificate, EraseMode};
use crate::domain::{Inventory, JobKind, JobPhase, identity, server_type::DEFAULT_CLASS};
use sqlx::AnyConnection;

async fn job_for_token(conn: &mut AnyConnection, job_id: i64, token: &str) -> Result<JobRow, ServiceError> {
    store::jobs::by_agent_token(conn, job_id, &token_hash(token)).await?.ok_or_else(|| ServiceError::Unauthorized {
        message: format!("no running job {job_id} with this agent token (wrong token, or the job has ended)"),
    })
}

/// The agent's steps for a job: none for registration (it needs only the
/// inventory); for cleaning, erase the disks.
fn steps_for(job: &JobRow, erase_mode: EraseMode) -> AgentSteps {
    match job.kind {
        JobKind::Clean => AgentSteps {
            steps: vec![AgentStep {
                name: "erase_disks".into(),
                params: serde_json::json!({ "mode": erase_mode.as_str() }),
            }],
        },
        JobKind::Deploy => {
            let params: super::JobParams = serde_json::from_str(&job.params).unwrap_or_default();
            AgentSteps {
                steps: params
                    .write_image
                    .map(|w| AgentStep { name: "write_image".into(), params: serde_json::json!(w) })
                    .into_iter()
                    .collect(),
            }
        }
        _ => AgentSteps::default(),
    }
}

/// Jobs whose agent must prove it runs on the recorded machine before it gets a step
/// that writes to the disks.
fn writes_disks(job: &JobRow) -> bool {
    matches!(job.kind, JobKind::Clean | JobKind::Deploy)
}

impl Backend {
    /// Whether `token` opens job `job_id`'s live image (the BMC downloads it).
    pub async fn agent_image_access(&self, job_id: i64, token: &str) -> Result<(), ServiceError> {
        let mut conn = self.db.conn().await?;
        job_for_token(&mut conn, job_id, token).await.map(|_| ())
    }

    /// Records the inventory an agent reports and lets the job go on. A repeated
    /// report (the agent retrying after a lost answer) changes nothing.
    pub async fn agent_report_inventory(
        &self,
        job_id: i64,
        token: &str,
        inventory: &Inventory,
    ) -> Result<InventoryAccepted, ServiceError> {
        inventory.validate().map_err(|m| ServiceError::invalid("inventory", m))?;
        let now = now_ms();
        let (token, inventory) = (token.to_string(), inventory.clone());
        // A refusal the agent must hear of (another machine) is committed (the job's
        // failure and its audit) and then returned.
        let answer = self.write(move |tx| {
            Box::pin(async move {
                let job = job_for_token(tx, job_id, &token).await?;
                if writes_disks(&job) {
                    return verify_cleaning_machine(tx, &job, &inventory, now).await;
                }
                if job.kind != JobKind::Register {
                    return Err(ServiceError::Conflict {
                        message: format!("job {job_id} ({}) takes no inventory", job.kind),
                    });
                }
                match job.phase {
                    JobPhase::Booting | JobPhase::Waiting => {}
                    JobPhase::AgentReported => {
                        let server = store::servers::get(tx, job.server_id).await?;
                        let server_type = server.and_then(|s| s.server_type).unwrap_or_default();
                        return Ok(Ok(InventoryAccepted { server_type, recorded: false }));
                    }
                    other => {
                        return Err(ServiceError::Conflict {
                            message: format!("job {job_id} is not waiting for an inventory (phase {other})"),
                        });
                    }
                }
                let actor = Actor::system(format!("register job {job_id} (agent)"));
                // One machine, one server: a serial another live server holds fails the job.
                let serial = &inventory.system.serial_number;
                store::identity::lock(tx, store::identity::Claim::Serial(serial)).await?;
                if let Err(e) =
                    super::identity::ensure_serial_free(tx, serial, job.server_id).await
                {
                    let reason = format!("identity_mismatch: {e}");
                    store::jobs::agent_reported(tx, job_id, Some(&reason), now).await?;
                    store::jobs::log_step(tx, job_id, &reason, now).await?;
                    return Ok(Err(ServiceError::IdentityMismatch { message: reason }));
                }
                let (server, changes) =
                    record_inventory_in(tx, &actor, job.server_id, &inventory, DEFAULT_CLASS, now).await?;
                if !store::jobs::agent_reported(tx, job_id, None, now).await? {
                    return Err(ServiceError::Conflict {
                        message: format!("job {job_id} stopped waiting for its agent"),
                    });
                }
                let server_type = server.server_type.unwrap_or_default();
                let summary = format!(
                    "agent reported the inventory: {} CPU(s), {} logical cores, {} GB RAM, {} disk(s), {} NIC(s), {} GPU(s); type {server_type}{}",
                    inventory.cpus.len(),
                    inventory.logical_cores(),
                    inventory.ram_gb(),
                    inventory.disks.len(),
                    inventory.nics.len(),
                    inventory.gpus.len(),
                    if changes.is_empty() { String::new() } else { format!("; {} hardware change(s)", changes.len()) }
                );
                store::jobs::log_step(tx, job_id, &summary, now).await?;
                Ok(Ok(InventoryAccepted { server_type, recorded: true }))
            })
        })
        .await?;
        // The job's wait on its BMC, if any here, ends now (a refusal ended it too).
        self.agent_reports.reported(job_id);
        // A registration's inventory, or a refusal, lets the job go on; a cleaning's
        // identity check and a repeated report do not.
        if answer.as_ref().map_or(true, |a| a.recorded) {
            self.job_let_go();
        }
        answer
    }

    /// The steps the agent is to run for its job; `erase_mode` is the configured
    /// disk erase ("metadata" or "full").
    pub async fn agent_steps(
        &self,
        job_id: i64,
        token: &str,
        erase_mode: EraseMode,
    ) -> Result<AgentSteps, ServiceError> {
        let mut conn = self.db.conn().await?;
        let job = job_for_token(&mut conn, job_id, token).await?;
        if writes_disks(&job) && job.agent_verified == 0 {
            return Err(ServiceError::Conflict {
                message: format!(
                    "job {job_id}: report the machine's inventory first; steps that write to disks are given only \
                     to an agent that runs on the recorded machine"
                ),
            });
        }
        Ok(steps_for(&job, erase_mode))
    }

    /// Records the result of step `index`: each in the job log; a failure, or the
    /// last step's success, lets the job go on (to fail, or to finish).
    pub async fn agent_step_result(
        &self,
        job_id: i64,
        token: &str,
        index: usize,
        result: &StepResult,
        erase_mode: EraseMode,
    ) -> Result<(), ServiceError> {
        result.validate().map_err(|m| ServiceError::invalid("result", m))?;
        let now = now_ms();
        let (this, token, result) = (self.clone(), token.to_string(), result.clone());
        let let_go = self
            .write(move |tx| {
                Box::pin(async move {
                    let job = job_for_token(tx, job_id, &token).await?;
                    let steps = steps_for(&job, erase_mode).steps;
                    let Some(step) = steps.get(index) else {
                        return Err(ServiceError::invalid(
                            "index",
                            format!("job {job_id} has {} step(s)", steps.len()),
                        ));
                    };
                    if step.name != result.name {
                        return Err(ServiceError::invalid(
                            "name",
                            format!("step {index} is {:?}, not {:?}", step.name, result.name),
                        ));
                    }
                    if !job.phase.awaits_agent() {
                        return Err(ServiceError::Conflict {
                            message: format!("job {job_id} is not waiting for step results (phase {})", job.phase),
                        });
                    }
                    // The step's lines (its result, one per device, the certificate or the
                    // failure) go into the job log in one statement: a cleaning's erase
                    // report is six lines. They are not fenced: the token proved them, and
                    // a takeover committing meanwhile (PostgreSQL reads the job without a
                    // row lock) must not drop the erase evidence.
                    let verdict = |ok: bool| if ok { "ok" } else { "FAILED" };
                    let mut lines = vec![format!("{}: {}: {}", result.name, verdict(result.ok), result.message)];
                    lines.extend(
                        result.devices.iter().map(|d| format!("  {}: {}: {}", d.device, verdict(d.ok), d.message)),
                    );
                    let failure = if !result.ok {
                        Some(format!("{} failed: {}", result.name, result.message))
                    } else if result.name == "erase_disks" {
                        match this.certify_erase(tx, &job, &result, erase_mode, now).await? {
                            Ok(certified) => {
                                lines.push(certified);
                                None
                            }
                            Err(reason) => Some(reason),
                        }
                    } else {
                        None
                    };
                    lines.extend(failure.clone());
                    let lines: Vec<store::jobs::StepLine> = lines
                        .into_iter()
                        .map(|message| store::jobs::StepLine { job_id, fence: None, at: now, message })
                        .collect();
                    store::jobs::log_steps(tx, &lines).await?;
                    // A failure, or the last step's success, lets the job go on.
                    Ok(if let Some(reason) = failure {
                        store::jobs::agent_reported(tx, job_id, Some(&reason), now).await?
                    } else if index + 1 == steps.len() {
                        store::jobs::agent_reported(tx, job_id, None, now).await?
                    } else {
                        false
                    })
                })
            })
            .await?;
        self.agent_reports.reported(job_id);
        if let_go {
            self.job_let_go();
        }
        Ok(())
    }

    /// Judges an `erase_disks` report against the recorded disks: every one (but the
    /// live image's boot device) erased in a way the mode accepts and verified, none
    /// extra. Passing, the certificate is stored and its job-log line returned;
    /// failing, the reason names the disks.
    async fn certify_erase(
        &self,
        tx: &mut sqlx::AnyConnection,
        job: &JobRow,
        result: &StepResult,
        mode: EraseMode,
        now: i64,
    ) -> Result<Result<String, String>, ServiceError> {
        let recorded = store::inventories::latest(&mut *tx, job.server_id, 1).await?.into_iter().next();
        let disks = recorded.as_ref().map(|r| r.disks.as_slice()).unwrap_or_default();
        let evidence = match erase::judge(mode, disks, &result.devices) {
            Ok(e) => e,
            Err(problems) => return Ok(Err(format!("erase_disks not verified: {problems}"))),
        };
        let server = store::servers::get(&mut *tx, job.server_id)
            .await?
            .ok_or_else(|| super::lifecycle::not_found(job.server_id))?;
        let media_type = |serial: &str| {
            disks.iter().find(|d| d.serial == serial).map(|d| d.kind.as_str().to_uppercase()).unwrap_or_default()
        };
        let cert = EraseCertificate {
            id: 0,
            server_id: server.id,
            server_name: server.name.clone(),
            job_id: job.id,
            mode,
            issued_at: now,
            performed_by: format!(
                "Rackstate clean job {} (live image agent, rackstate {})",
                job.id,
                env!("CARGO_PKG_VERSION")
            ),
            location: [server.datacenter.as_str(), server.rack.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" / "),
            media_destination: "reused: the server returns to the pool after cleaning".into(),
            disks: evidence.iter().map(|e| CertifiedDisk::new(e, &media_type(&e.serial))).collect(),
        };
        let id = store::erase_certificates::insert(&mut *tx, &cert).await?;
        let line = format!(
            "erase certificate {id}: {} disk(s) erased and verified ({} mode)",
            cert.disks.len(),
            mode.as_str()
        );
        Ok(Ok(line))
    }
}

/// A cleaning's agent reports the machine it runs on: the system serial and UUID
/// and the disk serials must be those of the last recorded inventory before any
/// erase step is handed out. Otherwise the job fails (audited) and nothing is
/// erased. Cleaning records no inventory (registration does).
async fn verify_cleaning_machine(
    tx: &mut sqlx::AnyConnection,
    job: &JobRow,
    inventory: &Inventory,
    now: i64,
) -> Result<Result<InventoryAccepted, ServiceError>, ServiceError> {
    if !job.phase.awaits_agent() {
        return Err(ServiceError::Conflict {
            message: format!("job {} is not waiting for its agent (phase {})", job.id, job.phase),
        });
    }
    let recorded = store::inventories::latest(&mut *tx, job.server_id, 1).await?.into_iter().next();
    let verdict = match &recorded {
        Some(r) => identity::agent_matches(r, inventory),
        None => Err("identity_mismatch: the server has no recorded inventory to compare with; register it \
                     first; nothing was erased"
            .to_string()),
    };
    match verdict {
        Ok(()) => {
            store::jobs::set_agent_verified(&mut *tx, job.id).await?;
            let message = format!(
                "the live image runs on the recorded machine (serial {}, {} disk(s) by serial)",
                inventory.system.serial_number,
                inventory.disks.len()
            );
            store::jobs::log_step(&mut *tx, job.id, &message, now).await?;
            Ok(Ok(InventoryAccepted { server_type: String::new(), recorded: false }))
        }
        Err(reason) => {
            store::jobs::agent_reported(&mut *tx, job.id, Some(&reason), now).await?;
            store::jobs::log_step(&mut *tx, job.id, &reason, now).await?;
            let who = Actor::system(format!("{} job {} (agent)", job.kind, job.id)).audit_name();
            let event = store::events::NewEvent {
                reason: Some(&reason),
                ..store::events::NewEvent::about(job.server_id, &who, EventKind::IdentityMismatch)
            };
            store::events::append(&mut *tx, &event, now).await?;
            Ok(Err(ServiceError::IdentityMismatch { message: reason }))
        }
    }
}
