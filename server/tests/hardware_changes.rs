//! Hardware changes need a look: a registration that finds hardware different from
//! what was last accepted keeps the server out of the pool until an admin or operator
//! acknowledges the changes (with a comment, audited), on the page or through the API.

mod common;

use app::backend::services::{Actor, StateChange};
use app::domain::{Action, EventKind, Role, ServerState};
use common::{TestApp, api_token_for as token_for, spawn_app_with, wait_for_server};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// One lab machine, registered and unavailable; returns its id.
async fn registered(app: &TestApp) -> i64 {
    let id = app.backend.list_servers(&Default::default()).await.unwrap()[0].id;
    let s = wait_for_server(app, id, WAIT, |s| s.state == ServerState::Unavailable).await;
    assert!(s.hardware_changes.is_empty(), "the first inventory is accepted as it is");
    id
}

async fn lab_app() -> TestApp {
    spawn_app_with(|s| {
        s.workers = 4;
        s.demo_lab = 1;
        s.demo_lab_boot = Duration::from_millis(100);
    })
    .await
}

/// Re-registers the server (from unavailable or used) and waits until it is back in
/// `back_to` with the registration's inventory recorded.
async fn re_register(app: &TestApp, id: i64, back_to: ServerState) -> app::model::Server {
    let before = app.backend.server(id).await.unwrap();
    app.backend.change_state(&Actor::user("admin"), id, &StateChange::new(Action::ReRegister)).await.unwrap();
    wait_for_server(app, id, WAIT, |s| s.state == back_to && s.generation > before.generation + 1).await
}

/// An operator pulled a failing disk and the machine was re-registered: the server
/// shows the missing disk and cannot be set available; an acknowledgement needs a
/// comment and the generation that was looked at; once acknowledged (audited with the
/// comment and the changes) it is set available as usual.
#[tokio::test]
async fn a_removed_disk_keeps_the_server_out_of_the_pool_until_someone_acknowledges_it() {
    let app = lab_app().await;
    let id = registered(&app).await;
    let mut hw = app.lab[0].hardware();
    let pulled = hw.disks.remove(0);
    app.lab[0].set_hardware(hw);
    let s = re_register(&app, id, ServerState::Unavailable).await;
    let disk = s.hardware_changes.iter().find(|c| c.component == "disk").expect("the disk change");
    assert_eq!((disk.key.as_str(), disk.kind()), (pulled.serial.as_str(), "removed"));
    assert!(s.hardware_changes.iter().any(|c| c.component == "type"), "one disk fewer is another type");

    let admin = Actor::user("admin");
    let err = app.backend.change_state(&admin, id, &StateChange::new(Action::SetAvailable)).await.unwrap_err();
    assert!(err.to_string().contains("acknowledge"), "{err}");

    let operator = app::model::UserView { username: "olga".into(), role: Role::Operator, ..admin_view() };
    let err = app.backend.acknowledge_hardware(&operator, id, s.generation, "  ").await.unwrap_err();
    assert!(err.to_string().contains("comment"), "{err}");
    let err = app.backend.acknowledge_hardware(&operator, id, s.generation - 1, "disk pulled").await.unwrap_err();
    assert!(err.to_string().contains("changed by someone else"), "{err}");
    let viewer = app::model::UserView { username: "vic".into(), role: Role::Viewer, ..admin_view() };
    assert!(app.backend.acknowledge_hardware(&viewer, id, s.generation, "looks fine").await.is_err());

    let acked = app.backend.acknowledge_hardware(&operator, id, s.generation, "INC-1234: disk pulled").await.unwrap();
    assert!(acked.hardware_changes.is_empty());
    let events = app.backend.server_events(id).await.unwrap();
    let ack = events.iter().rev().find(|e| e.kind == EventKind::HardwareAcknowledged).expect("audited");
    assert_eq!(ack.actor, "olga");
    assert_eq!(ack.reason.as_deref(), Some("INC-1234: disk pulled"));
    assert!(ack.details.as_deref().unwrap().contains(&pulled.serial), "{:?}", ack.details);
    let err = app.backend.acknowledge_hardware(&operator, id, acked.generation, "again").await.unwrap_err();
    assert!(err.to_string().contains("no hardware changes"), "{err}");

    let s = app.backend.change_state(&admin, id, &StateChange::new(Action::SetAvailable)).await.unwrap();
    assert_eq!(s.state, ServerState::Available);
}

/// A DIMM was swapped for a larger one and swapped back before anyone looked: the
/// second registration finds the hardware as accepted, and nothing waits for a look.
#[tokio::test]
async fn hardware_changed_back_needs_no_acknowledgement() {
    let app = lab_app().await;
    let id = registered(&app).await;
    let original = app.lab[0].hardware();
    let mut bigger = original.clone();
    bigger.memory[0].size_mib *= 2;
    app.lab[0].set_hardware(bigger);
    let s = re_register(&app, id, ServerState::Unavailable).await;
    assert!(s.hardware_changes.iter().any(|c| c.component == "memory"), "{:?}", s.hardware_changes);
    assert!(s.hardware_changes.iter().any(|c| c.component == "type"), "the type changed with the RAM");
    app.lab[0].set_hardware(original);
    let s = re_register(&app, id, ServerState::Unavailable).await;
    assert!(s.hardware_changes.is_empty(), "{:?}", s.hardware_changes);
    let s = app.backend.change_state(&Actor::user("admin"), id, &StateChange::new(Action::SetAvailable)).await;
    assert_eq!(s.unwrap().state, ServerState::Available);
}

/// A tenant's server got a new NIC and was re-registered while in use: it stays the
/// tenant's (`used`) and shows the change; after the release its cleaning ends in
/// unavailable, not in the pool, until someone acknowledges the NIC.
#[tokio::test]
async fn a_used_server_with_new_hardware_stays_used_and_is_not_returned_to_the_pool_unseen() {
    let app = lab_app().await;
    let id = registered(&app).await;
    let (admin, system) = (Actor::user("admin"), Actor::system("allocator"));
    app.backend.change_state(&admin, id, &StateChange::new(Action::SetAvailable)).await.unwrap();
    app.backend.change_state(&system, id, &StateChange::new(Action::Allocate)).await.unwrap();
    let mut hw = app.lab[0].hardware();
    let mut nic = hw.nics[0].clone();
    nic.mac = "02:aa:bb:cc:dd:99".into();
    nic.name = "eth9".into();
    hw.nics.push(nic);
    app.lab[0].set_hardware(hw);
    let s = re_register(&app, id, ServerState::Used).await;
    assert!(s.hardware_changes.iter().any(|c| c.component == "nic" && c.kind() == "added"), "{:?}", s.hardware_changes);

    app.backend.change_state(&system, id, &StateChange::new(Action::Release)).await.unwrap();
    let s = wait_for_server(&app, id, WAIT, |s| s.state != ServerState::Cleaning).await;
    assert_eq!(s.state, ServerState::Unavailable, "{:?}", s.last_error);
    assert!(!s.hardware_changes.is_empty());
}

/// Through the API: a viewer's token may not acknowledge (403); an operator's may,
/// with the generation it read (a stale one is 409); the answer shows no changes left.
#[tokio::test]
async fn the_api_acknowledges_with_the_generation_it_read() {
    let app = lab_app().await;
    let id = registered(&app).await;
    let mut hw = app.lab[0].hardware();
    hw.disks.pop();
    app.lab[0].set_hardware(hw);
    let s = re_register(&app, id, ServerState::Unavailable).await;
    let path = format!("/api/v1/servers/{id}/hardware-acknowledgement");
    let viewer = token_for(&app, Role::Viewer).await;
    let (status, _) = post(&app, &viewer, &path, json!({ "generation": s.generation, "comment": "ok" })).await;
    assert_eq!(status, 403);
    let operator = token_for(&app, Role::Operator).await;
    let (status, body) = post(&app, &operator, &path, json!({ "generation": s.generation - 1, "comment": "ok" })).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = post(&app, &operator, &path, json!({ "generation": s.generation, "comment": " " })).await;
    assert_eq!(status, 422, "a comment is required: {body}");
    let (status, body) =
        post(&app, &operator, &path, json!({ "generation": s.generation, "comment": "disk retired" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hardware_changes"], json!([]));
    let admin = app::model::UserView { username: "admin".into(), ..admin_view() };
    let server = app.backend.server_view(&admin, id).await.unwrap().server;
    assert!(server.hardware_changes.is_empty());
}

/// The admin as services see a caller.
fn admin_view() -> app::model::UserView {
    app::model::UserView { id: 1, username: "admin".into(), role: Role::Admin, disabled: false }
}

/// POSTs `body` with `token`; the status and the JSON answer.
async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new().post(app.url(path)).bearer_auth(token).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}
