//! 200 concurrent allocation requests against a pool smaller than the demand, sent
//! to two Rackstate processes sharing one database (PostgreSQL in the README's
//! second pass): no server ends up in two deployments, every request got all its
//! servers or none, nobody got another tenant's reserved servers, nothing failed
//! with a 5xx.

mod common;

use app::backend::services::Actor;
use app::backend::services::allocation::NewSubscription;
use app::domain::Role;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

const POOL: usize = 60;
const REQUESTS: usize = 200;
const TENANTS: usize = 8;

async fn token(base: &str, username: &str, password: &str) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/tokens"))
        .json(&json!({ "username": username, "password": password, "name": "race" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "token for {username}");
    resp.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_racing_allocations_on_two_processes() {
    let app = common::spawn_app().await;
    let (_, label) = common::typed_available(&app, "race", 0, POOL).await;
    let admin = Actor::user("admin");
    for t in 0..TENANTS {
        let name = format!("tenant{t}");
        app.backend.create_user(&admin, &name, common::USER_PASSWORD, Role::Tenant).await.unwrap();
    }
    // Two tenants hold reservations: 6 and 4 of the pool are theirs only.
    for (t, count) in [(0, 6), (1, 4)] {
        let new =
            NewSubscription { username: format!("tenant{t}"), server_type: label.clone(), count, ..Default::default() };
        assert_eq!(app.backend.create_subscription(&admin, &new).await.unwrap().filled, count);
    }
    let reserved_for: HashMap<i64, String> =
        sqlx::query_as::<_, (i64, String)>("SELECT id, reserved_for FROM servers WHERE reserved_for IS NOT NULL")
            .fetch_all(app.backend.db.pool())
            .await
            .unwrap()
            .into_iter()
            .collect();

    // Two more processes on the same database.
    let ports = [common::sushy::free_port(), common::sushy::free_port()];
    let mut children: Vec<_> = ports
        .iter()
        .map(|p| common::start_binary(&app.data_dir, &app.database_url, *p, &[("RACKSTATE_WORKERS", "0")]))
        .collect();
    let bases: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
    for b in &bases {
        common::wait_ready(b).await;
    }
    let mut tokens = Vec::new();
    for t in 0..TENANTS {
        tokens.push(token(&bases[t % 2], &format!("tenant{t}"), common::USER_PASSWORD).await);
    }

    // Demand: 1 to 3 servers each, about 400 in all, for a pool of 60.
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..REQUESTS {
        let (client, label) = (client.clone(), label.clone());
        let base = bases[i % 2].clone();
        let tenant = i % TENANTS;
        let token = tokens[tenant].clone();
        let count = (i % 3 + 1) as i64;
        tasks.spawn(async move {
            let resp = client
                .post(format!("{base}/api/v1/deployments"))
                .bearer_auth(token)
                .json(&json!({ "server_type": label, "count": count }))
                .send()
                .await
                .expect("request");
            let status = resp.status().as_u16();
            (tenant, count, status, resp.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let mut granted: Vec<(usize, Vec<i64>)> = Vec::new();
    let mut refused = 0;
    while let Some(r) = tasks.join_next().await {
        let (tenant, count, status, body) = r.unwrap();
        match status {
            201 => {
                let ids: Vec<i64> = body["servers"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
                assert_eq!(ids.len() as i64, count, "all or nothing: {body}");
                granted.push((tenant, ids));
            }
            409 => {
                assert_eq!(body["error"]["code"], "insufficient_capacity", "{body}");
                assert!(body["error"]["missing"].as_i64().unwrap() > 0);
                refused += 1;
            }
            other => panic!("request answered {other}: {body}"),
        }
    }
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    eprintln!("{} requests granted, {refused} refused", granted.len());
    assert_eq!(granted.len() + refused, REQUESTS);

    // No server twice; nobody got another tenant's reservation.
    let mut seen = HashSet::new();
    for (tenant, ids) in &granted {
        for id in ids {
            assert!(seen.insert(*id), "server {id} allocated twice");
            if let Some(owner) = reserved_for.get(id) {
                assert_eq!(owner, &format!("tenant{tenant}"), "server {id} was reserved for {owner}");
            }
        }
    }
    // The database agrees: as many used servers and live memberships as granted,
    // one deployment per granted request, none for a refused one.
    let one = |sql: &'static str| {
        let pool = app.backend.db.pool().clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.unwrap() }
    };
    assert_eq!(one("SELECT COUNT(*) FROM servers WHERE state = 'used'").await as usize, seen.len());
    assert_eq!(one("SELECT COUNT(*) FROM deployment_servers WHERE released_at IS NULL").await as usize, seen.len());
    assert_eq!(one("SELECT COUNT(*) FROM deployments").await as usize, granted.len());
    // Demand exceeded supply: the pool was used up, apart from reservations of
    // tenants whose requests were all filled or came too late for a remainder.
    let left = one("SELECT COUNT(*) FROM servers WHERE state = 'available'").await;
    assert!(left < 3, "{left} servers left available while requests were refused");
}
