//! The periodic BMC sweep: reads power state and health from every server's BMC
//! with bounded concurrency. One failing BMC is recorded and never stops the sweep;
//! repeated failures raise a BMC warning on the server, not a state change. Servers
//! with a running job are left to their job.

use crate::bmc::{BmcConnector, BmcTarget};
use app::backend::Backend;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct PowerSweep {
    pub backend: Backend,
    /// Time between sweeps (RACKSTATE_POWER_SYNC_SECONDS).
    pub interval: Duration,
    /// BMCs asked at once.
    pub concurrency: usize,
    /// One exchange with a BMC.
    pub bmc_timeout: Duration,
    /// Failures in a row before a server shows a BMC warning.
    pub warn_after: i64,
    /// How BMCs are reached (the jobs' connector).
    pub bmcs: Arc<dyn BmcConnector>,
}

/// What one sweep found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub checked: usize,
    pub failed: usize,
}

impl PowerSweep {
    /// Sweeps every `interval` until `shutdown` turns true.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.changed() => return,
            }
            let report = self.sweep_once().await;
            tracing::debug!(?report, "BMC sweep");
        }
    }

    /// One pass over all servers.
    pub async fn sweep_once(&self) -> SweepReport {
        let targets = match self.backend.sweep_targets().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %app::backend::error_chain(&e), "BMC sweep: listing servers");
                return SweepReport::default();
            }
        };
        let slots = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for id in targets {
            let (this, slots) = (self.clone(), slots.clone());
            tasks.spawn(async move {
                let _slot = slots.acquire_owned().await.expect("semaphore never closes");
                this.check(id).await
            });
        }
        let mut report = SweepReport::default();
        while let Some(done) = tasks.join_next().await {
            report.checked += 1;
            if !matches!(done, Ok(true)) {
                report.failed += 1;
            }
        }
        report
    }

    /// Checks one BMC; true when it answered.
    async fn check(&self, id: i64) -> bool {
        let answer = async {
            let creds = self.backend.bmc_login(id).await.map_err(|e| e.user_message())?;
            let target = BmcTarget {
                address: creds.address.clone(),
                username: creds.username.clone(),
                password: creds.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default(),
                verify_tls: creds.verify_tls,
                tls_pin: creds.tls_pin.clone(),
                timeout: self.bmc_timeout,
                client_id: None,
                fence: None,
            };
            let bmc = self.bmcs.connect(target).map_err(|e| e.to_string())?;
            bmc.system().await.map_err(|e| e.to_string())
        }
        .await;
        let recorded = match &answer {
            Ok(sys) => self.backend.record_sweep(id, Ok((sys.power_state, sys.health)), self.warn_after).await,
            Err(e) => self.backend.record_sweep(id, Err(e), self.warn_after).await,
        };
        if let Err(e) = recorded {
            tracing::warn!(server = id, error = %app::backend::error_chain(&e), "BMC sweep: recording");
        }
        answer.is_ok()
    }
}
