//! `erase_disks`: erases every disk of the machine except the live image's own boot
//! device, in the mode Rackstate asks for (`metadata` by default, `full` by
//! configuration), and reports each disk's outcome.

use crate::agent::erase::EraseMode;
use crate::agent::hardware::Hardware;
use app::domain::agent::{DeviceResult, StepResult};

pub fn run(params: &serde_json::Value, host: &dyn Hardware) -> StepResult {
    let fail = |message: String| StepResult { name: "erase_disks".into(), ok: false, message, devices: vec![] };
    let mode_name = params["mode"].as_str().unwrap_or("metadata");
    let Some(mode) = EraseMode::parse(mode_name) else {
        return fail(format!("unknown erase mode {mode_name:?} (metadata or full)"));
    };
    let disks = match host.block_devices() {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let mut devices = Vec::new();
    for disk in &disks {
        let result = match &disk.skip {
            Some(why) => DeviceResult { device: disk.name.clone(), ok: true, message: format!("skipped: {why}") },
            None => match host.erase(disk, mode) {
                Ok(m) => DeviceResult { device: disk.name.clone(), ok: true, message: m },
                Err(e) => DeviceResult { device: disk.name.clone(), ok: false, message: e },
            },
        };
        devices.push(result);
    }
    let erased = devices.iter().filter(|d| d.ok && !d.message.starts_with("skipped")).count();
    let failed = devices.iter().filter(|d| !d.ok).count();
    let ok = failed == 0;
    let message = if ok {
        format!("{erased} disk(s) erased ({mode_name} mode)")
    } else {
        format!("{failed} of {} disk(s) could not be erased", disks.len())
    };
    StepResult { name: "erase_disks".into(), ok, message, devices }
}
