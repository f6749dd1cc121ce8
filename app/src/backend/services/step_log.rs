//! Job step lines written together: each job's `log` waits for its line to be stored
//! (the page and the API show it at once), but lines that arrive while a write is in
//! progress go in the next write as one statement. A thousand jobs logging at once
//! cost a few statements a moment instead of one each (on SQLite every one would queue
//! for the single writer connection; on PostgreSQL each is a round trip).

use crate::backend::Backend;
use crate::backend::db::DbError;
use crate::backend::services::runner::Claim;
use crate::backend::store::jobs::{STEP_LINES_PER_STATEMENT, StepLine};
use crate::backend::store::{self, now_ms};
use std::sync::Mutex;
use tokio::sync::oneshot;

/// Lines waiting for the next write, and the turn to write.
#[derive(Default)]
pub struct StepLog {
    waiting: Mutex<Waiting>,
    /// Held by the one writing; a caller whose line is still waiting when it gets the
    /// turn writes everything waiting.
    turn: tokio::sync::Mutex<()>,
}

impl Backend {
    /// Appends a line to the job's step log for the runner of `claim`: false when the
    /// job was claimed again since (the line is not written; a stalled runner's lines
    /// would mislead).
    pub async fn log_job_step(&self, claim: Claim, message: &str) -> Result<bool, DbError> {
        let line = StepLine { job_id: claim.id, fence: Some(claim.fence), at: now_ms(), message: message.to_string() };
        let (sent, mut written) = oneshot::channel();
        waiting(self)?.push((line, sent));
        let _turn = self.step_log.turn.lock().await;
        if let Ok(done) = written.try_recv() {
            // An earlier turn wrote it.
            return done.map_err(DbError::Batch);
        }
        let batch = std::mem::take(&mut *waiting(self)?);
        // Its own task: a caller dropped half-way (a job stopped) loses no one's lines.
        let db = self.db.clone();
        let _ = tokio::spawn(async move { write(&db, batch).await }).await;
        written.await.unwrap_or_else(|_| Err("the step log write stopped".into())).map_err(DbError::Batch)
    }
}

type Waiting = Vec<(StepLine, oneshot::Sender<Result<bool, String>>)>;

fn waiting(backend: &Backend) -> Result<std::sync::MutexGuard<'_, Waiting>, DbError> {
    backend.step_log.waiting.lock().map_err(|_| DbError::Batch("the step log's lock was poisoned".into()))
}

/// Writes the lines (in statements of at most STEP_LINES_PER_STATEMENT) and tells
/// each caller whether its line went in.
async fn write(db: &crate::backend::Db, batch: Waiting) {
    let (lines, callers): (Vec<StepLine>, Vec<_>) = batch.into_iter().unzip();
    let mut outcome: Vec<Result<bool, String>> = Vec::with_capacity(lines.len());
    for part in lines.chunks(STEP_LINES_PER_STATEMENT) {
        let part_owned = part.to_vec();
        let written =
            db.write_one(move |c| Box::pin(async move { store::jobs::log_steps(c, &part_owned).await })).await;
        match written {
            // By job: a line refused for an old claim beside one written for the new
            // claim of the same job reads as written (it only decides a warning).
            Ok(jobs) => outcome.extend(part.iter().map(|l| Ok(jobs.contains(&l.job_id)))),
            Err(e) => {
                let message = match std::error::Error::source(&e) {
                    Some(cause) => format!("{e}: {cause}"),
                    None => e.to_string(),
                };
                outcome.extend(part.iter().map(|_| Err(message.clone())));
            }
        }
    }
    for (caller, result) in callers.into_iter().zip(outcome) {
        let _ = caller.send(result);
    }
}
