//! Disk erasure, the real code the live image runs, with its evidence. Per disk the
//! method follows what the device supports (secure mode: NVMe sanitize crypto/block,
//! NVMe format with secure erase, ATA security erase enhanced/normal, SCSI sanitize;
//! else a full overwrite); `full` overwrites every byte; `metadata` only the first
//! and last MiB. Afterwards the agent reads back samples (first and last MiB, random
//! blocks) and compares them with what they held before. Only ever run inside the
//! live image: [`LinuxHardware`](super::hardware::LinuxHardware) refuses without its
//! marker.

pub use app::domain::erase::EraseMode;
use app::domain::erase::{DiskErasure, EraseMethod, Verification};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// How much of each end `metadata` mode wipes: covers GPT (and its backup at the
/// end), MBR, mdraid 0.9/1.x, LVM, ext*, XFS, ZFS labels.
pub const METADATA_SPAN: u64 = 1024 * 1024;
const CHUNK: usize = 4 * 1024 * 1024;
/// One read-back sample.
pub const SAMPLE: u64 = 4096;
/// Random samples between the two ends.
pub const RANDOM_SAMPLES: usize = 32;

/// What a device offers, as the agent found out (all false for a plain file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub nvme_sanitize_crypto: bool,
    pub nvme_sanitize_block: bool,
    pub nvme_format_crypto: bool,
    pub nvme_format: bool,
    pub ata_enhanced: bool,
    pub ata_erase: bool,
    pub scsi_sanitize: bool,
}

/// The methods to try, best first: a mode's choice given the device. Full overwrite
/// closes every list but metadata's.
pub fn plan(mode: EraseMode, caps: &Capabilities) -> Vec<EraseMethod> {
    match mode {
        EraseMode::Metadata => vec![EraseMethod::Metadata],
        EraseMode::Full => vec![EraseMethod::Overwrite],
        EraseMode::Secure => {
            let offered = [
                (caps.nvme_sanitize_crypto, EraseMethod::NvmeSanitizeCrypto),
                (caps.nvme_sanitize_block, EraseMethod::NvmeSanitizeBlock),
                (caps.nvme_format_crypto, EraseMethod::NvmeFormatCrypto),
                (caps.nvme_format, EraseMethod::NvmeFormatUserData),
                (caps.ata_enhanced, EraseMethod::AtaSecurityEraseEnhanced),
                (caps.ata_erase, EraseMethod::AtaSecurityErase),
                (caps.scsi_sanitize, EraseMethod::ScsiSanitizeCrypto),
                (caps.scsi_sanitize, EraseMethod::ScsiSanitizeBlock),
            ];
            let mut out: Vec<EraseMethod> = offered.iter().filter(|(on, _)| *on).map(|(_, m)| *m).collect();
            out.push(EraseMethod::Overwrite);
            out
        }
    }
}

/// Runs a device's own erase commands (NVMe, ATA, SCSI); the overwrite is ours.
pub trait DeviceCommands {
    fn capabilities(&self, path: &Path) -> Capabilities;
    /// Runs `method` on the device; Ok(tool and invocation) when it completed.
    fn run(&self, path: &Path, method: EraseMethod) -> Result<String, String>;
}

/// A plain file (the demo lab's disks, tests): nothing but the overwrite.
pub struct NoCommands;

impl DeviceCommands for NoCommands {
    fn capabilities(&self, _: &Path) -> Capabilities {
        Capabilities::default()
    }
    fn run(&self, _: &Path, method: EraseMethod) -> Result<String, String> {
        Err(format!("{method:?} is not available on a plain file"))
    }
}

/// What one disk is, for its evidence.
#[derive(Clone, Debug)]
pub struct DiskFacts<'a> {
    pub path: &'a Path,
    pub size_bytes: u64,
    pub serial: &'a str,
    pub model: &'a str,
}

fn now_ms() -> i64 {
    app::backend::now_ms()
}

/// Erases one disk as `mode` asks, trying the plan's methods in order, then verifies
/// it by reading back samples. Err when no method completed; a completed erase whose
/// verification failed is Ok with `verification.passed == false` (the server decides).
pub fn erase_disk(disk: &DiskFacts<'_>, mode: EraseMode, commands: &dyn DeviceCommands) -> Result<DiskErasure, String> {
    let offsets = sample_offsets(disk.size_bytes, mode);
    let before =
        read_samples(disk.path, &offsets).map_err(|e| format!("{}: reading samples: {e}", disk.path.display()))?;
    let started_at = now_ms();
    let mut tried = Vec::new();
    for method in plan(mode, &commands.capabilities(disk.path)) {
        let done = match method {
            EraseMethod::Overwrite => overwrite(disk.path, disk.size_bytes, false)
                .map(|n| (format!("rackstate {}: zero overwrite of every byte", env!("CARGO_PKG_VERSION")), n)),
            EraseMethod::Metadata => overwrite(disk.path, disk.size_bytes, true)
                .map(|n| (format!("rackstate {}: zero overwrite of first and last MiB", env!("CARGO_PKG_VERSION")), n)),
            device_side => commands.run(disk.path, device_side).map(|tool| (tool, disk.size_bytes)),
        };
        match done {
            Ok((tool, bytes)) => {
                let after = read_samples(disk.path, &offsets)
                    .map_err(|e| format!("{}: reading back: {e}", disk.path.display()))?;
                let verification = verify(method, &before, &after);
                return Ok(DiskErasure {
                    serial: disk.serial.to_string(),
                    model: disk.model.to_string(),
                    size_bytes: disk.size_bytes,
                    method,
                    tool: if tried.is_empty() { tool } else { format!("{tool} (after: {})", tried.join("; ")) },
                    started_at,
                    finished_at: now_ms(),
                    bytes,
                    verification,
                });
            }
            Err(e) => tried.push(format!("{method:?} failed: {e}")),
        }
    }
    Err(tried.join("; "))
}

/// Zeroes the whole device, or (`metadata_only`) its first and last MiB; returns the
/// bytes written.
fn overwrite(path: &Path, size: u64, metadata_only: bool) -> Result<u64, String> {
    erase_path(path, size, if metadata_only { EraseMode::Metadata } else { EraseMode::Full })
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Zeroes `size` bytes of the device (or file) at `path` as `mode` asks (secure and
/// full: every byte); returns the bytes written.
pub fn erase_path(path: &Path, size: u64, mode: EraseMode) -> std::io::Result<u64> {
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    // No bigger than the device: a 4 MiB zeroed buffer for a small device (a lab
    // disk, a boot partition) cost more than writing it.
    let zeros = vec![0u8; CHUNK.min(usize::try_from(size).unwrap_or(CHUNK)).max(1)];
    let write_range = |f: &mut std::fs::File, from: u64, to: u64| -> std::io::Result<u64> {
        f.seek(SeekFrom::Start(from))?;
        let mut at = from;
        while at < to {
            let n = usize::try_from(to - at).unwrap_or(usize::MAX).min(zeros.len());
            f.write_all(&zeros[..n])?;
            at += n as u64;
        }
        Ok(to - from)
    };
    let written = match mode {
        EraseMode::Full | EraseMode::Secure => write_range(&mut f, 0, size)?,
        EraseMode::Metadata if size <= 2 * METADATA_SPAN => write_range(&mut f, 0, size)?,
        EraseMode::Metadata => {
            write_range(&mut f, 0, METADATA_SPAN)? + write_range(&mut f, size - METADATA_SPAN, size)?
        }
    };
    f.sync_all()?;
    Ok(written)
}

/// Where to read back: every block of the first and last MiB, and (but for metadata
/// mode, which promises nothing there) random blocks in between.
pub fn sample_offsets(size: u64, mode: EraseMode) -> Vec<u64> {
    let blocks = size / SAMPLE;
    if blocks == 0 {
        return if size > 0 { vec![0] } else { Vec::new() };
    }
    let span = (METADATA_SPAN / SAMPLE).min(blocks);
    let mut out: Vec<u64> = (0..span).chain(blocks.saturating_sub(span)..blocks).collect();
    if mode != EraseMode::Metadata && blocks > 2 * span {
        let mut x = (now_ms() as u64) ^ 0x9E37_79B9_7F4A_7C15 ^ size;
        for _ in 0..RANDOM_SAMPLES {
            // xorshift64: a spread of positions, not a secret.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.push(span + x % (blocks - 2 * span));
        }
    }
    out.sort_unstable();
    out.dedup();
    out.into_iter().map(|b| b * SAMPLE).collect()
}

/// The sampled blocks' bytes (a short read at the end is kept short).
fn read_samples(path: &Path, offsets: &[u64]) -> std::io::Result<Vec<Vec<u8>>> {
    let mut f = std::fs::File::open(path)?;
    let mut out = Vec::with_capacity(offsets.len());
    for &at in offsets {
        f.seek(SeekFrom::Start(at))?;
        let mut buf = Vec::with_capacity(SAMPLE as usize);
        (&mut f).take(SAMPLE).read_to_end(&mut buf)?;
        out.push(buf);
    }
    Ok(out)
}

/// Judges the read-back. An overwrite must leave zeros. A device-side erase leaves a
/// uniform pattern (block erase) or indeterminate bytes (crypto erase): each sample
/// must be uniform or differ from what it held; one that still holds its original
/// (non-uniform) bytes fails.
pub fn verify(method: EraseMethod, before: &[Vec<u8>], after: &[Vec<u8>]) -> Verification {
    let uniform = |b: &[u8]| b.iter().all(|x| Some(x) == b.first());
    let zero = |b: &[u8]| b.iter().all(|x| *x == 0);
    let overwrite = matches!(method, EraseMethod::Overwrite | EraseMethod::Metadata);
    let bad: Vec<usize> = before
        .iter()
        .zip(after)
        .enumerate()
        .filter(|(_, (b, a))| if overwrite { !zero(a) } else { !uniform(a) && a == b })
        .map(|(i, _)| i)
        .collect();
    let what = if overwrite { "all zero" } else { "no original data" };
    Verification {
        method: format!(
            "read-back of {} sampled {} B blocks (first and last MiB{}): {what}",
            after.len(),
            SAMPLE,
            if method == EraseMethod::Metadata { "" } else { ", random blocks" }
        ),
        samples: after.len() as u32,
        passed: bad.is_empty() && !after.is_empty(),
        detail: if after.is_empty() {
            "nothing to read back (empty device)".into()
        } else if bad.is_empty() {
            format!("{} of {} samples {what}", after.len(), after.len())
        } else {
            format!("{} of {} samples still hold data", bad.len(), after.len())
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(dir: &Path, size: usize) -> std::path::PathBuf {
        let path = dir.join("disk.img");
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8 | 1).collect();
        std::fs::write(&path, data).unwrap();
        path
    }

    fn facts(path: &Path, size: u64) -> DiskFacts<'_> {
        DiskFacts { path, size_bytes: size, serial: "S1", model: "M" }
    }

    /// Metadata mode zeroes the first and last MiB and leaves the middle alone.
    #[test]
    fn metadata_wipes_both_ends() {
        let dir = tempfile::tempdir().unwrap();
        let size = 8 * 1024 * 1024;
        let path = filled(dir.path(), size);
        assert_eq!(erase_path(&path, size as u64, EraseMode::Metadata).unwrap(), 2 * METADATA_SPAN);
        let data = std::fs::read(&path).unwrap();
        let span = METADATA_SPAN as usize;
        assert!(data[..span].iter().all(|b| *b == 0));
        assert!(data[size - span..].iter().all(|b| *b == 0));
        assert!(data[span..size - span].iter().all(|b| *b != 0));
        assert_eq!(data.len(), size, "never grows the device");
    }

    /// Secure mode on a device without its own erase falls back to a full overwrite,
    /// verified: no original byte is left, and the evidence says so.
    #[test]
    fn secure_on_a_plain_file_overwrites_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let size = 5 * 1024 * 1024 + 123;
        let path = filled(dir.path(), size);
        let e = erase_disk(&facts(&path, size as u64), EraseMode::Secure, &NoCommands).unwrap();
        assert_eq!(e.method, EraseMethod::Overwrite);
        assert_eq!(e.bytes, size as u64);
        assert!(e.verification.passed, "{:?}", e.verification);
        assert!(e.verification.samples > 2 * 256, "both ends and random blocks: {}", e.verification.samples);
        assert!(std::fs::read(&path).unwrap().iter().all(|b| *b == 0));
    }

    /// A device whose erase command "succeeds" but leaves the data fails verification.
    #[test]
    fn a_device_erase_that_did_nothing_fails_verification() {
        struct Liar;
        impl DeviceCommands for Liar {
            fn capabilities(&self, _: &Path) -> Capabilities {
                Capabilities { nvme_sanitize_block: true, ..Default::default() }
            }
            fn run(&self, _: &Path, _: EraseMethod) -> Result<String, String> {
                Ok("nvme sanitize --sanact=2".into())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let size = 3 * 1024 * 1024;
        let path = filled(dir.path(), size);
        let e = erase_disk(&facts(&path, size as u64), EraseMode::Secure, &Liar).unwrap();
        assert_eq!(e.method, EraseMethod::NvmeSanitizeBlock);
        assert!(!e.verification.passed, "{:?}", e.verification);
    }

    /// Secure mode prefers the device's own sanitize (crypto first) and always ends
    /// with the overwrite; full and metadata are what they say.
    #[test]
    fn plans() {
        let caps = Capabilities { nvme_sanitize_crypto: true, nvme_format: true, ..Default::default() };
        assert_eq!(
            plan(EraseMode::Secure, &caps),
            vec![EraseMethod::NvmeSanitizeCrypto, EraseMethod::NvmeFormatUserData, EraseMethod::Overwrite]
        );
        assert_eq!(plan(EraseMode::Full, &caps), vec![EraseMethod::Overwrite]);
        assert_eq!(plan(EraseMode::Metadata, &caps), vec![EraseMethod::Metadata]);
    }

    /// A crypto erase leaves noise: different from before counts as erased; the
    /// original bytes still there do not.
    #[test]
    fn crypto_erase_verification() {
        let before = vec![vec![7u8, 8, 9], vec![0u8; 3]];
        assert!(verify(EraseMethod::NvmeSanitizeCrypto, &before, &[vec![1, 250, 3], vec![0; 3]]).passed);
        assert!(!verify(EraseMethod::NvmeSanitizeCrypto, &before, &[vec![7, 8, 9], vec![0; 3]]).passed);
        assert!(!verify(EraseMethod::Overwrite, &before, &[vec![1, 2, 3], vec![0; 3]]).passed);
    }
}
