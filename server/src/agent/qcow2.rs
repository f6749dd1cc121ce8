//! Reading a qcow2 image (versions 2 and 3) as the raw disk it describes, cluster by
//! cluster: allocated clusters as stored, compressed ones inflated (raw deflate), zero
//! and unallocated ones as zeros. Backing files, encryption, external data files and
//! extended L2 entries are refused with a message saying so.

use sha2::Digest;
use std::io::{Read, Seek, SeekFrom, Write};

/// What the header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u32,
    pub cluster_bits: u32,
    /// The raw disk's size in bytes.
    pub size: u64,
    pub l1_size: u64,
    pub l1_offset: u64,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// The header from the file's first bytes (at least 104).
pub fn parse_header(b: &[u8]) -> Result<Header, String> {
    if b.len() < 104 || &b[..4] != b"QFI\xfb" {
        return Err("not a qcow2 image (no QFI magic)".into());
    }
    let version = be32(b, 4);
    if !(2..=3).contains(&version) {
        return Err(format!("qcow2 version {version} is not supported (2 or 3)"));
    }
    if be64(b, 8) != 0 {
        return Err("the qcow2 image has a backing file: flatten it first (qemu-img convert)".into());
    }
    let cluster_bits = be32(b, 20);
    if !(9..=21).contains(&cluster_bits) {
        return Err(format!("qcow2 cluster size 2^{cluster_bits} is out of range"));
    }
    if be32(b, 32) != 0 {
        return Err("the qcow2 image is encrypted".into());
    }
    if version == 3 {
        let incompatible = be64(b, 72);
        // Bit 0 (dirty) and bit 3 (compression type, checked per cluster) are fine.
        if incompatible & !0b1001 != 0 {
            return Err(format!(
                "the qcow2 image needs features this agent lacks (incompatible bits {incompatible:#x}: corrupt, \
                 external data file or extended L2 entries)"
            ));
        }
        if incompatible & 0b1000 != 0 && b.len() > 104 && be32(b, 100) >= 105 && b[104] != 0 {
            return Err("the qcow2 image's clusters are zstd-compressed; only deflate is supported".into());
        }
    }
    Ok(Header { version, cluster_bits, size: be64(b, 24), l1_size: u64::from(be32(b, 36)), l1_offset: be64(b, 40) })
}

const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;

/// Writes the raw disk the qcow2 image in `src` describes to `dst` from offset 0;
/// returns the SHA-256 of the raw bytes written.
pub fn convert(src: &mut (impl Read + Seek), dst: &mut (impl Write + Seek)) -> Result<String, String> {
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    let mut head = vec![0u8; 112];
    src.seek(SeekFrom::Start(0)).map_err(|e| io("reading the qcow2 header", e))?;
    let n = src.read(&mut head).map_err(|e| io("reading the qcow2 header", e))?;
    let h = parse_header(&head[..n])?;
    let cs = 1u64 << h.cluster_bits;
    let l2_entries = cs / 8;
    let clusters = h.size.div_ceil(cs);
    if h.l1_size < clusters.div_ceil(l2_entries) || h.l1_size > 1 << 24 {
        return Err("the qcow2 L1 table does not cover the disk".into());
    }
    let mut l1 = vec![0u8; (h.l1_size * 8) as usize];
    src.seek(SeekFrom::Start(h.l1_offset))
        .and_then(|_| src.read_exact(&mut l1))
        .map_err(|e| io("reading the L1 table", e))?;
    dst.seek(SeekFrom::Start(0)).map_err(|e| io("writing the disk", e))?;
    let mut hasher = sha2::Sha256::new();
    let mut l2 = vec![0u8; cs as usize];
    let mut l2_at = u64::MAX;
    let zeros = vec![0u8; cs as usize];
    let mut cluster = vec![0u8; cs as usize];
    for g in 0..clusters {
        let len = (h.size - g * cs).min(cs) as usize;
        let l2_offset = be64(&l1, ((g / l2_entries) * 8) as usize) & OFFSET_MASK;
        let data: &[u8] = if l2_offset == 0 {
            &zeros
        } else {
            if l2_at != l2_offset {
                src.seek(SeekFrom::Start(l2_offset))
                    .and_then(|_| src.read_exact(&mut l2))
                    .map_err(|e| io("reading an L2 table", e))?;
                l2_at = l2_offset;
            }
            let e = be64(&l2, ((g % l2_entries) * 8) as usize);
            if e & (1 << 62) != 0 {
                let x = 62 - (h.cluster_bits - 8);
                let host = e & ((1u64 << x) - 1);
                let sectors = ((e >> x) & ((1u64 << (h.cluster_bits - 8)) - 1)) + 1;
                let stored = sectors * 512 - (host & 511);
                let mut packed = vec![0u8; stored as usize];
                src.seek(SeekFrom::Start(host)).map_err(|e| io("reading a compressed cluster", e))?;
                let mut got = 0;
                // The last compressed cluster may end before its sector count says.
                while got < packed.len() {
                    match src.read(&mut packed[got..]) {
                        Ok(0) => break,
                        Ok(k) => got += k,
                        Err(e) => return Err(io("reading a compressed cluster", e)),
                    }
                }
                let mut inflate = flate2::read::DeflateDecoder::new(&packed[..got]);
                inflate.read_exact(&mut cluster).map_err(|e| io(&format!("inflating cluster {g}"), e))?;
                &cluster
            } else if e & 1 != 0 || e & OFFSET_MASK == 0 {
                &zeros
            } else {
                src.seek(SeekFrom::Start(e & OFFSET_MASK))
                    .and_then(|_| src.read_exact(&mut cluster))
                    .map_err(|e| io(&format!("reading cluster {g}"), e))?;
                &cluster
            }
        };
        dst.write_all(&data[..len]).map_err(|e| io("writing the disk", e))?;
        hasher.update(&data[..len]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// A window of a file (the downloaded qcow2 at a disk's tail) read as a file of its own.
pub struct Window<R> {
    pub inner: R,
    pub base: u64,
    pub len: u64,
    pub pos: u64,
}

impl<R: Read + Seek> Read for Window<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.pos) as usize;
        let n = buf.len().min(left);
        if n == 0 {
            return Ok(0);
        }
        self.inner.seek(SeekFrom::Start(self.base + self.pos))?;
        let k = self.inner.read(&mut buf[..n])?;
        self.pos += k as u64;
        Ok(k)
    }
}

impl<R: Read + Seek> Seek for Window<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = match to {
            SeekFrom::Start(p) => p,
            SeekFrom::End(d) => self.len.saturating_add_signed(d),
            SeekFrom::Current(d) => self.pos.saturating_add_signed(d),
        };
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A raw disk with data, holes and zeros, made qcow2 by qemu-img (plain and
    /// compressed), converts back to exactly the same bytes.
    #[test]
    fn qemu_img_images_convert_back() {
        if Command::new("qemu-img").arg("--version").output().is_err() {
            eprintln!("skipped: qemu-img is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let raw: Vec<u8> = (0..3 * 1024 * 1024 + 4096)
            .map(|i: u32| if (1 << 20..2 << 20).contains(&i) { 0 } else { (i % 253) as u8 })
            .collect();
        std::fs::write(dir.path().join("disk.raw"), &raw).unwrap();
        let want: String = sha2::Sha256::digest(&raw).iter().map(|b| format!("{b:02x}")).collect();
        for (name, extra) in
            [("plain.qcow2", vec![]), ("packed.qcow2", vec!["-c"]), ("v2.qcow2", vec!["-o", "compat=0.10"])]
        {
            let out = Command::new("qemu-img")
                .args(["convert", "-f", "raw", "-O", "qcow2"])
                .args(&extra)
                .arg(dir.path().join("disk.raw"))
                .arg(dir.path().join(name))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            let mut src = std::fs::File::open(dir.path().join(name)).unwrap();
            let mut dst = std::io::Cursor::new(Vec::new());
            let sum = convert(&mut src, &mut dst).unwrap();
            assert_eq!(sum, want, "{name}");
            assert!(dst.into_inner() == raw, "{name}: the bytes differ");
        }
    }

    /// What this agent cannot write is refused by name.
    #[test]
    fn unsupported_images_are_named() {
        let mut h = vec![0u8; 112];
        assert!(parse_header(&h).unwrap_err().contains("no QFI magic"));
        h[..4].copy_from_slice(b"QFI\xfb");
        h[4..8].copy_from_slice(&3u32.to_be_bytes());
        h[20..24].copy_from_slice(&16u32.to_be_bytes());
        h[8..16].copy_from_slice(&200u64.to_be_bytes());
        assert!(parse_header(&h).unwrap_err().contains("backing file"));
        h[8..16].fill(0);
        h[32..36].copy_from_slice(&1u32.to_be_bytes());
        assert!(parse_header(&h).unwrap_err().contains("encrypted"));
        h[32..36].fill(0);
        h[72..80].copy_from_slice(&0b10000u64.to_be_bytes());
        assert!(parse_header(&h).unwrap_err().contains("extended L2"));
    }
}
