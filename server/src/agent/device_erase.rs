//! The devices' own erase commands, as the live image runs them: NVMe sanitize and
//! format (nvme-cli), ATA security erase (hdparm), SCSI sanitize (sg3-utils). What a
//! device supports is read from it first (NVMe `sanicap`/`fna`, ATA's security
//! section, SCSI by trying); a command that fails leaves the next method to try.

use super::erase::{Capabilities, DeviceCommands};
use app::domain::erase::EraseMethod;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long an NVMe sanitize may run before the agent gives up waiting (large HDD-like
/// block erases take hours).
pub const SANITIZE_LIMIT: Duration = Duration::from_secs(12 * 3600);
/// The temporary ATA security password (set, then consumed by the erase).
const ATA_PASSWORD: &str = "rackstate";

/// Runs the tools on this machine.
pub struct LinuxCommands;

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program).args(args).output().map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!("{program} {}: {}", args.join(" "), err.trim().chars().take(300).collect::<String>()))
    }
}

fn version(program: &str) -> String {
    run(program, &["--version"])
        .ok()
        .and_then(|v| v.lines().next().map(|l| l.trim().to_string()))
        .unwrap_or_else(|| program.to_string())
}

fn is_nvme(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("nvme"))
}

/// NVMe Identify Controller (`nvme id-ctrl -o json`): SANICAP bit 0 crypto erase, bit 1
/// block erase; FNA bit 2 crypto erase as part of a format. Format with user data
/// erase is mandatory for controllers that support Format NVM (OACS bit 1).
pub fn nvme_capabilities(id_ctrl_json: &str) -> Capabilities {
    let v: serde_json::Value = serde_json::from_str(id_ctrl_json).unwrap_or_default();
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    Capabilities {
        nvme_sanitize_crypto: n("sanicap") & 1 != 0,
        nvme_sanitize_block: n("sanicap") & 2 != 0,
        nvme_format_crypto: n("oacs") & 2 != 0 && n("fna") & 4 != 0,
        nvme_format: n("oacs") & 2 != 0,
        ..Default::default()
    }
}

/// `hdparm -I`'s Security section: supported, not frozen, not locked; enhanced erase
/// where offered. A frozen drive refuses (a suspend/resume cycle would unfreeze it;
/// the overwrite is used instead).
pub fn ata_capabilities(hdparm_i: &str) -> Capabilities {
    let Some(at) = hdparm_i.find("Security:") else { return Capabilities::default() };
    let section: Vec<String> = hdparm_i[at..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with('\t') || l.starts_with(' ') || l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let has = |s: &str| section.iter().any(|l| l == s);
    let usable = has("supported") && has("not frozen") && has("not locked") && !has("enabled");
    Capabilities {
        ata_enhanced: usable && section.iter().any(|l| l.starts_with("supported: enhanced erase")),
        ata_erase: usable,
        ..Default::default()
    }
}

/// NVMe Sanitize Status (`nvme sanitize-log -o json`): SSTAT bits 2:0, 1 = completed,
/// 2 = in progress, 3 = failed, 4 = completed without deallocation.
pub fn sanitize_state(log_json: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(log_json).ok()?;
    // nvme-cli nests the log under the device name in some versions.
    let log = if v.get("sstat").is_some() { &v } else { v.as_object()?.values().next()? };
    log["sstat"].as_u64().map(|s| s & 7)
}

impl LinuxCommands {
    fn nvme_sanitize(&self, dev: &str, action: &str) -> Result<String, String> {
        run("nvme", &["sanitize", dev, &format!("--sanact={action}")])?;
        let started = Instant::now();
        loop {
            std::thread::sleep(Duration::from_secs(2));
            let log = run("nvme", &["sanitize-log", dev, "-o", "json"])?;
            match sanitize_state(&log) {
                Some(1) | Some(4) => break,
                Some(3) => return Err("the controller reports the sanitize failed".into()),
                _ if started.elapsed() > SANITIZE_LIMIT => return Err("sanitize did not complete in time".into()),
                _ => {}
            }
        }
        Ok(format!("{}: nvme sanitize --sanact={action}", version("nvme")))
    }

    fn ata_erase(&self, dev: &str, enhanced: bool) -> Result<String, String> {
        run("hdparm", &["--user-master", "u", "--security-set-pass", ATA_PASSWORD, dev])?;
        let flag = if enhanced { "--security-erase-enhanced" } else { "--security-erase" };
        if let Err(e) = run("hdparm", &["--user-master", "u", flag, ATA_PASSWORD, dev]) {
            // Leave no password behind on a drive that refused the erase.
            let _ = run("hdparm", &["--user-master", "u", "--security-disable", ATA_PASSWORD, dev]);
            return Err(e);
        }
        Ok(format!("{}: hdparm {flag}", version("hdparm")))
    }
}

/// Whether `sg_inq`'s answer comes from an ATA disk behind SCSI-ATA translation.
fn translated_ata(inquiry: &str) -> bool {
    inquiry.lines().any(|l| {
        l.trim_start().strip_prefix("Vendor identification:").is_some_and(|v| v.trim().eq_ignore_ascii_case("ATA"))
    })
}

impl DeviceCommands for LinuxCommands {
    fn capabilities(&self, path: &Path) -> Capabilities {
        let dev = path.to_string_lossy();
        if is_nvme(path) {
            return run("nvme", &["id-ctrl", &dev, "-o", "json"]).map(|j| nvme_capabilities(&j)).unwrap_or_default();
        }
        let ata = run("hdparm", &["-I", &dev]).map(|t| ata_capabilities(&t)).unwrap_or_default();
        // SCSI/SAS: sanitize is tried; a device without it refuses and the next method
        // runs. An ATA disk answers INQUIRY too, through the kernel's SCSI-ATA
        // translation (vendor "ATA"), but has no SCSI sanitize: not tried.
        let scsi = !ata.ata_erase && run("sg_inq", &[&dev]).is_ok_and(|t| !translated_ata(&t));
        Capabilities { scsi_sanitize: scsi, ..ata }
    }

    fn run(&self, path: &Path, method: EraseMethod) -> Result<String, String> {
        let dev = path.to_string_lossy();
        match method {
            EraseMethod::NvmeSanitizeCrypto => self.nvme_sanitize(&dev, "4"),
            EraseMethod::NvmeSanitizeBlock => self.nvme_sanitize(&dev, "2"),
            EraseMethod::NvmeFormatCrypto => run("nvme", &["format", &dev, "--ses=2", "--force"])
                .map(|_| format!("{}: nvme format --ses=2", version("nvme"))),
            EraseMethod::NvmeFormatUserData => run("nvme", &["format", &dev, "--ses=1", "--force"])
                .map(|_| format!("{}: nvme format --ses=1", version("nvme"))),
            EraseMethod::AtaSecurityEraseEnhanced => self.ata_erase(&dev, true),
            EraseMethod::AtaSecurityErase => self.ata_erase(&dev, false),
            EraseMethod::ScsiSanitizeCrypto => run("sg_sanitize", &["--quick", "--crypto", &dev])
                .map(|_| format!("{}: sg_sanitize --crypto", version("sg_sanitize"))),
            EraseMethod::ScsiSanitizeBlock => run("sg_sanitize", &["--quick", "--block", &dev])
                .map(|_| format!("{}: sg_sanitize --block", version("sg_sanitize"))),
            EraseMethod::Overwrite | EraseMethod::Metadata => Err("not a device command".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An NVMe drive with crypto and block sanitize and crypto format.
    #[test]
    fn nvme_id_ctrl() {
        let c = nvme_capabilities(r#"{"vid":5197,"oacs":23,"sanicap":3,"fna":4}"#);
        assert!(c.nvme_sanitize_crypto && c.nvme_sanitize_block && c.nvme_format_crypto && c.nvme_format);
        let c = nvme_capabilities(r#"{"oacs":0,"sanicap":0,"fna":0}"#);
        assert_eq!(c, Capabilities::default());
    }

    /// A SATA disk through libata answers INQUIRY as vendor "ATA" (seen on a QEMU AHCI
    /// disk: SCSI sanitize was refused with "Invalid opcode"); a SAS disk names its maker.
    #[test]
    fn ata_behind_scsi_translation() {
        let sata = "standard INQUIRY:\n  PQual=0  PDT=0  RMB=0\n Vendor identification: ATA\n Product identification: QEMU HARDDISK\n";
        let sas = " Vendor identification: SEAGATE \n Product identification: ST1200MM0009\n";
        assert!(translated_ata(sata));
        assert!(!translated_ata(sas));
    }

    const HDPARM: &str = "Security: \n\tMaster password revision code = 65534\n\t\tsupported\n\tnot\tenabled\n\tnot\tlocked\n\tnot\tfrozen\n\tnot\texpired: security count\n\t\tsupported: enhanced erase\n\t2min for SECURITY ERASE UNIT. 2min for ENHANCED SECURITY ERASE UNIT.\nLogical Unit WWN Device Identifier: 5002538e40a1b2c3\n";

    /// A SATA SSD that offers enhanced erase, and the same drive frozen.
    #[test]
    fn ata_security_section() {
        let c = ata_capabilities(HDPARM);
        assert!(c.ata_enhanced && c.ata_erase);
        let frozen = HDPARM.replace("not\tfrozen", "frozen");
        assert_eq!(ata_capabilities(&frozen), Capabilities::default());
        assert_eq!(ata_capabilities("no security here"), Capabilities::default());
    }

    /// Sanitize status as nvme-cli prints it, flat or under the device name.
    #[test]
    fn sanitize_log() {
        assert_eq!(sanitize_state(r#"{"sprog":65535,"sstat":257}"#), Some(1));
        assert_eq!(sanitize_state(r#"{"nvme0n1":{"sprog":100,"sstat":2}}"#), Some(2));
        assert_eq!(sanitize_state("garbage"), None);
    }
}
