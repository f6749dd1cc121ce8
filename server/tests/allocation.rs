//! Subscriptions, reservations, allocation and release, through the service layer
//! (the pages and the REST API call the same functions), on SQLite or PostgreSQL.

mod common;

use app::backend::services::allocation::{AllocationRequest, NewSubscription};
use app::backend::services::{Actor, ServiceError, StateChange};
use app::domain::EventKind;
use app::domain::{Action, Role, ServerState};
use app::model::{Server, UserView};
use common::{TestApp, spawn_app, typed_available as pool};

fn admin() -> Actor {
    Actor::user("admin")
}

async fn tenant(app: &TestApp, name: &str) -> UserView {
    app.backend.create_user(&admin(), name, common::USER_PASSWORD, Role::Tenant).await.unwrap()
}

async fn user(app: &TestApp, name: &str, role: Role) -> UserView {
    app.backend.create_user(&admin(), name, common::USER_PASSWORD, role).await.unwrap()
}

async fn states(app: &TestApp, servers: &[Server]) -> Vec<(ServerState, Option<String>)> {
    let mut out = Vec::new();
    for s in servers {
        let s = app.backend.server(s.id).await.unwrap();
        out.push((s.state, s.reserved_for));
    }
    out
}

fn count(v: &[(ServerState, Option<String>)], state: ServerState, who: Option<&str>) -> usize {
    v.iter().filter(|(s, t)| *s == state && t.as_deref() == who).count()
}

fn subscribe(username: &str, server_type: &str, count: i64) -> NewSubscription {
    NewSubscription { username: username.into(), server_type: server_type.into(), count, ..Default::default() }
}

fn ask(tenant: Option<&str>, server_type: &str, count: i64) -> AllocationRequest {
    AllocationRequest {
        tenant: tenant.map(str::to_string),
        server_type: server_type.into(),
        count,
        image: None,
        ..Default::default()
    }
}

/// A subscription reserves at once, refills when a reserved server goes defective,
/// and gives everything back when it ends.
#[tokio::test]
async fn subscription_fill_refill_and_end() {
    let app = spawn_app().await;
    let (servers, label) = pool(&app, "s", 0, 5).await;
    tenant(&app, "acme").await;
    let sub = app.backend.create_subscription(&admin(), &subscribe("acme", &label, 3)).await.unwrap();
    assert_eq!((sub.filled, sub.reserved, sub.short), (3, 3, 0));
    let now = states(&app, &servers).await;
    assert_eq!(count(&now, ServerState::AvailableReserved, Some("acme")), 3);
    assert_eq!(count(&now, ServerState::Available, None), 2);

    // A reserved server turns out broken: it leaves, another takes its place.
    let broken = servers
        .iter()
        .find(|s| now[servers.iter().position(|x| x.id == s.id).unwrap()].0 == ServerState::AvailableReserved)
        .unwrap();
    let change = StateChange::new(Action::MarkDefective).because("fan failure");
    let after = app.backend.change_state(&admin(), broken.id, &change).await.unwrap();
    assert_eq!((after.state, after.reserved_for, after.subscription_id), (ServerState::Defective, None, None));
    let now = states(&app, &servers).await;
    assert_eq!(count(&now, ServerState::AvailableReserved, Some("acme")), 3, "refilled: {now:?}");
    assert_eq!(count(&now, ServerState::Available, None), 1);
    let events = app.backend.server_events(broken.id).await.unwrap();
    assert!(events.iter().any(|e| e.kind == EventKind::ReservationEnded), "{events:?}");

    // Ending returns the reserved servers to the pool.
    let ended = app.backend.end_subscription(&admin(), sub.id).await.unwrap();
    assert!(ended.ended_at.is_some());
    assert_eq!((ended.filled, ended.short), (0, 0));
    let now = states(&app, &servers).await;
    assert_eq!(count(&now, ServerState::Available, None), 4);
    assert_eq!(count(&now, ServerState::Defective, None), 1);
    // Ending twice is a conflict, not a second release.
    let again = app.backend.end_subscription(&admin(), sub.id).await.unwrap_err();
    assert!(matches!(again, ServiceError::Conflict { .. }), "{again:?}");
}

/// A subscription that cannot be filled says how short it is, and fills as servers
/// become available; shrinking gives reserved servers back.
#[tokio::test]
async fn short_subscription_fills_later_and_shrinks() {
    let app = spawn_app().await;
    let (servers, label) = pool(&app, "s", 1, 3).await;
    tenant(&app, "acme").await;
    // Take one server out of the pool first.
    let out = StateChange::new(Action::SetUnavailable);
    app.backend.change_state(&admin(), servers[2].id, &out).await.unwrap();
    let sub = app.backend.create_subscription(&admin(), &subscribe("acme", &label, 4)).await.unwrap();
    assert_eq!((sub.filled, sub.short), (2, 2));
    let back = StateChange::new(Action::SetAvailable);
    let s = app.backend.change_state(&admin(), servers[2].id, &back).await.unwrap();
    assert_eq!((s.state, s.reserved_for.as_deref()), (ServerState::AvailableReserved, Some("acme")));
    assert_eq!(app.backend.subscription(sub.id).await.unwrap().short, 1);

    let smaller = app.backend.resize_subscription(&admin(), sub.id, 1).await.unwrap();
    assert_eq!((smaller.filled, smaller.short), (1, 0));
    let now = states(&app, &servers).await;
    assert_eq!(count(&now, ServerState::Available, None), 2);
    // Bad sizes are field errors.
    for bad in [0, -1, 1_000_000] {
        let e = app.backend.resize_subscription(&admin(), sub.id, bad).await.unwrap_err();
        assert!(matches!(e, ServiceError::Invalid { field: "count", .. }), "{e:?}");
    }
}

/// Subscriptions are for tenants, of a known type, with an end after the start.
#[tokio::test]
async fn subscription_input_is_checked() {
    let app = spawn_app().await;
    let (_, label) = pool(&app, "s", 2, 1).await;
    tenant(&app, "acme").await;
    user(&app, "olga", Role::Operator).await;
    let cases = [
        (subscribe("nobody", &label, 1), "username"),
        (subscribe("olga", &label, 1), "username"),
        (subscribe("acme", "no-such-type", 1), "server_type"),
        (subscribe("acme", &label, 0), "count"),
        (NewSubscription { ends_at: Some(1), ..subscribe("acme", &label, 1) }, "ends_at"),
        (NewSubscription { servers: vec!["ghost".into()], ..subscribe("acme", "", 0) }, "servers"),
    ];
    for (new, field) in cases {
        match app.backend.create_subscription(&admin(), &new).await {
            Err(ServiceError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(app.backend.list_subscriptions(None).await.unwrap().is_empty(), "nothing was created");
}

/// A subscription of specific servers reserves exactly those.
#[tokio::test]
async fn pinned_subscription_reserves_its_servers() {
    let app = spawn_app().await;
    let (servers, _) = pool(&app, "s", 3, 3).await;
    tenant(&app, "acme").await;
    let new = NewSubscription {
        username: "acme".into(),
        servers: vec![servers[1].name.clone(), servers[2].name.clone()],
        ..Default::default()
    };
    let sub = app.backend.create_subscription(&admin(), &new).await.unwrap();
    assert_eq!((sub.count, sub.filled), (2, 2));
    assert_eq!(sub.servers, vec![servers[1].name.clone(), servers[2].name.clone()]);
    let now = states(&app, &servers).await;
    assert_eq!(now[0].0, ServerState::Available);
    assert_eq!(count(&now, ServerState::AvailableReserved, Some("acme")), 2);
}

/// All or nothing: a request larger than the pool fails naming what is missing and
/// changes nothing; defective, unavailable and other tenants' servers are never taken.
#[tokio::test]
async fn allocation_is_all_or_nothing() {
    let app = spawn_app().await;
    let (servers, label) = pool(&app, "s", 0, 6).await;
    let acme = tenant(&app, "acme").await;
    tenant(&app, "globex").await;
    app.backend.create_subscription(&admin(), &subscribe("globex", &label, 2)).await.unwrap();
    let defect = StateChange::new(Action::MarkDefective).because("bad RAM");
    app.backend.change_state(&admin(), servers[5].id, &defect).await.unwrap();
    let unavailable = StateChange::new(Action::SetUnavailable);
    app.backend.change_state(&admin(), servers[4].id, &unavailable).await.unwrap();
    let before = states(&app, &servers).await;
    // Two free servers: globex holds two, one is defective, one unavailable.
    match app.backend.allocate(&acme, &ask(None, &label, 3)).await {
        Err(ServiceError::InsufficientCapacity { requested: 3, missing: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(states(&app, &servers).await, before, "nothing changed");
    assert!(app.backend.list_deployments(&acme, None).await.unwrap().is_empty());

    let d = app.backend.allocate(&acme, &ask(None, &label, 2)).await.unwrap();
    assert_eq!((d.servers.len(), d.status.as_str(), d.username.as_str()), (2, "active", "acme"));
    assert!(d.servers.iter().all(|s| s.state == ServerState::Used));
    let now = states(&app, &servers).await;
    assert_eq!(count(&now, ServerState::Used, Some("acme")), 2);
    assert_eq!(count(&now, ServerState::AvailableReserved, Some("globex")), 2, "globex kept its reservation");
}

/// A tenant's own reserved servers go first, then available ones.
#[tokio::test]
async fn allocation_takes_own_reservations_first() {
    let app = spawn_app().await;
    let (servers, label) = pool(&app, "s", 1, 5).await;
    let acme = tenant(&app, "acme").await;
    app.backend.create_subscription(&admin(), &subscribe("acme", &label, 2)).await.unwrap();
    let reserved: Vec<i64> = app.backend.tenant_servers("acme").await.unwrap().iter().map(|s| s.id).collect();
    let d = app.backend.allocate(&acme, &ask(None, &label, 1)).await.unwrap();
    assert!(reserved.contains(&d.servers[0].id), "a reserved server was taken first");
    let d = app.backend.allocate(&acme, &ask(None, &label, 2)).await.unwrap();
    let ids: Vec<i64> = d.servers.iter().map(|s| s.id).collect();
    assert_eq!(ids.iter().filter(|i| reserved.contains(i)).count(), 1, "then the other reserved one, then the pool");
    let now = states(&app, &servers).await;
    assert_eq!(count(&now, ServerState::Used, Some("acme")), 3);
    assert_eq!(count(&now, ServerState::Available, None), 2);
}

/// Releasing moves the servers to cleaning and starts their cleaning jobs; a server
/// of a subscription comes back to its tenant after cleaning, one from the pool goes
/// back to the pool.
#[tokio::test]
async fn release_starts_cleaning_and_reserved_servers_come_back() {
    let app = spawn_app().await;
    let (servers, label) = pool(&app, "s", 2, 3).await;
    let acme = tenant(&app, "acme").await;
    let sub = app.backend.create_subscription(&admin(), &subscribe("acme", &label, 1)).await.unwrap();
    let d = app.backend.allocate(&acme, &ask(None, &label, 2)).await.unwrap();
    assert_eq!(app.backend.subscription(sub.id).await.unwrap().filled, 1, "in use still counts");

    // Release one server (named twice by a careless script: released once), then the rest.
    let first = d.servers[0].id;
    let d1 = app.backend.release(&acme, d.id, Some(&[first, first])).await.unwrap();
    assert_eq!((d1.servers.len(), d1.status.as_str()), (1, "active"));
    let d2 = app.backend.release(&acme, d.id, None).await.unwrap();
    assert_eq!((d2.servers.len(), d2.status.as_str()), (0, "released"));
    assert!(d2.released_at.is_some());
    for s in &d.servers {
        let server = app.backend.server(s.id).await.unwrap();
        assert_eq!(server.state, ServerState::Cleaning);
        let (job, _) = common::latest_job(&app, s.id).await;
        assert_eq!((job.kind.as_str(), job.status.as_str()), ("clean", "queued"));
        // The cleaning job finishes (as its runner would report).
        common::end_jobs(&app, s.id).await;
        let done = StateChange::new(Action::CleaningSucceeded);
        app.backend.change_state(&Actor::system("clean job"), s.id, &done).await.unwrap();
    }
    let now = states(&app, &servers).await;
    assert_eq!(count(&now, ServerState::AvailableReserved, Some("acme")), 1, "{now:?}");
    assert_eq!(count(&now, ServerState::Available, None), 2, "{now:?}");
    // A released deployment has nothing left to release.
    let e = app.backend.release(&acme, d.id, None).await.unwrap_err();
    assert!(matches!(e, ServiceError::Conflict { .. }), "{e:?}");
}

/// A tenant takes more servers in one deployment than one statement names (the
/// batch of 500 splits) and gives them all back: every server is used by them once,
/// with one audit event each way, and every one goes to cleaning with its job, none
/// lost or handled twice at the split.
#[tokio::test]
async fn a_deployment_larger_than_one_statement_is_allocated_and_released_whole() {
    let app = spawn_app().await;
    let n = app::backend::store::IDS_PER_STATEMENT + 1;
    let (servers, label) = pool(&app, "big", 3, n).await;
    let acme = tenant(&app, "acme").await;
    let d = app.backend.allocate(&acme, &ask(None, &label, n as i64)).await.unwrap();
    assert_eq!(d.servers.len(), n);
    assert_eq!(count(&states(&app, &servers).await, ServerState::Used, Some("acme")), n);
    let d = app.backend.release(&acme, d.id, None).await.unwrap();
    assert_eq!((d.servers.len(), d.status.as_str()), (0, "released"));
    for s in &servers {
        let server = app.backend.server(s.id).await.unwrap();
        assert_eq!((server.state, server.reserved_for.as_deref()), (ServerState::Cleaning, None), "{}", s.name);
        let (job, _) = common::latest_job(&app, s.id).await;
        assert_eq!((job.kind.as_str(), job.status.as_str()), ("clean", "queued"), "{}", s.name);
        let moves: Vec<(Option<String>, Option<String>)> = app
            .backend
            .server_events(s.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == EventKind::StateChanged)
            .map(|e| (e.from_value, e.to_value))
            .filter(|(_, to)| matches!(to.as_deref(), Some("used" | "cleaning")))
            .collect();
        let expected = [(Some("available"), Some("used")), (Some("used"), Some("cleaning"))]
            .map(|(a, b)| (a.map(String::from), b.map(String::from)));
        assert_eq!(moves, expected, "{}", s.name);
    }
}

/// Tenants act for themselves only and see only their own deployments; operators act
/// for a named tenant; viewers cannot allocate.
#[tokio::test]
async fn tenant_isolation() {
    let app = spawn_app().await;
    let (_, label) = pool(&app, "s", 4, 4).await;
    let acme = tenant(&app, "acme").await;
    let globex = tenant(&app, "globex").await;
    let olga = user(&app, "olga", Role::Operator).await;
    let vic = user(&app, "vic", Role::Viewer).await;

    let d = app.backend.allocate(&acme, &ask(None, &label, 1)).await.unwrap();
    // Globex can neither see nor release acme's deployment.
    assert!(matches!(app.backend.deployment(&globex, d.id).await, Err(ServiceError::NotFound { .. })));
    assert!(matches!(app.backend.release(&globex, d.id, None).await, Err(ServiceError::NotFound { .. })));
    assert!(app.backend.list_deployments(&globex, None).await.unwrap().is_empty());
    assert!(matches!(
        app.backend.allocate(&globex, &ask(Some("acme"), &label, 1)).await,
        Err(ServiceError::Forbidden { .. })
    ));
    assert!(matches!(app.backend.allocate(&vic, &ask(None, &label, 1)).await, Err(ServiceError::Forbidden { .. })));
    // An operator must name a tenant, and a real one.
    assert!(matches!(
        app.backend.allocate(&olga, &ask(None, &label, 1)).await,
        Err(ServiceError::Invalid { field: "username", .. })
    ));
    assert!(matches!(
        app.backend.allocate(&olga, &ask(Some("vic"), &label, 1)).await,
        Err(ServiceError::Invalid { field: "username", .. })
    ));
    let for_globex = app.backend.allocate(&olga, &ask(Some("globex"), &label, 2)).await.unwrap();
    assert_eq!((for_globex.username.as_str(), for_globex.created_by.as_str()), ("globex", "olga"));
    assert_eq!(app.backend.list_deployments(&olga, None).await.unwrap().len(), 2);
    assert_eq!(app.backend.list_deployments(&globex, None).await.unwrap().len(), 1);
    // The operator releases on the tenant's behalf.
    app.backend.release(&olga, for_globex.id, None).await.unwrap();
    // The admins' report shows usage per tenant.
    let usage = app.backend.tenant_usage().await.unwrap();
    let acme_usage = usage.iter().find(|u| u.username == "acme").unwrap();
    assert_eq!(acme_usage.used, 1);
    assert!(usage.iter().all(|u| u.username != "globex" || u.used == 0));
}

/// A subscription whose end passed is ended by the periodic reconciliation.
#[tokio::test]
async fn subscription_ends_at_its_end_date() {
    let app = spawn_app().await;
    let (servers, label) = pool(&app, "s", 0, 2).await;
    tenant(&app, "acme").await;
    let soon = app::backend::store::now_ms() + 300;
    let sub = app
        .backend
        .create_subscription(&admin(), &NewSubscription { ends_at: Some(soon), ..subscribe("acme", &label, 2) })
        .await
        .unwrap();
    assert_eq!(sub.filled, 2);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    app.backend.reconcile_subscriptions().await.unwrap();
    let sub = app.backend.subscription(sub.id).await.unwrap();
    assert!(sub.ended_at.is_some());
    let now = states(&app, &servers).await;
    assert_eq!(count(&now, ServerState::Available, None), 2);
}

/// An admin makes a server available at the moment another admin's subscription of
/// its type is being written: the move waits for the subscription, sees it, and the
/// server is reserved for it, not left in the pool while the tenant is short. (On
/// PostgreSQL such a move first reads no subscription and takes the type's shared
/// lock; the subscription committed meanwhile must still be reconciled.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_made_available_during_a_subscription_is_reserved_for_it() {
    use app::backend::store;
    let app = spawn_app().await;
    let (servers, label) = pool(&app, "s", 3, 1).await;
    tenant(&app, "acme").await;
    let out = StateChange::new(Action::SetUnavailable);
    app.backend.change_state(&admin(), servers[0].id, &out).await.unwrap();

    // The subscription's transaction, as `create_subscription` writes it: the type's
    // lock, then the row; not committed yet.
    let (written, written_id) = tokio::sync::oneshot::channel();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let db = app.backend.db.clone();
    let subscription = tokio::spawn(async move {
        db.transaction(move |tx| {
            Box::pin(async move {
                let type_id = store::server_types::id_by_label(tx, &label).await?.expect("the type");
                store::server_types::lock(tx, type_id).await?;
                let now = store::now_ms();
                let row = store::subscriptions::NewSubscription {
                    username: "acme",
                    server_type_id: type_id,
                    count: 1,
                    pinned: false,
                    starts_at: now,
                    ends_at: None,
                    created_by: "admin",
                };
                let sub = store::subscriptions::insert(tx, &row, now).await?;
                let _ = written.send(sub);
                let _ = released.await;
                Ok::<_, app::backend::DbError>(sub)
            })
        })
        .await
    });
    let sub = written_id.await.unwrap();

    let backend = app.backend.clone();
    let id = servers[0].id;
    let back =
        tokio::spawn(async move { backend.change_state(&admin(), id, &StateChange::new(Action::SetAvailable)).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!back.is_finished(), "the move waits for the subscription being written");
    release.send(()).unwrap();
    assert_eq!(subscription.await.unwrap().unwrap(), sub);

    let s = back.await.unwrap().unwrap();
    assert_eq!(
        (s.state, s.reserved_for.as_deref(), s.subscription_id),
        (ServerState::AvailableReserved, Some("acme"), Some(sub))
    );
    assert_eq!(app.backend.subscription(sub).await.unwrap().short, 0);
}
