//! The server list (search over name, serial, BMC address and MAC; location filters;
//! sorting; paging), bulk actions with each server's outcome, replacing a server's
//! BMC access, and per-field errors of the add form.

mod common;

use app::backend::secrets::SecretString;
use app::backend::services::servers::BmcChange;
use app::backend::services::{Actor, NewServer, ServiceError, StateChange};
use app::domain::EventKind;
use app::domain::{Action, Role, ServerState};
use common::{ADMIN_PASSWORD, TestApp, server_in_state, spawn_app, typed_available};
use serde_json::{Value, json};

async fn admin_token(app: &TestApp) -> String {
    let resp = reqwest::Client::new()
        .post(app.url("/api/v1/tokens"))
        .json(&json!({ "username": "admin", "password": ADMIN_PASSWORD, "name": "list test" }))
        .send()
        .await
        .unwrap();
    resp.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
}

async fn list(app: &TestApp, token: &str, query: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/servers?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn names(v: &Value) -> Vec<String> {
    v["items"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect()
}

async fn place(app: &TestApp, id: i64, datacenter: &str, rack: &str) {
    sqlx::query("UPDATE servers SET datacenter = $1, rack = $2 WHERE id = $3")
        .bind(datacenter)
        .bind(rack)
        .bind(id)
        .execute(app.backend.db.pool())
        .await
        .unwrap();
}

/// Search finds a server by a MAC of its inventory (any case), by serial and by name;
/// location filters, sorting both ways and pages answer from the database.
#[tokio::test]
async fn search_filters_sorting_and_pages() {
    let app = spawn_app().await;
    let token = admin_token(&app).await;
    let (typed, _) = typed_available(&app, "lab", 1, 3).await;
    for (i, s) in typed.iter().enumerate() {
        place(&app, s.id, "fra1", &format!("r{i}")).await;
    }
    for i in 0..4 {
        let s = server_in_state(&app, &format!("zz-{i}"), ServerState::Unavailable).await;
        place(&app, s.id, "ams2", "r9").await;
    }
    let inventory = app.backend.latest_inventory(typed[1].id).await.unwrap().unwrap();
    let mac = inventory.nics[0].mac.to_uppercase();
    let (status, v) = list(&app, &token, &format!("q={}", mac.replace(':', "%3A"))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(names(&v), vec![typed[1].name.clone()], "search by MAC");
    let serial = typed[2].serial_number.clone().unwrap();
    assert_eq!(names(&list(&app, &token, &format!("q={serial}")).await.1), vec![typed[2].name.clone()]);
    assert_eq!(list(&app, &token, "q=ZZ-").await.1["total"], 4, "search by name, any case");

    let (_, v) = list(&app, &token, "datacenter=ams2").await;
    assert_eq!(v["total"], 4);
    let (_, v) = list(&app, &token, "datacenter=fra1&rack=r1").await;
    assert_eq!(names(&v), vec![typed[1].name.clone()]);

    let (_, v) = list(&app, &token, "sort=name&dir=desc&datacenter=ams2").await;
    assert_eq!(names(&v), vec!["zz-3", "zz-2", "zz-1", "zz-0"]);
    // By state: available (the lab servers) before unavailable, names breaking ties.
    let (_, v) = list(&app, &token, "sort=state").await;
    let states: Vec<&str> = v["items"].as_array().unwrap().iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert_eq!(states.iter().filter(|s| **s == "available").count(), 3);
    assert!(states.windows(2).all(|w| w[0] <= w[1]), "{states:?}");

    let (_, v) = list(&app, &token, "per_page=3&page=2&sort=name").await;
    assert_eq!(v["total"], 7);
    assert_eq!(v["page"], 2);
    let all = names(&list(&app, &token, "sort=name").await.1);
    assert_eq!(names(&v), all[3..6].to_vec());
    let (_, v) = list(&app, &token, "per_page=3&page=9").await;
    assert!(names(&v).is_empty(), "a page past the end is empty, not an error");

    for (query, field) in [("sort=colour", "sort"), ("dir=up", "dir"), ("per_page=0", "per_page"), ("page=0", "page")] {
        let (status, v) = list(&app, &token, query).await;
        assert_eq!(status, 422, "{query}");
        assert!(v["error"]["message"].as_str().unwrap().starts_with(field), "{query}: {v}");
    }
}

/// The migration's backfill of `servers.macs` gives what recording the inventory gives.
#[tokio::test]
async fn mac_backfill_matches_recorded_inventory() {
    let app = spawn_app().await;
    let (typed, _) = typed_available(&app, "bf", 2, 2).await;
    let read = |id: i64| {
        let pool = app.backend.db.pool().clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT macs FROM servers WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let recorded = read(typed[0].id).await;
    assert!(recorded.contains(':') && recorded == recorded.to_lowercase(), "{recorded}");
    sqlx::query("UPDATE servers SET macs = ''").execute(app.backend.db.pool()).await.unwrap();
    let dialect = if common::test_db() == "postgres" { "postgres" } else { "sqlite" };
    let sql = std::fs::read_to_string(format!(
        "{}/../migrations/{dialect}/0010_server_search.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let update = sql.split(';').find(|s| s.contains("UPDATE servers")).unwrap();
    sqlx::query(update).execute(app.backend.db.pool()).await.unwrap();
    assert_eq!(read(typed[0].id).await, recorded);
    let plain = server_in_state(&app, "no-inventory", ServerState::Unavailable).await;
    assert_eq!(read(plain.id).await, "");
}

async fn bulk(client: &reqwest::Client, app: &TestApp, form: &[(&str, String)]) -> (u16, Value) {
    let resp = client.post(app.url("/api/bulk_action")).form(form).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn target(s: &app::model::Server) -> String {
    format!("{}:{}", s.id, s.generation)
}

/// A bulk action moves each server it may, at the generation the list showed, and
/// reports every server's outcome; refusals change nothing.
#[tokio::test]
async fn bulk_action_reports_each_server() {
    let app = spawn_app().await;
    let admin = app.client_for(Role::Admin).await;
    let a = server_in_state(&app, "bulk-a", ServerState::Unavailable).await;
    let stale = server_in_state(&app, "bulk-stale", ServerState::Unavailable).await;
    let used = server_in_state(&app, "bulk-used", ServerState::Used).await;
    // Someone changes `stale` after the list was shown.
    app.backend.change_state(&Actor::user("admin"), stale.id, &StateChange::new(Action::SetAvailable)).await.unwrap();
    let form = vec![
        ("action", "mark_defective".to_string()),
        ("reason", "fans failing".to_string()),
        ("targets[]", target(&a)),
        ("targets[]", target(&stale)),
        ("targets[]", target(&used)),
    ];
    let (status, v) = bulk(&admin, &app, &form).await;
    assert_eq!(status, 200, "{v}");
    let outcomes = v.as_array().unwrap();
    assert_eq!(outcomes.len(), 3);
    assert_eq!((outcomes[0]["name"].as_str(), outcomes[0]["state"].as_str()), (Some("bulk-a"), Some("defective")));
    assert!(outcomes[1]["error"].as_str().unwrap().contains("changed by someone else"), "{v}");
    assert!(outcomes[2]["error"].as_str().unwrap().contains("cannot"), "{v}");
    assert_eq!(app.backend.server(a.id).await.unwrap().state, ServerState::Defective);
    assert_eq!(app.backend.server(stale.id).await.unwrap().state, ServerState::Available);
    assert_eq!(app.backend.server(used.id).await.unwrap(), used);
    let events = app.backend.server_events(a.id).await.unwrap();
    assert_eq!(events.last().unwrap().reason.as_deref(), Some("fans failing"));

    // Available from unavailable needs the hardware check; from defective it does not.
    let b = server_in_state(&app, "bulk-b", ServerState::Unavailable).await;
    let a = app.backend.server(a.id).await.unwrap();
    let form = vec![("action", "set_available".to_string()), ("targets[]", target(&a)), ("targets[]", target(&b))];
    let (_, v) = bulk(&admin, &app, &form).await;
    assert_eq!(v[0]["state"], "available", "{v}");
    assert!(v[1]["error"].as_str().unwrap().contains("checked"), "{v}");
    assert_eq!(app.backend.server(b.id).await.unwrap().state, ServerState::Unavailable);

    // An operator may re-register in bulk but not press status buttons.
    let operator = app.client_for(Role::Operator).await;
    let form = vec![("action", "mark_defective".to_string()), ("reason", "x".into()), ("targets[]", target(&b))];
    assert_eq!(bulk(&operator, &app, &form).await.0, 403);
    assert_eq!(app.backend.server(b.id).await.unwrap().state, ServerState::Unavailable);
    let (status, v) = bulk(&admin, &app, &[("action", "mark_defective".into())]).await;
    assert_eq!(status, 422, "{v}");
    let bad = vec![("action", "set_available".to_string()), ("targets[]", "seven".to_string())];
    assert_eq!(bulk(&admin, &app, &bad).await.0, 422);
}

/// New BMC access: checked per field, refused on a stale generation or while a job
/// runs, audited without the secret; an empty password keeps the stored one.
#[tokio::test]
async fn change_bmc_access() {
    let app = spawn_app().await;
    let admin = Actor::user("admin");
    let new = NewServer {
        name: "bmc-swap".into(),
        bmc_address: "10.0.0.5".into(),
        bmc_username: "root".into(),
        bmc_password: Some(SecretString::new("old-secret")),
        bmc_verify_tls: true,
        ..Default::default()
    };
    let s = app.backend.add_server(&admin, &new).await.unwrap();
    let change = |generation: i64, address: &str, password: &str| BmcChange {
        address: address.into(),
        username: "admin2".into(),
        password: Some(SecretString::new(password)),
        verify_tls: false,
        generation,
    };
    // The registration job queued by adding the server is still active.
    let busy = app.backend.change_bmc(&admin, s.id, &change(s.generation, "10.0.0.6", "")).await;
    assert!(matches!(busy, Err(ServiceError::Conflict { .. })), "{busy:?}");
    common::end_jobs(&app, s.id).await;
    let stale = app.backend.change_bmc(&admin, s.id, &change(s.generation - 1, "10.0.0.6", "")).await;
    assert!(matches!(stale, Err(ServiceError::Conflict { .. })), "{stale:?}");
    let bad = app.backend.change_bmc(&admin, s.id, &change(s.generation, "not a host", "")).await;
    assert!(matches!(bad, Err(ServiceError::Invalid { field: "bmc_address", .. })), "{bad:?}");

    let moved = app.backend.change_bmc(&admin, s.id, &change(s.generation, "10.0.0.6:8443", "")).await.unwrap();
    assert_eq!((moved.bmc_address.as_str(), moved.bmc_verify_tls), ("10.0.0.6:8443", false));
    assert_eq!(moved.generation, s.generation + 1);
    // The old password was entered for the old BMC: it does not follow the address.
    let creds = app.backend.bmc_login(s.id).await.unwrap();
    assert_eq!(creds.username.as_str(), "admin2");
    assert!(creds.password.is_none(), "a moved address keeps no password");
    app.backend.change_bmc(&admin, s.id, &change(moved.generation, "10.0.0.6:8443", "new-secret")).await.unwrap();
    assert_eq!(app.backend.bmc_login(s.id).await.unwrap().password.unwrap().expose(), "new-secret");
    let events = app.backend.server_events(s.id).await.unwrap();
    let changed: Vec<_> = events.iter().filter(|e| e.kind == EventKind::BmcChanged).collect();
    assert_eq!(changed.len(), 2);
    let details = changed[0].details.clone().unwrap();
    assert!(details.contains("10.0.0.5 → 10.0.0.6:8443") && details.contains("TLS not verified"), "{details}");
    assert!(details.contains("stored password forgotten"), "{details}");
    assert!(changed[1].details.as_deref().unwrap().contains("password set"));
    assert!(events.iter().all(|e| !format!("{e:?}").contains("secret")), "no secret in the audit");
}

/// The add form's check names every invalid field at once.
#[tokio::test]
async fn add_server_names_every_invalid_field() {
    let app = spawn_app().await;
    let new =
        NewServer { name: "bad name!".into(), bmc_address: "".into(), rack: "r\u{7}".into(), ..Default::default() };
    match app.backend.add_server(&Actor::user("admin"), &new).await {
        Err(ServiceError::InvalidFields { errors }) => {
            let fields: Vec<&str> = errors.iter().map(|(f, _)| *f).collect();
            assert_eq!(fields, vec!["name", "bmc_address", "rack"]);
        }
        other => panic!("{other:?}"),
    }
    let admin = app.client_for(Role::Admin).await;
    let resp = admin
        .post(app.url("/api/add_server"))
        .form(&[
            ("name", ""),
            ("bmc_address", "a b"),
            ("bmc_username", ""),
            ("bmc_password", ""),
            ("datacenter", ""),
            ("rack", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let text = resp.text().await.unwrap();
    assert!(text.contains("name: must be") && text.contains("bmc_address: must be"), "{text}");
    assert_eq!(app.backend.count_servers(&Default::default()).await.unwrap(), 0, "nothing was added");
}

/// Search treats `_` and `%` literally: `web_01` finds web_01 and not web-01, `%`
/// finds nothing it does not contain.
#[tokio::test]
async fn search_wildcards_are_literal() {
    let app = common::spawn_app().await;
    for name in ["web_01", "web-01", "webx01"] {
        common::server_in_state(&app, name, app::domain::ServerState::Available).await;
    }
    let names = |q: &str| {
        let app = &app;
        let q = q.to_string();
        async move {
            let params = app::backend::services::servers::ListParams { q: Some(q), ..Default::default() };
            let page = app.backend.server_list_page(&params, false).await.unwrap();
            let mut n: Vec<String> = page.items.into_iter().map(|s| s.name).collect();
            n.sort();
            n
        }
    };
    assert_eq!(names("web_01").await, vec!["web_01"]);
    assert_eq!(names("WEB_").await, vec!["web_01"]);
    assert!(names("%").await.is_empty());
    assert_eq!(names("web").await.len(), 3);
}
