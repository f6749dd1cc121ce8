//! Hardware inventory as registration discovers it, and the diff between two
//! inventories (what a re-registration changed).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfo {
    pub manufacturer: String,
    pub model: String,
    pub serial_number: String,
    pub uuid: String,
    #[serde(default)]
    pub bios_version: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    /// Socket or slot name, e.g. "CPU1".
    pub socket: String,
    pub model: String,
    pub cores: u32,
    pub threads: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryModule {
    pub slot: String,
    pub size_mib: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
pub struct Disk {
    pub model: String,
    pub serial: String,
    pub size_bytes: u64,
    pub kind: DiskKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct Gpu {
    pub slot: String,
    pub model: String,
}

impl Inventory {
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
pub struct Change {
    /// "cpu", "memory", "disk", "nic", "gpu", "system".
    pub component: String,
    /// What identifies it: slot, serial, MAC.
    pub key: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl Change {
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::dual_socket;
    use super::*;

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
