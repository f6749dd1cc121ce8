//! Disk erasure as evidence: the modes an admin chooses, the methods the agent used
//! per disk, the verdict on a cleaning (every recorded disk erased and verified, or
//! the job fails naming the disks), and the erase certificate modelled on NIST SP
//! 800-88 Rev. 1's sample certificate (Appendix G).

use super::agent::DeviceResult;
use super::inventory::Disk;
use serde::{Deserialize, Serialize};

/// How thoroughly cleaning erases (RACKSTATE_ERASE_MODE).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum EraseMode {
    /// What the device offers (NVMe sanitize or format, ATA/SCSI secure erase or
    /// sanitize), else a full overwrite; then read-back verification. The default.
    #[default]
    Secure,
    /// Every byte overwritten with zeros, then verified.
    Full,
    /// Only the first and last MiB (partition tables, RAID/LVM labels): fast, and
    /// leaves data between tenants; by explicit choice only.
    Metadata,
}

impl EraseMode {
    pub const ALL: [EraseMode; 3] = [EraseMode::Secure, EraseMode::Full, EraseMode::Metadata];

    pub fn as_str(self) -> &'static str {
        match self {
            EraseMode::Secure => "secure",
            EraseMode::Full => "full",
            EraseMode::Metadata => "metadata",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s.trim())
    }

    /// Whether a disk erased with `method` satisfies this mode.
    pub fn accepts(self, method: EraseMethod) -> bool {
        match self {
            EraseMode::Metadata => true,
            EraseMode::Full | EraseMode::Secure => method != EraseMethod::Metadata,
        }
    }
}

/// What the agent did to one disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum EraseMethod {
    NvmeSanitizeCrypto,
    NvmeSanitizeBlock,
    NvmeFormatCrypto,
    NvmeFormatUserData,
    AtaSecurityEraseEnhanced,
    AtaSecurityErase,
    ScsiSanitizeCrypto,
    ScsiSanitizeBlock,
    Overwrite,
    Metadata,
}

impl EraseMethod {
    /// NIST SP 800-88's method type: Purge, Clear, or none (metadata is not a
    /// sanitization).
    pub fn nist_type(self) -> &'static str {
        match self {
            EraseMethod::Overwrite => "Clear",
            EraseMethod::Metadata => "None (metadata wipe only)",
            _ => "Purge",
        }
    }

    /// NIST's "method used": Crypto Erase, Block Erase, Overwrite.
    pub fn nist_method(self) -> &'static str {
        match self {
            EraseMethod::NvmeSanitizeCrypto | EraseMethod::NvmeFormatCrypto | EraseMethod::ScsiSanitizeCrypto => {
                "Crypto Erase"
            }
            EraseMethod::Overwrite | EraseMethod::Metadata => "Overwrite",
            _ => "Block Erase",
        }
    }

    /// Whether the data is gone by destroying its key: read-back then shows
    /// indeterminate bytes, not zeros.
    pub fn is_crypto(self) -> bool {
        self.nist_method() == "Crypto Erase"
    }
}

/// How the agent checked its work on one disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Verification {
    /// E.g. "read-back of 64 sampled 4 KiB blocks (first and last MiB, random)".
    pub method: String,
    /// Blocks read back.
    pub samples: u32,
    pub passed: bool,
    /// Why it failed, or what it saw.
    pub detail: String,
}

/// The evidence for one disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DiskErasure {
    pub serial: String,
    pub model: String,
    pub size_bytes: u64,
    pub method: EraseMethod,
    /// The tool and its invocation, e.g. "nvme-cli 2.4: nvme sanitize --sanact=4".
    pub tool: String,
    /// Unix milliseconds.
    pub started_at: i64,
    pub finished_at: i64,
    /// Bytes the method covered (written, or the device's whole capacity for a
    /// device-side erase).
    pub bytes: u64,
    pub verification: Verification,
}

/// The verdict on one cleaning's `erase_disks` report: Ok with each recorded disk's
/// evidence, or Err naming every disk that was missing, extra, failed or unverified.
/// `recorded` are the disks of the server's last inventory.
pub fn judge(mode: EraseMode, recorded: &[Disk], devices: &[DeviceResult]) -> Result<Vec<DiskErasure>, String> {
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    for disk in recorded {
        let serial = disk.serial.trim();
        let results: Vec<&DeviceResult> = devices.iter().filter(|d| d.serial.trim() == serial).collect();
        match results.as_slice() {
            [] => problems.push(format!("{serial}: not reported")),
            [d] if d.boot_device => {}
            [d] if !d.ok => problems.push(format!("{serial}: failed ({})", d.message)),
            [d] => match &d.erasure {
                None => problems.push(format!("{serial}: no erase evidence")),
                Some(e) if !e.verification.passed => {
                    problems.push(format!("{serial}: verification failed ({})", e.verification.detail))
                }
                Some(e) if !mode.accepts(e.method) => {
                    problems.push(format!("{serial}: {:?} does not satisfy {} mode", e.method, mode.as_str()))
                }
                Some(e) => evidence.push(e.clone()),
            },
            _ => problems.push(format!("{serial}: reported more than once")),
        }
    }
    for d in devices {
        if !d.boot_device && !recorded.iter().any(|r| r.serial.trim() == d.serial.trim()) {
            let name = if d.serial.trim().is_empty() { d.device.clone() } else { d.serial.clone() };
            problems.push(format!("{name}: not a recorded disk"));
        }
    }
    let boot = devices.iter().filter(|d| d.boot_device).count();
    if boot > 1 {
        problems.push(format!("{boot} devices claim to be the live image's boot device; one at most"));
    }
    if evidence.is_empty() && problems.is_empty() && !recorded.is_empty() {
        problems.push("no disk was erased".into());
    }
    if problems.is_empty() { Ok(evidence) } else { Err(problems.join("; ")) }
}

/// One erase certificate: a cleaning's evidence in the shape of NIST SP 800-88
/// Rev. 1's sample certificate. Kept for good, also after `removed_from_rack`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EraseCertificate {
    pub id: i64,
    pub server_id: i64,
    pub server_name: String,
    pub job_id: i64,
    pub mode: EraseMode,
    /// Unix milliseconds.
    pub issued_at: i64,
    /// Who or what performed it ("Rackstate clean job 12, live image agent").
    pub performed_by: String,
    /// Where the server stands: datacenter / rack.
    pub location: String,
    /// What happens to the media: back into the pool.
    pub media_destination: String,
    pub disks: Vec<CertifiedDisk>,
}

/// One disk of a certificate, with NIST's field names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CertifiedDisk {
    pub media_type: String,
    pub model: String,
    pub serial: String,
    pub size_bytes: u64,
    /// Clear / Purge.
    pub method_type: String,
    /// Crypto Erase / Block Erase / Overwrite.
    pub method_used: String,
    pub method_details: EraseMethod,
    pub tool_used: String,
    pub verification_method: String,
    pub verification_result: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub bytes: u64,
}

impl CertifiedDisk {
    pub fn new(e: &DiskErasure, media_type: &str) -> Self {
        Self {
            media_type: media_type.to_string(),
            model: e.model.clone(),
            serial: e.serial.clone(),
            size_bytes: e.size_bytes,
            method_type: e.method.nist_type().into(),
            method_used: e.method.nist_method().into(),
            method_details: e.method,
            tool_used: e.tool.clone(),
            verification_method: e.verification.method.clone(),
            verification_result: if e.verification.passed {
                format!("passed: {}", e.verification.detail)
            } else {
                format!("FAILED: {}", e.verification.detail)
            },
            started_at: e.started_at,
            finished_at: e.finished_at,
            bytes: e.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::inventory::DiskKind;

    fn disk(serial: &str) -> Disk {
        Disk { model: "m".into(), serial: serial.into(), size_bytes: 100, kind: DiskKind::Ssd }
    }

    fn erased(serial: &str, method: EraseMethod, passed: bool) -> DeviceResult {
        DeviceResult {
            device: format!("/dev/{serial}"),
            ok: true,
            message: "erased".into(),
            serial: serial.into(),
            boot_device: false,
            erasure: Some(DiskErasure {
                serial: serial.into(),
                model: "m".into(),
                size_bytes: 100,
                method,
                tool: "t".into(),
                started_at: 1,
                finished_at: 2,
                bytes: 100,
                verification: Verification { method: "v".into(), samples: 3, passed, detail: "d".into() },
            }),
        }
    }

    /// Every recorded disk erased and verified: the evidence of each.
    #[test]
    fn all_disks_verified() {
        let devices = [erased("A", EraseMethod::NvmeSanitizeCrypto, true), erased("B", EraseMethod::Overwrite, true)];
        assert_eq!(judge(EraseMode::Secure, &[disk("A"), disk("B")], &devices).unwrap().len(), 2);
    }

    /// "erase_disks ok, devices: []" on a server with disks is a failure naming them.
    #[test]
    fn an_empty_report_fails() {
        let e = judge(EraseMode::Secure, &[disk("A"), disk("B")], &[]).unwrap_err();
        assert!(e.contains("A: not reported") && e.contains("B: not reported"), "{e}");
    }

    /// A missing, an extra, an unverified disk, and a metadata wipe under secure mode:
    /// each named.
    #[test]
    fn every_problem_is_named() {
        let devices = [
            erased("A", EraseMethod::Overwrite, false),
            erased("X", EraseMethod::Overwrite, true),
            erased("C", EraseMethod::Metadata, true),
        ];
        let e = judge(EraseMode::Secure, &[disk("A"), disk("B"), disk("C")], &devices).unwrap_err();
        for want in ["A: verification failed", "B: not reported", "X: not a recorded disk", "C: Metadata"] {
            assert!(e.contains(want), "{want} in {e}");
        }
    }

    /// The live image's own boot device is the one disk that may be skipped.
    #[test]
    fn the_boot_device_may_be_skipped() {
        let mut boot = erased("B", EraseMethod::Overwrite, false);
        boot.erasure = None;
        boot.boot_device = true;
        let devices = [erased("A", EraseMethod::Overwrite, true), boot];
        assert_eq!(judge(EraseMode::Full, &[disk("A"), disk("B")], &devices).unwrap().len(), 1);
    }
}
