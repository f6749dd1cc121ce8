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
