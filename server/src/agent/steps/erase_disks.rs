//! `erase_disks`: erases and verifies every disk of the machine except the live
//! image's own boot device, in the mode Rackstate asks for (`secure` by default), and
//! reports each disk's evidence (method, tool, times, bytes, verification, serial).

use crate::agent::erase::EraseMode;
use crate::agent::hardware::Hardware;
use app::domain::agent::{DeviceResult, StepResult};

pub fn run(params: &serde_json::Value, host: &dyn Hardware) -> StepResult {
    let fail = |message: String| StepResult { name: "erase_disks".into(), ok: false, message, devices: vec![] };
    let mode_name = params["mode"].as_str().unwrap_or("secure");
    let Some(mode) = EraseMode::parse(mode_name) else {
        return fail(format!("unknown erase mode {mode_name:?} (secure, full or metadata)"));
    };
    let disks = match host.block_devices() {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let mut devices = Vec::new();
    for disk in &disks {
        let base = DeviceResult {
            device: disk.name.clone(),
            ok: true,
            message: String::new(),
            serial: disk.serial.clone(),
            boot_device: false,
            erasure: None,
        };
        let result = match &disk.skip {
            Some(why) => DeviceResult { message: format!("skipped: {why}"), boot_device: true, ..base },
            None => match host.erase(disk, mode) {
                Ok(e) => DeviceResult {
                    ok: e.verification.passed,
                    message: format!(
                        "{:?} with {}; {} bytes; verification {}",
                        e.method,
                        e.tool,
                        e.bytes,
                        if e.verification.passed { "passed" } else { "FAILED" }
                    ),
                    erasure: Some(e),
                    ..base
                },
                Err(e) => DeviceResult { ok: false, message: e, ..base },
            },
        };
        devices.push(result);
    }
    let erased = devices.iter().filter(|d| d.ok && d.erasure.is_some()).count();
    let failed = devices.iter().filter(|d| !d.ok).count();
    let ok = failed == 0;
    let message = if ok {
        format!("{erased} disk(s) erased and verified ({mode_name} mode)")
    } else {
        format!("{failed} of {} disk(s) could not be erased and verified", disks.len())
    };
    StepResult { name: "erase_disks".into(), ok, message, devices }
}
