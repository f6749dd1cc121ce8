//! Firmware drift: how one server's component version stands against its type's
//! baseline (on, behind, ahead), how versions compare, and the drift of a type's
//! components counted from the versions its servers run.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

words! {
    /// Where a server's component stands against its type's baseline.
    Drift, "firmware drift" {
        /// The baseline's version.
        On => "on",
        /// Older than the baseline.
        Behind => "behind",
        /// Newer than the baseline.
        Ahead => "ahead",
        /// The type has no baseline for the component.
        NoBaseline => "no_baseline",
    }
}

/// Compares two version strings as people read them: runs of digits as numbers, the
/// rest as text, left to right ("2.10.4" > "2.9.12", "U46 v2.80" > "U46 v2.8",
/// "1.0" < "1.0.1"). Letters compare case-insensitively.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(pb.iter()) {
        let o = match (x, y) {
            (Part::Num(x), Part::Num(y)) => x.cmp(y),
            (Part::Text(x), Part::Text(y)) => x.cmp(y),
            (Part::Num(_), Part::Text(_)) => Ordering::Greater,
            (Part::Text(_), Part::Num(_)) => Ordering::Less,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

#[derive(Debug, PartialEq, Eq)]
enum Part {
    Num(u128),
    Text(String),
}

/// A version's parts: numbers, and words without their separators (".", "-", " ").
fn parts(v: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut chars = v.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            let mut n: u128 = 0;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = n.saturating_mul(10).saturating_add(u128::from(d));
                chars.next();
            }
            out.push(Part::Num(n));
        } else if c.is_alphanumeric() {
            let mut s = String::new();
            while let Some(&c) = chars.peek().filter(|c| c.is_alphanumeric() && !c.is_ascii_digit()) {
                s.extend(c.to_lowercase());
                chars.next();
            }
            out.push(Part::Text(s));
        } else {
            chars.next();
        }
    }
    out
}

/// Where `version` stands against `baseline`.
pub fn drift(version: &str, baseline: Option<&str>) -> Drift {
    match baseline {
        None => Drift::NoBaseline,
        Some(b) => match compare_versions(version, b) {
            Ordering::Equal => Drift::On,
            Ordering::Less => Drift::Behind,
            Ordering::Greater => Drift::Ahead,
        },
    }
}

/// How many of a type's servers run one version of a component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VersionCount {
    pub version: String,
    pub servers: i64,
    pub drift: Drift,
}

/// One component of a type: its baseline and how its servers stand against it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ComponentDrift {
    /// The component's id as the BMC (or agent) lists it, e.g. `BIOS`, `BMC`.
    pub component: String,
    pub name: String,
    pub baseline: Option<String>,
    pub on: i64,
    pub behind: i64,
    pub ahead: i64,
    /// Servers whose component has no baseline to compare with.
    pub no_baseline: i64,
    /// Versions seen, most servers first.
    pub versions: Vec<VersionCount>,
}

impl ComponentDrift {
    /// The component from the versions its servers run (`(version, servers)`) and the
    /// type's baseline for it.
    pub fn count(component: String, name: String, baseline: Option<String>, seen: &[(String, i64)]) -> Self {
        let mut versions: Vec<VersionCount> = seen
            .iter()
            .map(|(v, n)| VersionCount { version: v.clone(), servers: *n, drift: drift(v, baseline.as_deref()) })
            .collect();
        versions.sort_by(|a, b| b.servers.cmp(&a.servers).then_with(|| compare_versions(&b.version, &a.version)));
        let sum = |d: Drift| versions.iter().filter(|v| v.drift == d).map(|v| v.servers).sum();
        ComponentDrift {
            on: sum(Drift::On),
            behind: sum(Drift::Behind),
            ahead: sum(Drift::Ahead),
            no_baseline: sum(Drift::NoBaseline),
            component,
            name,
            baseline,
            versions,
        }
    }

    /// The version most of its servers run (the newest of a tie).
    pub fn most_common(&self) -> Option<&str> {
        self.versions.first().map(|v| v.version.as_str())
    }
}

/// A server type's firmware: each component's drift.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TypeFirmware {
    pub server_type: String,
    pub components: Vec<ComponentDrift>,
}

/// One server's component against its type's baseline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServerComponent {
    pub server_id: i64,
    pub server: String,
    pub component: String,
    pub version: String,
    pub baseline: Option<String>,
    pub drift: Drift,
}

/// One component of one server against its type's baseline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ComponentVersion {
    pub component: String,
    pub name: String,
    pub version: String,
    pub baseline: Option<String>,
    pub drift: Drift,
}

/// The drives' firmware as components of a type: one entry per drive model (id
/// `Drive:<model>`), at the oldest version any drive of that model runs (a server
/// with one drive behind is behind). `drives`: (model, firmware version) per drive.
pub fn drive_firmware(drives: &[(String, String)]) -> Vec<crate::domain::inventory::Firmware> {
    let mut out: Vec<crate::domain::inventory::Firmware> = Vec::new();
    for (model, version) in drives {
        let (model, version) = (model.trim(), version.trim());
        if model.is_empty() || version.is_empty() {
            continue;
        }
        let id = format!("Drive:{model}");
        match out.iter_mut().find(|f| f.id == id) {
            Some(f) if compare_versions(version, &f.version) == Ordering::Less => f.version = version.to_string(),
            Some(_) => {}
            None => out.push(crate::domain::inventory::Firmware {
                id,
                name: format!("{model} drives"),
                version: version.to_string(),
            }),
        }
    }
    out
}

/// The servers' components as CSV (server, server_id, component, version, baseline,
/// drift). Values are what BMCs report: quoted when they hold a comma, quote or line
/// break, and a leading `=`, `+`, `-` or `@` is escaped so a spreadsheet never runs it.
pub fn servers_csv(rows: &[ServerComponent]) -> String {
    fn cell(v: &str) -> String {
        let v = if v.starts_with(['=', '+', '-', '@']) { format!("'{v}") } else { v.to_string() };
        if v.contains([',', '"', '\n', '\r']) { format!("\"{}\"", v.replace('"', "\"\"")) } else { v }
    }
    let mut out = String::from("server,server_id,component,version,baseline,drift\n");
    for r in rows {
        let line = [
            cell(&r.server),
            r.server_id.to_string(),
            cell(&r.component),
            cell(&r.version),
            cell(r.baseline.as_deref().unwrap_or("")),
            r.drift.as_str().to_string(),
        ];
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// The longest component id and version a baseline takes.
pub const MAX_FIELD: usize = 200;

/// Checks a baseline entry (component id, version).
pub fn check_baseline_entry(component: &str, version: &str) -> Result<(), String> {
    if component.trim().is_empty() || component.len() > MAX_FIELD || component.chars().any(char::is_control) {
        return Err(format!("a component id is 1 to {MAX_FIELD} characters, without control characters"));
    }
    if version.trim().is_empty() || version.len() > MAX_FIELD || version.chars().any(char::is_control) {
        return Err(format!("{component}: a version is 1 to {MAX_FIELD} characters, without control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Versions compare as people read them, not as text.
    #[test]
    fn versions_compare_numerically_part_by_part() {
        assert_eq!(compare_versions("2.10.4", "2.9.12"), Ordering::Greater);
        assert_eq!(compare_versions("1.0", "1.0.1"), Ordering::Less);
        assert_eq!(compare_versions("U46 v2.80", "U46 v2.8"), Ordering::Greater);
        assert_eq!(compare_versions("22.31.6", "22.31.6"), Ordering::Equal);
        assert_eq!(compare_versions("1.45.455b66-rev4", "1.45.455b66-rev3"), Ordering::Greater);
        assert_eq!(compare_versions("A03", "a03"), Ordering::Equal);
    }

    /// A baseline takes printable component ids and versions only (a NUL would not
    /// even store on PostgreSQL).
    #[test]
    fn baseline_entries_refuse_control_characters() {
        assert!(check_baseline_entry("BMC", "2.10.4").is_ok());
        assert!(check_baseline_entry("BMC", "2.10\u{0}").is_err());
        assert!(check_baseline_entry("B\nMC", "1").is_err());
        assert!(check_baseline_entry(" ", "1").is_err());
    }

    /// A BMC's version text cannot break the CSV or run as a spreadsheet formula.
    #[test]
    fn csv_quotes_and_defuses_what_bmcs_report() {
        let row = ServerComponent {
            server_id: 7,
            server: "lab-07".into(),
            component: "NIC, port 1".into(),
            version: "=HYPERLINK(\"x\")".into(),
            baseline: None,
            drift: Drift::NoBaseline,
        };
        let csv = servers_csv(&[row]);
        assert_eq!(csv.lines().nth(1), Some(r#"lab-07,7,"NIC, port 1","'=HYPERLINK(""x"")",,no_baseline"#));
    }

    /// Drives of one model are one component, at the oldest version among them.
    #[test]
    fn drives_of_a_model_are_one_component_at_their_oldest_version() {
        let drives = [("PM893", "GDC5902Q"), ("PM893", "GDC5602Q"), ("ST4000", "SN04"), ("ST4000", "")];
        let fw = drive_firmware(&drives.map(|(m, v)| (m.to_string(), v.to_string())));
        assert_eq!(fw.len(), 2);
        assert_eq!((fw[0].id.as_str(), fw[0].version.as_str()), ("Drive:PM893", "GDC5602Q"));
        assert_eq!((fw[1].id.as_str(), fw[1].version.as_str()), ("Drive:ST4000", "SN04"));
    }

    /// A type's component counts its servers on, behind and ahead of the baseline;
    /// the most common version is the one most servers run.
    #[test]
    fn component_drift_counts_servers_against_the_baseline() {
        let seen = vec![("2.10.4".to_string(), 7), ("2.8.1".to_string(), 2), ("3.0".to_string(), 1)];
        let c = ComponentDrift::count("BMC".into(), "BMC firmware".into(), Some("2.10.4".into()), &seen);
        assert_eq!((c.on, c.behind, c.ahead, c.no_baseline), (7, 2, 1, 0));
        assert_eq!(c.most_common(), Some("2.10.4"));
        let none = ComponentDrift::count("BMC".into(), "BMC firmware".into(), None, &seen);
        assert_eq!(none.no_baseline, 10);
    }
}
