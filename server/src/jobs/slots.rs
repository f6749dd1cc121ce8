//! A job's worker slot, given back while the job only waits on a BMC's clock.
//!
//! `RACKSTATE_WORKERS` bounds the jobs that are *working* (BMC exchanges, database
//! writes, CPU). A job waiting for a power state to settle or a mount to show does
//! none of that: holding its slot through the wait let a few slow BMCs (an iLO leaves
//! its power state out for seconds after each change) starve every other job while
//! the CPU idled. So waits go through [`idle`]: inside a job it gives the slot back,
//! sleeps, and queues for a slot again; elsewhere (the sweep, tests) it only sleeps.
//! The runner bounds the jobs it holds claims on separately ([`IN_FLIGHT_PER_WORKER`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many jobs a runner holds claims on per worker slot (working or waiting).
pub const IN_FLIGHT_PER_WORKER: usize = 4;

/// One job's slot among the runner's workers.
pub struct WorkerSlot {
    slots: Arc<Semaphore>,
    held: Mutex<Option<OwnedSemaphorePermit>>,
}

impl WorkerSlot {
    pub fn new(slots: Arc<Semaphore>, permit: OwnedSemaphorePermit) -> Arc<Self> {
        Arc::new(Self { slots, held: Mutex::new(Some(permit)) })
    }

    async fn idle(&self, wait: Duration, wake: impl std::future::Future<Output = ()>) -> bool {
        let given_back = self.held.lock().map(|mut h| h.take()).unwrap_or(None);
        drop(given_back);
        let woken = sleep_or(wait, wake).await;
        // The semaphore is never closed; if it were, the job would go on without a slot.
        if let Ok(permit) = self.slots.clone().acquire_owned().await
            && let Ok(mut held) = self.held.lock()
        {
            *held = Some(permit);
        }
        woken
    }
}

tokio::task_local! {
    static SLOT: Arc<WorkerSlot>;
}

/// Runs a job's work with its slot, so [`idle`] inside it can give the slot back.
pub async fn with_slot<F: std::future::Future>(slot: Arc<WorkerSlot>, work: F) -> F::Output {
    SLOT.scope(slot, work).await
}

/// Waits `wait` without holding a worker slot (see the module's text).
pub async fn idle(wait: Duration) {
    idle_or(wait, std::future::pending()).await;
}

/// [`idle`], ended early when `wake` resolves (news the wait was for, such as an
/// agent's report); true when it did.
pub async fn idle_or(wait: Duration, wake: impl std::future::Future<Output = ()>) -> bool {
    match SLOT.try_with(Arc::clone) {
        Ok(slot) => slot.idle(wait, wake).await,
        Err(_) => sleep_or(wait, wake).await,
    }
}

async fn sleep_or(wait: Duration, wake: impl std::future::Future<Output = ()>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => false,
        _ = wake => true,
    }
}
