//! OpenStack's sushy-emulator (fake driver, feature set `full`, basic auth) as the
//! BMC nobody here wrote. Each emulator has its own state directory and can serve
//! several systems, and can PUT every change of a system to a notification URL.

use std::process::{Child, Command, Stdio};

pub const USER: &str = "rackstate";
pub const PASSWORD: &str = "bmc-password";

/// A sushy-emulator process, killed on drop.
pub struct Emulator {
    child: Child,
    pub url: String,
    /// The systems' UUIDs, in the order given.
    pub systems: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    /// The BMC address Rackstate uses for system `i` (a path to that system).
    pub fn system_address(&self, i: usize) -> String {
        format!("{}/redfish/v1/Systems/{}", self.url, self.systems[i])
    }
}

pub fn venv() -> String {
    std::env::var("RACKSTATE_TEST_VENV")
        .unwrap_or_else(|_| format!("{}/.cache/rackstate/venv", std::env::var("HOME").unwrap_or_default()))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One system, no notifications.
pub async fn start() -> Emulator {
    start_with(1, None).await
}

/// `systems` fake systems, powered off; with `notify`, every change of a system is
/// PUT there as JSON (sushy's external notifier).
pub async fn start_with(systems: usize, notify: Option<&str>) -> Emulator {
    start_on(systems, notify, free_port(), None).await
}

/// One system over HTTPS on `port` with the certificate and key (PEM files) given.
pub async fn start_tls(port: u16, cert: &std::path::Path, key: &std::path::Path) -> Emulator {
    start_on(1, None, port, Some((cert, key))).await
}

async fn start_on(
    systems: usize,
    notify: Option<&str>,
    port: u16,
    tls: Option<(&std::path::Path, &std::path::Path)>,
) -> Emulator {
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    let hash = Command::new(format!("{venv}/bin/python"))
        .args(["-c", &format!("import bcrypt; print(bcrypt.hashpw(b'{PASSWORD}', bcrypt.gensalt(4)).decode())")])
        .output()
        .unwrap_or_else(|e| panic!("{venv}/bin/python: {e} (run `make test`, which installs the venv)"));
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("{USER}:{}", String::from_utf8_lossy(&hash.stdout).trim())).unwrap();
    let uuids: Vec<String> = (0..systems).map(|i| format!("5a3c2b1e-0000-4000-8000-{:012x}", i + 1)).collect();
    let fake: Vec<String> = uuids
        .iter()
        .enumerate()
        .map(|(i, u)| {
            format!(
                "{{'uuid': '{u}', 'name': 'node-{i}', 'power_state': 'Off', 'external_notifier': {}, \
                 'nics': [{{'mac': '00:5c:52:31:3a:{i:02x}', 'ip': '172.22.0.{}'}}]}}",
                if notify.is_some() { "True" } else { "False" },
                i + 10
            )
        })
        .collect();
    let config = dir.path().join("config.py");
    // Its own state directory: the emulator otherwise keeps state in /tmp, shared
    // between processes and runs.
    std::fs::write(
        &config,
        format!(
            "SUSHY_EMULATOR_AUTH_FILE = {:?}\nSUSHY_EMULATOR_STATE_DIR = {:?}\nSUSHY_EMULATOR_FAKE_SYSTEMS = [{}]\n{}",
            htpasswd.display().to_string(),
            dir.path().join("state").display().to_string(),
            fake.join(", "),
            notify.map(|u| format!("EXTERNAL_NOTIFICATION_URL = {u:?}\n")).unwrap_or_default(),
        ),
    )
    .unwrap();
    let mut cmd = Command::new(format!("{venv}/bin/sushy-emulator"));
    cmd.args([
        "--config",
        &config.display().to_string(),
        "--fake",
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "--feature-set",
        "full",
    ]);
    if let Some((cert, key)) = tls {
        cmd.arg("--ssl-certificate").arg(cert).arg("--ssl-key").arg(key);
    }
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("starting sushy-emulator");
    let url = format!("{}://127.0.0.1:{port}", if tls.is_some() { "https" } else { "http" });
    let client = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    for _ in 0..100 {
        if client.get(format!("{url}/redfish/v1/")).send().await.is_ok() {
            return Emulator { child, url, systems: uuids, _dir: dir };
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("sushy-emulator did not start on {url}");
}
