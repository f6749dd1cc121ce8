//! `write_image`: streams an operating system image from its URL onto the root disk
//! (chosen by serial hint, else the smallest disk that fits; never the live image's
//! own device) and checks the SHA-256 of what was downloaded. A raw image is written
//! as it comes; a qcow2 image is downloaded to the disk's tail, checked, converted to
//! the front of the disk and the tail zeroed. Then the disk is read back and the
//! SHA-256 of the written bytes checked, and the cloud-init config drive (host name,
//! SSH keys, user data) is added in a new partition.

use crate::agent::hardware::Hardware;
use crate::agent::{config_drive, qcow2};
use app::domain::agent::{ConfigDrive, DeviceResult, StepResult, WriteImage, choose_root_disk};
use app::domain::images::ImageFormat;
use sha2::Digest;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

const NAME: &str = "write_image";
const MIB: u64 = 1024 * 1024;

fn hex(d: impl AsRef<[u8]>) -> String {
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Adds the cloud-init config drive after the image (see [`config_drive`]).
fn write_config_drive(
    file: &mut std::fs::File,
    disk_bytes: u64,
    image_bytes: u64,
    cd: &ConfigDrive,
) -> Result<String, String> {
    let drive = config_drive::fat_image(
        "CIDATA",
        &[("meta-data", cd.meta_data().as_bytes()), ("user-data", cd.user_data().as_bytes())],
    )?;
    let mut unique = [0u8; 16];
    unique.copy_from_slice(&sha2::Sha256::digest(cd.instance_id.as_bytes())[..16]);
    let place = config_drive::add_partition(file, disk_bytes, image_bytes, &drive, unique)?;
    file.sync_all().map_err(|e| format!("flushing the config drive: {e}"))?;
    Ok(format!(
        "config drive (cloud-init NoCloud: host name {}, {} SSH key(s){}) in {place}",
        cd.hostname,
        cd.ssh_keys.len(),
        if cd.user_data.is_some() { ", user data" } else { "" }
    ))
}

/// The SHA-256 of the disk's first `len` bytes.
fn hash_disk(file: &mut std::fs::File, len: u64) -> std::io::Result<String> {
    file.seek(SeekFrom::Start(0))?;
    let mut h = sha2::Sha256::new();
    let mut left = len;
    let mut buf = vec![0u8; MIB as usize];
    while left > 0 {
        let n = (left as usize).min(buf.len());
        file.read_exact(&mut buf[..n])?;
        h.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hex(h.finalize()))
}

/// Writes the rest of the download after `first` at `offset`; returns the SHA-256 of
/// every byte downloaded.
async fn stream(
    resp: &mut reqwest::Response,
    first: &[u8],
    file: &mut std::fs::File,
    offset: u64,
    size: u64,
    url: &str,
    disk: &str,
) -> Result<String, String> {
    let mut hasher = sha2::Sha256::new();
    file.seek(SeekFrom::Start(offset)).map_err(|e| format!("seeking {disk}: {e}"))?;
    let mut written: u64 = 0;
    let mut put = |bytes: &[u8], written: &mut u64| -> Result<(), String> {
        if *written + bytes.len() as u64 > size {
            return Err(format!("the download of {url} is longer than announced"));
        }
        hasher.update(bytes);
        file.write_all(bytes).map_err(|e| format!("writing {disk} at byte {}: {e}", offset + *written))?;
        *written += bytes.len() as u64;
        Ok(())
    };
    put(first, &mut written)?;
    loop {
        match resp.chunk().await {
            Ok(Some(bytes)) => put(&bytes, &mut written)?,
            Ok(None) => break,
            Err(e) => return Err(format!("download of {url} broke off after {written} bytes: {e}")),
        }
    }
    if written != size {
        return Err(format!("the download of {url} ended after {written} of {size} bytes"));
    }
    Ok(hex(hasher.finalize()))
}

pub async fn run(params: &serde_json::Value, host: &dyn Hardware) -> StepResult {
    let fail =
        |message: String, devices: Vec<DeviceResult>| StepResult { name: NAME.into(), ok: false, message, devices };
    let p: WriteImage = match serde_json::from_value(params.clone()) {
        Ok(p) => p,
        Err(e) => return fail(format!("unreadable parameters: {e}"), vec![]),
    };
    let disks = match host.block_devices() {
        Ok(d) => d,
        Err(e) => return fail(e, vec![]),
    };
    let client = match reqwest::Client::builder().connect_timeout(Duration::from_secs(20)).build() {
        Ok(c) => c,
        Err(e) => return fail(format!("starting the download: {e}"), vec![]),
    };
    let mut resp = match client.get(&p.url).send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return fail(format!("download of {} failed: HTTP {}", p.url, r.status()), vec![]),
        Err(e) => return fail(format!("download of {} failed: {e}", p.url), vec![]),
    };
    let Some(size) = resp.content_length() else {
        return fail(format!("the server of {} did not say the image's size (Content-Length)", p.url), vec![]);
    };
    // A qcow2 image says its disk size in its header: read that much first.
    let mut first = Vec::new();
    let qcow = if p.format == ImageFormat::Qcow2 {
        while first.len() < 112 {
            match resp.chunk().await {
                Ok(Some(b)) => first.extend_from_slice(&b),
                Ok(None) => break,
                Err(e) => return fail(format!("download of {} failed: {e}", p.url), vec![]),
            }
        }
        match qcow2::parse_header(&first) {
            Ok(h) => Some(h),
            Err(e) => return fail(format!("{}: {e}", p.url), vec![]),
        }
    } else {
        None
    };
    // Raw: the image's bytes. qcow2: the disk it describes, then the file at the tail.
    let (image_bytes, need) = match &qcow {
        None => (size, size),
        Some(h) => (h.size, h.size.div_ceil(MIB) * MIB + size.div_ceil(MIB) * MIB),
    };
    let table: Vec<(String, String, u64, Option<String>)> =
        disks.iter().map(|d| (d.name.clone(), d.serial.clone(), d.size_bytes, d.skip.clone())).collect();
    let min = p.min_disk_bytes.unwrap_or(0).max(0) as u64;
    let disk = match choose_root_disk(&table, need, min, p.root_disk_serial.as_deref()) {
        Ok(i) => &disks[i],
        Err(e) => return fail(e, vec![]),
    };
    let device = |ok: bool, message: String| DeviceResult {
        device: disk.name.clone(),
        ok,
        message,
        serial: disk.serial.clone(),
        boot_device: false,
        erasure: None,
    };
    tracing::info!(disk = %disk.name, bytes = size, format = %p.format, "writing the image");
    let started = std::time::Instant::now();
    let mut file = match std::fs::OpenOptions::new().write(true).read(true).open(&disk.path) {
        Ok(f) => f,
        Err(e) => return fail(format!("opening {}: {e}", disk.name), vec![device(false, e.to_string())]),
    };
    let tail = disk.size_bytes.saturating_sub(size.div_ceil(MIB) * MIB);
    let offset = if qcow.is_some() { tail } else { 0 };
    let downloaded = match stream(&mut resp, &first, &mut file, offset, size, &p.url, &disk.name).await {
        Ok(sum) => sum,
        Err(e) => return fail(e.clone(), vec![device(false, e)]),
    };
    if downloaded != p.sha256 {
        let m = format!(
            "checksum mismatch: the image downloaded from {} has SHA-256 {downloaded}, the catalog says {}; \
             the disk holds an unverified image and is not booted",
            p.url, p.sha256
        );
        return fail(m.clone(), vec![device(false, m)]);
    }
    // The bytes the disk must hold now, and their SHA-256.
    let expected = match &qcow {
        None => downloaded.clone(),
        Some(_) => {
            let converted = (|| -> Result<String, String> {
                let reader = std::fs::File::open(&disk.path).map_err(|e| format!("reopening {}: {e}", disk.name))?;
                let mut src = qcow2::Window { inner: reader, base: tail, len: size, pos: 0 };
                let sum = qcow2::convert(&mut src, &mut file)?;
                // The downloaded file is not left behind at the tail.
                file.seek(SeekFrom::Start(tail)).map_err(|e| e.to_string())?;
                let zeros = vec![0u8; MIB as usize];
                let mut left = size;
                while left > 0 {
                    let n = (left as usize).min(zeros.len());
                    file.write_all(&zeros[..n]).map_err(|e| format!("clearing the download: {e}"))?;
                    left -= n as u64;
                }
                Ok(sum)
            })();
            match converted {
                Ok(sum) => sum,
                Err(e) => {
                    let m = format!("converting the qcow2 image: {e}");
                    return fail(m.clone(), vec![device(false, m)]);
                }
            }
        }
    };
    if let Err(e) = file.sync_all() {
        return fail(format!("flushing {}: {e}", disk.name), vec![device(false, e.to_string())]);
    }
    // Read back what the disk holds now: the evidence is the disk, not the stream.
    match hash_disk(&mut file, image_bytes) {
        Ok(on_disk) if on_disk == expected => {
            let what = match &qcow {
                None => format!("{size} bytes"),
                Some(_) => format!("qcow2 ({size} bytes) converted to {image_bytes} bytes"),
            };
            let mut m = format!(
                "{what} written to {} (serial {}) in {:.1} s; SHA-256 of the disk's first {image_bytes} bytes verified",
                disk.name,
                disk.serial,
                started.elapsed().as_secs_f64()
            );
            if let Some(cd) = &p.config_drive {
                match write_config_drive(&mut file, disk.size_bytes, image_bytes, cd) {
                    Ok(note) => m.push_str(&format!("; {note}")),
                    Err(e) if cd.required() => {
                        let m = format!("the image is written, but its config drive could not be: {e}");
                        return fail(m.clone(), vec![device(false, m)]);
                    }
                    Err(e) => m.push_str(&format!("; no config drive ({e})")),
                }
            }
            StepResult { name: NAME.into(), ok: true, message: m.clone(), devices: vec![device(true, m)] }
        }
        Ok(on_disk) => {
            let m = format!("read back from {}, the image has SHA-256 {on_disk}, not {expected}", disk.name);
            fail(m.clone(), vec![device(false, m)])
        }
        Err(e) => fail(format!("reading {} back: {e}", disk.name), vec![device(false, e.to_string())]),
    }
}
