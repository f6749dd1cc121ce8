//! The word, inside one process, that a job's agent has reported: a job waiting on
//! its BMC (an iLO leaves the power state out for seconds after power-on) stops
//! waiting as soon as the agent's report is committed here, instead of at its next
//! poll. A report that reaches another replica is still found by that poll.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The jobs of this process that wait for their agents' reports.
#[derive(Default)]
pub struct AgentReports {
    waiting: Mutex<HashMap<i64, Arc<Notify>>>,
}

/// A job's watch for its agent's report; it ends when dropped.
pub struct ReportWatch<'a> {
    reports: &'a AgentReports,
    job_id: i64,
    notify: Arc<Notify>,
}

impl AgentReports {
    /// Watches job `job_id` from now on: a report committed after this call is not
    /// missed, even before the job waits (the notification is kept for it).
    pub fn watch(&self, job_id: i64) -> ReportWatch<'_> {
        let notify = Arc::new(Notify::new());
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.insert(job_id, notify.clone());
        }
        ReportWatch { reports: self, job_id, notify }
    }

    /// Job `job_id`'s agent reported (its report is committed).
    pub fn reported(&self, job_id: i64) {
        let notify = self.waiting.lock().ok().and_then(|w| w.get(&job_id).cloned());
        if let Some(notify) = notify {
            notify.notify_one();
        }
    }
}

impl ReportWatch<'_> {
    /// Rung when the agent may have reported since it was last heard (a hint: the
    /// job row decides). A report before anyone listens is kept for the next listener.
    pub fn news(&self) -> &Notify {
        &self.notify
    }
}

impl Drop for ReportWatch<'_> {
    fn drop(&mut self) {
        if let Ok(mut waiting) = self.reports.waiting.lock() {
            // Only this watch's entry: a later watch of the same job (a retry) keeps its own.
            if waiting.get(&self.job_id).is_some_and(|n| Arc::ptr_eq(n, &self.notify)) {
                waiting.remove(&self.job_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A report that arrives between the power-on and the wait is not lost.
    #[tokio::test]
    async fn a_report_before_the_wait_ends_the_wait_at_once() {
        let reports = AgentReports::default();
        let watch = reports.watch(7);
        reports.reported(7);
        tokio::time::timeout(Duration::from_millis(100), watch.news().notified()).await.expect("woken");
    }

    /// Another job's report does not wake this one, and a dropped watch leaves nothing.
    #[tokio::test]
    async fn only_the_jobs_own_report_wakes_it() {
        let reports = AgentReports::default();
        let watch = reports.watch(7);
        reports.reported(8);
        assert!(tokio::time::timeout(Duration::from_millis(50), watch.news().notified()).await.is_err());
        drop(watch);
        assert!(reports.waiting.lock().unwrap().is_empty());
        reports.reported(7);
    }
}
