//! The Redfish driver against services that differ from the schema's happy path:
//! expiring sessions, stale ETags, ActionInfo limits, boot targets without `Cd`.

mod common;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rackstate_server::bmc::redfish::RedfishBmc;
use rackstate_server::bmc::{Bmc, BmcErrorKind};
use rackstate_server::lab::{Lab, LabConfig, Vendor};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn loopback() -> app::backend::BmcReach {
    app::backend::BmcReach {
        networks: app::domain::bmc_address::BmcNetworks::any().with("127.0.0.0/8"),
        ..Default::default()
    }
}

/// A request the mock saw: method, path, If-Match, body.
type Seen = (String, String, Option<String>, Value);
/// How the mock answers a change: (method, path, If-Match, n-th such request) -> status.
type Answer = dyn Fn(&str, &str, Option<&str>, usize) -> u16 + Send + Sync;

/// A scripted Redfish service: GETs answer from `resources`; other requests are
/// recorded and answered by `answer` (method, path, If-Match, body) -> status.
#[derive(Clone)]
struct Mock {
    resources: Arc<Mutex<HashMap<String, Value>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    answer: Arc<Answer>,
}

async fn handle(State(m): State<Mock>, method: Method, uri: Uri, headers: HeaderMap, body: String) -> Response {
    let path = uri.path().to_string();
    if method == Method::GET {
        return match m.resources.lock().unwrap().get(&path) {
            Some(v) => axum::Json(v.clone()).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    let if_match = headers.get("if-match").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let n = {
        let mut seen = m.seen.lock().unwrap();
        seen.push((method.to_string(), path.clone(), if_match.clone(), body));
        seen.iter().filter(|(mm, p, ..)| *mm == method.as_str() && *p == path).count()
    };
    StatusCode::from_u16((m.answer)(method.as_str(), &path, if_match.as_deref(), n)).unwrap().into_response()
}

async fn serve(mock: Mock) -> String {
    let app = axum::Router::new().fallback(handle).with_state(mock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A system with a CD slot under it; `slot` and `boot` fill in the details.
fn service(slot: Value, boot: Value) -> HashMap<String, Value> {
    let sys = "/redfish/v1/Systems/1";
    HashMap::from([
        ("/redfish/v1".into(), json!({ "Systems": { "@odata.id": "/redfish/v1/Systems" } })),
        ("/redfish/v1/Systems".into(), json!({ "Members": [{ "@odata.id": sys }] })),
        (
            sys.into(),
            json!({ "@odata.id": sys, "@odata.etag": "\"e1\"", "PowerState": "Off", "UUID": "u", "Boot": boot,
                    "VirtualMedia": { "@odata.id": format!("{sys}/VirtualMedia") } }),
        ),
        (format!("{sys}/VirtualMedia"), json!({ "Members": [{ "@odata.id": format!("{sys}/VirtualMedia/Cd") }] })),
        (format!("{sys}/VirtualMedia/Cd"), slot),
    ])
}

/// A session that expired at the BMC: the next request logs in again once and goes
/// on; the session is logged out when the driver is dropped.
#[tokio::test]
async fn an_expired_session_logs_in_again() {
    let config = LabConfig {
        machines: 1,
        boot_delay: Duration::from_millis(100),
        disk_dir: tempfile::tempdir().unwrap().keep(),
        disk_bytes: rackstate_server::lab::DEFAULT_DISK_BYTES,
        bmc_delay: Duration::ZERO,
        vendor: Some(Vendor::SessionEtag),
    };
    let lab = Lab::serve(&config, Lab::specs(1)).await.unwrap();
    let m = lab.machines[0].clone();
    let bmc = RedfishBmc::new(&m.address(), &m.username, &m.password(), true, &loopback()).unwrap();
    bmc.system().await.unwrap();
    assert!(bmc.uses_session().await);
    assert_eq!(m.open_sessions(), 1);
    m.expire_sessions();
    bmc.system().await.expect("logged in again");
    assert_eq!(m.open_sessions(), 1);
    drop(bmc);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while m.open_sessions() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the session was not logged out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wrong = RedfishBmc::new(&m.address(), &m.username, "wrong", true, &loopback()).unwrap();
    assert_eq!(wrong.system().await.unwrap_err().kind, BmcErrorKind::Unauthorized);
}

/// A PATCH refused with 412 (the resource changed since it was read) is sent once
/// more with the fresh ETag, and not a third time.
#[tokio::test]
async fn a_stale_etag_is_retried_once() {
    let slot = json!({ "MediaTypes": ["CD"], "Inserted": false });
    let boot = json!({ "BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once" });
    let mock = Mock {
        resources: Arc::new(Mutex::new(service(slot, boot))),
        seen: Default::default(),
        answer: Arc::new(|_, _, _, n| if n == 1 { 412 } else { 204 }),
    };
    let bmc = RedfishBmc::new(&serve(mock.clone()).await, "u", "p", true, &loopback()).unwrap();
    bmc.boot_once_from_cd().await.unwrap();
    let patches: Vec<Option<String>> =
        mock.seen.lock().unwrap().iter().filter(|(m, ..)| m == "PATCH").map(|(_, _, tag, _)| tag.clone()).collect();
    assert_eq!(patches, [Some("\"e1\"".to_string()), Some("\"e1\"".to_string())]);
}

/// An InsertMedia whose ActionInfo allows only NFS and CIFS: refused before anything
/// is sent, naming what the BMC offers; one allowing HTTP gets TransferProtocolType.
#[tokio::test]
async fn action_info_decides_the_insert_body() {
    let sys = "/redfish/v1/Systems/1";
    let slot = json!({
        "MediaTypes": ["CD", "DVD"], "Inserted": false,
        "Actions": { "#VirtualMedia.InsertMedia": {
            "target": format!("{sys}/VirtualMedia/Cd/Actions/VirtualMedia.InsertMedia"),
            "@Redfish.ActionInfo": "/redfish/v1/InsertMediaActionInfo" } },
    });
    let mut resources = service(slot, json!({}));
    let info = |allowed: Value| {
        json!({ "Parameters": [
            { "Name": "Image", "Required": true },
            { "Name": "TransferProtocolType", "Required": true, "AllowableValues": allowed },
            { "Name": "Inserted", "Required": false } ] })
    };
    resources.insert("/redfish/v1/InsertMediaActionInfo".into(), info(json!(["NFS", "CIFS"])));
    let mock = Mock {
        resources: Arc::new(Mutex::new(resources)),
        seen: Default::default(),
        answer: Arc::new(|_, _, _, _| 204),
    };
    let base = serve(mock.clone()).await;
    let bmc = RedfishBmc::new(&base, "u", "p", true, &loopback()).unwrap();
    let e = bmc.insert_media("http://10.0.0.1/live.iso").await.unwrap_err();
    assert!(matches!(e.kind, BmcErrorKind::Unsupported(_)) && e.to_string().contains("NFS, CIFS"), "{e}");
    assert!(mock.seen.lock().unwrap().is_empty(), "nothing sent");

    mock.resources.lock().unwrap().insert("/redfish/v1/InsertMediaActionInfo".into(), info(json!(["HTTP", "HTTPS"])));
    let url = "http://10.0.0.1/live.iso";
    // The slot shows the image once inserted (the mock does not mount by itself).
    mock.resources.lock().unwrap().get_mut(&format!("{sys}/VirtualMedia/Cd")).unwrap()["Image"] = json!(url);
    let bmc = RedfishBmc::new(&base, "u", "p", true, &loopback()).unwrap();
    let _ = bmc.insert_media(url).await;
    let posted = mock.seen.lock().unwrap().iter().find(|(m, ..)| m == "POST").map(|(.., b)| b.clone()).unwrap();
    assert_eq!(posted, json!({ "Image": url, "TransferProtocolType": "HTTP" }));
}

/// A BMC whose boot override does not offer `Cd`: a clear error, nothing PATCHed;
/// one in UEFI mode gets its mode sent back with the override.
#[tokio::test]
async fn boot_targets_and_mode_are_respected() {
    let boot = json!({ "BootSourceOverrideTarget@Redfish.AllowableValues": ["None", "Pxe", "Hdd"] });
    let mock = Mock {
        resources: Arc::new(Mutex::new(service(json!({ "MediaTypes": ["CD"] }), boot))),
        seen: Default::default(),
        answer: Arc::new(|_, _, _, _| 204),
    };
    let bmc = RedfishBmc::new(&serve(mock.clone()).await, "u", "p", true, &loopback()).unwrap();
    let e = bmc.boot_once_from_cd().await.unwrap_err();
    assert!(e.to_string().contains("None, Pxe, Hdd"), "{e}");
    assert!(mock.seen.lock().unwrap().is_empty());

    let boot = json!({ "BootSourceOverrideMode": "UEFI", "BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once" });
    let mock = Mock {
        resources: Arc::new(Mutex::new(service(json!({ "MediaTypes": ["CD"] }), boot))),
        seen: Default::default(),
        answer: Arc::new(|_, _, _, _| 204),
    };
    let bmc = RedfishBmc::new(&serve(mock.clone()).await, "u", "p", true, &loopback()).unwrap();
    bmc.boot_once_from_cd().await.unwrap();
    let (_, _, _, body) = mock.seen.lock().unwrap()[0].clone();
    assert_eq!(body["Boot"]["BootSourceOverrideMode"], "UEFI");
}

/// A BMC that knows no boot target "None" (sushy-emulator's libvirt driver, some
/// Supermicro firmware) refuses the clear: it is sent again with target Hdd, which is
/// right whether or not the BMC honours "Disabled".
#[tokio::test]
async fn a_boot_override_clear_without_none_falls_back_to_the_disk() {
    let slot = json!({ "MediaTypes": ["CD"], "Inserted": false });
    let boot = json!({ "BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Continuous" });
    let mock = Mock {
        resources: Arc::new(Mutex::new(service(slot, boot))),
        seen: Default::default(),
        answer: Arc::new(|_, _, _, n| if n == 1 { 400 } else { 204 }),
    };
    let bmc = RedfishBmc::new(&serve(mock.clone()).await, "u", "p", true, &loopback()).unwrap();
    bmc.clear_boot_override().await.unwrap();
    let targets: Vec<Value> = mock
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, ..)| m == "PATCH")
        .map(|(.., body)| body["Boot"]["BootSourceOverrideTarget"].clone())
        .collect();
    assert_eq!(targets, [json!("None"), json!("Hdd")]);
    assert!(bmc.take_notes().iter().any(|n| n.contains("cleared the override with target Hdd")));
}
