//! The Redfish driver against OpenStack's sushy-emulator (a BMC nobody here wrote),
//! and against BMCs that fail in the ways real ones do.

use rackstate_server::bmc::redfish::{MAX_RETRIES, RedfishBmc};
use rackstate_server::bmc::{Bmc, BmcErrorKind, POWER_SETTLE_TIMEOUT, PowerAction, PowerState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

mod common;
use common::sushy::{Emulator, PASSWORD, USER, free_port, start as start_emulator};

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
    let bmc = RedfishBmc::new(&emu.url, USER, PASSWORD, true, &loopback()).unwrap();
    let sys = bmc.system().await.unwrap();
    assert!(!sys.uuid.is_empty());
    assert_eq!(sys.power_state, PowerState::Off);

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
    bmc.wait_for_power(PowerState::On, POWER_SETTLE_TIMEOUT).await.unwrap();

    let systems = raw_get(&emu, "/redfish/v1/Systems").await;
    let path = systems["Members"][0]["@odata.id"].as_str().unwrap().to_string();
    let raw = raw_get(&emu, &path).await;
    assert_eq!(raw["Boot"]["BootSourceOverrideTarget"], "Cd");
    // sushy-emulator ignores BootSourceOverrideEnabled ("Once") and always reports
    // "Continuous"; real BMCs honour it. The job clears the override afterwards anyway.

    bmc.power(PowerAction::ForceOff).await.unwrap();
    bmc.eject_media().await.unwrap();
    assert_eq!(bmc.inserted_media().await.unwrap(), None);
    bmc.wait_for_power(PowerState::Off, POWER_SETTLE_TIMEOUT).await.unwrap();
}

/// Wrong credentials fail at once (no retries) with a reason an admin can act on.
#[tokio::test]
async fn wrong_credentials() {
    let emu = start_emulator().await;
    let bmc = RedfishBmc::new(&emu.url, USER, "not-the-password", true, &loopback()).unwrap();
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
    let bmc = RedfishBmc::new(&addr, USER, PASSWORD, true, &loopback()).unwrap();
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
    let bmc = RedfishBmc::new(&addr, USER, PASSWORD, true, &loopback()).unwrap();
    let e = bmc.system().await.unwrap_err();
    assert_eq!(e.kind, BmcErrorKind::Status { code: 500, message: "controller busy".into() });
    assert_eq!(hits.load(Ordering::SeqCst), 1 + MAX_RETRIES);
}

/// Limits that let credentials go to the emulator on loopback.
fn loopback() -> app::backend::BmcReach {
    app::backend::BmcReach {
        networks: app::domain::bmc_address::BmcNetworks::any().with("127.0.0.0/8"),
        ..Default::default()
    }
}
