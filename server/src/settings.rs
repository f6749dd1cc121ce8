//! Typed settings, read once from `RACKSTATE_*` environment variables at start-up.
//! A bad value stops start-up with a message naming the variable.

use app::domain::erase::EraseMode;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Settings {
    /// Address the HTTP server binds (`RACKSTATE_LISTEN`).
    pub listen: SocketAddr,
    /// SQLite database, key files and other local state (`RACKSTATE_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `sqlite:...` or `postgres://...` (`RACKSTATE_DATABASE_URL`).
    pub database_url: String,
    /// Compiled assets from cargo-leptos: wasm, JS, CSS (`RACKSTATE_SITE_ROOT`).
    pub site_root: PathBuf,
    /// Connections in the database pool (`RACKSTATE_DB_MAX_CONNECTIONS`).
    pub db_max_connections: u32,
    /// The URL users reach Rackstate at (`RACKSTATE_PUBLIC_URL`); https makes cookies Secure.
    pub public_url: Option<String>,
    /// Minutes of inactivity after which a session ends (`RACKSTATE_SESSION_IDLE_MINUTES`).
    pub session_idle_minutes: i64,
    /// Password for the first admin on a start with no users (`RACKSTATE_ADMIN_PASSWORD`).
    pub admin_password: Option<Secret>,
    /// Key sealing BMC credentials, 64 hex digits (`RACKSTATE_SECRET_KEY`); without it,
    /// a key file under the data directory.
    pub secret_key: Option<Secret>,
    /// Jobs run at once by this process (`RACKSTATE_WORKERS`); 0 runs none (another
    /// replica does the work).
    pub workers: usize,
    /// The live image ISO served to BMCs as virtual media (`RACKSTATE_LIVE_IMAGE`).
    pub live_image: Option<PathBuf>,
    /// The URL live-image agents (and BMCs) reach Rackstate at (`RACKSTATE_AGENT_URL`);
    /// default the public URL, else the listen address.
    pub agent_url: Option<String>,
    /// The URL BMCs download the live image from when it differs from the agents'
    /// (`RACKSTATE_MEDIA_URL`): BMCs sit on a management network, servers on a
    /// provisioning network, and each may reach Rackstate at another address.
    pub media_url: Option<String>,
    /// How long a booted live image has to report (`RACKSTATE_AGENT_TIMEOUT_SECONDS`).
    pub agent_timeout: Duration,
    /// How long a job's claim holds without renewal (`RACKSTATE_JOB_LEASE_SECONDS`):
    /// after a crash, another process takes the job over this long after.
    pub job_lease: Duration,
    /// One exchange with a BMC (`RACKSTATE_BMC_TIMEOUT_SECONDS`, default 20).
    pub bmc_timeout: Duration,
    /// Where BMC addresses may resolve to (`RACKSTATE_BMC_NETWORKS`): CIDRs, and `any`
    /// for any address but link-local, unspecified, multicast, loopback and Rackstate's
    /// own listeners (the default). The demo lab adds loopback.
    pub bmc_networks: app::domain::bmc_address::BmcNetworks,
    /// A private CA (PEM bundle) that verifies BMC certificates, read at start-up
    /// (`RACKSTATE_BMC_CA_FILE`); kept as DER.
    pub bmc_ca_certs: Vec<Vec<u8>>,
    /// The largest BMC answer read (`RACKSTATE_BMC_MAX_RESPONSE_BYTES`).
    pub bmc_max_response_bytes: usize,
    /// How long a power change may take to show (`RACKSTATE_POWER_TIMEOUT_SECONDS`, default 120).
    pub power_timeout: Duration,
    /// How long a requested power-off waits for the operating system to shut down
    /// before forcing it off (`RACKSTATE_SHUTDOWN_GRACE_SECONDS`, default 120).
    pub shutdown_grace: Duration,
    /// A job whose BMC does not answer is started again this many times
    /// (`RACKSTATE_BMC_RETRIES`, default 3; 0: fail at once), first after
    /// `RACKSTATE_BMC_RETRY_SECONDS` (default 5), then twice as long each time.
    pub bmc_retries: u32,
    pub bmc_retry_base: Duration,
    /// Seconds between sweeps of every BMC's power and health
    /// (`RACKSTATE_POWER_SYNC_SECONDS`, default 300; 0: no sweep).
    pub power_sync: Option<Duration>,
    /// Bearer token that opens `/metrics` on the main listener (`RACKSTATE_METRICS_TOKEN`).
    pub metrics_token: Option<Secret>,
    /// A separate address serving `/metrics` without a token (`RACKSTATE_METRICS_LISTEN`).
    pub metrics_listen: Option<SocketAddr>,
    /// How cleaning erases disks (`RACKSTATE_ERASE_MODE`): `secure` (the device's own
    /// sanitize or secure erase, else a full overwrite; verified), `full`, or `metadata`.
    pub erase_mode: EraseMode,
    /// Proxies whose `X-Forwarded-For` names the client (`RACKSTATE_TRUSTED_PROXIES`):
    /// addresses and CIDRs; none by default (the peer is the client).
    pub trusted_proxies: app::domain::client_addr::TrustedProxies,
    /// Simulated servers to run in-process (`RACKSTATE_DEMO_LAB`); 0: no lab.
    pub demo_lab: usize,
    /// A lab machine's boot time into the live image (`RACKSTATE_DEMO_LAB_BOOT_SECONDS`).
    pub demo_lab_boot: Duration,
    /// The Redfish dialect of every lab BMC (`RACKSTATE_DEMO_LAB_VENDOR`); None mixes
    /// the vendor profiles.
    pub demo_lab_vendor: Option<crate::lab::Vendor>,
}

/// A secret setting: never printed by `Debug`.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct SettingsError {
    pub var: &'static str,
    pub message: String,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the settings through `get`, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let var = |name: &'static str| get(name).filter(|v| !v.trim().is_empty());
        let listen = match var("RACKSTATE_LISTEN") {
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
            Some(v) => v.trim().parse().map_err(|e| SettingsError {
                var: "RACKSTATE_LISTEN",
                message: format!("{v:?} is not an address like 127.0.0.1:3000 ({e})"),
            })?,
        };
        let data_dir = PathBuf::from(var("RACKSTATE_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = match var("RACKSTATE_DATABASE_URL") {
            None => format!("sqlite://{}", data_dir.join("rackstate.db").display()),
            Some(v) => {
                if app::backend::DbKind::from_url(&v).is_none() {
                    return Err(SettingsError {
                        var: "RACKSTATE_DATABASE_URL",
                        message: "must start with sqlite: or postgres://".into(),
                    });
                }
                v
            }
        };
        let site_root = PathBuf::from(var("RACKSTATE_SITE_ROOT").unwrap_or_else(|| "target/site".into()));
        let db_max_connections = match var("RACKSTATE_DB_MAX_CONNECTIONS") {
            None => 8,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    return Err(SettingsError {
                        var: "RACKSTATE_DB_MAX_CONNECTIONS",
                        message: format!("{v:?} is not a number from 1 to 1000"),
                    });
                }
            },
        };
        let public_url = var("RACKSTATE_PUBLIC_URL").map(|v| v.trim().trim_end_matches('/').to_string());
        if let Some(u) = &public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(SettingsError {
                var: "RACKSTATE_PUBLIC_URL",
                message: format!("{u:?} must start with http:// or https://"),
            });
        }
        let session_idle_minutes = match var("RACKSTATE_SESSION_IDLE_MINUTES") {
            None => 8 * 60,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if (1..=60 * 24 * 30).contains(&n) => n,
                _ => {
                    return Err(SettingsError {
                        var: "RACKSTATE_SESSION_IDLE_MINUTES",
                        message: format!("{v:?} is not a number of minutes from 1 to 43200"),
                    });
                }
            },
        };
        let admin_password = get("RACKSTATE_ADMIN_PASSWORD").filter(|v| !v.is_empty()).map(Secret);
        if let Some(p) = &admin_password
            && let Err(m) = app::domain::roles::check_password(&p.0)
        {
            return Err(SettingsError { var: "RACKSTATE_ADMIN_PASSWORD", message: m });
        }
        let secret_key = get("RACKSTATE_SECRET_KEY").filter(|v| !v.trim().is_empty()).map(Secret);
        if let Some(k) = &secret_key
            && app::backend::secrets::SecretBox::from_hex(&k.0).is_err()
        {
            return Err(SettingsError {
                var: "RACKSTATE_SECRET_KEY",
                message: "must be 64 hex digits (32 bytes)".into(),
            });
        }
        let number = |name: &'static str, default: u64, max: u64, what: &str| -> Result<u64, SettingsError> {
            match var(name) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n <= max => Ok(n),
                    _ => Err(SettingsError { var: name, message: format!("{v:?} is not {what} from 0 to {max}") }),
                },
            }
        };
        let workers = number("RACKSTATE_WORKERS", 16, 1024, "a number")? as usize;
        let live_image = var("RACKSTATE_LIVE_IMAGE").map(PathBuf::from);
        // A base URL Rackstate is reached at: http(s), no trailing slash.
        let base_url = |name: &'static str| -> Result<Option<String>, SettingsError> {
            let url = var(name).map(|v| v.trim().trim_end_matches('/').to_string());
            match url {
                Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                    Err(SettingsError { var: name, message: format!("{u:?} must start with http:// or https://") })
                }
                url => Ok(url),
            }
        };
        let agent_url = base_url("RACKSTATE_AGENT_URL")?;
        let media_url = base_url("RACKSTATE_MEDIA_URL")?;
        // A duration in whole seconds from `min` to `max`.
        let seconds = |name: &'static str, default: u64, min: u64, max: u64| -> Result<Duration, SettingsError> {
            match number(name, default, max, "seconds")? {
                n if n < min => Err(SettingsError { var: name, message: format!("must be at least {min}") }),
                n => Ok(Duration::from_secs(n)),
            }
        };
        let agent_timeout = seconds("RACKSTATE_AGENT_TIMEOUT_SECONDS", 1800, 1, 7 * 24 * 3600)?;
        let job_lease = seconds("RACKSTATE_JOB_LEASE_SECONDS", 60, 3, 3600)?;
        let bmc_networks = match var("RACKSTATE_BMC_NETWORKS") {
            None => app::domain::bmc_address::BmcNetworks::any(),
            Some(v) => app::domain::bmc_address::BmcNetworks::parse(&v)
                .map_err(|message| SettingsError { var: "RACKSTATE_BMC_NETWORKS", message })?,
        };
        let bmc_ca_certs = match var("RACKSTATE_BMC_CA_FILE") {
            None => Vec::new(),
            Some(path) => {
                let pem = std::fs::read(path.trim())
                    .map_err(|e| SettingsError { var: "RACKSTATE_BMC_CA_FILE", message: format!("{path}: {e}") })?;
                crate::bmc::tls::parse_ca_pem(&pem)
                    .map_err(|m| SettingsError { var: "RACKSTATE_BMC_CA_FILE", message: format!("{path}: {m}") })?
            }
        };
        let bmc_max_response_bytes = number(
            "RACKSTATE_BMC_MAX_RESPONSE_BYTES",
            app::backend::DEFAULT_BMC_MAX_RESPONSE_BYTES as u64,
            1024 * 1024 * 1024,
            "bytes",
        )?
        .max(64 * 1024) as usize;
        let bmc_timeout = seconds("RACKSTATE_BMC_TIMEOUT_SECONDS", 20, 1, 600)?;
        let power_timeout = seconds("RACKSTATE_POWER_TIMEOUT_SECONDS", 120, 1, 3600)?;
        let shutdown_grace = seconds("RACKSTATE_SHUTDOWN_GRACE_SECONDS", 120, 1, 3600)?;
        let bmc_retries = number("RACKSTATE_BMC_RETRIES", 3, 10, "a number of retries")? as u32;
        let bmc_retry_base = seconds("RACKSTATE_BMC_RETRY_SECONDS", 5, 1, 600)?;
        // 0 turns the sweep off.
        let power_sync = Some(seconds("RACKSTATE_POWER_SYNC_SECONDS", 300, 0, 86400)?).filter(|d| !d.is_zero());
        let metrics_token = get("RACKSTATE_METRICS_TOKEN").filter(|v| !v.trim().is_empty()).map(Secret);
        if metrics_token.as_ref().is_some_and(|t| t.0.len() < 16) {
            return Err(SettingsError {
                var: "RACKSTATE_METRICS_TOKEN",
                message: "must be at least 16 characters".into(),
            });
        }
        let metrics_listen = match var("RACKSTATE_METRICS_LISTEN") {
            None => None,
            Some(v) => Some(v.trim().parse().map_err(|e| SettingsError {
                var: "RACKSTATE_METRICS_LISTEN",
                message: format!("{v:?} is not an address like 127.0.0.1:9100 ({e})"),
            })?),
        };
        let erase_mode = match var("RACKSTATE_ERASE_MODE") {
            None => EraseMode::default(),
            Some(v) => EraseMode::parse(&v).ok_or_else(|| SettingsError {
                var: "RACKSTATE_ERASE_MODE",
                message: format!("{v:?} is not secure, full or metadata"),
            })?,
        };
        let trusted_proxies = match var("RACKSTATE_TRUSTED_PROXIES") {
            None => Default::default(),
            Some(v) => app::domain::client_addr::TrustedProxies::parse(&v)
                .map_err(|message| SettingsError { var: "RACKSTATE_TRUSTED_PROXIES", message })?,
        };
        let demo_lab = number("RACKSTATE_DEMO_LAB", 0, 5000, "a number of servers")? as usize;
        let demo_lab_boot = match var("RACKSTATE_DEMO_LAB_BOOT_SECONDS") {
            None => Duration::from_secs(3),
            Some(v) => match v.trim().parse::<f64>() {
                Ok(n) if (0.0..=600.0).contains(&n) => Duration::from_secs_f64(n),
                _ => {
                    return Err(SettingsError {
                        var: "RACKSTATE_DEMO_LAB_BOOT_SECONDS",
                        message: format!("{v:?} is not a number of seconds from 0 to 600"),
                    });
                }
            },
        };
        let demo_lab_vendor = match var("RACKSTATE_DEMO_LAB_VENDOR").as_deref().map(str::trim) {
            None | Some("mixed") => None,
            Some(v) => Some(crate::lab::Vendor::parse(v).ok_or_else(|| SettingsError {
                var: "RACKSTATE_DEMO_LAB_VENDOR",
                message: format!("{v:?} is not {}", crate::cli::vendor_names()),
            })?),
        };
        Ok(Self {
            demo_lab_vendor,
            workers,
            live_image,
            agent_url,
            media_url,
            agent_timeout,
            job_lease,
            bmc_timeout,
            bmc_networks,
            bmc_ca_certs,
            bmc_max_response_bytes,
            power_timeout,
            shutdown_grace,
            bmc_retries,
            bmc_retry_base,
            power_sync,
            metrics_token,
            metrics_listen,
            erase_mode,
            trusted_proxies,
            demo_lab,
            demo_lab_boot,
            secret_key,
            listen,
            data_dir,
            database_url,
            site_root,
            db_max_connections,
            public_url,
            session_idle_minutes,
            admin_password,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    /// With nothing set, Rackstate listens on 127.0.0.1:3000 with SQLite under ./data.
    #[test]
    fn defaults() {
        let s = with(&[]).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.database_url, "sqlite://./data/rackstate.db");
    }

    /// The database file follows the data directory when no URL is given.
    #[test]
    fn database_follows_data_dir() {
        let s = with(&[("RACKSTATE_DATA_DIR", "/var/lib/rackstate")]).unwrap();
        assert_eq!(s.database_url, "sqlite:///var/lib/rackstate/rackstate.db");
    }

    /// A bad listen address names the variable.
    #[test]
    fn bad_listen_names_variable() {
        let e = with(&[("RACKSTATE_LISTEN", "localhost")]).unwrap_err();
        assert_eq!(e.var, "RACKSTATE_LISTEN");
        assert!(e.to_string().starts_with("RACKSTATE_LISTEN: "));
    }

    /// An unknown database scheme is refused at start-up.
    #[test]
    fn bad_database_url_names_variable() {
        let e = with(&[("RACKSTATE_DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(e.var, "RACKSTATE_DATABASE_URL");
    }

    /// The agents' and the BMCs' URLs may differ (provisioning and management
    /// networks); each is checked, a trailing slash dropped, and a bad one named.
    #[test]
    fn agent_and_media_urls() {
        let s =
            with(&[("RACKSTATE_AGENT_URL", "http://10.0.2.2:3000/"), ("RACKSTATE_MEDIA_URL", "http://127.0.0.1:3000")])
                .unwrap();
        assert_eq!(s.agent_url.as_deref(), Some("http://10.0.2.2:3000"));
        assert_eq!(s.media_url.as_deref(), Some("http://127.0.0.1:3000"));
        let e = with(&[("RACKSTATE_MEDIA_URL", "ftp://bmc-net/")]).unwrap_err();
        assert_eq!(e.var, "RACKSTATE_MEDIA_URL");
        assert!(e.to_string().contains("must start with http:// or https://"), "{e}");
    }

    /// A PostgreSQL URL is accepted as given.
    #[test]
    fn postgres_url() {
        let s = with(&[("RACKSTATE_DATABASE_URL", "postgres://u:p@127.0.0.1/db")]).unwrap();
        assert_eq!(s.database_url, "postgres://u:p@127.0.0.1/db");
    }

    /// The admin password must meet the password rules, and never shows in Debug.
    #[test]
    fn admin_password_rules_and_redaction() {
        let e = with(&[("RACKSTATE_ADMIN_PASSWORD", "short")]).unwrap_err();
        assert_eq!(e.var, "RACKSTATE_ADMIN_PASSWORD");
        let s = with(&[("RACKSTATE_ADMIN_PASSWORD", "a-long-enough-password")]).unwrap();
        assert!(!format!("{s:?}").contains("a-long-enough-password"));
    }

    /// Durations: defaults, lower bounds named, 0 turns the sweep off.
    #[test]
    fn durations() {
        let s = with(&[]).unwrap();
        assert_eq!(
            (s.job_lease.as_secs(), s.bmc_timeout.as_secs(), s.power_sync.map(|d| d.as_secs())),
            (60, 20, Some(300))
        );
        let e = with(&[("RACKSTATE_JOB_LEASE_SECONDS", "2")]).unwrap_err();
        assert_eq!((e.var, e.message.as_str()), ("RACKSTATE_JOB_LEASE_SECONDS", "must be at least 3"));
        assert_eq!(with(&[("RACKSTATE_BMC_TIMEOUT_SECONDS", "0")]).unwrap_err().var, "RACKSTATE_BMC_TIMEOUT_SECONDS");
        assert_eq!(with(&[("RACKSTATE_POWER_SYNC_SECONDS", "0")]).unwrap().power_sync, None);
    }

    /// Worker, lab and agent settings: defaults, and bad values named.
    #[test]
    fn jobs_and_lab() {
        let s = with(&[]).unwrap();
        assert_eq!((s.workers, s.demo_lab, s.agent_timeout.as_secs()), (16, 0, 1800));
        let s = with(&[("RACKSTATE_DEMO_LAB", "24"), ("RACKSTATE_DEMO_LAB_BOOT_SECONDS", "0.5")]).unwrap();
        assert_eq!((s.demo_lab, s.demo_lab_boot.as_millis()), (24, 500));
        assert_eq!(with(&[("RACKSTATE_WORKERS", "-1")]).unwrap_err().var, "RACKSTATE_WORKERS");
        assert_eq!(
            with(&[("RACKSTATE_AGENT_TIMEOUT_SECONDS", "0")]).unwrap_err().var,
            "RACKSTATE_AGENT_TIMEOUT_SECONDS"
        );
        assert_eq!(with(&[("RACKSTATE_AGENT_URL", "ftp://x")]).unwrap_err().var, "RACKSTATE_AGENT_URL");
    }

    /// Pool size must be a sane positive number.
    #[test]
    fn bad_pool_size() {
        let e = with(&[("RACKSTATE_DB_MAX_CONNECTIONS", "0")]).unwrap_err();
        assert_eq!(e.var, "RACKSTATE_DB_MAX_CONNECTIONS");
    }
}
