//! What one connection to a BMC learns (how it logs in, where the system and the CD
//! slot are) spares the next connections the walk, and a hint that no longer holds
//! costs one walk, never a failed job.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rackstate_server::bmc::redfish::RedfishConnector;
use rackstate_server::bmc::{BmcConnector, BmcTarget};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A Redfish service whose system and slot can move and which can start asking for
/// sessions; it records every request (method and path).
#[derive(Clone, Default)]
struct Mock {
    resources: Arc<Mutex<HashMap<String, Value>>>,
    seen: Arc<Mutex<Vec<String>>>,
    sessions_only: Arc<AtomicBool>,
}

const TOKEN: &str = "t0ken";

async fn handle(State(m): State<Mock>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_string();
    m.seen.lock().unwrap().push(format!("{method} {path}"));
    let sessions_only = m.sessions_only.load(Ordering::SeqCst);
    if method == Method::POST && path == "/redfish/v1/SessionService/Sessions" && sessions_only {
        let headers = [("X-Auth-Token", TOKEN), ("Location", "/redfish/v1/SessionService/Sessions/1")];
        return (StatusCode::CREATED, headers, axum::Json(json!({}))).into_response();
    }
    if method == Method::DELETE {
        return StatusCode::NO_CONTENT.into_response();
    }
    let has_token = headers.get("x-auth-token").is_some_and(|t| t == TOKEN);
    if sessions_only && path != "/redfish/v1" && !has_token {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match m.resources.lock().unwrap().get(&path) {
        Some(v) if method == Method::GET => axum::Json(v.clone()).into_response(),
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

impl Mock {
    async fn serve(&self) -> String {
        let app = axum::Router::new().fallback(handle).with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    /// The service with its one system at `Systems/<id>` (UUID `uuid-<id>`), the CD slot
    /// under it, and sessions offered when `sessions_only` says so.
    fn place_system(&self, id: u32) {
        let sys = format!("/redfish/v1/Systems/{id}");
        let mut root = json!({ "Systems": { "@odata.id": "/redfish/v1/Systems" } });
        if self.sessions_only.load(Ordering::SeqCst) {
            root["Links"] = json!({ "Sessions": { "@odata.id": "/redfish/v1/SessionService/Sessions" } });
        }
        *self.resources.lock().unwrap() = HashMap::from([
            ("/redfish/v1".into(), root),
            ("/redfish/v1/Systems".into(), json!({ "Members": [{ "@odata.id": sys }] })),
            (
                sys.clone(),
                json!({ "@odata.id": sys, "PowerState": "Off", "UUID": format!("uuid-{id}"), "SerialNumber": "S1",
                        "VirtualMedia": { "@odata.id": format!("{sys}/VirtualMedia") } }),
            ),
            (format!("{sys}/VirtualMedia"), json!({ "Members": [{ "@odata.id": format!("{sys}/VirtualMedia/Cd") }] })),
            (format!("{sys}/VirtualMedia/Cd"), json!({ "MediaTypes": ["CD"], "Inserted": false })),
        ]);
    }

    /// The requests seen since the last call.
    fn take_seen(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

fn connector() -> RedfishConnector {
    let reach = app::backend::BmcReach {
        networks: app::domain::bmc_address::BmcNetworks::any().with("127.0.0.0/8"),
        ..Default::default()
    };
    RedfishConnector::new(Arc::new(reach))
}

/// A BMC with its system at `Systems/1`, its address and a connector to reach it.
async fn one_system() -> (Mock, String, RedfishConnector) {
    let mock = Mock::default();
    mock.place_system(1);
    let address = mock.serve().await;
    (mock, address, connector())
}

/// A new connection through `bmcs` reads the system and the slot, as a job's does.
async fn reach(bmcs: &RedfishConnector, address: &str) -> String {
    let bmc = bmcs.connect(target(address)).unwrap();
    let uuid = bmc.system().await.expect("the system").uuid;
    assert_eq!(bmc.inserted_media().await.expect("the slot"), None);
    uuid
}

fn target(address: &str) -> BmcTarget {
    BmcTarget {
        address: address.to_string(),
        username: "root".into(),
        password: "calvin".into(),
        verify_tls: true,
        tls_pin: None,
        timeout: Duration::from_secs(5),
        client_id: None,
        fence: None,
    }
}

/// A job's second connection to a machine (after its agent reported) reads the system
/// and the slot straight away: no service root, no Systems, no media collections.
#[tokio::test]
async fn a_second_connection_to_a_bmc_does_not_walk_it_again() {
    let (mock, address, bmcs) = one_system().await;
    reach(&bmcs, &address).await;
    let walked = mock.take_seen();
    assert!(walked.contains(&"GET /redfish/v1/Systems".to_string()), "{walked:?}");
    assert_eq!(reach(&bmcs, &address).await, "uuid-1");
    assert_eq!(mock.take_seen(), ["GET /redfish/v1/Systems/1", "GET /redfish/v1/Systems/1/VirtualMedia/Cd"]);
}

/// A BMC whose firmware moved the system (and its slot) since the last connection: the
/// hinted paths answer 404, the driver finds the new ones and goes on, and the next
/// connection starts from those.
#[tokio::test]
async fn a_moved_system_is_found_again() {
    let (mock, address, bmcs) = one_system().await;
    reach(&bmcs, &address).await;
    mock.place_system(2);
    let second = bmcs.connect(target(&address)).unwrap();
    assert_eq!(second.system().await.expect("found again").uuid, "uuid-2");
    assert_eq!(second.inserted_media().await.expect("the slot found again"), None);
    assert!(second.take_notes().iter().any(|n| n.contains("Systems/1 is gone (HTTP 404)")));
    mock.take_seen();
    assert_eq!(reach(&bmcs, &address).await, "uuid-2");
    assert_eq!(mock.take_seen(), ["GET /redfish/v1/Systems/2", "GET /redfish/v1/Systems/2/VirtualMedia/Cd"]);
}

/// A BMC that took Basic before and now refuses it (a firmware update turned sessions
/// on): the refused request logs in with a session and is sent again, not failed as a
/// wrong password.
#[tokio::test]
async fn a_bmc_that_starts_wanting_sessions_gets_one() {
    let (mock, address, bmcs) = one_system().await;
    bmcs.connect(target(&address)).unwrap().system().await.unwrap();
    mock.sessions_only.store(true, Ordering::SeqCst);
    mock.place_system(1);
    let second = bmcs.connect(target(&address)).unwrap();
    assert_eq!(second.system().await.expect("logged in with a session").uuid, "uuid-1");
    let seen = mock.take_seen();
    assert!(seen.contains(&"POST /redfish/v1/SessionService/Sessions".to_string()), "{seen:?}");
    // The next connection creates its session at once.
    bmcs.connect(target(&address)).unwrap().system().await.unwrap();
    let seen = mock.take_seen();
    assert_eq!(seen[..2], ["POST /redfish/v1/SessionService/Sessions", "GET /redfish/v1/Systems/1"], "{seen:?}");
}

/// One BMC that manages two systems (a chassis manager, an emulator), each entered as
/// its own server by the system's path: what the first system's connection learned
/// (its CD slot) is never used for the second, whose live image must go into its own
/// slot.
#[tokio::test]
async fn two_systems_behind_one_bmc_do_not_share_a_slot() {
    let mock = Mock::default();
    let mut resources = HashMap::from([
        ("/redfish/v1".to_string(), json!({ "Systems": { "@odata.id": "/redfish/v1/Systems" } })),
        (
            "/redfish/v1/Systems".into(),
            json!({ "Members": [{ "@odata.id": "/redfish/v1/Systems/a" }, { "@odata.id": "/redfish/v1/Systems/b" }] }),
        ),
    ]);
    for id in ["a", "b"] {
        let sys = format!("/redfish/v1/Systems/{id}");
        resources.insert(
            sys.clone(),
            json!({ "@odata.id": sys, "PowerState": "Off", "UUID": format!("uuid-{id}"),
                    "VirtualMedia": { "@odata.id": format!("{sys}/VirtualMedia") } }),
        );
        resources.insert(
            format!("{sys}/VirtualMedia"),
            json!({ "Members": [{ "@odata.id": format!("{sys}/VirtualMedia/Cd") }] }),
        );
        resources.insert(format!("{sys}/VirtualMedia/Cd"), json!({ "MediaTypes": ["CD"], "Inserted": false }));
    }
    *mock.resources.lock().unwrap() = resources;
    let base = mock.serve().await;
    let bmcs = connector();
    assert_eq!(reach(&bmcs, &format!("{base}/redfish/v1/Systems/a")).await, "uuid-a");
    mock.take_seen();
    assert_eq!(reach(&bmcs, &format!("{base}/redfish/v1/Systems/b")).await, "uuid-b");
    let seen = mock.take_seen();
    assert!(seen.contains(&"GET /redfish/v1/Systems/b/VirtualMedia/Cd".to_string()), "{seen:?}");
    assert!(!seen.iter().any(|r| r.contains("Systems/a")), "{seen:?}");
}
