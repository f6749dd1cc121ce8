//! The lifecycle service on a real database (SQLite or PostgreSQL, per RACKSTATE_TEST_DB):
//! the transition table enforced pair by pair, audit, generations, races, types.

mod common;
use app::backend::services::{Actor, NewServer, ServiceError, StateChange};
use app::domain::EventKind;
use app::domain::JobKind;
use app::domain::{Action, ServerState, TRANSITIONS, Trigger};
use common::{event_count, server_in_state, spawn_app};

fn actor_for(by: Trigger) -> Actor {
    match by {
        Trigger::User => Actor::user("admin"),
        Trigger::System => Actor::system("test worker"),
    }
}

/// Every (state, action, trigger): listed ones move the server, bump the generation
/// by one and write one event; all others are refused and change nothing.
#[tokio::test]
async fn every_pair_against_the_database() {
    let app = spawn_app().await;
    let mut n = 0;
    for state in ServerState::ALL {
        for action in Action::ALL {
            for by in [Trigger::User, Trigger::System] {
                n += 1;
                let s = server_in_state(&app, &format!("s{n}"), state).await;
                let before_events = event_count(&app, s.id).await;
                let mut change = StateChange::new(action).at_generation(s.generation).because("test reason");
                change.reserved_for_requester = true;
                let got = app.backend.change_state(&actor_for(by), s.id, &change).await;
                let after = app.backend.server(s.id).await.unwrap();
                let row = TRANSITIONS.iter().find(|t| t.from == state && t.action == action && t.by == by);
                match (row, got) {
                    (Some(t), Ok(moved)) => {
                        assert_eq!(moved.state, t.to, "{state} {action} {by:?}");
                        assert_eq!(after.generation, s.generation + 1);
                        // Decommissioning also records that the BMC credentials were forgotten.
                        let written = if action == Action::DecommissionSucceeded { 2 } else { 1 };
                        assert_eq!(event_count(&app, s.id).await, before_events + written);
                    }
                    (None, Err(ServiceError::IllegalTransition(e))) => {
                        assert_eq!((e.state, e.action), (state, action));
                        assert_eq!(after, s, "a refused change wrote something");
                        assert_eq!(event_count(&app, s.id).await, before_events);
                    }
                    (row, got) => panic!("{state} {action} {by:?}: table says {row:?}, service said {got:?}"),
                }
            }
        }
    }
}

/// Adding a server puts it in registering with an "added" event.
#[tokio::test]
async fn add_server_starts_registering() {
    let app = spawn_app().await;
    let new = NewServer {
        name: "r1-u01".into(),
        bmc_address: "10.0.0.5".into(),
        datacenter: "dc1".into(),
        rack: "r1".into(),
        ..Default::default()
    };
    let s = app.backend.add_server(&Actor::user("admin"), &new).await.unwrap();
    assert_eq!(s.state, ServerState::Registering);
    assert_eq!(s.generation, 1);
    let events = app.backend.server_events(s.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::Added);
    assert_eq!(events[0].actor, "admin");
    // Adding queues the registration job in the same transaction.
    assert!(app.backend.has_active_job(s.id).await.unwrap());
    assert_eq!(common::latest_job(&app, s.id).await.0.kind, JobKind::Register);
}

/// TLS verification of the BMC is on unless the form's box says otherwise.
#[tokio::test]
async fn add_server_tls_verification_from_the_form() {
    let app = spawn_app().await;
    let client = app.client_for(app::domain::Role::Admin).await;
    let form = |name: &'static str, skip: bool| {
        let address = if skip { "10.0.0.6" } else { "10.0.0.7" };
        let mut f = vec![("name", name), ("bmc_address", address), ("bmc_username", "root"), ("bmc_password", "pw")];
        f.extend([("datacenter", ""), ("rack", "")]);
        if skip {
            f.push(("bmc_skip_tls_verify", "on"));
        }
        f
    };
    for (name, skip) in [("tls-on", false), ("tls-off", true)] {
        let resp = client.post(app.url("/api/add_server")).form(&form(name, skip)).send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "{text}");
        let s: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(s["bmc_verify_tls"], !skip);
    }
}

/// Bad input is refused with the field named, and nothing is stored.
#[tokio::test]
async fn add_server_validates() {
    let app = spawn_app().await;
    let admin = Actor::user("admin");
    let bad_name = NewServer { name: "has space".into(), bmc_address: "10.0.0.5".into(), ..Default::default() };
    let e = app.backend.add_server(&admin, &bad_name).await.unwrap_err();
    assert!(matches!(e, ServiceError::Invalid { field: "name", .. }), "{e:?}");
    let no_bmc = NewServer { name: "ok".into(), ..Default::default() };
    let e = app.backend.add_server(&admin, &no_bmc).await.unwrap_err();
    assert!(matches!(e, ServiceError::Invalid { field: "bmc_address", .. }), "{e:?}");
    let good = NewServer { name: "ok".into(), bmc_address: "10.0.0.5".into(), ..Default::default() };
    app.backend.add_server(&admin, &good).await.unwrap();
    let again = NewServer { bmc_address: "10.0.0.8".into(), ..good.clone() };
    let e = app.backend.add_server(&admin, &again).await.unwrap_err();
    assert!(e.to_string().contains("exists already"), "{e}");
    assert_eq!(app.backend.servers_total().await.unwrap(), 1);
}

/// A stale generation is a conflict, never a silent overwrite.
#[tokio::test]
async fn stale_generation_conflicts() {
    let app = spawn_app().await;
    let s = server_in_state(&app, "s", ServerState::Unavailable).await;
    let admin = Actor::user("admin");
    app.backend
        .change_state(&admin, s.id, &StateChange::new(Action::SetAvailable).at_generation(s.generation))
        .await
        .unwrap();
    let e = app
        .backend
        .change_state(&admin, s.id, &StateChange::new(Action::MarkDefective).at_generation(s.generation).because("fan"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "conflict", "{e}");
    assert!(e.to_string().contains("now available"), "{e}");
    assert_eq!(app.backend.server(s.id).await.unwrap().state, ServerState::Available);
}

/// Ten admins press "Unavailable" on the same available server at the same moment:
/// one move happens, once, with one audit line; the nine others are told the server
/// changed (or is unavailable already), and nothing is written twice (on PostgreSQL
/// the reads do not lock the row: the move's one statement refuses a move decided on
/// a row someone else has moved since).
#[tokio::test]
async fn simultaneous_moves_of_one_server_move_it_once() {
    let app = spawn_app().await;
    let s = server_in_state(&app, "s", ServerState::Available).await;
    let before_events = event_count(&app, s.id).await;
    let moves: Vec<_> = (0..10)
        .map(|_| {
            let backend = app.backend.clone();
            tokio::spawn(async move {
                backend.change_state(&Actor::user("admin"), s.id, &StateChange::new(Action::SetUnavailable)).await
            })
        })
        .collect();
    let mut moved = 0;
    for task in moves {
        match task.await.expect("the task ran") {
            Ok(server) => {
                assert_eq!(server.state, ServerState::Unavailable);
                moved += 1;
            }
            Err(e) => assert!(matches!(e.code(), "conflict" | "illegal_transition"), "{e}"),
        }
    }
    assert_eq!(moved, 1);
    let after = app.backend.server(s.id).await.unwrap();
    assert_eq!((after.state, after.generation), (ServerState::Unavailable, s.generation + 1));
    assert_eq!(event_count(&app, s.id).await, before_events + 1);
}

/// The move and its audit event go in one round trip: both are written, or (at a
/// stale generation or state) neither.
#[tokio::test]
async fn a_move_and_its_event_are_written_together() {
    use app::backend::store::{events::NewEvent, servers};
    let app = spawn_app().await;
    let s = server_in_state(&app, "s", ServerState::Unavailable).await;
    let events = event_count(&app, s.id).await;
    let event = NewEvent {
        server_id: Some(s.id),
        actor: "test",
        kind: EventKind::StateChanged,
        from_value: Some("unavailable"),
        to_value: Some("available"),
        reason: Some("why"),
        details: None,
    };
    let mv = |generation, from| servers::Move {
        id: s.id,
        generation,
        from,
        to: ServerState::Available,
        last_error: servers::LastError::Keep,
        power: None,
    };
    let (stale, wrong) = (mv(s.generation + 1, s.state), mv(s.generation, ServerState::Used));
    let again = event.clone();
    let (stale_generation, wrong_state) = app
        .backend
        .db
        .transaction(move |tx| {
            Box::pin(async move {
                let stale_generation = servers::move_audited(tx, &stale, &event, 5).await?;
                let wrong_state = servers::move_audited(tx, &wrong, &event, 5).await?;
                Ok::<_, app::backend::DbError>((stale_generation, wrong_state))
            })
        })
        .await
        .unwrap();
    assert!(!stale_generation && !wrong_state);
    assert_eq!(event_count(&app, s.id).await, events, "no event without the move");
    assert_eq!(app.backend.server(s.id).await.unwrap().generation, s.generation);

    let right = mv(s.generation, s.state);
    let moved = app
        .backend
        .db
        .transaction(move |tx| Box::pin(async move { servers::move_audited(tx, &right, &again, 5).await }))
        .await
        .unwrap();
    assert!(moved);
    let after = app.backend.server(s.id).await.unwrap();
    assert_eq!((after.state, after.generation, after.updated_at), (ServerState::Available, s.generation + 1, 5));
    let all = app.backend.server_events(s.id).await.unwrap();
    assert_eq!(all.len(), events + 1);
    let last = all.last().unwrap();
    assert_eq!((last.kind.as_str(), last.reason.as_deref(), last.at), ("state_changed", Some("why"), 5));
}

/// A job's last move carries the power its BMC showed at the end: the move writes it
/// (as it returns it); a move refused as stale writes no power either.
#[tokio::test]
async fn a_move_writes_the_power_it_carries_and_a_refused_one_does_not() {
    use app::domain::power::{Health, PowerState};
    let app = spawn_app().await;
    let s = server_in_state(&app, "s", ServerState::Unavailable).await;
    let admin = Actor::user("admin");
    let stale = StateChange::new(Action::SetAvailable)
        .at_generation(s.generation + 1)
        .with_power(PowerState::On, Health::Critical);
    assert_eq!(app.backend.change_state(&admin, s.id, &stale).await.unwrap_err().code(), "conflict");
    let kept = app.backend.server(s.id).await.unwrap();
    assert_eq!((kept.power_state, kept.health), (s.power_state, s.health), "a refused move wrote power");
    let change =
        StateChange::new(Action::SetAvailable).at_generation(s.generation).with_power(PowerState::Off, Health::Warning);
    let moved = app.backend.change_state(&admin, s.id, &change).await.unwrap();
    let stored = app.backend.server(s.id).await.unwrap();
    assert_eq!(
        (stored.state, stored.power_state, stored.health),
        (ServerState::Available, PowerState::Off, Health::Warning)
    );
    assert_eq!(moved, stored, "the move returns the row as written");
}

/// Marking defective asks what is wrong.
#[tokio::test]
async fn defective_needs_a_reason() {
    let app = spawn_app().await;
    let s = server_in_state(&app, "s", ServerState::Available).await;
    let e = app
        .backend
        .change_state(&Actor::user("admin"), s.id, &StateChange::new(Action::MarkDefective))
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::Invalid { field: "reason", .. }));
}

/// While a job runs on a registering server, it cannot be marked defective; once the
/// job failed it can.
#[tokio::test]
async fn running_job_blocks_manual_buttons() {
    let app = spawn_app().await;
    let s = server_in_state(&app, "s", ServerState::Registering).await;
    sqlx::query("INSERT INTO jobs (server_id, kind, status, run_after, created_at, updated_at) VALUES ($1, 'register', 'running', 0, 0, 0)")
        .bind(s.id)
        .execute(app.backend.db.pool())
        .await
        .unwrap();
    let change = StateChange::new(Action::MarkDefective).because("no POST");
    let e = app.backend.change_state(&Actor::user("admin"), s.id, &change).await.unwrap_err();
    assert!(e.to_string().contains("still running"), "{e}");
    sqlx::query("UPDATE jobs SET status = 'failed' WHERE server_id = $1")
        .bind(s.id)
        .execute(app.backend.db.pool())
        .await
        .unwrap();
    let s = app.backend.change_state(&Actor::user("admin"), s.id, &change).await.unwrap();
    assert_eq!(s.state, ServerState::Defective);
}

/// A failure records last_error; the next operation clears it.
#[tokio::test]
async fn last_error_belongs_to_its_operation() {
    let app = spawn_app().await;
    let s = server_in_state(&app, "s", ServerState::Registering).await;
    let sys = Actor::system("register job 1");
    let mut failed = StateChange::new(Action::RegistrationFailed).because("BMC 10.0.0.5: timed out");
    failed.re_registration = true;
    let s2 = app.backend.change_state(&sys, s.id, &failed).await.unwrap();
    assert_eq!(s2.state, ServerState::Unavailable);
    assert_eq!(s2.last_error.as_deref(), Some("BMC 10.0.0.5: timed out"));
    let s3 = app.backend.change_state(&Actor::user("op"), s.id, &StateChange::new(Action::ReRegister)).await.unwrap();
    assert_eq!(s3.state, ServerState::Registering);
    assert_eq!(s3.last_error, None);
}

/// 50 concurrent conflicting changes on one server: exactly one wins, the others are
/// told why, and exactly one event is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_racing_changes_one_winner() {
    let app = spawn_app().await;
    let s = server_in_state(&app, "contended", ServerState::Unavailable).await;
    let events_before = event_count(&app, s.id).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let backend = app.backend.clone();
        let generation = s.generation;
        tasks.push(tokio::spawn(async move {
            let change = match i % 3 {
                0 => StateChange::new(Action::SetAvailable),
                1 => StateChange::new(Action::MarkDefective).because(format!("admin {i} saw a fault")),
                _ => StateChange::new(Action::RemoveFromRack),
            };
            backend.change_state(&Actor::user(format!("admin{i}")), s.id, &change.at_generation(generation)).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(e) => assert_eq!(e.code(), "conflict", "loser got {e}"),
        }
    }
    assert_eq!(wins, 1);
    let after = app.backend.server(s.id).await.unwrap();
    assert_eq!(after.generation, s.generation + 1);
    assert_eq!(event_count(&app, s.id).await, events_before + 1);
}

/// Audit events cannot be changed or deleted, even by SQL from elsewhere.
#[tokio::test]
async fn audit_is_append_only() {
    let app = spawn_app().await;
    let s = server_in_state(&app, "s", ServerState::Unavailable).await;
    let pool = app.backend.db.pool();
    assert!(sqlx::query("DELETE FROM events WHERE server_id = $1").bind(s.id).execute(pool).await.is_err());
    assert!(sqlx::query("UPDATE events SET actor = 'mallory'").execute(pool).await.is_err());
    assert_eq!(event_count(&app, s.id).await, 1);
}

/// BMC passwords are sealed at rest; revealing them is audited.
#[tokio::test]
async fn bmc_credentials_sealed_and_reveal_audited() {
    use app::backend::secrets::SecretString;
    let app = spawn_app().await;
    let new = NewServer {
        name: "sealed".into(),
        bmc_address: "10.0.0.9".into(),
        bmc_username: "root".into(),
        bmc_password: Some(SecretString::new("calvin-the-password")),
        ..Default::default()
    };
    let s = app.backend.add_server(&Actor::user("admin"), &new).await.unwrap();
    let stored: Vec<u8> = sqlx::query_scalar("SELECT bmc_secret FROM servers WHERE id = $1")
        .bind(s.id)
        .fetch_one(app.backend.db.pool())
        .await
        .unwrap();
    assert!(!stored.windows(6).any(|w| w == b"calvin"), "password stored in clear");
    let before = event_count(&app, s.id).await;
    let c = app.backend.reveal_bmc_credentials(&Actor::user("admin"), s.id).await.unwrap();
    assert_eq!((c.address.as_str(), c.username.as_str()), ("10.0.0.9", "root"));
    assert_eq!(c.password.unwrap().expose(), "calvin-the-password");
    let events = app.backend.server_events(s.id).await.unwrap();
    assert_eq!(events.len(), before + 1);
    assert_eq!(events.last().unwrap().kind, EventKind::CredentialsRevealed);
    assert_eq!(events.last().unwrap().actor, "admin");
    let json = serde_json::to_string(&app.backend.server(s.id).await.unwrap()).unwrap();
    assert!(!json.contains("calvin"));
}

/// Servers removed from the rack leave the default list but not the database: asked
/// for by state they are listed, and their audit stays readable.
#[tokio::test]
async fn removed_from_rack_is_hidden_by_default() {
    let app = spawn_app().await;
    let kept = server_in_state(&app, "kept", ServerState::Unavailable).await;
    let gone = server_in_state(&app, "gone", ServerState::Unavailable).await;
    app.backend.change_state(&Actor::user("admin"), gone.id, &StateChange::new(Action::RemoveFromRack)).await.unwrap();
    let default: Vec<i64> = app.backend.list_servers(&Default::default()).await.unwrap().iter().map(|s| s.id).collect();
    assert_eq!(default, vec![kept.id]);
    let filter =
        app::backend::store::servers::ListFilter { state: Some(ServerState::RemovedFromRack), ..Default::default() };
    let removed: Vec<i64> = app.backend.list_servers(&filter).await.unwrap().iter().map(|s| s.id).collect();
    assert_eq!(removed, vec![gone.id]);
    assert!(
        app.backend
            .server_events(gone.id)
            .await
            .unwrap()
            .iter()
            .any(|e| e.to_value.as_deref() == Some("removed_from_rack"))
    );
}

/// The Available button from unavailable needs the admin's confirmation that the
/// disks and switch interfaces were checked (the page asks); without it, 422 and no change.
#[tokio::test]
async fn available_from_unavailable_needs_the_check() {
    let app = spawn_app().await;
    let s = server_in_state(&app, "check", ServerState::Unavailable).await;
    let admin = app.client_for(app::domain::Role::Admin).await;
    let form = |checked: bool| {
        let mut f = vec![
            ("id", s.id.to_string()),
            ("action", "set_available".to_string()),
            ("generation", s.generation.to_string()),
        ];
        if checked {
            f.push(("checked", "on".to_string()));
        }
        f
    };
    let resp = admin.post(app.url("/api/set_server_state")).form(&form(false)).send().await.unwrap();
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap().contains("disks and switch interfaces"));
    assert_eq!(app.backend.server(s.id).await.unwrap().state, ServerState::Unavailable);
    let resp = admin.post(app.url("/api/set_server_state")).form(&form(true)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(app.backend.server(s.id).await.unwrap().state, ServerState::Available);
}

/// A server function called with an argument missing or of the wrong type, or with a
/// body it cannot read, answers 400 with the reason, not 500.
#[tokio::test]
async fn server_function_input_errors_are_400() {
    let app = spawn_app().await;
    let client = app.client_for(app::domain::Role::Admin).await;
    let missing = [("name", "x"), ("bmc_address", "10.0.0.5"), ("bmc_username", "root"), ("bmc_password", "pw")];
    let resp = client.post(app.url("/api/add_server")).form(&missing).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("datacenter"));
    let resp = client
        .post(app.url("/api/start_registration"))
        .form(&[("id", "seven"), ("generation", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = client
        .post(app.url("/api/start_registration"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(app.backend.servers_total().await.unwrap(), 0);
}
