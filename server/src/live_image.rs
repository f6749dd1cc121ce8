//! The live image Rackstate serves to BMCs as virtual media. Each job gets its own
//! copy: the image's placeholder config block (`RACKSTATE_AGENT_CONFIG:` followed by
//! padding, e.g. on the kernel command line in the boot loader's config) is replaced,
//! as the bytes stream out, by the job's callback URL, id and token. The image on disk
//! is never modified. See docs/live-image.md.

use crate::agent::{BLOCK_LEN, BootConfig, MARKER, find};
use axum::body::Body;
use std::path::{Path, PathBuf};
use tokio::io::AsyncReadExt;

#[derive(Debug, Clone)]
pub struct LiveImage {
    path: PathBuf,
    len: u64,
    /// Where the placeholder block starts.
    block_at: u64,
}

impl LiveImage {
    /// Opens an image and finds its placeholder block.
    pub fn open(path: &Path) -> Result<Self, String> {
        use std::io::Read;
        let shown = path.display();
        let mut f = std::fs::File::open(path).map_err(|e| format!("live image {shown}: {e}"))?;
        let len = f.metadata().map_err(|e| format!("live image {shown}: {e}"))?.len();
        let marker = MARKER.as_bytes();
        let mut buf = vec![0u8; 1 << 20];
        let mut carry: Vec<u8> = Vec::new();
        let mut offset: u64 = 0; // file offset of carry[0]
        loop {
            let n = f.read(&mut buf).map_err(|e| format!("live image {shown}: {e}"))?;
            if n == 0 {
                break;
            }
            carry.extend_from_slice(&buf[..n]);
            if let Some(at) = find(&carry, marker) {
                let block_at = offset + at as u64;
                if block_at + BLOCK_LEN as u64 > len {
                    return Err(format!("live image {shown}: the config block is cut off at the end of the file"));
                }
                return Ok(Self { path: path.to_path_buf(), len, block_at });
            }
            let keep = marker.len() - 1;
            let drop = carry.len().saturating_sub(keep);
            carry.drain(..drop);
            offset += drop as u64;
        }
        Err(format!(
            "live image {shown} has no {MARKER} placeholder: build it as docs/live-image.md says, \
             so the agent can learn its callback URL and token"
        ))
    }

    /// Writes the image the demo lab's simulated machines boot: just the config
    /// block's placeholder (they run the agent in-process, not a kernel).
    pub fn write_simulation_image(path: &Path) -> std::io::Result<()> {
        let mut bytes = b"Rackstate simulated live image (demo lab and tests only)\n".to_vec();
        let mut block = MARKER.as_bytes().to_vec();
        block.resize(BLOCK_LEN, b'#');
        bytes.extend_from_slice(&block);
        bytes.push(b'\n');
        std::fs::write(path, bytes)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The job's copy as a streaming body: the image with the job's config block.
    pub async fn body_for(&self, config: &BootConfig) -> std::io::Result<Body> {
        let block = config.block();
        if block.len() != BLOCK_LEN {
            return Err(std::io::Error::other("the callback URL is too long for the config block"));
        }
        // Both handles in one trip to the blocking pool (each tokio::fs call is a trip).
        let (path, tail_at) = (self.path.clone(), self.block_at + BLOCK_LEN as u64);
        let (head, tail) = tokio::task::spawn_blocking(move || {
            use std::io::Seek;
            let head = std::fs::File::open(&path)?;
            let mut tail = std::fs::File::open(&path)?;
            tail.seek(std::io::SeekFrom::Start(tail_at))?;
            Ok::<_, std::io::Error>((head, tail))
        })
        .await
        .map_err(std::io::Error::other)??;
        let head = tokio::fs::File::from_std(head).take(self.block_at);
        let reader = head.chain(std::io::Cursor::new(block)).chain(tokio::fs::File::from_std(tail));
        let chunk = STREAM_CHUNK.min(usize::try_from(self.len).unwrap_or(STREAM_CHUNK)).max(1);
        Ok(Body::from_stream(tokio_util::io::ReaderStream::with_capacity(reader, chunk)))
    }
}

/// The most bytes of the image read (and sent) at a time; each download holds a buffer
/// of this size (a smaller image: its size), and a fleet's BMCs download at once. Each
/// read of a file is a trip to the blocking thread pool: with the stream's default
/// 4 KiB, serving a 300 MB image took 73,245 reads and 1.26 CPU seconds here, with
/// 64 KiB 4,580 reads and 0.18 s (with 256 KiB 0.07 s, but the downloads of 10,000
/// lab machines then held 50 MB more).
const STREAM_CHUNK: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    /// The served copy has the file's length and the job's block where the
    /// placeholder was; the rest is byte for byte the file.
    #[tokio::test]
    async fn serves_patched_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.iso");
        let mut image: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut placeholder = MARKER.as_bytes().to_vec();
        placeholder.resize(BLOCK_LEN, b'#');
        image.splice(1_048_570..1_048_570 + BLOCK_LEN, placeholder); // straddles a read chunk
        std::fs::write(&path, &image).unwrap();
        let live = LiveImage::open(&path).unwrap();
        assert_eq!(live.block_at, 1_048_570);
        let config = BootConfig { callback: "http://127.0.0.1:3000".into(), job: 7, token: "t".repeat(64) };
        let body = live.body_for(&config).await.unwrap();
        let served = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        assert_eq!(served.len(), image.len());
        assert_eq!(&served[..1_048_570], &image[..1_048_570]);
        assert_eq!(&served[1_048_570 + BLOCK_LEN..], &image[1_048_570 + BLOCK_LEN..]);
        assert_eq!(BootConfig::from_image(&served), Some(config));
    }

    #[test]
    fn image_without_placeholder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.iso");
        std::fs::write(&path, vec![0u8; 10_000]).unwrap();
        let e = LiveImage::open(&path).unwrap_err();
        assert!(e.contains("no RACKSTATE_AGENT_CONFIG: placeholder"), "{e}");
        assert!(LiveImage::open(&dir.path().join("missing.iso")).unwrap_err().contains("missing.iso"));
    }
}
