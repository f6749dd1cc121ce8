//! The live-image agent's side of a job: it authenticates with the job's token (only
//! its hash is stored; valid only while the job's live image runs), reports the
//! machine's inventory, and asks for steps.

use super::{Actor, ServiceError, servers::record_inventory_in};
use crate::backend::Backend;
use crate::backend::secrets::token_hash;
use crate::backend::store::{self, jobs::JobRow, now_ms};
use crate::domain::agent::{AgentStep, AgentSteps, InventoryAccepted, StepResult};
use crate::domain::{Inventory, JobKind, server_type::DEFAULT_CLASS};
use sqlx::AnyConnection;

async fn job_for_token(conn: &mut AnyConnection, job_id: i64, token: &str) -> Result<JobRow, ServiceError> {
    store::jobs::by_agent_token(conn, job_id, &token_hash(token)).await?.ok_or_else(|| ServiceError::Unauthorized {
        message: format!("no running job {job_id} with this agent token (wrong token, or the job has ended)"),
    })
}

/// The agent's steps for a job: none for registration (it needs only the
/// inventory); for cleaning, erase the disks.
fn steps_for(job: &JobRow, erase_mode: &str) -> AgentSteps {
    match job.job_kind() {
        Some(JobKind::Clean) => AgentSteps {
            steps: vec![AgentStep { name: "erase_disks".into(), params: serde_json::json!({ "mode": erase_mode }) }],
        },
        _ => AgentSteps::default(),
    }
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
        let mut tx = self.db.begin_write().await?;
        let job = job_for_token(&mut tx, job_id, token).await?;
        if job.job_kind() == Some(JobKind::Clean) {
            // Cleaning reads the hardware but does not record it (registration does).
            drop(tx);
            return Ok(InventoryAccepted { server_type: String::new(), recorded: false });
        }
        if job.job_kind() != Some(JobKind::Register) {
            return Err(ServiceError::Conflict { message: format!("job {job_id} ({}) takes no inventory", job.kind) });
        }
        let current_type = || async {
            let mut conn = self.db.conn().await?;
            let server = store::servers::get(&mut conn, job.server_id).await?;
            Ok::<_, ServiceError>(server.and_then(|s| s.server_type).unwrap_or_default())
        };
        match job.phase.as_str() {
            "booting" | "waiting" => {}
            "agent_reported" => {
                drop(tx);
                return Ok(InventoryAccepted { server_type: current_type().await?, recorded: false });
            }
            other => {
                return Err(ServiceError::Conflict {
                    message: format!("job {job_id} is not waiting for an inventory (phase {other})"),
                });
            }
        }
        let actor = Actor::system(format!("register job {job_id} (agent)"));
        let (server, changes) =
            record_inventory_in(&mut tx, &actor, job.server_id, inventory, DEFAULT_CLASS, now).await?;
        if !store::jobs::agent_reported(&mut tx, job_id, None, now).await? {
            return Err(ServiceError::Conflict { message: format!("job {job_id} stopped waiting for its agent") });
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
        store::jobs::log_step(&mut tx, job_id, &summary, now).await?;
        tx.commit().await.map_err(|e| ServiceError::Internal(crate::backend::DbError::query("committing", e)))?;
        Ok(InventoryAccepted { server_type, recorded: true })
    }

    /// The steps the agent is to run for its job; `erase_mode` is the configured
    /// disk erase ("metadata" or "full").
    pub async fn agent_steps(&self, job_id: i64, token: &str, erase_mode: &str) -> Result<AgentSteps, ServiceError> {
        let mut conn = self.db.conn().await?;
        let job = job_for_token(&mut conn, job_id, token).await?;
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
        erase_mode: &str,
    ) -> Result<(), ServiceError> {
        result.validate().map_err(|m| ServiceError::invalid("result", m))?;
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let job = job_for_token(&mut tx, job_id, token).await?;
        let steps = steps_for(&job, erase_mode).steps;
        let Some(step) = steps.get(index) else {
            return Err(ServiceError::invalid("index", format!("job {job_id} has {} step(s)", steps.len())));
        };
        if step.name != result.name {
            return Err(ServiceError::invalid(
                "name",
                format!("step {index} is {:?}, not {:?}", step.name, result.name),
            ));
        }
        if !matches!(job.phase.as_str(), "booting" | "waiting") {
            return Err(ServiceError::Conflict {
                message: format!("job {job_id} is not waiting for step results (phase {})", job.phase),
            });
        }
        let verdict = if result.ok { "ok" } else { "FAILED" };
        store::jobs::log_step(&mut tx, job_id, &format!("{}: {verdict}: {}", result.name, result.message), now).await?;
        for d in &result.devices {
            let verdict = if d.ok { "ok" } else { "FAILED" };
            store::jobs::log_step(&mut tx, job_id, &format!("  {}: {verdict}: {}", d.device, d.message), now).await?;
        }
        if !result.ok {
            let reason = format!("{} failed: {}", result.name, result.message);
            store::jobs::agent_reported(&mut tx, job_id, Some(&reason), now).await?;
        } else if index + 1 == steps.len() {
            store::jobs::agent_reported(&mut tx, job_id, None, now).await?;
        }
        tx.commit().await.map_err(|e| ServiceError::Internal(crate::backend::DbError::query("committing", e)))?;
        Ok(())
    }
}
