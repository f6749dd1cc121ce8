//! `rackstate agent`: what runs inside the live image. It reads the machine's
//! hardware, reports it to the agent API of the job that booted it, then asks for
//! steps to run. How it finds the callback URL and its token: see [`BootConfig`] and
//! docs/live-image.md.

pub mod config_drive;
pub mod device_erase;
pub mod erase;
pub mod hardware;
pub mod qcow2;
pub mod steps;

use app::domain::Inventory;
use app::domain::agent::{AgentSteps, InventoryAccepted};
use hardware::Hardware;
use std::time::Duration;

/// The first bytes of the config block in the live image (see docs/live-image.md).
pub const MARKER: &str = "RACKSTATE_AGENT_CONFIG:";
/// The block's length: the marker, then `rackstate.*=` words, padded with spaces.
pub const BLOCK_LEN: usize = 512;

/// Where the agent reports and with what token: from the kernel command line
/// (`rackstate.callback=... rackstate.job=... rackstate.token=...`).
#[derive(Clone, PartialEq, Eq)]
pub struct BootConfig {
    pub callback: String,
    pub job: i64,
    pub token: String,
}

impl std::fmt::Debug for BootConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootConfig").field("callback", &self.callback).field("job", &self.job).finish_non_exhaustive()
    }
}

impl BootConfig {
    /// Reads the `rackstate.*` words of a kernel command line (or any text).
    pub fn parse(text: &str) -> Option<Self> {
        let word = |key: &str| text.split_whitespace().find_map(|w| w.strip_prefix(key)).map(str::to_string);
        Some(Self {
            callback: word("rackstate.callback=")?.trim_end_matches('/').to_string(),
            job: word("rackstate.job=")?.parse().ok()?,
            token: word("rackstate.token=")?,
        })
    }

    /// The config block Rackstate writes into a job's copy of the live image.
    pub fn block(&self) -> Vec<u8> {
        let text = format!(
            "{MARKER} rackstate.callback={} rackstate.job={} rackstate.token={}",
            self.callback, self.job, self.token
        );
        let mut b = text.into_bytes();
        b.resize(BLOCK_LEN.max(b.len()), b' ');
        b
    }

    /// Finds the config block in an image's bytes (what the live image's boot loader
    /// passes to the kernel).
    pub fn from_image(bytes: &[u8]) -> Option<Self> {
        let at = find(bytes, MARKER.as_bytes())?;
        let end = (at + BLOCK_LEN).min(bytes.len());
        Self::parse(&String::from_utf8_lossy(&bytes[at..end]))
    }
}

/// The first position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("reading the hardware: {0}")]
    Hardware(String),
    #[error("{doing}: Rackstate refused ({status}): {message}")]
    Refused { doing: &'static str, status: u16, message: String },
    #[error("{doing}: Rackstate did not answer after {attempts} attempts: {last}")]
    Unreachable { doing: &'static str, attempts: u32, last: String },
}

/// How persistently the agent retries while Rackstate is unreachable or restarting.
#[derive(Clone, Debug)]
pub struct Patience {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for Patience {
    /// About ten minutes: long enough to ride out a Rackstate restart.
    fn default() -> Self {
        Self { attempts: 25, first_delay: Duration::from_secs(1), max_delay: Duration::from_secs(30) }
    }
}

/// What the agent did.
#[derive(Debug)]
pub struct AgentRun {
    pub inventory: Inventory,
    pub accepted: InventoryAccepted,
    pub steps: AgentSteps,
    /// The results of the steps run, in order (stops at the first failure).
    pub results: Vec<app::domain::agent::StepResult>,
}

/// Reports the hardware to the job's agent API and runs its steps.
pub async fn run(config: &BootConfig, hardware: &dyn Hardware, patience: &Patience) -> Result<AgentRun, AgentError> {
    let inventory = hardware.inventory().map_err(AgentError::Hardware)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| AgentError::Unreachable { doing: "starting", attempts: 0, last: e.to_string() })?;
    let base = format!("{}/agent/v1/jobs/{}", config.callback, config.job);
    let accepted: InventoryAccepted = call(patience, "reporting the inventory", || {
        client.post(format!("{base}/inventory")).bearer_auth(&config.token).json(&inventory)
    })
    .await?;
    let steps: AgentSteps =
        call(patience, "asking for steps", || client.get(format!("{base}/steps")).bearer_auth(&config.token)).await?;
    let mut results = Vec::new();
    for (index, step) in steps.steps.iter().enumerate() {
        tracing::info!(step = %step.name, "running");
        let result = self::steps::run(step, hardware).await;
        let _: serde_json::Value = call(patience, "reporting a step", || {
            client.post(format!("{base}/steps/{index}")).bearer_auth(&config.token).json(&result)
        })
        .await?;
        let failed = !result.ok;
        results.push(result);
        if failed {
            break;
        }
    }
    Ok(AgentRun { inventory, accepted, steps, results })
}

/// One API call, retried while Rackstate is unreachable or answers 5xx; 4xx answers
/// are final (a wrong token or a refused inventory does not improve by repeating).
async fn call<T: serde::de::DeserializeOwned>(
    patience: &Patience,
    doing: &'static str,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> Result<T, AgentError> {
    let mut delay = patience.first_delay;
    let mut last = String::new();
    for attempt in 1..=patience.attempts.max(1) {
        match request().send().await {
            Ok(resp) if resp.status().is_success() => {
                return resp.json::<T>().await.map_err(|e| AgentError::Refused {
                    doing,
                    status: 200,
                    message: format!("unreadable answer: {e}"),
                });
            }
            Ok(resp) if resp.status().is_client_error() => {
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                let message = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                    .unwrap_or(body);
                return Err(AgentError::Refused { doing, status, message });
            }
            Ok(resp) => last = format!("HTTP {}", resp.status()),
            Err(e) => last = e.to_string(),
        }
        if attempt < patience.attempts {
            tracing::warn!(doing, attempt, error = %last, "Rackstate unavailable; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(patience.max_delay);
        }
    }
    Err(AgentError::Unreachable { doing, attempts: patience.attempts, last })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block round-trips through an image's bytes and a command line.
    #[test]
    fn boot_config_block() {
        let c = BootConfig { callback: "http://10.0.0.1:3000".into(), job: 42, token: "ab".repeat(32) };
        let block = c.block();
        assert_eq!(block.len(), BLOCK_LEN);
        let mut image = vec![0u8; 4096];
        image.extend_from_slice(&block);
        image.extend_from_slice(&[0u8; 100]);
        assert_eq!(BootConfig::from_image(&image), Some(c.clone()));
        let cmdline = format!("BOOT_IMAGE=/vmlinuz boot=live {} quiet", String::from_utf8(block).unwrap().trim());
        assert_eq!(BootConfig::parse(&cmdline), Some(c));
        assert_eq!(BootConfig::parse("BOOT_IMAGE=/vmlinuz rackstate.job=1"), None);
        assert!(!format!("{:?}", BootConfig::parse(&cmdline).unwrap()).contains("abab"), "Debug hides the token");
    }
}
