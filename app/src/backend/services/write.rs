//! One write transaction, the one way services write: run where writes run best
//! (`Db::write`: on SQLite the writer thread, so the statements follow each other
//! without waiting behind other requests), committed when the work returns Ok, rolled
//! back when it returns Err, and the job runner woken when the work queued a job.

use super::ServiceError;
use crate::backend::Backend;

/// The connection of the open transaction a service's work writes through.
pub(crate) type Tx = sqlx::AnyConnection;

/// The work of one transaction (`Box::pin(async move { ... })`).
pub(crate) type Work<'t, T> = crate::backend::db::TxWork<'t, T, ServiceError>;

impl Backend {
    /// Runs `work` in one write transaction and commits it when it returns Ok.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> Work<'t, T> + Send + 'static,
    {
        self.db.transaction(work).await
    }

    /// `write`, for work that may have made a job runnable (queued one, or an agent
    /// reported): after the commit this process's runner is woken to claim it.
    pub(crate) async fn write_runnable<T, F>(&self, work: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> Work<'t, T> + Send + 'static,
    {
        let out = self.write(work).await?;
        self.jobs_ready.notify_one();
        Ok(out)
    }

    /// After a commit that let a job go on (its agent's last report): this process's
    /// runner is woken to claim it. Reports that do not let it go (a step of several,
    /// a cleaning's identity check) wake nothing: a claim then finds nothing due.
    pub(crate) fn job_let_go(&self) {
        self.jobs_ready.notify_one();
    }
}
