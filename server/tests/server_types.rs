//! Server types derived from inventory, stored and versioned in the database.

mod common;
use app::backend::services::Actor;
use app::domain::EventKind;
use app::domain::ServerState;
use app::domain::inventory::{Cpu, Disk, DiskKind, Gpu, Inventory, MemoryModule, Nic, SystemInfo};
use common::{server_in_state, spawn_app};

fn inventory(serial: &str, nic_speed: u32) -> Inventory {
    Inventory {
        system: SystemInfo {
            manufacturer: "HPE".into(),
            model: "DL360".into(),
            serial_number: serial.into(),
            uuid: serial.into(),
            bios_version: "U32".into(),
        },
        cpus: vec![Cpu { socket: "CPU1".into(), model: "EPYC 7313".into(), cores: 16, threads: 32 }],
        memory: (0..4).map(|i| MemoryModule { slot: format!("DIMM{i}"), size_mib: 16384 }).collect(),
        disks: vec![Disk {
            model: "MZ7L3".into(),
            serial: format!("{serial}-d0"),
            size_bytes: 480_000_000_000,
            kind: DiskKind::Ssd,
        }],
        nics: vec![Nic {
            name: "eth0".into(),
            mac: format!("02:00:00:00:00:{:02x}", serial.len()),
            speed_mbps: nic_speed,
            switch: None,
            switch_port: None,
        }],
        gpus: vec![],
        firmware: vec![],
    }
}

/// Same hardware, same type; other hardware under the same label gets `.v2`; an
/// upgrade moves the server to a new type and audits old -> new with the diff.
#[tokio::test]
async fn types_are_shared_versioned_and_audited() {
    let app = spawn_app().await;
    let sys = Actor::system("register job");
    let a = server_in_state(&app, "a", ServerState::Registering).await;
    let b = server_in_state(&app, "b", ServerState::Registering).await;
    let c = server_in_state(&app, "c", ServerState::Registering).await;
    let (a1, _) = app.backend.record_inventory(&sys, a.id, &inventory("A", 25_000), 'M').await.unwrap();
    let (b1, _) = app.backend.record_inventory(&sys, b.id, &inventory("B", 25_000), 'M').await.unwrap();
    let (c1, _) = app.backend.record_inventory(&sys, c.id, &inventory("C", 100_000), 'M').await.unwrap();
    assert_eq!(a1.server_type.as_deref(), Some("M.32.64.1"));
    assert_eq!(b1.server_type.as_deref(), Some("M.32.64.1"));
    assert_eq!(c1.server_type.as_deref(), Some("M.32.64.1.v2"));
    assert_eq!(a1.serial_number.as_deref(), Some("A"));

    // Upgrade: a GPU is added; re-registration records the change.
    let mut upgraded = inventory("A", 25_000);
    upgraded.gpus.push(Gpu { slot: "PCIe2".into(), model: "L40S".into() });
    let (a2, diff) = app.backend.record_inventory(&sys, a.id, &upgraded, 'M').await.unwrap();
    assert_eq!(a2.server_type.as_deref(), Some("M.32.64.1G"));
    assert_eq!(diff.len(), 1);
    assert_eq!(diff[0].kind(), "added");
    let events = app.backend.server_events(a.id).await.unwrap();
    let change = events.iter().rev().find(|e| e.kind == EventKind::TypeChanged).unwrap();
    assert_eq!(change.from_value.as_deref(), Some("M.32.64.1"));
    assert_eq!(change.to_value.as_deref(), Some("M.32.64.1G"));
    assert!(
        events.iter().any(|e| e.kind == EventKind::Inventory && e.details.as_deref().unwrap_or("").contains("L40S"))
    );
}

/// The utilization report counts types x states with totals and utilization.
#[tokio::test]
async fn utilization_counts() {
    let app = spawn_app().await;
    let sys = Actor::system("register job");
    for (i, state) in [ServerState::Used, ServerState::Used, ServerState::Available, ServerState::Decommissioned]
        .into_iter()
        .enumerate()
    {
        let s = server_in_state(&app, &format!("s{i}"), ServerState::Registering).await;
        app.backend.record_inventory(&sys, s.id, &inventory(&format!("S{i}"), 25_000), 'M').await.unwrap();
        sqlx::query("UPDATE servers SET state = $1 WHERE id = $2")
            .bind(state.as_str())
            .bind(s.id)
            .execute(app.backend.db.pool())
            .await
            .unwrap();
    }
    server_in_state(&app, "new", ServerState::Registering).await;
    let u = app.backend.utilization().await.unwrap();
    assert_eq!(u.rows.len(), 2);
    let typed = &u.rows[0];
    assert_eq!(typed.server_type.as_deref(), Some("M.32.64.1"));
    assert_eq!(typed.count(ServerState::Used), 2);
    assert_eq!(typed.total, 4);
    assert!((typed.utilization - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(u.rows[1].server_type, None);
    assert_eq!(u.totals.total, 5);

    // The report's numbers link to these lists: by type and state, and untyped.
    use app::backend::store::servers::ListFilter;
    let used =
        ListFilter { state: Some(ServerState::Used), server_type: Some("M.32.64.1".into()), ..Default::default() };
    assert_eq!(app.backend.list_servers(&used).await.unwrap().len(), 2);
    let untyped = ListFilter { state: None, server_type: Some(String::new()), ..Default::default() };
    let list = app.backend.list_servers(&untyped).await.unwrap();
    assert_eq!(list.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["new"]);
}
