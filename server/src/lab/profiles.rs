//! The demo lab's hardware: five kinds of server, each machine with its own serials
//! and MACs, so types come out as they would in a real rack.

use app::domain::inventory::{Cpu, Disk, DiskKind, Gpu, Inventory, MemoryModule, Nic, SystemInfo};

/// How many hardware profiles the lab cycles through.
pub const PROFILES: usize = 5;

struct Profile {
    manufacturer: &'static str,
    model: &'static str,
    cpu: &'static str,
    sockets: u32,
    cores: u32,
    dimms: u32,
    dimm_gib: u64,
    disks: &'static [(&'static str, u64, DiskKind, u32)],
    nic_mbps: u32,
    nics: u32,
    gpus: (&'static str, u32),
}

const GB: u64 = 1_000_000_000;

const ALL: [Profile; PROFILES] = [
    Profile {
        manufacturer: "Dell Inc.",
        model: "PowerEdge R650",
        cpu: "Intel(R) Xeon(R) Gold 6326 CPU @ 2.90GHz",
        sockets: 2,
        cores: 16,
        dimms: 16,
        dimm_gib: 16,
        disks: &[("SAMSUNG MZ7L3960HCJR", 960 * GB, DiskKind::Ssd, 2)],
        nic_mbps: 25_000,
        nics: 2,
        gpus: ("", 0),
    },
    Profile {
        manufacturer: "Dell Inc.",
        model: "PowerEdge R750",
        cpu: "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz",
        sockets: 2,
        cores: 40,
        dimms: 16,
        dimm_gib: 32,
        disks: &[("Dell Ent NVMe P5600 MU U.2 3.2TB", 3_200 * GB, DiskKind::Nvme, 4)],
        nic_mbps: 100_000,
        nics: 2,
        gpus: ("", 0),
    },
    Profile {
        manufacturer: "Supermicro",
        model: "SSG-620P-E1CR24L",
        cpu: "AMD EPYC 7313P 16-Core Processor",
        sockets: 1,
        cores: 16,
        dimms: 8,
        dimm_gib: 16,
        disks: &[
            ("ST16000NM001G-2KK103", 16_000 * GB, DiskKind::Hdd, 12),
            ("MZ7LH480HAHQ", 480 * GB, DiskKind::Ssd, 2),
        ],
        nic_mbps: 25_000,
        nics: 2,
        gpus: ("", 0),
    },
    Profile {
        manufacturer: "Supermicro",
        model: "SYS-420GP-TNAR",
        cpu: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
        sockets: 2,
        cores: 32,
        dimms: 16,
        dimm_gib: 64,
        disks: &[("SAMSUNG MZQL23T8HCLS", 3_840 * GB, DiskKind::Nvme, 2)],
        nic_mbps: 100_000,
        nics: 4,
        gpus: ("NVIDIA A100-SXM4-80GB", 8),
    },
    Profile {
        manufacturer: "HPE",
        model: "ProLiant DL20 Gen10 Plus",
        cpu: "Intel(R) Xeon(R) E-2388G CPU @ 3.20GHz",
        sockets: 1,
        cores: 8,
        dimms: 4,
        dimm_gib: 16,
        disks: &[("MK000480GWXFF", 480 * GB, DiskKind::Ssd, 1)],
        nic_mbps: 10_000,
        nics: 2,
        gpus: ("", 0),
    },
];

/// The rack a lab machine sits in (12 per rack).
pub fn rack(index: usize) -> String {
    format!("R{:02}", (index.saturating_sub(1)) / 12 + 1)
}

/// Machine `index` (from 1) of the lab: profile `(index - 1) % 5`, unique identities.
pub fn inventory(index: usize) -> Inventory {
    let p = &ALL[(index.saturating_sub(1)) % PROFILES];
    let serial = format!("LAB{index:05}");
    let mut disks = Vec::new();
    for (model, size, kind, count) in p.disks {
        for _ in 0..*count {
            disks.push(Disk {
                model: model.to_string(),
                serial: format!("{serial}-D{:02}", disks.len() + 1),
                size_bytes: *size,
                kind: *kind,
            });
        }
    }
    let (hi, lo) = ((index >> 8) & 0xff, index & 0xff);
    Inventory {
        system: SystemInfo {
            manufacturer: p.manufacturer.into(),
            model: p.model.into(),
            serial_number: serial.clone(),
            uuid: format!("4c4c4544-0000-4000-8000-{index:012x}"),
            bios_version: "1.8.2".into(),
        },
        cpus: (0..p.sockets)
            .map(|s| Cpu { socket: format!("CPU{s}"), model: p.cpu.into(), cores: p.cores, threads: p.cores * 2 })
            .collect(),
        memory: (0..p.dimms)
            .map(|d| MemoryModule {
                slot: format!("{}{}", (b'A' + (d % 8) as u8) as char, d / 8 + 1),
                size_mib: p.dimm_gib * 1024,
            })
            .collect(),
        disks,
        nics: (0..p.nics)
            .map(|n| Nic {
                name: format!("ens{}f{}", n / 2 + 1, n % 2),
                mac: format!("02:1a:b0:{hi:02x}:{lo:02x}:{n:02x}"),
                speed_mbps: p.nic_mbps,
                switch: Some(format!("lab-leaf-{}{}", rack(index).to_lowercase(), if n % 2 == 0 { "a" } else { "b" })),
                switch_port: Some(format!("Ethernet{}", (index - 1) % 12 * 4 + n as usize / 2 + 1)),
            })
            .collect(),
        gpus: (0..p.gpus.1)
            .map(|g| Gpu { slot: format!("0000:{:02x}:00.0", 0x17 + g * 0x10), model: p.gpus.0.into() })
            .collect(),
        // The BMC lists the rest (lab BMCs: `UpdateService/FirmwareInventory`); the
        // agent reads the drives'. Every 8th machine runs older drive firmware.
        firmware: app::domain::firmware::drive_firmware(
            &p.disks
                .iter()
                .map(|(model, ..)| (model.to_string(), drive_firmware(index).to_string()))
                .collect::<Vec<_>>(),
        ),
    }
}

/// The firmware revision of machine `index`'s drives: most run the current one.
fn drive_firmware(index: usize) -> &'static str {
    if index % 8 == 0 { "GDC5602Q" } else { "GDC5902Q" }
}

/// The lab's BMC, NIC and RAID controller firmware of machine `index`: most machines
/// run their type's common versions; every 6th runs an older BMC firmware, every 9th a
/// newer NIC firmware (firmware drift to look at).
pub fn component_firmware(index: usize) -> [(&'static str, &'static str, &'static str); 3] {
    [
        ("BMC", "BMC firmware", if index % 6 == 0 { "2.08.1" } else { "2.10.4" }),
        ("NIC.Integrated.1-1", "Integrated NIC 1", if index % 9 == 0 { "22.36.2" } else { "22.31.6" }),
        ("RAID.Integrated.1-1", "Integrated RAID controller", "52.16.1-4405"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::domain::{TypeSpec, server_type::DEFAULT_CLASS};

    /// Five distinct types, one with GPUs; machines of a profile share their type but
    /// not their serials or MACs.
    #[test]
    fn types_and_identities() {
        let labels: std::collections::BTreeSet<String> =
            (1..=10).map(|i| TypeSpec::from_inventory(&inventory(i), DEFAULT_CLASS).base_label()).collect();
        assert_eq!(labels.len(), PROFILES, "{labels:?}");
        assert!((1..=5).any(|i| !inventory(i).gpus.is_empty()));
        let (a, b) = (inventory(1), inventory(6));
        assert_eq!(TypeSpec::from_inventory(&a, 'M'), TypeSpec::from_inventory(&b, 'M'));
        assert_ne!(a.system.serial_number, b.system.serial_number);
        assert_ne!(a.nics[0].mac, b.nics[0].mac);
        (1..=1000).for_each(|i| assert_eq!(inventory(i).validate(), Ok(())));
    }
}
