//! Server types, derived from discovered hardware and labelled like MetalSoft:
//! `{CLASS}.{CORES}.{RAM}[.{DISKS}][G][.vN]`.
//!
//! Two servers share a type exactly when their hardware fingerprints match. When a
//! new fingerprint would get a label that is already taken, it gets `.v2`, `.v3`...

use super::inventory::Inventory;
use serde::{Deserialize, Serialize};

/// The class letter when none is configured.
pub const DEFAULT_CLASS: char = 'M';

/// The parts of a type that define it; the label is derived from them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeSpec {
    pub class: char,
    pub cores: u32,
    pub ram_gb: u64,
    pub disks: u32,
    pub has_gpu: bool,
    /// Canonical description of what else distinguishes hardware: CPU models, disk
    /// sizes and kinds, NIC count and speeds, GPU models. Same fingerprint, same type.
    pub fingerprint: String,
}

impl TypeSpec {
    pub fn from_inventory(inv: &Inventory, class: char) -> Self {
        let mut cpus: Vec<&str> = inv.cpus.iter().map(|c| c.model.trim()).collect();
        cpus.sort_unstable();
        let mut disks: Vec<String> =
            inv.disks.iter().map(|d| format!("{}:{}", d.kind.as_str(), d.size_bytes)).collect();
        disks.sort_unstable();
        let mut nics: Vec<u32> = inv.nics.iter().map(|n| n.speed_mbps).collect();
        nics.sort_unstable();
        let mut gpus: Vec<&str> = inv.gpus.iter().map(|g| g.model.trim()).collect();
        gpus.sort_unstable();
        let fingerprint = format!(
            "class={class};cores={};ram_gb={};cpu=[{}];disks=[{}];nics=[{}];gpus=[{}]",
            inv.logical_cores(),
            inv.ram_gb(),
            cpus.join(","),
            disks.join(","),
            nics.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
            gpus.join(","),
        );
        TypeSpec {
            class: class.to_ascii_uppercase(),
            cores: inv.logical_cores(),
            ram_gb: inv.ram_gb(),
            disks: inv.disks.len() as u32,
            has_gpu: !inv.gpus.is_empty(),
            fingerprint,
        }
    }

    /// The label before any `.vN` suffix, e.g. `M.128.256.2` or `M.64.512G`.
    pub fn base_label(&self) -> String {
        let mut s = format!("{}.{}.{}", self.class, self.cores, self.ram_gb);
        if self.disks > 0 {
            s.push_str(&format!(".{}", self.disks));
        }
        if self.has_gpu {
            s.push('G');
        }
        s
    }
}

/// The label for the `n`th distinct fingerprint with this base label (1 = none).
pub fn versioned_label(base: &str, version: u32) -> String {
    if version <= 1 { base.to_string() } else { format!("{base}.v{version}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::inventory::{Gpu, fixtures::dual_socket};

    /// Class, cores, RAM and disk count make the label.
    #[test]
    fn label_with_disks() {
        let spec = TypeSpec::from_inventory(&dual_socket(), DEFAULT_CLASS);
        assert_eq!(spec.base_label(), "M.128.256.2");
    }

    /// No disks: the disk part is left out.
    #[test]
    fn label_without_disks() {
        let mut inv = dual_socket();
        inv.disks.clear();
        assert_eq!(TypeSpec::from_inventory(&inv, DEFAULT_CLASS).base_label(), "M.128.256");
    }

    /// GPUs add `G`, after the disk count or after RAM.
    #[test]
    fn label_with_gpu() {
        let mut inv = dual_socket();
        inv.gpus.push(Gpu { slot: "PCIe1".into(), model: "A100".into() });
        assert_eq!(TypeSpec::from_inventory(&inv, DEFAULT_CLASS).base_label(), "M.128.256.2G");
        inv.disks.clear();
        assert_eq!(TypeSpec::from_inventory(&inv, 'g').base_label(), "G.128.256G");
    }

    /// Versions: the first fingerprint has no suffix, later ones `.v2`, `.v3`.
    #[test]
    fn versions() {
        assert_eq!(versioned_label("M.8.16", 1), "M.8.16");
        assert_eq!(versioned_label("M.8.16", 2), "M.8.16.v2");
        assert_eq!(versioned_label("M.8.16", 3), "M.8.16.v3");
    }

    /// Same hardware in another order, other serials: same fingerprint. Other NIC
    /// speed or disk size: another fingerprint with the same base label.
    #[test]
    fn fingerprint_identity() {
        let a = dual_socket();
        let mut b = dual_socket();
        b.disks.reverse();
        b.disks[0].serial = "X".into();
        b.nics.reverse();
        b.system.serial_number = "other".into();
        let fa = TypeSpec::from_inventory(&a, 'M');
        assert_eq!(fa, TypeSpec::from_inventory(&b, 'M'));
        let mut c = dual_socket();
        c.nics[0].speed_mbps = 100_000;
        let fc = TypeSpec::from_inventory(&c, 'M');
        assert_ne!(fa.fingerprint, fc.fingerprint);
        assert_eq!(fa.base_label(), fc.base_label());
    }
}
