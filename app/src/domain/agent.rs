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

/// The `write_image` step's parameters: which image to write to the root disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteImage {
    pub url: String,
    /// Lower-case hex SHA-256 of the image as downloaded.
    pub sha256: String,
    pub format: super::images::ImageFormat,
    /// The root disk must hold at least this many bytes (and the image).
    #[serde(default)]
    pub min_disk_bytes: Option<i64>,
    /// The root disk by serial; None: the smallest disk that fits.
    #[serde(default)]
    pub root_disk_serial: Option<String>,
    /// The cloud-init config drive to add after the image (NoCloud).
    #[serde(default)]
    pub config_drive: Option<ConfigDrive>,
}

/// What the config drive says to cloud-init (NoCloud `meta-data` and `user-data`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDrive {
    pub instance_id: String,
    pub hostname: String,
    #[serde(default)]
    pub ssh_keys: Vec<String>,
    #[serde(default)]
    pub user_data: Option<String>,
}

impl ConfigDrive {
    /// The NoCloud `meta-data` (YAML; every value a double-quoted JSON string, which
    /// YAML reads as it is).
    pub fn meta_data(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let mut out = format!("instance-id: {}\nlocal-hostname: {}\n", q(&self.instance_id), q(&self.hostname));
        if !self.ssh_keys.is_empty() {
            out.push_str("public-keys:\n");
            for k in &self.ssh_keys {
                out.push_str(&format!("  - {}\n", q(k)));
            }
        }
        out
    }

    /// The NoCloud `user-data`: as given, or an empty cloud-config.
    pub fn user_data(&self) -> String {
        self.user_data.clone().unwrap_or_else(|| "#cloud-config\n{}\n".into())
    }

    /// Whether the server is unusable without it (keys or user data were asked for).
    pub fn required(&self) -> bool {
        !self.ssh_keys.is_empty() || self.user_data.is_some()
    }
}

/// The root disk for an image of `image_bytes`: the disk with the hinted serial, else
/// the smallest that holds the image and the minimum. `disks` are (name, serial,
/// size, why it must be left alone); the answer is an index or why none fits.
pub fn choose_root_disk(
    disks: &[(String, String, u64, Option<String>)],
    image_bytes: u64,
    min_disk_bytes: u64,
    serial_hint: Option<&str>,
) -> Result<usize, String> {
    let need = image_bytes.max(min_disk_bytes);
    let usable =
        |(_, (_, _, size, skip)): &(usize, &(String, String, u64, Option<String>))| skip.is_none() && *size >= need;
    if let Some(serial) = serial_hint.map(str::trim).filter(|s| !s.is_empty()) {
        let Some((i, d)) = disks.iter().enumerate().find(|(_, d)| d.1 == serial) else {
            return Err(format!("no disk with serial {serial} (the root disk hint)"));
        };
        if let Some(why) = &d.3 {
            return Err(format!("the hinted root disk {} cannot be written: {why}", d.0));
        }
        if d.2 < need {
            return Err(format!("the hinted root disk {} holds {} bytes; the image needs {need}", d.0, d.2));
        }
        return Ok(i);
    }
    disks.iter().enumerate().filter(usable).min_by_key(|(_, d)| d.2).map(|(i, _)| i).ok_or_else(|| {
        let sizes: Vec<String> = disks.iter().map(|d| format!("{} {} bytes", d.0, d.2)).collect();
        format!(
            "no suitable disk: the image needs {need} bytes; the disks are {}",
            if sizes.is_empty() { "none".to_string() } else { sizes.join(", ") }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disks() -> Vec<(String, String, u64, Option<String>)> {
        vec![
            ("sda".into(), "BIG".into(), 1000, None),
            ("sdb".into(), "LIVE".into(), 10, Some("the live image".into())),
            ("nvme0n1".into(), "SMALL".into(), 200, None),
        ]
    }

    /// Without a hint the smallest disk that fits is the root disk; the live image's
    /// own device never is.
    #[test]
    fn smallest_fitting_disk_without_a_hint() {
        assert_eq!(choose_root_disk(&disks(), 100, 0, None), Ok(2));
        assert_eq!(choose_root_disk(&disks(), 100, 300, None), Ok(0));
        assert_eq!(choose_root_disk(&disks(), 5, 0, None), Ok(2));
        let e = choose_root_disk(&disks(), 2000, 0, None).unwrap_err();
        assert!(e.starts_with("no suitable disk: the image needs 2000 bytes"), "{e}");
    }

    /// A serial hint picks that disk, or says why it cannot.
    #[test]
    fn serial_hint_decides() {
        assert_eq!(choose_root_disk(&disks(), 100, 0, Some("BIG")), Ok(0));
        assert!(choose_root_disk(&disks(), 100, 0, Some("NOPE")).unwrap_err().contains("no disk with serial NOPE"));
        assert!(choose_root_disk(&disks(), 1, 0, Some("LIVE")).unwrap_err().contains("cannot be written"));
        assert!(choose_root_disk(&disks(), 500, 0, Some("SMALL")).unwrap_err().contains("holds 200 bytes"));
    }
}
