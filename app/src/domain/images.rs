//! The image catalog's words and checks: an operating system image is a name, a URL
//! the servers' live image downloads it from (http or https; the BMC network policy
//! applies to its host), its SHA-256, its format and an optional minimum disk size.
//! Images are not stored by Rackstate.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How the image's bytes are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum ImageFormat {
    /// A whole-disk image, written as it is.
    Raw,
    /// QEMU's copy-on-write format, converted to the disk's bytes while written.
    Qcow2,
}

impl ImageFormat {
    pub const ALL: [ImageFormat; 2] = [ImageFormat::Raw, ImageFormat::Qcow2];

    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Raw => "raw",
            ImageFormat::Qcow2 => "qcow2",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s.trim().to_ascii_lowercase())
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest image URL accepted.
pub const MAX_URL: usize = 2048;

/// A catalog entry as entered, checked field by field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewImage {
    pub name: String,
    pub url: String,
    pub sha256: String,
    pub format: String,
    /// The smallest disk it fits on, in GiB (empty or 0: any disk it fits on).
    #[serde(default)]
    pub min_disk_gib: Option<i64>,
}

/// A checked catalog entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedImage {
    pub name: String,
    pub url: String,
    /// Lower-case hex.
    pub sha256: String,
    pub format: ImageFormat,
    pub min_disk_bytes: Option<i64>,
}

/// The URL's host and port, for the network policy.
pub fn url_host(url: &str) -> Option<(String, u16)> {
    let (https, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(r), _) => (true, r),
        (_, Some(r)) => (false, r),
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let parsed = super::bmc_address::parse(&format!("{}://{authority}", if https { "https" } else { "http" })).ok()?;
    Some((parsed.host, parsed.port))
}

impl NewImage {
    /// Every field's problem at once (field, message), or the checked entry.
    pub fn check(&self) -> Result<CheckedImage, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let name = self.name.trim();
        let name_ok = (1..=64).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if !name_ok {
            errors.push(("name", "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit".into()));
        }
        let url = self.url.trim();
        if url.len() > MAX_URL
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
            || url_host(url).is_none()
            || url.contains('@')
        {
            errors.push((
                "url",
                "an http:// or https:// URL the servers can reach, without credentials or spaces".into(),
            ));
        }
        let sha256 = self.sha256.trim().to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            errors.push(("sha256", "the image's SHA-256: 64 hexadecimal digits".into()));
        }
        let format = ImageFormat::parse(&self.format);
        if format.is_none() {
            errors.push(("format", "raw or qcow2".into()));
        }
        let min_disk_bytes = match self.min_disk_gib {
            None | Some(0) => None,
            Some(g) if (1..=1024 * 1024).contains(&g) => Some(g * 1024 * 1024 * 1024),
            Some(_) => {
                errors.push(("min_disk_gib", "a whole number of GiB from 1 to 1048576, or empty".into()));
                None
            }
        };
        match (errors.is_empty(), format) {
            (true, Some(format)) => {
                Ok(CheckedImage { name: name.to_string(), url: url.to_string(), sha256, format, min_disk_bytes })
            }
            _ => Err(errors),
        }
    }
}

/// At most this many SSH public keys per deployment.
pub const MAX_SSH_KEYS: usize = 16;
/// The largest cloud-init user data accepted (it goes on a 1 MiB config drive).
pub const MAX_USER_DATA: usize = 64 * 1024;

const KEY_TYPES: [&str; 7] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// What a deployment puts on its servers' config drive besides the host name: SSH
/// public keys (one per line, as in authorized_keys) and cloud-init user data.
/// Checked field by field; the keys come back one per entry, trimmed.
pub fn check_os_config(
    ssh_keys: &str,
    user_data: &str,
) -> Result<(Vec<String>, Option<String>), Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    let keys: Vec<String> =
        ssh_keys.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect();
    if keys.len() > MAX_SSH_KEYS {
        errors.push(("ssh_keys", format!("at most {MAX_SSH_KEYS} keys")));
    }
    for (i, key) in keys.iter().enumerate() {
        let mut words = key.split_whitespace();
        let kind = words.next().unwrap_or_default();
        let body = words.next().unwrap_or_default();
        let base64 =
            body.len() >= 16 && body.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if !KEY_TYPES.contains(&kind) || !base64 || key.len() > 8192 {
            errors.push((
                "ssh_keys",
                format!("line {}: not an OpenSSH public key (\"ssh-ed25519 AAAA… comment\")", i + 1),
            ));
            break;
        }
    }
    let user_data = user_data.trim_end();
    if user_data.len() > MAX_USER_DATA || user_data.contains('\0') {
        errors.push(("user_data", format!("at most {} KiB of text", MAX_USER_DATA / 1024)));
    }
    if errors.is_empty() {
        Ok((keys, (!user_data.trim().is_empty()).then(|| format!("{user_data}\n"))))
    } else {
        Err(errors)
    }
}

/// A server's host name on its config drive: its name as an RFC 1123 label.
pub fn hostname(server_name: &str, server_id: i64) -> String {
    let mut h: String = server_name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_string();
    h.truncate(63);
    let h = h.trim_end_matches('-').to_string();
    if h.is_empty() { format!("server-{server_id}") } else { h }
}

/// Whether `role` may write an image to a server again (re-deploy): operators and
/// admins any used server without a running job, tenants their own. None when
/// allowed, else why not.
pub fn redeploy_refusal(role: super::Role, state: super::ServerState, own: bool, active_job: bool) -> Option<String> {
    use super::Permission;
    let any = role.can(Permission::DeployAnyServer);
    if !any && !(role.can(Permission::DeployOwnServers) && own) {
        return Some(format!("your role ({role}) may not deploy to this server"));
    }
    if state != super::ServerState::Used {
        return Some("only a used server gets an operating system; allocate it first".into());
    }
    if active_job {
        return Some("a job is running on it; wait for it to end".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> NewImage {
        NewImage {
            name: "debian-12".into(),
            url: "http://10.0.0.5:8080/images/debian-12.raw".into(),
            sha256: "AB".repeat(32),
            format: "raw".into(),
            min_disk_gib: Some(4),
        }
    }

    /// An admin's entry is accepted, the checksum kept in lower case.
    #[test]
    fn a_good_entry_is_accepted() {
        let c = good().check().unwrap();
        assert_eq!(c.sha256, "ab".repeat(32));
        assert_eq!((c.format, c.min_disk_bytes), (ImageFormat::Raw, Some(4 << 30)));
        assert_eq!(url_host(&c.url), Some(("10.0.0.5".into(), 8080)));
    }

    /// Every wrong field is named at once, so the form can mark each.
    #[test]
    fn every_wrong_field_is_named() {
        let bad = NewImage {
            name: "../etc".into(),
            url: "file:///etc/passwd".into(),
            sha256: "xyz".into(),
            format: "vmdk".into(),
            min_disk_gib: Some(-1),
        };
        let fields: Vec<&str> = bad.check().unwrap_err().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec!["name", "url", "sha256", "format", "min_disk_gib"]);
    }

    /// Tenants re-deploy their own used servers only; operators any used one; never
    /// while a job runs.
    #[test]
    fn who_may_redeploy() {
        use crate::domain::{Role, ServerState::*};
        assert_eq!(redeploy_refusal(Role::Tenant, Used, true, false), None);
        assert!(redeploy_refusal(Role::Tenant, Used, false, false).is_some());
        assert!(redeploy_refusal(Role::Viewer, Used, true, false).is_some());
        assert_eq!(redeploy_refusal(Role::Operator, Used, false, false), None);
        assert!(redeploy_refusal(Role::Operator, Available, false, false).unwrap().contains("allocate"));
        assert!(redeploy_refusal(Role::Admin, Used, false, true).unwrap().contains("job is running"));
    }

    /// Keys in authorized_keys form pass (comments and blank lines skipped); anything
    /// else is named by line; user data ends with one newline.
    #[test]
    fn os_config_is_checked() {
        let keys = "# team\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOQ alice@host\n\necdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAy bob";
        let (k, u) = check_os_config(keys, "#cloud-config\npackages: [htop]\n\n").unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(u.as_deref(), Some("#cloud-config\npackages: [htop]\n"));
        assert_eq!(check_os_config("", "  ").unwrap(), (vec![], None));
        let e = check_os_config("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOQ ok\nrm -rf /", "").unwrap_err();
        assert_eq!(e, vec![("ssh_keys", "line 2: not an OpenSSH public key (\"ssh-ed25519 AAAA… comment\")".into())]);
        assert_eq!(check_os_config("", &"x".repeat(MAX_USER_DATA + 1)).unwrap_err()[0].0, "user_data");
    }

    /// Host names are labels a resolver accepts.
    #[test]
    fn host_names_from_server_names() {
        assert_eq!(hostname("Rack12_Node.07", 3), "rack12-node-07");
        assert_eq!(hostname("__", 3), "server-3");
        assert_eq!(hostname(&"a".repeat(80), 1).len(), 63);
    }

    /// URLs carrying credentials or pointing nowhere are refused.
    #[test]
    fn urls_with_credentials_are_refused() {
        for url in ["http://user:pw@10.0.0.5/x.raw", "https://", "ftp://10.0.0.5/x", "http://10.0.0.5/a b"] {
            let e = NewImage { url: url.into(), ..good() }.check().unwrap_err();
            assert_eq!(e[0].0, "url", "{url}");
        }
    }
}
