//! What the live-image agent and Rackstate say to each other (the agent API's wire
//! types). The agent posts the machine's [`Inventory`](super::Inventory), then asks
//! for steps to run.

use serde::{Deserialize, Serialize};

/// The largest request body the agent API accepts.
pub const MAX_AGENT_BODY: usize = 1024 * 1024;

/// Steps the agent is to run in the live image, in order. Empty: nothing to do (the
/// job finishes out of band, e.g. registration powers the machine off).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSteps {
    pub steps: Vec<AgentStep>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentStep {
    /// The step's name, e.g. "erase_disks".
    pub name: String,
    #[serde(default)]
    pub params: serde_json::Value,
}

/// Rackstate's answer to an inventory report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryAccepted {
    /// The server type the hardware was given.
    pub server_type: String,
    /// False when this report repeated one already recorded (an agent retrying).
    pub recorded: bool,
}

/// What the agent reports after running one step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepResult {
    /// The step's name, as it was given.
    pub name: String,
    pub ok: bool,
    /// One line for the job log.
    pub message: String,
    /// Per-device outcomes (e.g. each disk erased).
    #[serde(default)]
    pub devices: Vec<DeviceResult>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceResult {
    pub device: String,
    pub ok: bool,
    pub message: String,
    /// The disk's serial, by which Rackstate matches it to the recorded inventory.
    #[serde(default)]
    pub serial: String,
    /// The live image's own boot device: the one disk left alone on purpose.
    #[serde(default)]
    pub boot_device: bool,
    /// What was done and how it was verified (erase steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure: Option<super::erase::DiskErasure>,
}

impl StepResult {
    /// Bounds, like the inventory's: the job log is not a dumping ground.
    pub fn validate(&self) -> Result<(), String> {
        if self.message.len() > 2000 || self.name.len() > 64 {
            return Err("message: longer than 2000 characters (or name longer than 64)".into());
        }
        if self.devices.len() > super::inventory::MAX_COMPONENTS {
            return Err("devices: too many entries".into());
        }
        let too_long = |d: &DeviceResult| {
            d.device.len() > 256
                || d.message.len() > 2000
                || d.serial.len() > 256
                || d.erasure.as_ref().is_some_and(|e| {
                    e.tool.len() > 512
                        || e.model.len() > 256
                        || e.verification.method.len() > 512
                        || e.verification.detail.len() > 2000
                })
        };
        match self.devices.iter().position(too_long) {
            Some(i) => Err(format!("devices[{i}]: device or message too long")),
            None => Ok(()),
        }
    }
}
