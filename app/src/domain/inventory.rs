//! Hardware inventory as registration discovers it, and the diff between two
//! inventories (what a re-registration changed).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Inventory {
    pub system: SystemInfo,
    #[serde(default)]
    pub cpus: Vec<Cpu>,
    #[serde(default)]
    pub memory: Vec<MemoryModule>,
    #[serde(default)]
    pub disks: Vec<Disk>,
    #[serde(default)]
    pub nics: Vec<Nic>,
    #[serde(default)]
    pub gpus: Vec<Gpu>,
    /// Firmware versions the BMC lists (`UpdateService/FirmwareInventory`).
    #[serde(default)]
    pub firmware: Vec<Firmware>,
}

/// One component's firmware as the BMC lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Firmware {
    /// The BMC's id of the component (e.g. `BMC`, `BIOS`, `NIC.Integrated.1-1`).
    pub id: String,
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SystemInfo {
    pub manufacturer: String,
    pub model: String,
    pub serial_number: String,
    pub uuid: String,
    #[serde(default)]
    pub bios_version: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Cpu {
    /// Socket or slot name, e.g. "CPU1".
    pub socket: String,
    pub model: String,
    pub cores: u32,
    pub threads: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MemoryModule {
    pub slot: String,
    pub size_mib: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum DiskKind {
    Hdd,
    Ssd,
    Nvme,
    Unknown,
}

impl DiskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiskKind::Hdd => "hdd",
            DiskKind::Ssd => "ssd",
            DiskKind::Nvme => "nvme",
            DiskKind::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Disk {
    pub model: String,
    pub serial: String,
    pub size_bytes: u64,
    pub kind: DiskKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Nic {
    pub name: String,
    pub mac: String,
    pub speed_mbps: u32,
    /// Switch and port seen by LLDP, when the agent saw them.
    #[serde(default)]
    pub switch: Option<String>,
    #[serde(default)]
    pub switch_port: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Gpu {
    pub slot: String,
    pub model: String,
}

/// Bounds on what an agent may report (a real server is far inside them).
pub const MAX_COMPONENTS: usize = 1024;
pub const MAX_TEXT: usize = 256;

impl Inventory {
    /// Checks a reported inventory: at least one CPU and some memory, bounded lists
    /// and strings. The error names the field, e.g. `cpus[0].model: ...`.
    pub fn validate(&self) -> Result<(), String> {
        fn text(field: &str, v: &str) -> Result<(), String> {
            if v.len() > MAX_TEXT {
                return Err(format!("{field}: longer than {MAX_TEXT} characters"));
            }
            if v.chars().any(char::is_control) {
                return Err(format!("{field}: contains control characters"));
            }
            Ok(())
        }
        fn list<T>(field: &str, items: &[T], each: impl Fn(&str, &T) -> Result<(), String>) -> Result<(), String> {
            if items.len() > MAX_COMPONENTS {
                return Err(format!("{field}: more than {MAX_COMPONENTS} entries"));
            }
            items.iter().enumerate().try_for_each(|(i, item)| each(&format!("{field}[{i}]"), item))
        }
        let s = &self.system;
        text("system.manufacturer", &s.manufacturer)?;
        text("system.model", &s.model)?;
        text("system.serial_number", &s.serial_number)?;
        text("system.uuid", &s.uuid)?;
        text("system.bios_version", &s.bios_version)?;
        if self.cpus.is_empty() {
            return Err("cpus: at least one CPU is required".into());
        }
        list("cpus", &self.cpus, |f, c| {
            text(&format!("{f}.socket"), &c.socket)?;
            text(&format!("{f}.model"), &c.model)?;
            if c.cores == 0 || c.cores > 4096 || c.threads > 8192 {
                return Err(format!("{f}.cores: must be 1 to 4096 (threads up to 8192)"));
            }
            Ok(())
        })?;
        if self.memory.iter().map(|m| m.size_mib).sum::<u64>() == 0 {
            return Err("memory: no memory reported".into());
        }
        list("memory", &self.memory, |f, m| {
            text(&format!("{f}.slot"), &m.slot)?;
            if m.size_mib > 64 * 1024 * 1024 {
                return Err(format!("{f}.size_mib: larger than 64 TiB"));
            }
            Ok(())
        })?;
        list("disks", &self.disks, |f, d| {
            text(&format!("{f}.model"), &d.model)?;
            text(&format!("{f}.serial"), &d.serial)
        })?;
        list("nics", &self.nics, |f, n| {
            text(&format!("{f}.name"), &n.name)?;
            text(&format!("{f}.mac"), &n.mac)?;
            text(&format!("{f}.switch"), n.switch.as_deref().unwrap_or_default())?;
            text(&format!("{f}.switch_port"), n.switch_port.as_deref().unwrap_or_default())
        })?;
        list("gpus", &self.gpus, |f, g| {
            text(&format!("{f}.slot"), &g.slot)?;
            text(&format!("{f}.model"), &g.model)
        })
    }

    /// Logical cores (threads) over all CPUs.
    pub fn logical_cores(&self) -> u32 {
        self.cpus.iter().map(|c| c.threads.max(c.cores)).sum()
    }

    /// RAM in whole GB (GiB, as vendors label DIMMs), rounded to the nearest.
    pub fn ram_gb(&self) -> u64 {
        let mib: u64 = self.memory.iter().map(|m| m.size_mib).sum();
        (mib + 512) / 1024
    }
}

/// One component that differs between two inventories.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Change {
    /// "cpu", "memory", "disk", "nic", "gpu", "system", or "type" (the server type
    /// the hardware makes).
    pub component: String,
    /// What identifies it: slot, serial, MAC.
    pub key: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl Change {
    /// The server type the hardware makes changed (labels; None: untyped).
    pub fn of_type(before: Option<String>, after: String) -> Self {
        Change { component: "type".into(), key: "type".into(), before, after: Some(after) }
    }

    pub fn kind(&self) -> &'static str {
        match (&self.before, &self.after) {
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            _ => "changed",
        }
    }
}

/// Components added, removed or changed from `old` to `new`, keyed by identity:
/// CPU socket, memory slot, disk serial, NIC MAC, GPU slot.
pub fn diff(old: &Inventory, new: &Inventory) -> Vec<Change> {
    let mut out = Vec::new();
    let sys =
        |s: &SystemInfo| format!("{} {} serial {} BIOS {}", s.manufacturer, s.model, s.serial_number, s.bios_version);
    if old.system != new.system {
        out.push(Change {
            component: "system".into(),
            key: "system".into(),
            before: Some(sys(&old.system)),
            after: Some(sys(&new.system)),
        });
    }
    keyed(
        &mut out,
        "cpu",
        &old.cpus,
        &new.cpus,
        |c| c.socket.clone(),
        |c| format!("{} ({}C/{}T)", c.model, c.cores, c.threads),
    );
    keyed(&mut out, "memory", &old.memory, &new.memory, |m| m.slot.clone(), |m| format!("{} MiB", m.size_mib));
    keyed(
        &mut out,
        "disk",
        &old.disks,
        &new.disks,
        |d| d.serial.clone(),
        |d| format!("{} {} {} bytes", d.model, d.kind.as_str(), d.size_bytes),
    );
    keyed(
        &mut out,
        "nic",
        &old.nics,
        &new.nics,
        |n| n.mac.to_ascii_lowercase(),
        |n| {
            format!(
                "{} {} Mb/s{}",
                n.name,
                n.speed_mbps,
                match (&n.switch, &n.switch_port) {
                    (Some(s), Some(p)) => format!(" on {s} port {p}"),
                    _ => String::new(),
                }
            )
        },
    );
    keyed(&mut out, "gpu", &old.gpus, &new.gpus, |g| g.slot.clone(), |g| g.model.clone());
    out
}

fn keyed<T>(
    out: &mut Vec<Change>,
    component: &str,
    old: &[T],
    new: &[T],
    key: impl Fn(&T) -> String,
    show: impl Fn(&T) -> String,
) {
    for o in old {
        let k = key(o);
        match new.iter().find(|n| key(n) == k) {
            None => out.push(Change { component: component.into(), key: k, before: Some(show(o)), after: None }),
            Some(n) if show(n) != show(o) => {
                out.push(Change { component: component.into(), key: k, before: Some(show(o)), after: Some(show(n)) })
            }
            Some(_) => {}
        }
    }
    for n in new {
        let k = key(n);
        if !old.iter().any(|o| key(o) == k) {
            out.push(Change { component: component.into(), key: k, before: None, after: Some(show(n)) });
        }
    }
}

/// A disk's size as vendors label it (decimal units): "1.9 TB", "960 GB", "4.0 GB",
/// "128 MB". Small disks (virtual machines, boot modules) must not read "0 GB".
pub fn size_text(bytes: u64) -> String {
    let gb = bytes as f64 / 1e9;
    if gb >= 1000.0 {
        format!("{:.1} TB", gb / 1000.0)
    } else if gb >= 10.0 {
        format!("{gb:.0} GB")
    } else if gb >= 1.0 {
        format!("{gb:.1} GB")
    } else {
        format!("{:.0} MB", bytes as f64 / 1e6)
    }
}

/// A NIC's link speed: "25 Gb/s", "2.5 Gb/s", "100 Mb/s"; 0 is what Linux reports
/// when it does not know (link down, virtio), shown as such.
pub fn speed_text(mbps: u32) -> String {
    match mbps {
        0 => "unknown".into(),
        m if m < 1000 => format!("{m} Mb/s"),
        m if m % 1000 == 0 => format!("{} Gb/s", m / 1000),
        m => format!("{:.1} Gb/s", m as f64 / 1000.0),
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A two-socket server with 256 GiB, two SSDs and two 25G NICs.
    pub fn dual_socket() -> Inventory {
        Inventory {
            system: SystemInfo {
                manufacturer: "Dell".into(),
                model: "R650".into(),
                serial_number: "SN1".into(),
                uuid: "u1".into(),
                bios_version: "1.0".into(),
            },
            cpus: (1..=2)
                .map(|i| Cpu { socket: format!("CPU{i}"), model: "Xeon Gold 6338".into(), cores: 32, threads: 64 })
                .collect(),
            memory: (0..8).map(|i| MemoryModule { slot: format!("A{i}"), size_mib: 32 * 1024 }).collect(),
            disks: vec![
                Disk { model: "PM893".into(), serial: "D1".into(), size_bytes: 960_000_000_000, kind: DiskKind::Ssd },
                Disk { model: "PM893".into(), serial: "D2".into(), size_bytes: 960_000_000_000, kind: DiskKind::Ssd },
            ],
            nics: (0..2)
                .map(|i| Nic {
                    name: format!("eno{i}"),
                    mac: format!("aa:bb:cc:00:00:0{i}"),
                    speed_mbps: 25_000,
                    switch: Some("leaf1".into()),
                    switch_port: Some(format!("Ethernet{i}")),
                })
                .collect(),
            gpus: vec![],
            firmware: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::dual_socket;
    use super::*;

    /// A 64 MiB virtual disk read "0 GB" and a virtio NIC "0 Gb/s" on the server page
    /// (the VM lab): small sizes are shown in MB, unknown speeds as unknown.
    #[test]
    fn sizes_and_speeds_as_people_read_them() {
        assert_eq!(size_text(67_108_864), "67 MB");
        assert_eq!(size_text(4_000_787_030), "4.0 GB");
        assert_eq!(size_text(960_000_000_000), "960 GB");
        assert_eq!(size_text(1_920_000_000_000), "1.9 TB");
        assert_eq!(speed_text(0), "unknown");
        assert_eq!(speed_text(100), "100 Mb/s");
        assert_eq!(speed_text(2500), "2.5 Gb/s");
        assert_eq!(speed_text(25_000), "25 Gb/s");
    }

    /// Validation names the field at fault; unknown fields are refused by the schema.
    #[test]
    fn validation() {
        assert_eq!(dual_socket().validate(), Ok(()));
        let mut inv = dual_socket();
        inv.cpus[1].model = "x".repeat(300);
        assert_eq!(inv.validate().unwrap_err(), "cpus[1].model: longer than 256 characters");
        let mut inv = dual_socket();
        inv.cpus.clear();
        assert!(inv.validate().unwrap_err().starts_with("cpus:"));
        let mut inv = dual_socket();
        inv.memory.clear();
        assert!(inv.validate().unwrap_err().starts_with("memory:"));
        let mut json = serde_json::to_value(dual_socket()).unwrap();
        json["cpus"][0]["vendor"] = "x".into();
        let e = serde_json::from_value::<Inventory>(json).unwrap_err().to_string();
        assert!(e.contains("unknown field `vendor`"), "{e}");
    }

    /// Totals: threads over sockets, RAM rounded to whole GB.
    #[test]
    fn totals() {
        let inv = dual_socket();
        assert_eq!(inv.logical_cores(), 128);
        assert_eq!(inv.ram_gb(), 256);
    }

    /// Identical inventories have no diff.
    #[test]
    fn no_change_no_diff() {
        assert!(diff(&dual_socket(), &dual_socket()).is_empty());
    }

    /// A replaced disk shows as one removed and one added; a new GPU as added; a NIC
    /// moved to another switch port as changed.
    #[test]
    fn replaced_disk_new_gpu_moved_nic() {
        let old = dual_socket();
        let mut new = dual_socket();
        new.disks[1].serial = "D3".into();
        new.gpus.push(Gpu { slot: "PCIe1".into(), model: "A100".into() });
        new.nics[0].switch_port = Some("Ethernet9".into());
        let d = diff(&old, &new);
        let kinds: Vec<_> = d.iter().map(|c| (c.component.as_str(), c.key.as_str(), c.kind())).collect();
        assert!(kinds.contains(&("disk", "D2", "removed")));
        assert!(kinds.contains(&("disk", "D3", "added")));
        assert!(kinds.contains(&("gpu", "PCIe1", "added")));
        assert!(kinds.contains(&("nic", "aa:bb:cc:00:00:00", "changed")));
        assert_eq!(d.len(), 4);
    }
}
