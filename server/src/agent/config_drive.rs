//! The cloud-init config drive a deployment leaves on the root disk: a small FAT
//! filesystem labelled `CIDATA` (cloud-init's NoCloud datasource) holding `meta-data`
//! (instance id, host name, SSH public keys) and `user-data`, in a new partition at
//! the end of the disk. The partition is added to the image's own table (GPT: primary
//! and backup rewritten with their CRCs, the protective MBR widened; MBR: a free
//! primary slot). Pure byte work, so it is the same on a real disk and a lab file.

use std::io::{Read, Seek, SeekFrom, Write};

/// The config drive's size: 1 MiB, FAT12 with 512-byte clusters.
pub const DRIVE_BYTES: u64 = 1024 * 1024;
const SECTOR: u64 = 512;

/// A FAT12 filesystem of [`DRIVE_BYTES`] labelled `label` (at most 11 characters)
/// holding `files` (long names, at most 13 characters each, in the root directory).
pub fn fat_image(label: &str, files: &[(&str, &[u8])]) -> Result<Vec<u8>, String> {
    const SECTORS: usize = (DRIVE_BYTES / SECTOR) as usize;
    const FAT_SECTORS: usize = 6;
    const ROOT_ENTRIES: usize = 16;
    let data_start = 1 + 2 * FAT_SECTORS + ROOT_ENTRIES * 32 / 512;
    if files.len() * 2 + 1 > ROOT_ENTRIES {
        return Err("too many files for the config drive".into());
    }
    let mut img = vec![0u8; SECTORS * 512];
    let label11 = pad11(label)?;
    // Boot sector with the BIOS parameter block.
    let bs = &mut img[..512];
    bs[..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
    bs[3..11].copy_from_slice(b"RACKSTAT");
    bs[11..13].copy_from_slice(&512u16.to_le_bytes());
    bs[13] = 1; // sectors per cluster
    bs[14..16].copy_from_slice(&1u16.to_le_bytes()); // reserved sectors
    bs[16] = 2; // FATs
    bs[17..19].copy_from_slice(&(ROOT_ENTRIES as u16).to_le_bytes());
    bs[19..21].copy_from_slice(&(SECTORS as u16).to_le_bytes());
    bs[21] = 0xF8;
    bs[22..24].copy_from_slice(&(FAT_SECTORS as u16).to_le_bytes());
    bs[24..26].copy_from_slice(&32u16.to_le_bytes());
    bs[26..28].copy_from_slice(&64u16.to_le_bytes());
    bs[36] = 0x80;
    bs[38] = 0x29;
    bs[39..43].copy_from_slice(&0x5241_434bu32.to_le_bytes());
    bs[43..54].copy_from_slice(&label11);
    bs[54..62].copy_from_slice(b"FAT12   ");
    bs[510] = 0x55;
    bs[511] = 0xAA;
    // The FAT: entries 0 and 1 reserved, then each file's clusters in a chain.
    let mut fat = vec![0u8; FAT_SECTORS * 512];
    set_fat12(&mut fat, 0, 0xFF8);
    set_fat12(&mut fat, 1, 0xFFF);
    let mut root = vec![0u8; ROOT_ENTRIES * 32];
    root[..11].copy_from_slice(&label11);
    root[11] = 0x08; // volume label
    let mut entry = 1;
    let mut cluster = 2usize;
    for (i, (name, content)) in files.iter().enumerate() {
        let clusters = content.len().div_ceil(512).max(1);
        if data_start + cluster - 2 + clusters > SECTORS {
            return Err("the config drive's files are larger than 1 MiB".into());
        }
        let first = if content.is_empty() { 0 } else { cluster };
        if !content.is_empty() {
            for c in cluster..cluster + clusters {
                set_fat12(&mut fat, c, if c + 1 == cluster + clusters { 0xFFF } else { (c + 1) as u16 });
            }
            let at = (data_start + cluster - 2) * 512;
            img[at..at + content.len()].copy_from_slice(content);
            cluster += clusters;
        }
        let short = short_name(i);
        lfn_entry(&mut root[entry * 32..entry * 32 + 32], name, checksum(&short))?;
        let sfn = &mut root[(entry + 1) * 32..(entry + 2) * 32];
        sfn[..11].copy_from_slice(&short);
        sfn[11] = 0x20;
        sfn[26..28].copy_from_slice(&(first as u16).to_le_bytes());
        sfn[28..32].copy_from_slice(&(content.len() as u32).to_le_bytes());
        entry += 2;
    }
    for copy in 0..2 {
        let at = (1 + copy * FAT_SECTORS) * 512;
        img[at..at + fat.len()].copy_from_slice(&fat);
    }
    let at = (1 + 2 * FAT_SECTORS) * 512;
    img[at..at + root.len()].copy_from_slice(&root);
    Ok(img)
}

fn pad11(label: &str) -> Result<[u8; 11], String> {
    if label.len() > 11 || !label.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-') {
        return Err(format!("bad volume label {label:?}"));
    }
    let mut out = [b' '; 11];
    out[..label.len()].copy_from_slice(label.as_bytes());
    Ok(out)
}

/// "FILE0~1    "-style short names; the long names are what cloud-init reads.
fn short_name(i: usize) -> [u8; 11] {
    let mut out = [b' '; 11];
    let s = format!("FILE{i}~1");
    out[..s.len()].copy_from_slice(s.as_bytes());
    out
}

fn set_fat12(fat: &mut [u8], n: usize, v: u16) {
    let off = n * 3 / 2;
    if n % 2 == 0 {
        fat[off] = (v & 0xFF) as u8;
        fat[off + 1] = (fat[off + 1] & 0xF0) | ((v >> 8) & 0x0F) as u8;
    } else {
        fat[off] = (fat[off] & 0x0F) | ((v << 4) & 0xF0) as u8;
        fat[off + 1] = ((v >> 4) & 0xFF) as u8;
    }
}

fn checksum(short: &[u8; 11]) -> u8 {
    short.iter().fold(0u8, |sum, b| ((sum & 1) << 7).wrapping_add(sum >> 1).wrapping_add(*b))
}

/// One long-file-name entry (names of up to 13 characters need one).
fn lfn_entry(e: &mut [u8], name: &str, sum: u8) -> Result<(), String> {
    let units: Vec<u16> = name.encode_utf16().collect();
    if units.is_empty() || units.len() > 13 {
        return Err(format!("file name {name:?} must be 1 to 13 characters"));
    }
    let mut chars = [0xFFFFu16; 13];
    chars[..units.len()].copy_from_slice(&units);
    if units.len() < 13 {
        chars[units.len()] = 0;
    }
    e[0] = 0x41; // the first and last entry of the name
    e[11] = 0x0F;
    e[13] = sum;
    let slots = (1..11).step_by(2).chain((14..26).step_by(2)).chain((28..32).step_by(2));
    for (slot, c) in slots.zip(chars) {
        e[slot..slot + 2].copy_from_slice(&c.to_le_bytes());
    }
    Ok(())
}

/// CRC-32 (IEEE), as GPT uses it.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Where the config drive goes: the last MiB-aligned MiB of the disk, after the image.
fn drive_start(disk_bytes: u64, image_bytes: u64, reserve_tail: u64) -> Result<u64, String> {
    let mib = 1024 * 1024;
    let end = disk_bytes.saturating_sub(reserve_tail);
    let start = (end.saturating_sub(DRIVE_BYTES) / mib) * mib;
    if start < image_bytes.div_ceil(mib) * mib || start == 0 {
        return Err(format!(
            "no room for the config drive: the disk holds {disk_bytes} bytes, the image {image_bytes} and the drive \
             needs 1 MiB after it"
        ));
    }
    Ok(start)
}

fn read_at(disk: &mut (impl Read + Seek), at: u64, len: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; len];
    disk.seek(SeekFrom::Start(at))
        .and_then(|_| disk.read_exact(&mut buf))
        .map_err(|e| format!("reading the disk: {e}"))?;
    Ok(buf)
}

fn write_at(disk: &mut (impl Write + Seek), at: u64, bytes: &[u8]) -> Result<(), String> {
    disk.seek(SeekFrom::Start(at)).and_then(|_| disk.write_all(bytes)).map_err(|e| format!("writing the disk: {e}"))
}

/// Microsoft basic data, as GPT stores it (mixed endian).
const BASIC_DATA: [u8; 16] =
    [0xA2, 0xA0, 0xD0, 0xEB, 0xE5, 0xB9, 0x33, 0x44, 0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26, 0x99, 0xC7];

/// Writes `drive` into a new partition at the end of the disk (after `image_bytes`)
/// and adds it to the image's partition table. Says where it went.
pub fn add_partition(
    disk: &mut (impl Read + Write + Seek),
    disk_bytes: u64,
    image_bytes: u64,
    drive: &[u8],
    unique: [u8; 16],
) -> Result<String, String> {
    let mbr = read_at(disk, 0, 512)?;
    if mbr[510..512] != [0x55, 0xAA] {
        return Err(
            "the image has no partition table (no MBR signature): there is nowhere to add the config drive".into()
        );
    }
    let entries = |i: usize| &mbr[446 + 16 * i..446 + 16 * (i + 1)];
    if entries(0)[4] == 0xEE || (0..4).any(|i| entries(i)[4] == 0xEE) {
        return add_gpt_partition(disk, disk_bytes, image_bytes, drive, unique, mbr);
    }
    let Some(slot) = (0..4).find(|i| entries(*i)[4] == 0) else {
        return Err("the image's MBR has no free primary slot for the config drive".into());
    };
    let start = drive_start(disk_bytes, image_bytes, 0)?;
    let lba = (start / SECTOR) as u32;
    let count = (DRIVE_BYTES / SECTOR) as u32;
    let mut e = [0u8; 16];
    e[1..4].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
    e[4] = 0x01; // FAT12
    e[5..8].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
    e[8..12].copy_from_slice(&lba.to_le_bytes());
    e[12..16].copy_from_slice(&count.to_le_bytes());
    write_at(disk, start, drive)?;
    write_at(disk, 446 + 16 * slot as u64, &e)?;
    Ok(format!("MBR partition {} at sector {lba}", slot + 1))
}

fn add_gpt_partition(
    disk: &mut (impl Read + Write + Seek),
    disk_bytes: u64,
    image_bytes: u64,
    drive: &[u8],
    unique: [u8; 16],
    mut mbr: Vec<u8>,
) -> Result<String, String> {
    let sectors = disk_bytes / SECTOR;
    let mut header = read_at(disk, SECTOR, 512)?;
    if &header[..8] != b"EFI PART" {
        return Err("the image's protective MBR promises a GPT, but LBA 1 holds none".into());
    }
    let header_size = u32::from_le_bytes(header[12..16].try_into().unwrap()) as usize;
    let entries_lba = u64::from_le_bytes(header[72..80].try_into().unwrap());
    let count = u32::from_le_bytes(header[80..84].try_into().unwrap()) as usize;
    let entry_size = u32::from_le_bytes(header[84..88].try_into().unwrap()) as usize;
    if !(92..=512).contains(&header_size) || entry_size < 128 || count == 0 || count * entry_size > 1 << 20 {
        return Err("the image's GPT header is not one this agent understands".into());
    }
    let table_bytes = count * entry_size;
    let table_sectors = table_bytes.div_ceil(512) as u64;
    let mut table = read_at(disk, entries_lba * SECTOR, table_bytes)?;
    let Some(slot) = (0..count).find(|i| table[i * entry_size..i * entry_size + 16].iter().all(|b| *b == 0)) else {
        return Err("the image's GPT has no free entry for the config drive".into());
    };
    // The backup table and header move to the disk's real end.
    let backup_header = sectors - 1;
    let backup_table = backup_header - table_sectors;
    let start = drive_start(disk_bytes, image_bytes, (table_sectors + 1) * SECTOR)?;
    let first = start / SECTOR;
    let last = first + DRIVE_BYTES / SECTOR - 1;
    let e = &mut table[slot * entry_size..(slot + 1) * entry_size];
    e.fill(0);
    e[..16].copy_from_slice(&BASIC_DATA);
    e[16..32].copy_from_slice(&unique);
    e[32..40].copy_from_slice(&first.to_le_bytes());
    e[40..48].copy_from_slice(&last.to_le_bytes());
    for (i, u) in "cidata".encode_utf16().enumerate() {
        e[56 + 2 * i..58 + 2 * i].copy_from_slice(&u.to_le_bytes());
    }
    let table_crc = crc32(&table);
    let fill = |h: &mut Vec<u8>, my: u64, other: u64, entries_at: u64| {
        h[24..32].copy_from_slice(&my.to_le_bytes());
        h[32..40].copy_from_slice(&other.to_le_bytes());
        h[48..56].copy_from_slice(&(backup_table - 1).to_le_bytes()); // last usable LBA
        h[72..80].copy_from_slice(&entries_at.to_le_bytes());
        h[88..92].copy_from_slice(&table_crc.to_le_bytes());
        h[16..20].fill(0);
        let crc = crc32(&h[..header_size]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
    };
    fill(&mut header, 1, backup_header, entries_lba);
    let mut backup = header.clone();
    fill(&mut backup, backup_header, 1, backup_table);
    write_at(disk, start, drive)?;
    write_at(disk, entries_lba * SECTOR, &table)?;
    write_at(disk, SECTOR, &header)?;
    write_at(disk, backup_table * SECTOR, &table)?;
    write_at(disk, backup_header * SECTOR, &backup)?;
    // The protective MBR covers the whole disk now.
    for i in 0..4 {
        let e = &mut mbr[446 + 16 * i..446 + 16 * (i + 1)];
        if e[4] == 0xEE {
            let size = (sectors - 1).min(u64::from(u32::MAX)) as u32;
            e[12..16].copy_from_slice(&size.to_le_bytes());
        }
    }
    write_at(disk, 0, &mbr)?;
    Ok(format!("GPT partition {} at sector {first}", slot + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn have(tool: &str) -> bool {
        Command::new(tool).arg("--version").output().is_ok()
    }

    /// The drive is a FAT filesystem labelled CIDATA whose files read back by their
    /// long names (mtools, when installed, reads it as Linux would).
    #[test]
    fn fat_drive_reads_back() {
        let meta = b"instance-id: rackstate-1\nlocal-hostname: web-1\n";
        let user = vec![b'x'; 1500];
        let img = fat_image("CIDATA", &[("meta-data", meta), ("user-data", &user)]).unwrap();
        assert_eq!(img.len() as u64, DRIVE_BYTES);
        assert_eq!(&img[43..49], b"CIDATA");
        if !have("mtype") {
            eprintln!("skipped the mtools check: mtype is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drive.img");
        std::fs::write(&path, &img).unwrap();
        let out = Command::new("mtype").arg("-i").arg(&path).arg("::meta-data").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, meta);
        let out = Command::new("mtype").arg("-i").arg(&path).arg("::user-data").output().unwrap();
        assert_eq!(out.stdout, user);
        let label = Command::new("mlabel").arg("-i").arg(&path).arg("-s").arg("::").output().unwrap();
        assert!(String::from_utf8_lossy(&label.stdout).contains("CIDATA"), "{label:?}");
    }

    /// GPT's CRC-32 of a known string.
    #[test]
    fn crc32_is_ieee() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    fn gpt_disk(bytes: u64) -> std::io::Cursor<Vec<u8>> {
        // A 2 MiB "image": protective MBR, GPT header and table, one partition.
        let mut d = vec![0u8; bytes as usize];
        d[446 + 4] = 0xEE;
        d[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
        d[446 + 12..446 + 16].copy_from_slice(&4095u32.to_le_bytes());
        d[510] = 0x55;
        d[511] = 0xAA;
        let mut table = vec![0u8; 128 * 128];
        table[..16].copy_from_slice(&BASIC_DATA);
        table[16] = 1;
        table[32..40].copy_from_slice(&2048u64.to_le_bytes());
        table[40..48].copy_from_slice(&4000u64.to_le_bytes());
        let mut h = vec![0u8; 512];
        h[..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&1u64.to_le_bytes());
        h[32..40].copy_from_slice(&4095u64.to_le_bytes());
        h[40..48].copy_from_slice(&34u64.to_le_bytes());
        h[48..56].copy_from_slice(&4062u64.to_le_bytes());
        h[72..80].copy_from_slice(&2u64.to_le_bytes());
        h[80..84].copy_from_slice(&128u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&crc32(&table).to_le_bytes());
        let crc = crc32(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        d[512..1024].copy_from_slice(&h);
        d[1024..1024 + table.len()].copy_from_slice(&table);
        std::io::Cursor::new(d)
    }

    /// On a bigger disk than the GPT image, the drive goes into a second partition at
    /// the end; both headers are valid at their new places and blkid finds the label.
    #[test]
    fn gpt_gets_a_partition_at_the_disk_end() {
        let disk_bytes = 8 * 1024 * 1024;
        let mut disk = gpt_disk(disk_bytes);
        let drive = fat_image("CIDATA", &[("meta-data", b"instance-id: x\n")]).unwrap();
        let said = add_partition(&mut disk, disk_bytes, 2 * 1024 * 1024, &drive, [7; 16]).unwrap();
        assert_eq!(said, format!("GPT partition 2 at sector {}", (disk_bytes - 2 * 1024 * 1024) / 512));
        let d = disk.into_inner();
        let sectors = disk_bytes / 512;
        for (at, my) in [(512usize, 1u64), (((sectors - 1) * 512) as usize, sectors - 1)] {
            let h = &d[at..at + 512];
            assert_eq!(&h[..8], b"EFI PART");
            assert_eq!(u64::from_le_bytes(h[24..32].try_into().unwrap()), my);
            let mut copy = h[..92].to_vec();
            copy[16..20].fill(0);
            assert_eq!(crc32(&copy), u32::from_le_bytes(h[16..20].try_into().unwrap()), "header CRC at LBA {my}");
        }
        if !have("blkid") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        std::fs::write(&path, &d).unwrap();
        let out = Command::new("blkid").args(["-p", "-o", "export"]).arg(&path).output().unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("PTTYPE=gpt"), "{out:?}");
        let offset = (disk_bytes - 2 * 1024 * 1024).to_string();
        let out = Command::new("blkid").args(["-p", "-o", "export", "--offset", &offset]).arg(&path).output().unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("LABEL=CIDATA"), "{out:?}");
    }

    /// An MBR image gets the drive in a free primary slot; a bare filesystem image
    /// (no table) and a disk without room are refused with the reason.
    #[test]
    fn mbr_slot_or_a_clear_refusal() {
        let disk_bytes = 4 * 1024 * 1024;
        let mut d = vec![0u8; disk_bytes as usize];
        d[510] = 0x55;
        d[511] = 0xAA;
        d[446 + 4] = 0x83;
        let drive = fat_image("CIDATA", &[]).unwrap();
        let mut disk = std::io::Cursor::new(d.clone());
        let said = add_partition(&mut disk, disk_bytes, 1024 * 1024, &drive, [0; 16]).unwrap();
        assert_eq!(said, "MBR partition 2 at sector 6144");
        let d2 = disk.into_inner();
        assert_eq!(d2[446 + 16 + 4], 0x01);
        assert_eq!(&d2[6144 * 512 + 43..6144 * 512 + 49], b"CIDATA");
        let e = add_partition(&mut std::io::Cursor::new(d.clone()), disk_bytes, 4 * 1024 * 1024, &drive, [0; 16]);
        assert!(e.unwrap_err().starts_with("no room for the config drive"));
        let bare = vec![0u8; disk_bytes as usize];
        let e = add_partition(&mut std::io::Cursor::new(bare), disk_bytes, 1024, &drive, [0; 16]);
        assert!(e.unwrap_err().contains("no partition table"));
    }
}
