//! The Redfish driver against OpenStack's sushy-emulator (a BMC nobody here wrote),
//! and against BMCs that fail in the ways real ones do.

use rackstate_server::bmc::redfish::{MAX_RETRIES, RedfishBmc};
use rackstate_server::bmc::{Bmc, BmcErrorKind, POWER_SETTLE_TIMEOUT, PowerAction};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

const USER: &str = "rackstate";
const PASSWORD: &str = "bmc-password";

/// A sushy-emulator process with the fake driver and basic auth, killed on drop.
struct Emulator {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn venv() -> String {
    std::env::var("RACKSTATE_TEST_VENV")
        .unwrap_or_else(|_| format!("{}/.cache/rackstate/venv", std::env::var("HOME").unwrap_or_default()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_emulator() -> Emulator {
    let venv = venv();
    let dir = tempfile::tempdir().unwrap();
    let hash = Command::new(format!("{venv}/bin/python"))
        .args(["-c", &format!("import bcrypt; print(bcrypt.hashpw(b'{PASSWORD}', bcrypt.gensalt(4)).decode())")])
        .output()
        .unwrap_or_else(|e| panic!("{venv}/bin/python: {e} (run `make test`, which installs the venv)"));
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("{USER}:{}", String::from_utf8_lossy(&hash.stdout).trim())).unwrap();
    let config = dir.path().join("config.py");
    // Its own state directory: the emulator otherwise keeps state in /tmp, shared
    // between processes and runs.
    std::fs::write(
        &config,
        format!(
            "SUSHY_EMULATOR_AUTH_FILE = {:?}\nSUSHY_EMULATOR_STATE_DIR = {:?}\n",
            htpasswd.display().to_string(),
            dir.path().join("state").display().to_string()
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(format!("{venv}/bin/sushy-emulator"))
        .args([
            "--config",
            &config.display().to_string(),
            "--fake",
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--feature-set",
            "full",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting sushy-emulator");
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{url}/redfish/v1/")).send().await.is_ok() {
            return Emulator { child, url, _dir: dir };
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("sushy-emulator did not start on {url}");
}

/// Reads a resource straight from the emulator, bypassing the driver under test.
async fn raw_get(emu: &Emulator, path: &str) -> serde_json::Value {
    let resp =
        reqwest::Client::new().get(format!("{}{path}", emu.url)).basic_auth(USER, Some(PASSWORD)).send().await.unwrap();
    resp.json().await.unwrap()
}

/// Reads the system, sets a one-time CD boot, inserts the live image, powers on;
/// the emulator reflects each step; eject and power off undo them.
#[tokio::test]
async fn registration_steps_against_sushy() {
    let emu = start_emulator().await;
    let bmc = RedfishBmc::new(&emu.url, USER, PASSWORD, true).unwrap();
    let sys = bmc.system().await.unwrap();
    assert!(!sys.uuid.is_empty());
    assert_eq!(sys.power_state, "Off");

    // The emulator downloads the image, as a real BMC does: serve one.
    let iso =
        axum::Router::new().route("/live/rackstate-live.iso", axum::routing::get(|| async { vec![0u8; 64 * 1024] }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let image = format!("http://{}/live/rackstate-live.iso", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, iso).await.unwrap() });
    bmc.insert_media(&image).await.unwrap();
    assert_eq!(bmc.inserted_media().await.unwrap().as_deref(), Some(image.as_str()));
    bmc.boot_once_from_cd().await.unwrap();
    bmc.power(PowerAction::On).await.unwrap();
    bmc.wait_for_power("On", POWER_SETTLE_TIMEOUT).await.unwrap();

    let systems = raw_get(&emu, "/redfish/v1/Systems").await;
    let path = systems["Members"][0]["@odata.id"].as_str().unwrap().to_string();
    let raw = raw_get(&emu, &path).await;
    assert_eq!(raw["Boot"]["BootSourceOverrideTarget"], "Cd");
    // sushy-emulator ignores BootSourceOverrideEnabled ("Once") and always reports
    // "Continuous"; real BMCs honour it. The job clears the override afterwards anyway.

    bmc.power(PowerAction::ForceOff).await.unwrap();
    bmc.eject_media().await.unwrap();
    assert_eq!(bmc.inserted_media().await.unwrap(), None);
    bmc.wait_for_power("Off", POWER_SETTLE_TIMEOUT).await.unwrap();
}

/// Wrong credentials fail at once (no retries) with a reason an admin can act on.
#[tokio::test]
async fn wrong_credentials() {
    let emu = start_emulator().await;
    let bmc = RedfishBmc::new(&emu.url, USER, "not-the-password", true).unwrap();
    let e = bmc.system().await.unwrap_err();
    assert_eq!(e.kind, BmcErrorKind::Unauthorized);
    assert!(e.to_string().contains("credentials refused"), "{e}");
    assert!(e.to_string().starts_with(&format!("BMC {}: reading Systems", emu.url)), "{e}");
}

/// Nothing listens: a connect error after the bounded retries, naming the BMC.
#[tokio::test]
async fn unreachable_bmc() {
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let bmc = RedfishBmc::new(&addr, USER, PASSWORD, true).unwrap();
    let e = bmc.system().await.unwrap_err();
    assert!(matches!(e.kind, BmcErrorKind::Connect(_)), "{e:?}");
    assert!(e.to_string().contains(&format!("BMC {addr}: reading Systems: cannot connect")), "{e}");
}

/// A BMC answering 500 is retried MAX_RETRIES times, then the error says HTTP 500.
#[tokio::test]
async fn bmc_answering_500() {
    let hits = Arc::new(AtomicU32::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, r#"{"error":{"message":"controller busy"}}"#)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let bmc = RedfishBmc::new(&addr, USER, PASSWORD, true).unwrap();
    let e = bmc.system().await.unwrap_err();
    assert_eq!(e.kind, BmcErrorKind::Status { code: 500, message: "controller busy".into() });
    assert_eq!(hits.load(Ordering::SeqCst), 1 + MAX_RETRIES);
}
