//! What the job runner asks of the database, so the server crate reaches jobs through
//! services and never the store: claim a job, renew or drop the claim, log a step,
//! park a job while its machine boots, and finish it (step lines: `step_log.rs`). Each call is one statement (on SQLite on the
//! writer connection, see `Db::write_conn`), fenced by the claim (`false`: another runner holds the job
//! now, and this one must leave it alone).

use crate::backend::Backend;
use crate::backend::db::DbError;
use crate::backend::store::{self, now_ms};
use crate::domain::jobs::{JobEvent, LeaseRenewal};
use std::time::Duration;

pub use crate::backend::store::jobs::JobRow;

/// One claim on a job: its id and the fence the claim bumped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    pub id: i64,
    pub fence: i64,
}

impl From<&JobRow> for Claim {
    fn from(job: &JobRow) -> Self {
        Claim { id: job.id, fence: job.fence }
    }
}

/// The end of a lease that starts now.
fn until(now: i64, lease: Duration) -> i64 {
    now + lease.as_millis() as i64
}

impl Backend {
    /// The next job due, claimed by `owner` for `lease` (None: nothing to do).
    pub async fn claim_job(&self, owner: &str, lease: Duration) -> Result<Option<JobRow>, DbError> {
        Ok(self.claim_jobs(owner, lease, 1).await?.into_iter().next())
    }

    /// Up to `limit` jobs due, those expected to take longest first (`store::jobs::enqueue`),
    /// claimed by `owner` for `lease` in one write (a runner with free slots fills
    /// them in one turn of the writer).
    pub async fn claim_jobs(&self, owner: &str, lease: Duration, limit: usize) -> Result<Vec<JobRow>, DbError> {
        let now = now_ms();
        let owner = owner.to_string();
        self.db
            .write_one(move |c| {
                Box::pin(async move { store::jobs::claim(c, &owner, now, until(now, lease), limit).await })
            })
            .await
    }

    /// Extends the claim by `lease` from now, while the job runs under it.
    pub async fn renew_claim(&self, claim: Claim, lease: Duration) -> Result<LeaseRenewal, DbError> {
        let now = now_ms();
        self.db.write_one(move |c| Box::pin(store::jobs::renew(c, claim.id, claim.fence, now, until(now, lease)))).await
    }

    /// Extends the claim on every job `owner` parked (machines booting).
    pub async fn renew_parked_claims(&self, owner: &str, lease: Duration) -> Result<u64, DbError> {
        let now = now_ms();
        let owner = owner.to_string();
        self.db
            .write_one(move |c| {
                Box::pin(async move { store::jobs::renew_parked(c, &owner, now, until(now, lease)).await })
            })
            .await
    }

    /// Gives up the claim (the job is taken up again, by this or another process).
    pub async fn release_claim(&self, claim: Claim) -> Result<bool, DbError> {
        self.db.write_one(move |c| Box::pin(store::jobs::release(c, claim.id, claim.fence, now_ms()))).await
    }

    /// Gives up the jobs `owner` parked, for another process (this one is stopping).
    pub async fn release_parked_claims(&self, owner: &str) -> Result<u64, DbError> {
        let owner = owner.to_string();
        self.db
            .write_one(move |c| Box::pin(async move { store::jobs::release_parked(c, &owner, now_ms()).await }))
            .await
    }

    /// Queues the job again after a transient failure, to run `after` from now.
    pub async fn retry_job_later(&self, claim: Claim, error: &str, after: Duration) -> Result<bool, DbError> {
        let now = now_ms();
        let run_after = until(now, after);
        let error = error.to_string();
        self.db
            .write_one(move |c| {
                Box::pin(
                    async move { store::jobs::retry_later(c, claim.id, claim.fence, &error, run_after, now).await },
                )
            })
            .await
    }

    /// Ends the job with `end` (Succeed or Fail; a job being aborted ends aborted).
    /// One transaction: the job's end and its `job_finished` audit event.
    pub async fn finish_job(&self, claim: Claim, end: JobEvent, error: Option<&str>) -> Result<bool, DbError> {
        let error = error.map(str::to_string);
        self.db
            .transaction(move |tx| {
                Box::pin(async move {
                    store::jobs::finish(tx, claim.id, claim.fence, end, error.as_deref(), now_ms()).await
                })
            })
            .await
    }

    /// The job as it is now.
    pub async fn job_row(&self, id: i64) -> Result<Option<JobRow>, DbError> {
        store::jobs::get(&mut *self.db.conn().await?, id).await
    }

    /// Gives the job an agent token (its hash) before the live image boots.
    pub async fn set_agent_token(&self, claim: Claim, token_hash: &str) -> Result<bool, DbError> {
        let hash = token_hash.to_string();
        self.db
            .write_one(move |c| {
                Box::pin(async move { store::jobs::set_agent_token(c, claim.id, claim.fence, &hash, now_ms()).await })
            })
            .await
    }

    /// Parks the job until its agent reports or `deadline` passes, still this process's
    /// for `lease` (renewed with the other parked jobs).
    pub async fn park_job(&self, claim: Claim, deadline: i64, lease: Duration) -> Result<bool, DbError> {
        let now = now_ms();
        self.db
            .write_one(move |c| {
                Box::pin(store::jobs::wait_for_agent(c, claim.id, claim.fence, deadline, until(now, lease), now))
            })
            .await
    }
}
