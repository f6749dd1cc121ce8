//! The durable job runner. Jobs are rows (see `app::backend::services::runner`); a runner
//! claims them with a lease, renews the lease while the job runs, and records the
//! outcome. Bounded concurrency; panics are caught and fail the job; a crashed
//! process's jobs are taken over when their lease expires. One handler per job kind,
//! one file per handler.
//!
//! Fencing: a claim carries the job's fencing token (`JobRow::fence`); every write of
//! the job's work is conditional on it, and the runner keeps a monotonic deadline of
//! its lease ([`LeaseClock`]), so a runner that stalled past its lease (a stopped
//! process) performs no further BMC action: [`machine::Machine`] checks the clock
//! before each. Parked jobs (waiting for their agent) stay this process's; it renews
//! them together, and another process takes them over when it dies.

pub mod clean;
pub mod decommission;
pub mod deploy;
pub mod live;
pub mod machine;
pub mod power;
pub mod register;
pub mod rotate;
pub mod slots;

use crate::bmc::BmcConnector;
use crate::bmc::redfish::RedfishConnector;
use app::backend::services::runner::{Claim, JobRow};
use app::backend::{Backend, DbError};
use app::domain::JobKind;
use app::domain::jobs::{JobEvent, LeaseRenewal};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};
use tracing::Instrument;

/// Most jobs claimed in one statement (when as many worker slots are free).
const CLAIM_BATCH: usize = 16;

/// How long a claim holds without renewal; a dead runner's jobs wait this long.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// How often an idle runner looks for work another process queued (its own process
/// wakes it at once: `Backend::jobs_ready`).
pub const DEFAULT_POLL: Duration = Duration::from_millis(500);
/// The longest one run of a job may take (its steps until it parks or ends); each
/// step has its own, shorter limits (BMC request, power change).
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// At shutdown, how long running jobs may take to finish their step before they are
/// stopped and their leases released for another process (the whole shutdown stays
/// within the 10 s an orchestrator usually allows after SIGTERM).
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);

/// What a job's run came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    Succeeded,
    /// The handler itself recorded where the job stands: it ended it together with the
    /// server's state change, or parked it to wait for its agent.
    Recorded,
    /// Final failure with a reason an admin can act on.
    Failed(String),
    /// Transient trouble: run again after the delay.
    RetryLater {
        error: String,
        after: Duration,
    },
}

/// A step's failure: what happened, and whether trying again later may help (the
/// BMC did not answer, timed out or answered 5xx: it may be rebooting).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepError {
    pub message: String,
    pub transient: bool,
}

impl StepError {
    /// From a BMC error: transient as the BMC error's kind says.
    pub fn from_bmc(e: crate::bmc::BmcError) -> Self {
        Self { transient: e.is_transient(), message: e.to_string() }
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for StepError {
    fn from(message: String) -> Self {
        Self { message, transient: false }
    }
}

impl From<&str> for StepError {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

impl From<StepError> for String {
    fn from(e: StepError) -> Self {
        e.message
    }
}

/// How a job whose BMC does not answer is started again: at most `retries` more
/// times, after `base`, then twice as long each time (a BMC that reboots for a minute
/// or two does not fail the job). `RACKSTATE_BMC_RETRIES`, `RACKSTATE_BMC_RETRY_SECONDS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub retries: u32,
    pub base: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { retries: 3, base: Duration::from_secs(5) }
    }
}

/// How long this runner may still act for a job, by the monotonic clock: the lease
/// as last renewed (measured from before the renewal was sent), less a margin for
/// the clocks of other processes. Wall-clock jumps and a stopped process cannot
/// stretch it.
pub struct LeaseClock {
    valid_until: std::sync::Mutex<Instant>,
    lost: AtomicBool,
    lease: Duration,
}

impl LeaseClock {
    pub fn new(claimed_at: Instant, lease: Duration) -> Self {
        let me = Self { valid_until: std::sync::Mutex::new(claimed_at), lost: AtomicBool::new(false), lease };
        me.renewed(claimed_at);
        me
    }

    /// A renewal sent at `sent_at` succeeded.
    pub fn renewed(&self, sent_at: Instant) {
        let margin = self.lease / 5;
        if let Ok(mut v) = self.valid_until.lock() {
            *v = sent_at + self.lease.saturating_sub(margin);
        }
    }

    /// This runner may no longer act for the job: it is someone else's now (or
    /// aborted), or the runner moved it on itself (parked, ended).
    pub fn lose(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    /// Whether this runner still holds the job.
    pub fn held(&self) -> bool {
        !self.lost.load(Ordering::SeqCst) && self.valid_until.lock().map(|v| Instant::now() < *v).unwrap_or(false)
    }
}

/// The running job, with its log.
pub struct JobContext {
    pub backend: Backend,
    pub job: JobRow,
    /// The runner holding the job's lease.
    pub owner: String,
    pub lease: Arc<LeaseClock>,
    /// The runner's lease length (parking renews with it).
    pub lease_length: Duration,
    /// The identity check failed once: no further BMC contact for this run.
    pub identity_failed: AtomicBool,
    /// When a transient failure is tried again.
    pub retry: RetryPolicy,
    /// How the job reaches its server's BMC.
    pub bmcs: Arc<dyn BmcConnector>,
}

impl JobContext {
    /// Runs one named step of the job and records its duration (metrics).
    pub async fn timed<T>(&self, step: &'static str, work: impl std::future::Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let out = work.await;
        crate::metrics::job_step(self.job.kind.as_str(), step, started.elapsed());
        out
    }

    /// Whether this runner may act for the job now. The monotonic lease clock decides
    /// when it is fresh; when it is not (a renewal was late, or the process stalled),
    /// a renewal conditional on the claim's fence decides: it succeeds only if no one
    /// claimed the job since, and then the clock is fresh again.
    pub async fn still_holds(&self) -> bool {
        if self.lease.held() {
            return true;
        }
        let sent = Instant::now();
        match self.backend.renew_claim(Claim::from(&self.job), self.lease_length).await {
            Ok(LeaseRenewal::Renewed) => {
                self.lease.renewed(sent);
                true
            }
            Ok(LeaseRenewal::MovedOn | LeaseRenewal::Lost) => {
                self.lease.lose();
                false
            }
            Err(e) => {
                tracing::warn!(job = self.job.id, error = %app::backend::error_chain(&e), "cannot confirm the job's lease");
                false
            }
        }
    }

    /// The outcome of a failed step: started again later (with backoff) when the
    /// failure is transient and the job is still at its start (its attempts are
    /// counted there), else failed with the reason.
    pub fn fail_or_retry(&self, e: StepError) -> JobOutcome {
        let attempt = self.job.attempts.max(1);
        let most = i64::from(self.retry.retries) + 1;
        let at_start = self.job.phase.starts_attempt();
        if e.transient && at_start && attempt < most {
            let after = self.retry.base * 2u32.pow((attempt - 1).min(10) as u32);
            return JobOutcome::RetryLater { error: format!("{} (attempt {attempt} of {most})", e.message), after };
        }
        JobOutcome::Failed(e.message)
    }

    /// Appends a line to the job's step log (shown on the server page); nothing once
    /// another runner claimed the job.
    pub async fn log(&self, message: &str) {
        tracing::info!(step = message, "job step");
        match self.backend.log_job_step(Claim::from(&self.job), message).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(job = self.job.id, "not logged: the job was claimed again"),
            Err(e) => {
                tracing::warn!(job = self.job.id, error = %app::backend::error_chain(&e), "could not log a job step")
            }
        }
    }
}

#[async_trait::async_trait]
pub trait JobHandler: Send + Sync + 'static {
    async fn run(&self, ctx: &JobContext) -> JobOutcome;

    /// Called once when the job has failed for good (including a panic), to apply the
    /// lifecycle's failure rule to the server.
    async fn on_failure(&self, _ctx: &JobContext, _reason: &str) {}
}

pub struct Runner {
    backend: Backend,
    owner: String,
    concurrency: usize,
    lease: Duration,
    poll: Duration,
    run_timeout: Duration,
    stop_grace: Duration,
    handlers: HashMap<JobKind, Arc<dyn JobHandler>>,
    retry: RetryPolicy,
    bmcs: Arc<dyn BmcConnector>,
    /// Turns true when the stop grace is over: running jobs stop where they are and
    /// release their leases.
    abandon: watch::Sender<bool>,
}

impl Runner {
    /// `owner` names this runner in leases; it must be unique per process.
    pub fn new(backend: Backend, owner: impl Into<String>, concurrency: usize) -> Self {
        Self {
            owner: owner.into(),
            concurrency: concurrency.max(1),
            lease: DEFAULT_LEASE,
            poll: DEFAULT_POLL,
            run_timeout: DEFAULT_RUN_TIMEOUT,
            stop_grace: DEFAULT_STOP_GRACE,
            handlers: HashMap::new(),
            retry: RetryPolicy::default(),
            bmcs: Arc::new(RedfishConnector::new(backend.bmc_reach.clone())),
            backend,
            abandon: watch::channel(false).0,
        }
    }

    /// Jobs reach BMCs through `bmcs` (the Redfish driver unless told otherwise).
    pub fn with_bmcs(mut self, bmcs: Arc<dyn BmcConnector>) -> Self {
        self.bmcs = bmcs;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    pub fn with_run_timeout(mut self, timeout: Duration) -> Self {
        self.run_timeout = timeout;
        self
    }

    pub fn with_stop_grace(mut self, grace: Duration) -> Self {
        self.stop_grace = grace;
        self
    }

    pub fn handle(mut self, kind: JobKind, handler: impl JobHandler) -> Self {
        self.handlers.insert(kind, Arc::new(handler));
        self
    }

    /// Runs until `shutdown` turns true: then claims nothing more, gives running jobs
    /// the stop grace to finish their step, stops the rest and releases their leases
    /// and those of the jobs parked for their agents, so another process resumes them
    /// at once.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(this.concurrency));
        // Jobs claimed here, working or waiting without a slot (see `slots`).
        let in_flight_cap = this.concurrency * slots::IN_FLIGHT_PER_WORKER;
        let in_flight = Arc::new(Semaphore::new(in_flight_cap));
        // This process is alive: its parked jobs need no takeover.
        let heartbeat = {
            let this = this.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(this.lease / 3);
                loop {
                    tick.tick().await;
                    let renewed = this.backend.renew_parked_claims(&this.owner, this.lease).await;
                    if let Err(e) = renewed {
                        tracing::warn!(error = %app::backend::error_chain(&e), "renewing parked jobs");
                    }
                }
            })
        };
        loop {
            if *shutdown.borrow() {
                break;
            }
            let flight = tokio::select! {
                p = in_flight.clone().acquire_owned() => p.expect("semaphore never closes"),
                _ = shutdown.changed() => break,
            };
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => p.expect("semaphore never closes"),
                _ = shutdown.changed() => break,
            };
            // The slots free now are filled by one claim: one turn of the writer, not one
            // per job.
            let mut grants = vec![(flight, permit)];
            while grants.len() < CLAIM_BATCH {
                match (in_flight.clone().try_acquire_owned(), slots.clone().try_acquire_owned()) {
                    (Ok(flight), Ok(permit)) => grants.push((flight, permit)),
                    _ => break,
                }
            }
            let asked = grants.len();
            match this.claim(asked).await {
                Ok((jobs, sent)) => {
                    let drained = jobs.len() < asked;
                    for (job, (flight, permit)) in jobs.into_iter().zip(grants.drain(..)) {
                        let this = this.clone();
                        let slot = slots::WorkerSlot::new(slots.clone(), permit);
                        // Every log line of the job carries its id and kind.
                        let span = tracing::info_span!("job", id = job.id, kind = %job.kind, server = job.server_id);
                        let correlation = format!("job-{}", job.id);
                        tokio::spawn(
                            app::backend::CORRELATION_ID
                                .scope(correlation, async move {
                                    this.execute((job, sent), slot).await;
                                    drop(flight);
                                })
                                .instrument(span),
                        );
                    }
                    drop(grants);
                    if drained {
                        // Nothing more is due: until the poll, or until this process
                        // makes a job runnable.
                        tokio::select! {
                            _ = tokio::time::sleep(this.poll) => {}
                            _ = this.backend.jobs_ready.notified() => {}
                            _ = shutdown.changed() => {}
                        }
                    }
                }
                Err(e) => {
                    drop(grants);
                    tracing::warn!(error = %app::backend::error_chain(&e), "claiming a job");
                    tokio::time::sleep(this.poll * 4).await;
                }
            }
        }
        let all = in_flight_cap as u32;
        if tokio::time::timeout(this.stop_grace, in_flight.acquire_many(all)).await.is_err() {
            tracing::info!("stopping: jobs still running after {:?} are released for another process", this.stop_grace);
            let _ = this.abandon.send(true);
            if tokio::time::timeout(ABANDON_WAIT, in_flight.acquire_many(all)).await.is_err() {
                tracing::warn!("stopping: some jobs did not release their leases; they resume when the leases expire");
            }
        }
        heartbeat.abort();
        let released = this.backend.release_parked_claims(&this.owner).await;
        match released {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "stopping: jobs waiting for their agents released for another process"),
            Err(e) => tracing::warn!(error = %app::backend::error_chain(&e), "stopping: releasing parked jobs"),
        }
    }

    /// Up to `n` jobs due, with when the claim was sent (their leases count from then).
    async fn claim(&self, n: usize) -> Result<(Vec<JobRow>, Instant), DbError> {
        let sent = Instant::now();
        Ok((self.backend.claim_jobs(&self.owner, self.lease, n).await?, sent))
    }

    async fn execute(self: Arc<Self>, (job, claimed_at): (JobRow, Instant), slot: Arc<slots::WorkerSlot>) {
        let (id, fence) = (job.id, job.fence);
        let Some(handler) = self.handlers.get(&job.kind).cloned() else {
            let reason = format!("no handler for job kind {}", job.kind);
            self.finish(id, fence, JobEvent::Fail, Some(&reason)).await;
            return;
        };
        let lease = Arc::new(LeaseClock::new(claimed_at, self.lease));
        let ctx = Arc::new(JobContext {
            backend: self.backend.clone(),
            job,
            owner: self.owner.clone(),
            lease: lease.clone(),
            lease_length: self.lease,
            identity_failed: AtomicBool::new(false),
            retry: self.retry,
            bmcs: self.bmcs.clone(),
        });
        // Renews the lease while the job runs; says so when the lease is gone (the job
        // was aborted, or another runner took it over after a stall).
        let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
        let renewer = {
            let this = self.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(this.lease / 3);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let sent = Instant::now();
                    match this.backend.renew_claim(Claim { id, fence }, this.lease).await {
                        Ok(LeaseRenewal::Renewed) => lease.renewed(sent),
                        // The job parked or ended itself: what is left of its run (a
                        // log line, a follow-up job) goes on, without the machine.
                        Ok(LeaseRenewal::MovedOn) => {
                            lease.lose();
                            return;
                        }
                        Ok(LeaseRenewal::Lost) => {
                            lease.lose();
                            let _ = lost_tx.send(());
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(job = id, error = %app::backend::error_chain(&e), "renewing a job lease")
                        }
                    }
                }
            })
        };
        // Run in its own task so a panic is caught as a JoinError, and so the work
        // can be stopped when the lease is lost.
        let started = std::time::Instant::now();
        let mut task = {
            // The slot stays this function's too: the job's end is recorded with it.
            let (handler, ctx, slot) = (handler.clone(), ctx.clone(), slot.clone());
            let limit = self.run_timeout;
            let correlation = format!("job-{id}");
            // The job's span follows its work into this task (its log lines carry the id).
            let span = tracing::Span::current();
            tokio::spawn(
                app::backend::CORRELATION_ID.scope(
                    correlation,
                    async move {
                        match tokio::time::timeout(limit, slots::with_slot(slot, handler.run(&ctx))).await {
                            Ok(outcome) => outcome,
                            Err(_) => JobOutcome::Failed(format!(
                                "the job's steps did not finish within {}; stopped",
                                live::minutes(limit)
                            )),
                        }
                    }
                    .instrument(span),
                ),
            )
        };
        let mut abandon = self.abandon.subscribe();
        let outcome = tokio::select! {
            r = &mut task => r,
            Ok(()) = lost_rx => {
                task.abort();
                tracing::warn!(job = id, "the job's lease is gone (aborted or taken over): its work here stopped");
                return;
            }
            _ = async { abandon.wait_for(|a| *a).await.map(|_| ()) } => {
                task.abort();
                renewer.abort();
                // Stopped mid-step, as a crash would: the next runner resumes from the
                // job's recorded phase, under a new fence.
                match self.backend.release_claim(Claim { id, fence }).await {
                    Ok(_) => tracing::info!(job = id, "stopping: the job's lease is released for another process"),
                    Err(e) => tracing::warn!(job = id, error = %app::backend::error_chain(&e), "stopping: releasing the job's lease"),
                }
                return;
            }
        };
        renewer.abort();
        let outcome = match outcome {
            Ok(o) => {
                crate::metrics::job_run(ctx.job.kind.as_str(), outcome_label(&o), started.elapsed());
                Ok(o)
            }
            other => other,
        };
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) if e.is_panic() => JobOutcome::Failed("the job crashed (panic); see the server log".into()),
            Err(_) => JobOutcome::Failed("the job was cancelled".into()),
        };
        match outcome {
            JobOutcome::Succeeded => {
                self.finish(id, fence, JobEvent::Succeed, None).await;
            }
            JobOutcome::Recorded => {}
            JobOutcome::Failed(reason) => {
                ctx.log(&format!("failed: {reason}")).await;
                handler.on_failure(&ctx, &reason).await;
                self.finish(id, fence, JobEvent::Fail, Some(&reason)).await;
            }
            JobOutcome::RetryLater { error, after } => {
                ctx.log(&format!("will retry in {}s: {error}", after.as_secs())).await;
                if let Err(e) = self.backend.retry_job_later(Claim { id, fence }, &error, after).await {
                    tracing::error!(job = id, error = %app::backend::error_chain(&e), "requeueing a job");
                }
            }
        }
    }

    async fn finish(&self, id: i64, fence: i64, end: JobEvent, error: Option<&str>) {
        match self.backend.finish_job(Claim { id, fence }, end, error).await {
            Ok(true) => {}
            // Already ended with the server's state change (on_failure), or taken over.
            Ok(false) => tracing::debug!(job = id, end = ?end, "job no longer held at its end"),
            Err(e) => tracing::error!(job = id, error = %app::backend::error_chain(&e), "recording a job's outcome"),
        }
    }
}

/// After the stop grace, how long stopped jobs may take to release their leases.
const ABANDON_WAIT: Duration = Duration::from_secs(2);

fn outcome_label(o: &JobOutcome) -> &'static str {
    match o {
        JobOutcome::Succeeded => "succeeded",
        JobOutcome::Recorded => "recorded",
        JobOutcome::Failed(_) => "failed",
        JobOutcome::RetryLater { .. } => "retry_later",
    }
}
