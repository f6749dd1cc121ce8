//! Firmware drift: the versions registration reads (the BMC's firmware inventory and
//! the drives' from the agent), each type's baseline, and the servers on, behind or
//! ahead of it, through the services and the API.

mod common;

use app::domain::firmware::{Drift, TypeFirmware};
use app::domain::{EventKind, Role, ServerState};
use common::{TestApp, api_token_for, spawn_app_with, wait_for_server};
use serde_json::{Value, json};
use std::time::Duration;

/// A lab of 12 registered machines. Machines 1, 6 and 11 share a type; machine 6
/// runs an older BMC firmware (the lab's drift); machine 8 older drive firmware.
async fn registered_lab() -> (TestApp, String) {
    let app = spawn_app_with(|s| {
        s.workers = 8;
        s.demo_lab = 12;
        s.demo_lab_boot = Duration::from_millis(100);
    })
    .await;
    let servers = app.backend.list_servers(&Default::default()).await.unwrap();
    for s in &servers {
        wait_for_server(&app, s.id, Duration::from_secs(120), |s| s.state == ServerState::Unavailable).await;
    }
    let lab01 = servers.iter().find(|s| s.name == "lab-01").unwrap().id;
    let label = app.backend.server(lab01).await.unwrap().server_type.unwrap();
    (app, label)
}

/// The component `id` of a type's drift.
fn component<'a>(t: &'a TypeFirmware, id: &str) -> &'a app::domain::firmware::ComponentDrift {
    t.components.iter().find(|c| c.component == id).unwrap_or_else(|| panic!("{id} in {t:?}"))
}

/// The admin as services see a caller.
fn admin() -> app::model::UserView {
    app::model::UserView { id: 1, username: "admin".into(), role: Role::Admin, disabled: false }
}

/// An admin opens the firmware view of a new fleet: every component of the type is
/// counted without a baseline; "adopt the most common versions" makes the common BMC
/// firmware the baseline, and the one machine on the older one shows as behind (its
/// number leads to it), audited.
#[tokio::test]
async fn adopting_the_common_versions_shows_the_machine_behind() {
    let (app, label) = registered_lab().await;
    let drift = app.backend.firmware_drift(Some(&label)).await.unwrap().remove(0);
    let bmc = component(&drift, "BMC");
    assert_eq!((bmc.no_baseline, bmc.on, bmc.behind), (3, 0, 0), "{bmc:?}");
    assert!(drift.components.iter().any(|c| c.component == "BIOS"), "from the BMC");
    assert!(drift.components.iter().any(|c| c.component.starts_with("Drive:")), "from the agent: {drift:?}");
    assert!(drift.components.iter().any(|c| c.component == "RAID.Integrated.1-1"));

    let t = app.backend.adopt_common_firmware(&admin(), &label).await.unwrap();
    let bmc = component(&t, "BMC");
    assert_eq!((bmc.baseline.as_deref(), bmc.on, bmc.behind, bmc.ahead), (Some("2.10.4"), 2, 1, 0));
    let behind = app.backend.firmware_servers(&label, Some("BMC"), Some(Drift::Behind)).await.unwrap();
    assert_eq!(behind.iter().map(|s| s.server.as_str()).collect::<Vec<_>>(), ["lab-06"]);
    assert_eq!(behind[0].version, "2.08.1");

    let lab06 = behind[0].server_id;
    let own = app.backend.server_firmware(lab06, Some(&label)).await.unwrap();
    let own_bmc = own.iter().find(|c| c.component == "BMC").unwrap();
    assert_eq!((own_bmc.drift, own_bmc.baseline.as_deref()), (Drift::Behind, Some("2.10.4")));

    let (to, details): (String, String) = sqlx::query_as("SELECT to_value, details FROM events WHERE kind = $1")
        .bind(EventKind::FirmwareBaselineSet.as_str())
        .fetch_one(app.backend.db.pool())
        .await
        .expect("audited");
    assert_eq!(to, label);
    assert!(details.contains("BMC=2.10.4"), "{details}");
}

/// Through the API: a viewer reads a type's drift and its CSV but may not set the
/// baseline; an admin sets it by hand (the older BMC firmware as the baseline makes
/// the others ahead); a version left empty removes it; a type that does not exist is
/// 404; both components and adopt_most_common is 422.
#[tokio::test]
async fn the_api_reads_drift_and_csv_and_sets_a_baseline() {
    let (app, label) = registered_lab().await;
    let path = format!("/api/v1/server-types/{label}/firmware");
    let viewer = api_token_for(&app, Role::Viewer).await;
    let admin = api_token_for(&app, Role::Admin).await;
    let client = reqwest::Client::new();
    let put = |token: &str, body: Value| {
        client.put(app.url(&format!("{path}/baseline"))).bearer_auth(token.to_string()).json(&body).send()
    };
    let refused = put(&viewer, json!({ "components": { "BMC": "2.08.1" } })).await.unwrap();
    assert_eq!(refused.status(), 403);
    let set = put(&admin, json!({ "components": { "BMC": "2.08.1", "BIOS": "" } })).await.unwrap();
    assert_eq!(set.status(), 200);
    let body: Value = set.json().await.unwrap();
    let bmc = body["components"].as_array().unwrap().iter().find(|c| c["component"] == "BMC").unwrap().clone();
    assert_eq!((bmc["on"].as_i64(), bmc["ahead"].as_i64()), (Some(1), Some(2)), "{bmc}");
    let bios = body["components"].as_array().unwrap().iter().find(|c| c["component"] == "BIOS").unwrap().clone();
    assert_eq!(bios["baseline"], Value::Null, "an empty version sets none");

    let read = client.get(app.url(&path)).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(read.status(), 200);
    let csv = client.get(app.url(&path)).bearer_auth(&viewer).header("accept", "text/csv").send().await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("server,server_id,component,version,baseline,drift\n"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("lab-06,") && l.contains(",BMC,2.08.1,2.08.1,on")), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("lab-01,") && l.contains(",BMC,2.10.4,2.08.1,ahead")), "{csv}");

    let missing = client.get(app.url("/api/v1/server-types/NO.SUCH.TYPE/firmware")).bearer_auth(&viewer).send();
    assert_eq!(missing.await.unwrap().status(), 404);
    let both = put(&admin, json!({ "components": { "BMC": "1" }, "adopt_most_common": true })).await.unwrap();
    assert_eq!(both.status(), 422);
}
