//! `write_image`: streams an operating system image from its URL onto the root disk
//! (chosen by serial hint, else the smallest disk that fits; never the live image's
//! own device), checks the SHA-256 of what was downloaded, then reads the disk back
//! and checks the SHA-256 of what was written; then adds the cloud-init config drive
//! (host name, SSH keys, user data) in a new partition. Raw images only for now: a
//! qcow2 image is refused with a message saying so.

use crate::agent::config_drive;
use crate::agent::hardware::Hardware;
use app::domain::agent::{ConfigDrive, DeviceResult, StepResult, WriteImage, choose_root_disk};
use app::domain::images::ImageFormat;
use sha2::Digest;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

const NAME: &str = "write_image";

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

pub async fn run(params: &serde_json::Value, host: &dyn Hardware) -> StepResult {
    let fail =
        |message: String, devices: Vec<DeviceResult>| StepResult { name: NAME.into(), ok: false, message, devices };
    let p: WriteImage = match serde_json::from_value(params.clone()) {
        Ok(p) => p,
        Err(e) => return fail(format!("unreadable parameters: {e}"), vec![]),
    };
    if p.format != ImageFormat::Raw {
        return fail(format!("{} images cannot be written by this agent yet; convert it to raw", p.format), vec![]);
    }
    let disks = match host.block_devices() {
        Ok(d) => d,
        Err(e) => return fail(e, vec![]),
    };
    let client = match reqwest::Client::builder().connect_timeout(Duration::from_secs(20)).build() {
        Ok(c) => c,
        Err(e) => return fail(format!("starting the download: {e}"), vec![]),
    };
    let resp = match client.get(&p.url).send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return fail(format!("download of {} failed: HTTP {}", p.url, r.status()), vec![]),
        Err(e) => return fail(format!("download of {} failed: {e}", p.url), vec![]),
    };
    let Some(size) = resp.content_length() else {
        return fail(format!("the server of {} did not say the image's size (Content-Length)", p.url), vec![]);
    };
    let table: Vec<(String, String, u64, Option<String>)> =
        disks.iter().map(|d| (d.name.clone(), d.serial.clone(), d.size_bytes, d.skip.clone())).collect();
    let min = p.min_disk_bytes.unwrap_or(0).max(0) as u64;
    let disk = match choose_root_disk(&table, size, min, p.root_disk_serial.as_deref()) {
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
    tracing::info!(disk = %disk.name, bytes = size, "writing the image");
    let started = std::time::Instant::now();
    let mut file = match std::fs::OpenOptions::new().write(true).read(true).open(&disk.path) {
        Ok(f) => f,
        Err(e) => return fail(format!("opening {}: {e}", disk.name), vec![device(false, e.to_string())]),
    };
    let mut resp = resp;
    let mut hasher = sha2::Sha256::new();
    let mut written: u64 = 0;
    loop {
        match resp.chunk().await {
            Ok(Some(bytes)) => {
                if written + bytes.len() as u64 > size {
                    return fail(format!("the download of {} is longer than announced", p.url), vec![]);
                }
                hasher.update(&bytes);
                if let Err(e) = file.write_all(&bytes) {
                    let m = format!("writing {} at byte {written}: {e}", disk.name);
                    return fail(m.clone(), vec![device(false, m)]);
                }
                written += bytes.len() as u64;
            }
            Ok(None) => break,
            Err(e) => return fail(format!("download of {} broke off after {written} bytes: {e}", p.url), vec![]),
        }
    }
    if written != size {
        return fail(format!("the download of {} ended after {written} of {size} bytes", p.url), vec![]);
    }
    let downloaded = hex(hasher.finalize());
    if downloaded != p.sha256 {
        let m = format!(
            "checksum mismatch: the image downloaded from {} has SHA-256 {downloaded}, the catalog says {}; \
             the disk holds an unverified image and is not booted",
            p.url, p.sha256
        );
        return fail(m.clone(), vec![device(false, m)]);
    }
    if let Err(e) = file.sync_all() {
        return fail(format!("flushing {}: {e}", disk.name), vec![device(false, e.to_string())]);
    }
    // Read back what the disk holds now: the evidence is the disk, not the stream.
    let readback = (|| -> std::io::Result<String> {
        file.seek(SeekFrom::Start(0))?;
        let mut h = sha2::Sha256::new();
        let mut left = size;
        let mut buf = vec![0u8; 1 << 20];
        while left > 0 {
            let n = (left as usize).min(buf.len());
            file.read_exact(&mut buf[..n])?;
            h.update(&buf[..n]);
            left -= n as u64;
        }
        Ok(hex(h.finalize()))
    })();
    match readback {
        Ok(on_disk) if on_disk == p.sha256 => {
            let mut m = format!(
                "{size} bytes written to {} (serial {}) in {:.1} s; SHA-256 of the disk's first {size} bytes verified",
                disk.name,
                disk.serial,
                started.elapsed().as_secs_f64()
            );
            if let Some(cd) = &p.config_drive {
                match write_config_drive(&mut file, disk.size_bytes, size, cd) {
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
            let m = format!("read back from {}, the image has SHA-256 {on_disk}, not {}", disk.name, p.sha256);
            fail(m.clone(), vec![device(false, m)])
        }
        Err(e) => fail(format!("reading {} back: {e}", disk.name), vec![device(false, e.to_string())]),
    }
}
