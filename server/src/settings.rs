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
    /// Jobs worked on at once by this process (`RACKSTATE_WORKERS`); 0 runs none
    /// (another replica does the work). A running job mostly waits for its BMC (a
    /// machine booting for its agent waits parked, without a slot; a job waiting for a
    /// power state or a mount to settle gives its slot back), so the default is well
    /// above the core count; on the 2-core development machine 64 already keeps both
    /// cores busy registering 1,000 lab servers (the cycle benchmark).
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
    /// The first retry of a failed webhook delivery (`RACKSTATE_WEBHOOK_RETRY_MS`,
    /// default 30000); each next one waits twice as long, up to an hour, for a day.
    pub webhook_first_retry_ms: i64,
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

/// The environment as typed values: one reader per kind of value, each naming the
/// variable in its error. (Not serde/envy: every variable has its own range, default
/// and message, which a derive would leave to code like this anyway.)
struct Env<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    /// The value, trimmed; unset and blank are the same.
    fn value(&self, name: &str) -> Option<String> {
        (self.get)(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    fn text(&self, name: &str, default: &str) -> String {
        self.value(name).unwrap_or_else(|| default.to_string())
    }

    /// A value read by `parse`, whose error message is prefixed with the variable.
    fn parsed<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, SettingsError> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => parse(&v).map(Some).map_err(|message| SettingsError { var: name, message }),
        }
    }

    /// A socket address like `example`.
    fn address(&self, name: &'static str, example: &str) -> Result<Option<SocketAddr>, SettingsError> {
        self.parsed(name, |v| v.parse().map_err(|e| format!("{v:?} is not an address like {example} ({e})")))
    }

    /// A number in `range` (`what` says what kind: "a number of minutes").
    fn number<T>(
        &self,
        name: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
        what: &str,
    ) -> Result<T, SettingsError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
    {
        let parsed = self.parsed(name, |v| match v.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(format!("{v:?} is not {what} from {} to {}", range.start(), range.end())),
        })?;
        Ok(parsed.unwrap_or(default))
    }

    /// Whole seconds up to `max`, at least `min` (0 allowed when `min` is 0).
    fn seconds(&self, name: &'static str, default: u64, min: u64, max: u64) -> Result<Duration, SettingsError> {
        match self.number(name, default, 0..=max, "seconds")? {
            n if n < min => Err(SettingsError { var: name, message: format!("must be at least {min}") }),
            n => Ok(Duration::from_secs(n)),
        }
    }

    /// A base URL Rackstate is reached at: http(s), without a trailing slash.
    fn base_url(&self, name: &'static str) -> Result<Option<String>, SettingsError> {
        self.parsed(name, |v| {
            let u = v.trim_end_matches('/');
            if u.starts_with("http://") || u.starts_with("https://") {
                Ok(u.to_string())
            } else {
                Err(format!("{u:?} must start with http:// or https://"))
            }
        })
    }

    /// A secret, taken as given (spaces count), checked by `check`.
    fn secret(
        &self,
        name: &'static str,
        check: impl FnOnce(&str) -> Result<(), String>,
    ) -> Result<Option<Secret>, SettingsError> {
        match (self.get)(name).filter(|v| !v.trim().is_empty()) {
            None => Ok(None),
            Some(v) => check(&v).map(|()| Some(Secret(v))).map_err(|message| SettingsError { var: name, message }),
        }
    }
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the settings through `get`, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let env = Env { get: &get };
        let listen = env.address("RACKSTATE_LISTEN", "127.0.0.1:3000")?.unwrap_or(([127, 0, 0, 1], 3000).into());
        let data_dir = PathBuf::from(env.text("RACKSTATE_DATA_DIR", "./data"));
        let database_url = env
            .parsed("RACKSTATE_DATABASE_URL", |v| match app::backend::DbKind::from_url(v) {
                Some(_) => Ok(v.to_string()),
                None => Err("must start with sqlite: or postgres://".into()),
            })?
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("rackstate.db").display()));
        let bmc_ca_certs = env
            .parsed("RACKSTATE_BMC_CA_FILE", |path| {
                let pem = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
                crate::bmc::tls::parse_ca_pem(&pem).map_err(|m| format!("{path}: {m}"))
            })?
            .unwrap_or_default();
        let power_sync = Some(env.seconds("RACKSTATE_POWER_SYNC_SECONDS", 300, 0, 86400)?).filter(|d| !d.is_zero());
        Ok(Self {
            listen,
            site_root: PathBuf::from(env.text("RACKSTATE_SITE_ROOT", "target/site")),
            db_max_connections: env.number("RACKSTATE_DB_MAX_CONNECTIONS", 8, 1..=1000, "a number")?,
            public_url: env.base_url("RACKSTATE_PUBLIC_URL")?,
            session_idle_minutes: env.number(
                "RACKSTATE_SESSION_IDLE_MINUTES",
                8 * 60,
                1..=60 * 24 * 30,
                "a number of minutes",
            )?,
            admin_password: env.secret("RACKSTATE_ADMIN_PASSWORD", app::domain::roles::check_password)?,
            secret_key: env.secret("RACKSTATE_SECRET_KEY", |k| {
                app::backend::secrets::SecretBox::from_hex(k)
                    .map(|_| ())
                    .map_err(|_| "must be 64 hex digits (32 bytes)".to_string())
            })?,
            workers: env.number("RACKSTATE_WORKERS", 64, 0..=1024, "a number")?,
            live_image: env.value("RACKSTATE_LIVE_IMAGE").map(PathBuf::from),
            agent_url: env.base_url("RACKSTATE_AGENT_URL")?,
            media_url: env.base_url("RACKSTATE_MEDIA_URL")?,
            agent_timeout: env.seconds("RACKSTATE_AGENT_TIMEOUT_SECONDS", 1800, 1, 7 * 24 * 3600)?,
            job_lease: env.seconds("RACKSTATE_JOB_LEASE_SECONDS", 60, 3, 3600)?,
            bmc_timeout: env.seconds("RACKSTATE_BMC_TIMEOUT_SECONDS", 20, 1, 600)?,
            bmc_networks: env
                .parsed("RACKSTATE_BMC_NETWORKS", app::domain::bmc_address::BmcNetworks::parse)?
                .unwrap_or_else(app::domain::bmc_address::BmcNetworks::any),
            bmc_ca_certs,
            // At least 64 KiB: a BMC's service root alone can be tens of kilobytes.
            bmc_max_response_bytes: env
                .number(
                    "RACKSTATE_BMC_MAX_RESPONSE_BYTES",
                    app::backend::DEFAULT_BMC_MAX_RESPONSE_BYTES,
                    0..=1024 * 1024 * 1024,
                    "bytes",
                )?
                .max(64 * 1024),
            power_timeout: env.seconds("RACKSTATE_POWER_TIMEOUT_SECONDS", 120, 1, 3600)?,
            shutdown_grace: env.seconds("RACKSTATE_SHUTDOWN_GRACE_SECONDS", 120, 1, 3600)?,
            bmc_retries: env.number("RACKSTATE_BMC_RETRIES", 3, 0..=10, "a number of retries")?,
            bmc_retry_base: env.seconds("RACKSTATE_BMC_RETRY_SECONDS", 5, 1, 600)?,
            power_sync,
            webhook_first_retry_ms: env.number(
                "RACKSTATE_WEBHOOK_RETRY_MS",
                app::domain::webhooks::FIRST_BACKOFF_MS,
                100..=app::domain::webhooks::MAX_BACKOFF_MS,
                "milliseconds",
            )?,
            metrics_token: env.secret("RACKSTATE_METRICS_TOKEN", |t| {
                if t.len() < 16 { Err("must be at least 16 characters".into()) } else { Ok(()) }
            })?,
            metrics_listen: env.address("RACKSTATE_METRICS_LISTEN", "127.0.0.1:9100")?,
            erase_mode: env
                .parsed("RACKSTATE_ERASE_MODE", |v| {
                    EraseMode::parse(v).ok_or_else(|| format!("{v:?} is not secure, full or metadata"))
                })?
                .unwrap_or_default(),
            trusted_proxies: env
                .parsed("RACKSTATE_TRUSTED_PROXIES", app::domain::client_addr::TrustedProxies::parse)?
                .unwrap_or_default(),
            demo_lab: env.number("RACKSTATE_DEMO_LAB", 0, 0..=10000, "a number of servers")?,
            demo_lab_boot: Duration::from_secs_f64(env.number(
                "RACKSTATE_DEMO_LAB_BOOT_SECONDS",
                3.0,
                0.0..=600.0,
                "a number of seconds",
            )?),
            demo_lab_vendor: env
                .parsed("RACKSTATE_DEMO_LAB_VENDOR", |v| match v {
                    "mixed" => Ok(None),
                    v => crate::lab::Vendor::parse(v)
                        .map(Some)
                        .ok_or_else(|| format!("{v:?} is not {}", crate::cli::vendor_names())),
                })?
                .flatten(),
            data_dir,
            database_url,
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
        assert_eq!((s.workers, s.demo_lab, s.agent_timeout.as_secs()), (64, 0, 1800));
        let s = with(&[("RACKSTATE_DEMO_LAB", "24"), ("RACKSTATE_DEMO_LAB_BOOT_SECONDS", "0.5")]).unwrap();
        assert_eq!((s.demo_lab, s.demo_lab_boot.as_millis()), (24, 500));
        assert_eq!(with(&[("RACKSTATE_WORKERS", "-1")]).unwrap_err().var, "RACKSTATE_WORKERS");
        assert_eq!(
            with(&[("RACKSTATE_AGENT_TIMEOUT_SECONDS", "0")]).unwrap_err().var,
            "RACKSTATE_AGENT_TIMEOUT_SECONDS"
        );
        assert_eq!(with(&[("RACKSTATE_AGENT_URL", "ftp://x")]).unwrap_err().var, "RACKSTATE_AGENT_URL");
    }

    /// An admin mistypes a value: start-up stops with the variable named and what it
    /// should be, for every kind of value.
    #[test]
    fn each_kind_of_value_names_its_variable() {
        for (var, value, says) in [
            ("RACKSTATE_SESSION_IDLE_MINUTES", "0", "is not a number of minutes from 1 to 43200"),
            ("RACKSTATE_DEMO_LAB_BOOT_SECONDS", "fast", "is not a number of seconds from 0 to 600"),
            ("RACKSTATE_METRICS_LISTEN", "9100", "is not an address like 127.0.0.1:9100"),
            ("RACKSTATE_PUBLIC_URL", "rackstate.example", "must start with http:// or https://"),
            ("RACKSTATE_ERASE_MODE", "shred", "is not secure, full or metadata"),
            ("RACKSTATE_METRICS_TOKEN", "short", "must be at least 16 characters"),
            ("RACKSTATE_SECRET_KEY", "abc", "must be 64 hex digits"),
            ("RACKSTATE_BMC_RETRIES", "11", "is not a number of retries from 0 to 10"),
        ] {
            let e = with(&[(var, value)]).unwrap_err();
            assert_eq!(e.var, var);
            assert!(e.message.contains(says), "{var}={value}: {e}");
        }
        assert_eq!(with(&[("RACKSTATE_DEMO_LAB_VENDOR", "mixed")]).unwrap().demo_lab_vendor, None);
    }

    /// Pool size must be a sane positive number.
    #[test]
    fn bad_pool_size() {
        let e = with(&[("RACKSTATE_DB_MAX_CONNECTIONS", "0")]).unwrap_err();
        assert_eq!(e.var, "RACKSTATE_DB_MAX_CONNECTIONS");
    }
}
