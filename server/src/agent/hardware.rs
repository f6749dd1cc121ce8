//! Reads the hardware of the Linux the agent runs on: /proc and /sys, plus dmidecode
//! and lldpctl when they are installed (the live image has both). Everything is read
//! under a root directory, so tests can point it at a fixture tree.

use super::erase::{DeviceCommands, DiskFacts, EraseMode};
use app::domain::erase::DiskErasure;
use app::domain::inventory::{Cpu, Disk, DiskKind, Gpu, Inventory, MemoryModule, Nic, SystemInfo};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The machine the agent runs on: what it has, and the destructive operations the
/// steps need.
pub trait Hardware: Send + Sync {
    fn inventory(&self) -> Result<Inventory, String>;
    /// The disks a cleaning step may erase, each with why it must be skipped, if so.
    fn block_devices(&self) -> Result<Vec<BlockDevice>, String>;
    /// Erases one disk and verifies it; the evidence says how.
    fn erase(&self, device: &BlockDevice, mode: EraseMode) -> Result<DiskErasure, String>;
}

/// A disk as the erase step sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockDevice {
    pub name: String,
    pub path: PathBuf,
    pub size_bytes: u64,
    pub serial: String,
    pub model: String,
    /// Set when the disk must not be touched: it holds the live image's own boot
    /// filesystem (the one disk a cleaning may leave alone).
    pub skip: Option<String>,
}

impl BlockDevice {
    fn facts(&self) -> DiskFacts<'_> {
        DiskFacts { path: &self.path, size_bytes: self.size_bytes, serial: &self.serial, model: &self.model }
    }
}

/// The file every Rackstate live image carries; without it the agent erases nothing
/// (so running it on a workstation by mistake is harmless).
pub const LIVE_MARKER: &str = "etc/rackstate-live-image";

/// A simulated machine (the demo lab, tests): its inventory as given, and each of
/// its disks a real file (sparse, scaled down to `disk_bytes`) that erasing writes
/// and verification reads, so cleaning's evidence is of real bytes.
pub struct SimulatedMachine {
    pub inventory: Inventory,
    pub disk_dir: PathBuf,
    pub disk_bytes: u64,
}

/// The bytes a simulated disk holds before its first erase: a tenant's "data".
pub const SIMULATED_DATA: &[u8] = b"tenant data that must not survive cleaning. ";

impl SimulatedMachine {
    /// The machine, creating its disk files (filled with [`SIMULATED_DATA`]) where
    /// they do not exist yet.
    pub fn new(inventory: Inventory, disk_dir: PathBuf, disk_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(&disk_dir)?;
        let me = Self { inventory, disk_dir, disk_bytes };
        for d in &me.inventory.disks {
            let path = me.disk_path(&d.serial);
            if !path.exists() {
                write_sparse_data(&path, disk_bytes)?;
            }
        }
        Ok(me)
    }

    /// The file behind the disk with this serial.
    pub fn disk_path(&self, serial: &str) -> PathBuf {
        let safe: String =
            serial.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        self.disk_dir.join(format!("{safe}.img"))
    }
}

/// A sparse file of `size` bytes with [`SIMULATED_DATA`] in its first and last 64 KiB
/// and in one 4 KiB block of every 128 KiB between (where verification samples).
fn write_sparse_data(path: &Path, size: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let f = std::fs::File::create(path)?;
    f.set_len(size)?;
    let data = |n: u64| SIMULATED_DATA.iter().copied().cycle().take(n as usize).collect::<Vec<u8>>();
    let put = |at: u64, n: u64| -> std::io::Result<()> {
        let n = n.min(size.saturating_sub(at));
        (&f).seek(SeekFrom::Start(at))?;
        (&f).write_all(&data(n))
    };
    put(0, 64 * 1024)?;
    let mut at = 128 * 1024;
    while at + 4096 < size {
        put(at, 4096)?;
        at += 128 * 1024;
    }
    put(size.saturating_sub(64 * 1024), 64 * 1024)?;
    f.sync_all()
}

impl Hardware for SimulatedMachine {
    fn inventory(&self) -> Result<Inventory, String> {
        Ok(self.inventory.clone())
    }

    fn block_devices(&self) -> Result<Vec<BlockDevice>, String> {
        Ok(self
            .inventory
            .disks
            .iter()
            .enumerate()
            .map(|(i, d)| BlockDevice {
                name: format!("disk{i}"),
                path: self.disk_path(&d.serial),
                size_bytes: self.disk_bytes,
                serial: d.serial.clone(),
                model: d.model.clone(),
                skip: None,
            })
            .collect())
    }

    fn erase(&self, device: &BlockDevice, mode: EraseMode) -> Result<DiskErasure, String> {
        super::erase::erase_disk(&device.facts(), mode, &super::erase::NoCommands)
    }
}

/// The Linux system under `root` ("/" on a real machine).
pub struct LinuxHardware {
    pub root: PathBuf,
    /// Run dmidecode and lldpctl when present (only with root "/").
    pub use_tools: bool,
}

impl LinuxHardware {
    /// This machine.
    pub fn local() -> Self {
        Self { root: PathBuf::from("/"), use_tools: true }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    fn read(&self, p: impl AsRef<Path>) -> Option<String> {
        std::fs::read_to_string(p).ok().map(|s| s.trim().to_string())
    }

    fn tool(&self, program: &str, args: &[&str]) -> Option<String> {
        if !self.use_tools {
            return None;
        }
        let out = Command::new(program).args(args).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn system(&self) -> SystemInfo {
        let dmi = |f: &str| self.read(self.path(&format!("/sys/class/dmi/id/{f}"))).unwrap_or_default();
        let mut s = SystemInfo {
            manufacturer: dmi("sys_vendor"),
            model: dmi("product_name"),
            serial_number: dmi("product_serial"),
            uuid: dmi("product_uuid"),
            bios_version: dmi("bios_version"),
        };
        if let Some(out) = self.tool("dmidecode", &["-t", "system"]) {
            let fields = dmi_fields(&out);
            let set = |target: &mut String, key: &str| {
                if let Some(v) = fields.get(key).filter(|v| !v.is_empty()) {
                    *target = v.clone();
                }
            };
            set(&mut s.manufacturer, "Manufacturer");
            set(&mut s.model, "Product Name");
            set(&mut s.serial_number, "Serial Number");
            set(&mut s.uuid, "UUID");
        }
        if s.uuid.is_empty() {
            // Without SMBIOS (some VMs), the machine id is the best stable identity.
            s.uuid = self.read(self.path("/etc/machine-id")).unwrap_or_default();
        }
        s
    }

    fn cpus(&self) -> Result<Vec<Cpu>, String> {
        let text = self.read(self.path("/proc/cpuinfo")).ok_or("cannot read /proc/cpuinfo")?;
        Ok(parse_cpuinfo(&text))
    }

    fn memory(&self) -> Vec<MemoryModule> {
        if let Some(out) = self.tool("dmidecode", &["-t", "memory"]) {
            let modules = parse_dmi_memory(&out);
            if !modules.is_empty() {
                return modules;
            }
        }
        // Online memory blocks: what is installed, less only holes (MemTotal would
        // also subtract what the kernel reserved).
        let dir = self.path("/sys/devices/system/memory");
        let block = self
            .read(dir.join("block_size_bytes"))
            .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok());
        if let (Some(block), Ok(entries)) = (block, std::fs::read_dir(&dir)) {
            let online = entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("memory"))
                .filter(|e| self.read(e.path().join("state")).as_deref() == Some("online"))
                .count() as u64;
            if online > 0 {
                return vec![MemoryModule { slot: "system".into(), size_mib: online * block / (1024 * 1024) }];
            }
        }
        let meminfo = self.read(self.path("/proc/meminfo")).unwrap_or_default();
        let kib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        vec![MemoryModule { slot: "system".into(), size_mib: kib / 1024 }]
    }

    /// Physical disks under /sys/block: (name, size in bytes).
    fn block_entries(&self) -> Vec<(String, u64)> {
        let dir = self.path("/sys/block");
        let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
        let mut names: Vec<String> =
            entries.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into()).collect();
        names.sort();
        names
            .into_iter()
            .filter(|n| !["loop", "ram", "zram", "dm-", "md", "sr", "nbd", "fd"].iter().any(|p| n.starts_with(p)))
            .filter_map(|n| {
                let sectors: u64 = self.read(dir.join(&n).join("size")).and_then(|s| s.parse().ok()).unwrap_or(0);
                (sectors > 0).then_some((n, sectors * 512))
            })
            .collect()
    }

    /// Disks holding a mounted filesystem (the live image's medium among them).
    fn mounted_disks(&self) -> Vec<String> {
        let mounts = self.read(self.path("/proc/mounts")).unwrap_or_default();
        mounts.lines().filter_map(|l| l.split_whitespace().next()?.strip_prefix("/dev/")).map(parent_disk).collect()
    }

    fn disks(&self) -> Vec<Disk> {
        let dir = self.path("/sys/block");
        let mut out = Vec::new();
        for (name, size_bytes) in self.block_entries() {
            let d = dir.join(&name);
            let sectors = size_bytes / 512;
            let rotational = self.read(d.join("queue/rotational")).as_deref() == Some("1");
            let kind = if name.starts_with("nvme") {
                DiskKind::Nvme
            } else if name.starts_with("vd") || name.starts_with("xvd") {
                // Virtual disks claim to rotate; they are neither.
                DiskKind::Unknown
            } else if rotational {
                DiskKind::Hdd
            } else {
                DiskKind::Ssd
            };
            // NVMe controllers and virtio disks name their serial; SCSI and SATA disks
            // (through libata) answer it in VPD page 0x80; the WWID is a last resort
            // (for ATA it is the vendor, model and serial run together).
            let serial = ["device/serial", "serial"]
                .iter()
                .find_map(|f| self.read(d.join(f)).filter(|s| !s.is_empty()))
                .or_else(|| std::fs::read(d.join("device/vpd_pg80")).ok().and_then(|b| vpd_unit_serial(&b)))
                .or_else(|| ["device/wwid", "wwid"].iter().find_map(|f| self.read(d.join(f)).filter(|s| !s.is_empty())))
                .unwrap_or_else(|| format!("{name}-no-serial"));
            let model = self.read(d.join("device/model")).unwrap_or_default();
            out.push(Disk { model, serial, size_bytes: sectors * 512, kind });
        }
        out
    }

    /// The drives' firmware revisions (NVMe: `firmware_rev`; SCSI and SATA: `rev`),
    /// one component per model.
    fn drive_firmware(&self) -> Vec<app::domain::inventory::Firmware> {
        let dir = self.path("/sys/block");
        let drives: Vec<(String, String)> = self
            .block_entries()
            .into_iter()
            .filter_map(|(name, _)| {
                let d = dir.join(&name);
                let model = self.read(d.join("device/model"))?;
                let rev = ["device/firmware_rev", "device/rev"].iter().find_map(|f| self.read(d.join(f)))?;
                Some((model, rev))
            })
            .collect();
        app::domain::firmware::drive_firmware(&drives)
    }

    fn nics(&self) -> Vec<Nic> {
        let dir = self.path("/sys/class/net");
        let lldp = self.tool("lldpctl", &["-f", "json"]).map(|j| parse_lldp(&j)).unwrap_or_default();
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else { return out };
        let mut names: Vec<String> =
            entries.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into()).collect();
        names.sort();
        for name in names {
            let n = dir.join(&name);
            // Physical NICs have a device; bridges, bonds, veths and lo do not.
            if !n.join("device").exists() {
                continue;
            }
            let mac = self.read(n.join("address")).unwrap_or_default();
            let speed = self.read(n.join("speed")).and_then(|s| s.parse::<i64>().ok()).filter(|s| *s > 0).unwrap_or(0);
            let (switch, switch_port) = lldp.get(&name).cloned().unzip();
            out.push(Nic { name, mac, speed_mbps: speed as u32, switch, switch_port });
        }
        out
    }

    fn gpus(&self) -> Vec<Gpu> {
        let dir = self.path("/sys/bus/pci/devices");
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else { return out };
        let mut slots: Vec<String> =
            entries.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into()).collect();
        slots.sort();
        for slot in slots {
            let d = dir.join(&slot);
            let class = self.read(d.join("class")).unwrap_or_default();
            // 0x0300 VGA, 0x0302 3D controller: GPUs and accelerators.
            if !(class.starts_with("0x0300") || class.starts_with("0x0302")) {
                continue;
            }
            let vendor = self.read(d.join("vendor")).unwrap_or_default();
            let device = self.read(d.join("device")).unwrap_or_default();
            let vendor_name = match vendor.as_str() {
                "0x10de" => "NVIDIA",
                "0x1002" => "AMD",
                "0x8086" => "Intel",
                _ => "",
            };
            // Emulated VGA (BMC graphics, QEMU) is not a GPU worth typing.
            if vendor_name.is_empty() || (vendor_name == "Intel" && class.starts_with("0x0300")) {
                continue;
            }
            let model = self
                .tool("lspci", &["-s", &slot, "-mm"])
                .and_then(|l| l.split('"').nth(5).map(str::to_string))
                .unwrap_or_else(|| format!("{vendor_name} {device}"));
            out.push(Gpu { slot, model });
        }
        out
    }
}

impl Hardware for LinuxHardware {
    fn inventory(&self) -> Result<Inventory, String> {
        Ok(Inventory {
            system: self.system(),
            cpus: self.cpus()?,
            memory: self.memory(),
            disks: self.disks(),
            nics: self.nics(),
            gpus: self.gpus(),
            // The BMC lists most firmware; the drives' the live image reads (many BMCs
            // list no drives).
            firmware: self.drive_firmware(),
        })
    }

    fn block_devices(&self) -> Result<Vec<BlockDevice>, String> {
        if !self.root.join(LIVE_MARKER).exists() {
            return Err(format!(
                "refusing to erase: /{LIVE_MARKER} is missing, so this is not the Rackstate live image; nothing was erased"
            ));
        }
        let mounted = self.mounted_disks();
        let disks = self.disks();
        Ok(self
            .block_entries()
            .into_iter()
            .zip(disks)
            .map(|((name, size_bytes), disk)| BlockDevice {
                path: self.path(&format!("/dev/{name}")),
                skip: mounted
                    .contains(&name)
                    .then(|| "holds a mounted filesystem (the live image's boot device)".into()),
                name,
                size_bytes,
                serial: disk.serial,
                model: disk.model,
            })
            .collect())
    }

    fn erase(&self, device: &BlockDevice, mode: EraseMode) -> Result<DiskErasure, String> {
        let commands: &dyn DeviceCommands =
            if self.use_tools { &super::device_erase::LinuxCommands } else { &super::erase::NoCommands };
        super::erase::erase_disk(&device.facts(), mode, commands)
    }
}

/// The disk a partition belongs to: sda1 -> sda, nvme0n1p2 -> nvme0n1, vda -> vda.
pub fn parent_disk(dev: &str) -> String {
    if let Some((disk, part)) = dev.rsplit_once('p')
        && (disk.starts_with("nvme") || disk.starts_with("mmcblk"))
        && part.chars().all(|c| c.is_ascii_digit())
        && !part.is_empty()
    {
        return disk.to_string();
    }
    if dev.starts_with("nvme") || dev.starts_with("mmcblk") {
        return dev.to_string();
    }
    dev.trim_end_matches(|c: char| c.is_ascii_digit()).to_string()
}

/// CPUs per socket from /proc/cpuinfo: model, cores (`cpu cores`) and threads (the
/// processors listed with that `physical id`).
pub fn parse_cpuinfo(text: &str) -> Vec<Cpu> {
    let mut sockets: BTreeMap<u32, Cpu> = BTreeMap::new();
    for block in text.split("\n\n").filter(|b| b.contains("processor")) {
        let field = |k: &str| {
            block.lines().find_map(|l| {
                let (key, v) = l.split_once(':')?;
                (key.trim() == k).then(|| v.trim().to_string())
            })
        };
        let socket: u32 = field("physical id").and_then(|v| v.parse().ok()).unwrap_or(0);
        let cores: u32 = field("cpu cores").and_then(|v| v.parse().ok()).unwrap_or(0);
        let model = field("model name").or_else(|| field("cpu model")).unwrap_or_else(|| "unknown".into());
        let cpu = sockets.entry(socket).or_insert(Cpu { socket: format!("CPU{socket}"), model, cores, threads: 0 });
        cpu.threads += 1;
    }
    sockets
        .into_values()
        .map(|mut c| {
            if c.cores == 0 {
                c.cores = c.threads;
            }
            c
        })
        .collect()
}

/// `Key: Value` lines of dmidecode output (the first of each key).
fn dmi_fields(out: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for l in out.lines() {
        if let Some((k, v)) = l.trim().split_once(':') {
            m.entry(k.trim().to_string()).or_insert_with(|| v.trim().to_string());
        }
    }
    m
}

/// Installed DIMMs from `dmidecode -t memory` (empty slots left out).
pub fn parse_dmi_memory(out: &str) -> Vec<MemoryModule> {
    out.split("\n\n")
        .filter(|b| b.contains("Memory Device"))
        .filter_map(|b| {
            let f = dmi_fields(b);
            let size = f.get("Size")?;
            let mut parts = size.split_whitespace();
            let n: u64 = parts.next()?.parse().ok()?;
            let mib = match parts.next()? {
                "MB" => n,
                "GB" => n * 1024,
                "TB" => n * 1024 * 1024,
                _ => return None,
            };
            let slot = f.get("Locator").cloned().unwrap_or_default();
            Some(MemoryModule { slot, size_mib: mib })
        })
        .collect()
}

/// Interface -> (switch, port) from `lldpctl -f json`.
pub fn parse_lldp(json: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else { return out };
    let interfaces = &v["lldp"]["interface"];
    // lldpctl gives an object per interface, or a list of such objects.
    let items: Vec<(&String, &serde_json::Value)> = match interfaces {
        serde_json::Value::Object(m) => m.iter().collect(),
        serde_json::Value::Array(a) => a.iter().filter_map(|o| o.as_object()).flat_map(|m| m.iter()).collect(),
        _ => vec![],
    };
    for (name, iface) in items {
        let switch = iface["chassis"].as_object().and_then(|c| c.keys().next().cloned()).unwrap_or_default();
        let port = iface["port"]["id"]["value"].as_str().unwrap_or_default().to_string();
        if !switch.is_empty() || !port.is_empty() {
            out.insert(name.clone(), (switch, port));
        }
    }
    out
}

/// The serial number in a SCSI VPD page 0x80 (Unit Serial Number): a 4-byte header
/// whose last two bytes give the length, then the serial, often padded with spaces.
fn vpd_unit_serial(page: &[u8]) -> Option<String> {
    if page.len() < 4 || page[1] != 0x80 {
        return None;
    }
    let len = u16::from_be_bytes([page[2], page[3]]) as usize;
    let serial = page.get(4..4 + len).unwrap_or(&page[4..]);
    let text: String = serial.iter().map(|&b| b as char).collect();
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!text.is_empty() && text.chars().all(|c| c.is_ascii_graphic() || c == ' ')).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two sockets of 4 cores / 8 threads each.
    #[test]
    fn cpuinfo_two_sockets() {
        let mut text = String::new();
        for p in 0..16 {
            text.push_str(&format!(
                "processor\t: {p}\nmodel name\t: Intel(R) Xeon(R) Gold 6338\nphysical id\t: {}\ncpu cores\t: 4\n\n",
                p / 8
            ));
        }
        let cpus = parse_cpuinfo(&text);
        assert_eq!(cpus.len(), 2);
        assert_eq!((cpus[1].socket.as_str(), cpus[1].cores, cpus[1].threads), ("CPU1", 4, 8));
        assert_eq!(cpus[0].model, "Intel(R) Xeon(R) Gold 6338");
    }

    #[test]
    fn dmidecode_memory_and_lldp() {
        let dmi = "Handle 0x1100, DMI type 17\nMemory Device\n\tSize: 32 GB\n\tLocator: A1\n\n\
                   Handle 0x1101, DMI type 17\nMemory Device\n\tSize: No Module Installed\n\tLocator: A2\n\n\
                   Handle 0x1102, DMI type 17\nMemory Device\n\tSize: 16384 MB\n\tLocator: B1\n";
        let m = parse_dmi_memory(dmi);
        assert_eq!(
            m,
            vec![
                MemoryModule { slot: "A1".into(), size_mib: 32768 },
                MemoryModule { slot: "B1".into(), size_mib: 16384 }
            ]
        );
        let lldp = r#"{"lldp":{"interface":{"eno1":{"chassis":{"leaf-3":{"id":{}}},"port":{"id":{"type":"ifname","value":"Ethernet12"}}}}}}"#;
        assert_eq!(parse_lldp(lldp).get("eno1"), Some(&("leaf-3".to_string(), "Ethernet12".to_string())));
    }

    /// A fixture tree: a disk with a serial, a loop device left out, a physical NIC
    /// and a bridge left out, an NVIDIA GPU, memory blocks.
    #[test]
    fn fixture_tree() {
        let root = tempfile::tempdir().unwrap();
        let w = |p: &str, v: &str| {
            let path = root.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, v).unwrap();
        };
        w("proc/cpuinfo", "processor\t: 0\nmodel name\t: AMD EPYC 7543\nphysical id\t: 0\ncpu cores\t: 1\n\n");
        w("sys/devices/system/memory/block_size_bytes", "8000000\n");
        for i in 0..8 {
            w(&format!("sys/devices/system/memory/memory{i}/state"), "online\n");
        }
        w("sys/block/sda/size", "1875385008\n");
        w("sys/block/sda/queue/rotational", "0\n");
        w("sys/block/sda/device/model", "PM893\n");
        w("sys/block/sda/device/serial", "S5DJNA0R\n");
        w("sys/block/loop0/size", "100\n");
        // A SATA disk through libata: the serial only in VPD page 0x80, padded.
        w("sys/block/sdb/size", "2048\n");
        w("sys/block/sdb/queue/rotational", "1\n");
        w("sys/block/sdb/device/wwid", "t10.ATA     QEMU HARDDISK                           RS1-SATA0\n");
        let mut pg80 = vec![0u8, 0x80, 0, 20];
        pg80.extend_from_slice(b"RS1-SATA0           ");
        std::fs::write(root.path().join("sys/block/sdb/device/vpd_pg80"), pg80).unwrap();
        w("sys/class/net/eno1/address", "aa:bb:cc:dd:ee:01\n");
        w("sys/class/net/eno1/speed", "25000\n");
        w("sys/class/net/eno1/device/vendor", "0x15b3\n");
        w("sys/class/net/br0/address", "aa:bb:cc:dd:ee:02\n");
        w("sys/bus/pci/devices/0000:17:00.0/class", "0x030200\n");
        w("sys/bus/pci/devices/0000:17:00.0/vendor", "0x10de\n");
        w("sys/bus/pci/devices/0000:17:00.0/device", "0x20b5\n");
        w("sys/class/dmi/id/sys_vendor", "Dell Inc.\n");
        w("sys/class/dmi/id/product_serial", "7XK2M03\n");
        let inv = LinuxHardware { root: root.path().into(), use_tools: false }.inventory().unwrap();
        assert_eq!(inv.system.manufacturer, "Dell Inc.");
        assert_eq!(inv.system.serial_number, "7XK2M03");
        assert_eq!(inv.memory[0].size_mib, 1024);
        assert_eq!(inv.disks.len(), 2);
        assert_eq!((inv.disks[0].serial.as_str(), inv.disks[0].kind), ("S5DJNA0R", DiskKind::Ssd));
        assert_eq!((inv.disks[1].serial.as_str(), inv.disks[1].kind), ("RS1-SATA0", DiskKind::Hdd));
        assert_eq!(inv.disks[0].size_bytes, 1875385008 * 512);
        assert_eq!(inv.nics.len(), 1);
        assert_eq!((inv.nics[0].name.as_str(), inv.nics[0].speed_mbps), ("eno1", 25000));
        assert_eq!(inv.gpus, vec![Gpu { slot: "0000:17:00.0".into(), model: "NVIDIA 0x20b5".into() }]);
        assert_eq!(inv.validate(), Ok(()));
    }

    /// Partitions map to their disks.
    #[test]
    fn parent_disks() {
        assert_eq!(parent_disk("sda1"), "sda");
        assert_eq!(parent_disk("nvme0n1p2"), "nvme0n1");
        assert_eq!(parent_disk("nvme0n1"), "nvme0n1");
        assert_eq!(parent_disk("vda"), "vda");
        assert_eq!(parent_disk("mmcblk0p1"), "mmcblk0");
    }

    /// Without the live-image marker nothing is erased; with it, every disk but the
    /// one holding a mounted filesystem is, with the real erase code on files.
    #[tokio::test]
    async fn erase_needs_the_marker_and_spares_the_boot_disk() {
        use crate::agent::steps;
        use app::domain::agent::AgentStep;
        let root = tempfile::tempdir().unwrap();
        let w = |p: &str, v: &[u8]| {
            let path = root.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, v).unwrap();
        };
        let size = 4 * 1024 * 1024;
        for disk in ["sda", "sdb"] {
            w(&format!("sys/block/{disk}/size"), format!("{}\n", size / 512).as_bytes());
            w(&format!("dev/{disk}"), &vec![0x5Au8; size]);
        }
        w("proc/mounts", b"/dev/sdb1 /run/live/medium iso9660 ro 0 0\nproc /proc proc rw 0 0\n");
        let host = LinuxHardware { root: root.path().into(), use_tools: false };
        let step = AgentStep { name: "erase_disks".into(), params: serde_json::json!({ "mode": "metadata" }) };

        let refused = steps::run(&step, &host).await;
        assert!(!refused.ok && refused.message.contains("nothing was erased"), "{refused:?}");
        assert!(std::fs::read(root.path().join("dev/sda")).unwrap().iter().all(|b| *b == 0x5A));

        w(LIVE_MARKER, b"");
        let done = steps::run(&step, &host).await;
        assert!(done.ok, "{done:?}");
        assert_eq!(done.message, "1 disk(s) erased and verified (metadata mode)");
        assert!(done.devices[1].message.starts_with("skipped"), "{:?}", done.devices);
        assert!(done.devices[1].boot_device && !done.devices[0].boot_device);
        assert!(done.devices[0].erasure.as_ref().is_some_and(|e| e.verification.passed), "{:?}", done.devices);
        let sda = std::fs::read(root.path().join("dev/sda")).unwrap();
        assert!(sda[..1024 * 1024].iter().all(|b| *b == 0) && sda[size - 1..].iter().all(|b| *b == 0));
        assert!(std::fs::read(root.path().join("dev/sdb")).unwrap().iter().all(|b| *b == 0x5A), "boot disk untouched");
    }

    /// This machine: its real CPUs, memory and disks, and an inventory Rackstate accepts.
    #[test]
    fn this_machine() {
        let inv = LinuxHardware::local().inventory().unwrap();
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
        let processors = cpuinfo.lines().filter(|l| l.starts_with("processor")).count() as u32;
        assert_eq!(inv.cpus.iter().map(|c| c.threads).sum::<u32>(), processors);
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
        let total_kib: u64 = meminfo.lines().next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
        let reported_mib: u64 = inv.memory.iter().map(|m| m.size_mib).sum();
        assert!(reported_mib >= total_kib / 1024, "{reported_mib} MiB < MemTotal {total_kib} KiB");
        assert_eq!(inv.validate(), Ok(()));
    }
}
