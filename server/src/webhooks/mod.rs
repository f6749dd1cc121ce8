//! Webhook senders: each replica with workers looks for due deliveries, claims each
//! attempt in the database (so replicas never send one twice), POSTs the signed JSON,
//! and records the outcome (retried with backoff for a day). Deliveries are rows
//! written with their events, so a restart loses none and a slow receiver delays no
//! change.

pub mod signature;

use app::backend::Backend;
use app::backend::services::webhooks::delivery_body;
use app::domain::webhooks::DeliveryStatus;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a sender looks for due deliveries.
const POLL: Duration = Duration::from_millis(500);
/// Attempts in flight at once per replica.
const CONCURRENCY: usize = 8;
/// One attempt's limit; a receiver that takes longer is retried later.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// A claimed attempt is due again this long after its claim if its sender died.
const CLAIM_LEASE_MS: i64 = 60_000;
/// The most of a receiver's answer kept in the log.
const MAX_ERROR_BODY: usize = 200;
/// Finished deliveries stay in the log this long.
const KEEP_LOG: Duration = Duration::from_secs(30 * 24 * 3600);
/// How often old log rows are dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub struct Sender {
    backend: Backend,
    /// The first retry's wait (`RACKSTATE_WEBHOOK_RETRY_MS`); each next one doubles.
    first_retry_ms: i64,
    /// One HTTP client per receiver port (the address policy's check depends on the
    /// port): connections are kept and reused between deliveries.
    clients: Mutex<HashMap<u16, reqwest::Client>>,
}

impl Sender {
    pub fn new(backend: Backend, first_retry_ms: i64) -> Self {
        Self { backend, first_retry_ms, clients: Mutex::default() }
    }

    /// Runs until `stopping`; attempts in flight finish or are retried after their
    /// claim expires.
    pub async fn run(self, mut stopping: tokio::sync::watch::Receiver<bool>) {
        let this = Arc::new(self);
        let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut pruned = tokio::time::Instant::now();
        loop {
            if *stopping.borrow() {
                return;
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = tokio::time::Instant::now();
                match this.backend.prune_deliveries(KEEP_LOG).await {
                    Ok(n) if n > 0 => tracing::info!(deleted = n, "old webhook deliveries dropped from the log"),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %app::backend::error_chain(&e), "could not drop old webhook deliveries")
                    }
                }
            }
            match this.backend.due_deliveries(32).await {
                Ok(due) => {
                    for (id, seen) in due {
                        let Ok(slot) = slots.clone().acquire_owned().await else { return };
                        let lease_until = app::backend::store::now_ms() + CLAIM_LEASE_MS;
                        let claimed = match this.backend.claim_delivery(id, seen, lease_until).await {
                            Ok(c) => c,
                            Err(e) => {
                                tracing::warn!(delivery = id, error = %app::backend::error_chain(&e), "could not claim a webhook delivery");
                                None
                            }
                        };
                        let Some((attempt, secret)) = claimed else { continue };
                        let this = this.clone();
                        tokio::spawn(async move {
                            this.attempt(attempt, secret.expose()).await;
                            drop(slot);
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %app::backend::error_chain(&e), "could not look for webhook deliveries")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
        }
    }

    async fn attempt(&self, attempt: app::backend::store::webhooks::Attempt, secret: &str) {
        let body = delivery_body(&attempt);
        let (http_status, error) = match self.send(&attempt, secret, body).await {
            Ok(Status::Delivered(status)) => (Some(status), None),
            Ok(Status::Refused(status, error)) => (Some(status), Some(error)),
            Err(e) => (None, Some(e)),
        };
        match self.backend.record_delivery(&attempt, http_status, error.as_deref(), self.first_retry_ms).await {
            Ok(status) => {
                if status == DeliveryStatus::Failed {
                    tracing::warn!(delivery = attempt.id, webhook = attempt.webhook_id, error = ?error, "webhook delivery given up");
                } else {
                    tracing::debug!(delivery = attempt.id, webhook = attempt.webhook_id, status = %status, error = ?error, "webhook attempt");
                }
            }
            Err(e) => {
                tracing::warn!(delivery = attempt.id, error = %app::backend::error_chain(&e), "could not record a webhook attempt")
            }
        }
    }
}

impl Sender {
    /// The client for receivers on `port`: names resolve only to addresses the BMC
    /// address policy allows; TLS verified (public roots and `RACKSTATE_BMC_CA_FILE`);
    /// no redirects.
    fn client(&self, port: u16) -> Result<reqwest::Client, String> {
        let mut clients = self.clients.lock().map_err(|_| "the client cache is poisoned".to_string())?;
        if let Some(c) = clients.get(&port) {
            return Ok(c.clone());
        }
        let reach = &self.backend.bmc_reach;
        let resolver = Arc::new(crate::bmc::redfish::Guarded { networks: reach.networks.clone(), port });
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Rackstate-Webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(resolver);
        let tls = Arc::new(crate::bmc::tls::TlsState::default());
        if let Some(config) = crate::bmc::tls::client_config(true, &reach.ca_certs, tls)? {
            builder = builder.use_preconfigured_tls(config);
        }
        let client = builder.build().map_err(|e| app::backend::error_chain(&e))?;
        clients.insert(port, client.clone());
        Ok(client)
    }

    /// POSTs one delivery. Ok with what the receiver answered; Err when no answer
    /// came (refused address, connection, TLS, timeout).
    async fn send(
        &self,
        attempt: &app::backend::store::webhooks::Attempt,
        secret: &str,
        body: String,
    ) -> Result<Status, String> {
        let (_, host, port) = app::domain::webhooks::check_url(&attempt.url)?;
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            let networks = &self.backend.bmc_reach.networks;
            networks.allows(std::net::SocketAddr::new(ip, port)).map_err(|why| format!("not allowed: {why}"))?;
        }
        let client = self.client(port)?;
        let t = app::backend::store::now_ms() / 1000;
        let response = client
            .post(&attempt.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signature::HEADER, signature::sign(secret, t, body.as_bytes()))
            .header("Rackstate-Delivery", attempt.id.to_string())
            .header("Rackstate-Event", attempt.kind.as_str())
            .body(body)
            .send()
            .await
            .map_err(|e| clean(&app::backend::error_chain(&e)))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(Status::Delivered(status));
        }
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().filter(|c| !c.is_control()).take(MAX_ERROR_BODY).collect();
        Ok(Status::Refused(status, format!("HTTP {status}: {}", text.trim())))
    }
}

/// What the receiver answered.
enum Status {
    Delivered(u16),
    Refused(u16, String),
}

/// Printable text for the log (errors may carry anything).
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(500).collect()
}
