//! Disk erasure, the real code the live image runs. `metadata` wipes the start and
//! the end of a disk (partition tables, RAID and LVM labels, filesystem signatures,
//! the backup GPT); `full` overwrites every byte. Only ever run inside the live
//! image: [`LinuxHardware`](super::hardware::LinuxHardware) refuses without its marker.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

/// How much of each end `metadata` mode wipes: covers GPT (and its backup at the
/// end), MBR, mdraid 0.9/1.x, LVM, ext*, XFS, ZFS labels.
pub const METADATA_SPAN: u64 = 1024 * 1024;
const CHUNK: usize = 4 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EraseMode {
    Metadata,
    Full,
}

impl EraseMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "metadata" => Some(EraseMode::Metadata),
            "full" => Some(EraseMode::Full),
            _ => None,
        }
    }
}

/// Erases `size` bytes of the device (or file) at `path`; returns the bytes written.
pub fn erase_path(path: &Path, size: u64, mode: EraseMode) -> std::io::Result<u64> {
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    let zeros = vec![0u8; CHUNK];
    let write_range = |f: &mut std::fs::File, from: u64, to: u64| -> std::io::Result<u64> {
        f.seek(SeekFrom::Start(from))?;
        let mut at = from;
        while at < to {
            let n = ((to - at) as usize).min(CHUNK);
            f.write_all(&zeros[..n])?;
            at += n as u64;
        }
        Ok(to - from)
    };
    let written = match mode {
        EraseMode::Full => write_range(&mut f, 0, size)?,
        EraseMode::Metadata if size <= 2 * METADATA_SPAN => write_range(&mut f, 0, size)?,
        EraseMode::Metadata => {
            write_range(&mut f, 0, METADATA_SPAN)? + write_range(&mut f, size - METADATA_SPAN, size)?
        }
    };
    f.sync_all()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(dir: &Path, size: usize) -> std::path::PathBuf {
        let path = dir.join("disk.img");
        std::fs::write(&path, vec![0xA5u8; size]).unwrap();
        path
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
        assert!(data[span..size - span].iter().all(|b| *b == 0xA5));
        assert_eq!(data.len(), size, "never grows the device");
    }

    /// Full mode zeroes every byte; a small disk in metadata mode is wiped whole.
    #[test]
    fn full_and_small() {
        let dir = tempfile::tempdir().unwrap();
        let size = 5 * 1024 * 1024 + 123;
        let path = filled(dir.path(), size);
        assert_eq!(erase_path(&path, size as u64, EraseMode::Full).unwrap(), size as u64);
        assert!(std::fs::read(&path).unwrap().iter().all(|b| *b == 0));
        let path = filled(dir.path(), 1000);
        erase_path(&path, 1000, EraseMode::Metadata).unwrap();
        assert!(std::fs::read(&path).unwrap().iter().all(|b| *b == 0));
    }
}
