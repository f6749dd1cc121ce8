//! Which machine a server is: the normalised BMC address two servers may not share,
//! the identity a BMC reports (System UUID, serial, Manager UUID) compared with the
//! one recorded at first registration, and the agent's view of the same machine
//! (system and disk serials) compared with the recorded inventory.

use super::inventory::Inventory;
use std::fmt;

/// The form of a BMC address two servers may not share: scheme (https when none is
/// given, as the Redfish driver assumes), lower-case host, explicit port, and the
/// path without a trailing slash. `10.0.0.5`, `HTTPS://10.0.0.5:443/` and
/// `https://10.0.0.5` are one BMC.
pub fn bmc_key(address: &str) -> String {
    let address = address.trim();
    let lower = address.to_ascii_lowercase();
    let (scheme, rest) = if lower.starts_with("http://") {
        ("http", &address[7..])
    } else if lower.starts_with("https://") {
        ("https", &address[8..])
    } else {
        ("https", address)
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let authority = authority.to_ascii_lowercase();
    // A bracketed IPv6 literal keeps its colons; the port follows the bracket.
    let has_port = match authority.rfind(']') {
        Some(close) => authority[close..].contains(':'),
        None => authority.contains(':'),
    };
    let authority =
        if has_port { authority } else { format!("{authority}:{}", if scheme == "http" { 80 } else { 443 }) };
    format!("{scheme}://{authority}{path}")
}

/// What a BMC says the machine is. Empty strings: the BMC did not say.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MachineIdentity {
    pub system_uuid: String,
    pub serial: String,
    /// The UUID of the BMC itself (its Manager), where it offers one. A BMC board
    /// swap changes it; entering new BMC access forgets it so the next job records it.
    pub manager_uuid: String,
}

impl MachineIdentity {
    /// Nothing to recognise the machine by.
    pub fn is_empty(&self) -> bool {
        self.system_uuid.trim().is_empty() && self.serial.trim().is_empty()
    }
}

impl fmt::Display for MachineIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_none = |s: &str| if s.trim().is_empty() { "(none)".to_string() } else { s.trim().to_string() };
        write!(f, "system UUID {}, serial {}", or_none(&self.system_uuid), or_none(&self.serial))?;
        if !self.manager_uuid.trim().is_empty() {
            write!(f, ", BMC UUID {}", self.manager_uuid.trim())?;
        }
        Ok(())
    }
}

/// A machine that is not the one recorded: a job stops before it touches power,
/// boot or media, and its message names both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityMismatch {
    pub recorded: MachineIdentity,
    pub seen: MachineIdentity,
    /// The fields that differ, e.g. ["serial", "system UUID"].
    pub fields: Vec<&'static str>,
}

impl fmt::Display for IdentityMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "identity_mismatch: the machine answering has {} but this server was recorded with {} ({} differ); \
             nothing was powered, booted or erased",
            self.seen,
            self.recorded,
            self.fields.join(", ")
        )
    }
}

fn norm(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}

/// SMBIOS stores the first three UUID fields little-endian; dmidecode and some BMCs
/// print them swapped relative to others (Ironic meets the same). Both spellings name
/// one machine.
fn uuid_swapped(u: &str) -> Option<String> {
    let hex: String = u.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let b = |from: usize, to: usize| -> String {
        (from..to).step_by(2).rev().map(|i| &hex[i..i + 2]).collect::<Vec<_>>().concat()
    };
    Some(format!("{}-{}-{}-{}-{}", b(0, 8), b(8, 12), b(12, 16), &hex[16..20], &hex[20..32]))
}

/// Whether two UUIDs name one machine (case, and SMBIOS byte order, aside).
pub fn same_uuid(a: &str, b: &str) -> bool {
    let (a, b) = (norm(a), norm(b));
    a == b || uuid_swapped(&a).is_some_and(|s| s == b)
}

/// Compares what a BMC reports now with what was recorded. Every recorded field
/// must be reported the same; a field recorded empty is not compared (the BMC never
/// offered it), but a recorded field the BMC stops reporting is a mismatch (nothing
/// proves it is the same machine).
pub fn compare(recorded: &MachineIdentity, seen: &MachineIdentity) -> Result<(), IdentityMismatch> {
    let mut fields = Vec::new();
    if !recorded.system_uuid.trim().is_empty() && !same_uuid(&recorded.system_uuid, &seen.system_uuid) {
        fields.push("system UUID");
    }
    if !recorded.serial.trim().is_empty() && norm(&recorded.serial) != norm(&seen.serial) {
        fields.push("serial");
    }
    if !recorded.manager_uuid.trim().is_empty() && !same_uuid(&recorded.manager_uuid, &seen.manager_uuid) {
        fields.push("BMC UUID");
    }
    if fields.is_empty() {
        Ok(())
    } else {
        Err(IdentityMismatch { recorded: recorded.clone(), seen: seen.clone(), fields })
    }
}

/// Before any erase: the machine the live image booted on must be the one recorded
/// (system serial and UUID of the last inventory) with the same disks (by serial).
/// Err names every difference.
pub fn agent_matches(recorded: &Inventory, reported: &Inventory) -> Result<(), String> {
    let mut problems = Vec::new();
    let (r, s) = (&recorded.system, &reported.system);
    if !r.serial_number.trim().is_empty() && norm(&r.serial_number) != norm(&s.serial_number) {
        problems.push(format!("system serial {:?}, recorded {:?}", s.serial_number, r.serial_number));
    }
    if !r.uuid.trim().is_empty() && !same_uuid(&r.uuid, &s.uuid) {
        problems.push(format!("system UUID {:?}, recorded {:?}", s.uuid, r.uuid));
    }
    let serials = |inv: &Inventory| {
        let mut v: Vec<String> = inv.disks.iter().map(|d| d.serial.trim().to_string()).collect();
        v.sort();
        v
    };
    let (want, have) = (serials(recorded), serials(reported));
    let missing: Vec<&String> = want.iter().filter(|s| !have.contains(s)).collect();
    let extra: Vec<&String> = have.iter().filter(|s| !want.contains(s)).collect();
    if !missing.is_empty() {
        problems.push(format!("recorded disk(s) missing: {}", join(&missing)));
    }
    if !extra.is_empty() {
        problems.push(format!("disk(s) not recorded: {}", join(&extra)));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "identity_mismatch: the live image runs on a machine that is not the one recorded ({}); nothing was erased",
            problems.join("; ")
        ))
    }
}

fn join(v: &[&String]) -> String {
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::inventory::{Disk, DiskKind};

    fn id(uuid: &str, serial: &str, manager: &str) -> MachineIdentity {
        MachineIdentity { system_uuid: uuid.into(), serial: serial.into(), manager_uuid: manager.into() }
    }

    /// One BMC written three ways is one key; other ports, schemes or paths are not.
    #[test]
    fn bmc_keys() {
        assert_eq!(bmc_key("10.0.0.5"), "https://10.0.0.5:443");
        assert_eq!(bmc_key("HTTPS://10.0.0.5:443/"), "https://10.0.0.5:443");
        assert_eq!(bmc_key(" https://BMC-r12 "), "https://bmc-r12:443");
        assert_eq!(
            bmc_key("http://127.0.0.1:8000/redfish/v1/Systems/a/"),
            "http://127.0.0.1:8000/redfish/v1/Systems/a"
        );
        assert_ne!(bmc_key("http://10.0.0.5"), bmc_key("https://10.0.0.5"));
        assert_eq!(bmc_key("[fe80::1]"), "https://[fe80::1]:443");
        assert_eq!(bmc_key("[fe80::1]:8443"), "https://[fe80::1]:8443");
    }

    /// The same machine passes; case and SMBIOS byte order do not matter.
    #[test]
    fn same_machine_passes() {
        let r = id("4C4C4544-0042-3510-8050-B4C04F4E3732", "ABC123", "");
        assert!(compare(&r, &id("4c4c4544-0042-3510-8050-b4c04f4e3732", "abc123 ", "x")).is_ok());
        assert!(compare(&r, &id("44454C4C-4200-1035-8050-B4C04F4E3732", "ABC123", "")).is_ok());
    }

    /// Another machine at the address: every differing field is named, and both sides.
    #[test]
    fn another_machine_is_named() {
        let r = id("11111111-1111-1111-1111-111111111111", "LAB-01", "m1");
        let e = compare(&r, &id("22222222-2222-2222-2222-222222222222", "LAB-02", "m1")).unwrap_err();
        assert_eq!(e.fields, vec!["system UUID", "serial"]);
        let text = e.to_string();
        assert!(text.starts_with("identity_mismatch"), "{text}");
        assert!(text.contains("LAB-01") && text.contains("LAB-02"), "{text}");
    }

    /// A BMC that stops reporting a recorded serial proves nothing: mismatch.
    #[test]
    fn a_vanished_field_is_a_mismatch() {
        let r = id("", "LAB-01", "");
        assert_eq!(compare(&r, &id("", "", "")).unwrap_err().fields, vec!["serial"]);
        assert!(compare(&id("", "", ""), &id("u", "s", "m")).is_ok(), "nothing recorded yet: nothing to compare");
    }

    fn inv(serial: &str, disks: &[&str]) -> Inventory {
        let mut i = Inventory::default();
        i.system.serial_number = serial.into();
        i.system.uuid = "u-1".into();
        i.disks = disks
            .iter()
            .map(|s| Disk { model: "m".into(), serial: s.to_string(), size_bytes: 1, kind: DiskKind::Ssd })
            .collect();
        i
    }

    /// The agent on the recorded machine with its disks may erase; fewer, other or
    /// extra disks, or another system serial, may not.
    #[test]
    fn agent_view_must_match() {
        let recorded = inv("S1", &["D1", "D2"]);
        assert!(agent_matches(&recorded, &inv("S1", &["D2", "D1"])).is_ok());
        let e = agent_matches(&recorded, &inv("S1", &["D1"])).unwrap_err();
        assert!(e.contains("missing: D2"), "{e}");
        let e = agent_matches(&recorded, &inv("S1", &["D1", "D2", "D9"])).unwrap_err();
        assert!(e.contains("not recorded: D9"), "{e}");
        let e = agent_matches(&recorded, &inv("S2", &["D1", "D2"])).unwrap_err();
        assert!(e.contains("system serial") && e.starts_with("identity_mismatch"), "{e}");
    }
}
