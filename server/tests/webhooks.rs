//! Webhooks and the event stream: a receiver on loopback verifies every delivery's
//! signature, deliveries wait out a receiver that is down and survive a restart,
//! replays are refused, URLs follow the BMC address policy, and the stream resumes
//! from `Last-Event-ID` showing each caller only what they may see.

mod common;

use app::backend::services::allocation::AllocationRequest;
use app::backend::services::{Actor, StateChange};
use app::domain::{Action, Role, ServerState};
use common::{TestApp, api_token, api_token_for, spawn_app, spawn_app_with};
use rackstate_server::webhooks::signature;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// A delivery as the receiver got it.
#[derive(Clone, Debug)]
struct Received {
    delivery: String,
    signature: String,
    body: String,
}

/// A webhook receiver on loopback that checks each delivery like a careful receiver
/// does: the signature under its secret, a timestamp within five minutes, and a
/// delivery id it has not seen.
#[derive(Clone, Default)]
struct Receiver {
    secret: Arc<Mutex<String>>,
    accepted: Arc<Mutex<Vec<Received>>>,
    refused: Arc<Mutex<Vec<String>>>,
    /// Answer 500 to everything (a receiver with a bug).
    failing: Arc<Mutex<bool>>,
}

impl Receiver {
    /// Serves on `listener`.
    fn serve(&self, listener: tokio::net::TcpListener) {
        let this = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let this = this.clone();
                async move { this.take(&headers, body) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    fn take(&self, headers: &axum::http::HeaderMap, body: String) -> (axum::http::StatusCode, String) {
        use axum::http::StatusCode;
        if *self.failing.lock().unwrap() {
            return (StatusCode::INTERNAL_SERVER_ERROR, "receiver bug".into());
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let (sig, delivery) = (header(signature::HEADER), header("Rackstate-Delivery"));
        let now = app::backend::store::now_ms() / 1000;
        self.check(&sig, &delivery, &body, now)
    }

    /// The receiver's checks, with its clock at `now` (unix seconds).
    fn check(&self, sig: &str, delivery: &str, body: &str, now: i64) -> (axum::http::StatusCode, String) {
        use axum::http::StatusCode;
        let secret = self.secret.lock().unwrap().clone();
        if let Err(why) = signature::verify(&secret, sig, body.as_bytes(), now, signature::TOLERANCE_SECONDS) {
            self.refused.lock().unwrap().push(why.to_string());
            return (StatusCode::UNAUTHORIZED, why.to_string());
        }
        let mut accepted = self.accepted.lock().unwrap();
        if accepted.iter().any(|r| r.delivery == delivery) {
            self.refused.lock().unwrap().push(format!("delivery {delivery} seen before"));
            return (StatusCode::CONFLICT, "seen".into());
        }
        accepted.push(Received { delivery: delivery.into(), signature: sig.into(), body: body.into() });
        (StatusCode::OK, "ok".into())
    }

    fn bodies(&self) -> Vec<Value> {
        self.accepted.lock().unwrap().iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect()
    }

    /// Waits until an accepted delivery satisfies `found`.
    async fn wait_for(&self, what: &str, found: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(v) = self.bodies().into_iter().find(|v| found(v)) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no delivery {what}; got {:?}, refused {:?}",
                self.bodies(),
                self.refused.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receiver() -> (Receiver, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let r = Receiver::default();
    r.serve(listener);
    (r, url)
}

/// An app that sends webhooks (workers on), retrying after 200 ms.
async fn sending_app() -> TestApp {
    spawn_app_with(|s| {
        s.workers = 2;
        s.webhook_first_retry_ms = 200;
    })
    .await
}

/// Adds a webhook through the API; returns (its id, its secret).
async fn add_webhook(app: &TestApp, token: &str, url: &str, topics: &[&str]) -> (i64, String) {
    let resp = reqwest::Client::new()
        .post(app.url("/api/v1/webhooks"))
        .bearer_auth(token)
        .json(&json!({ "url": url, "topics": topics, "description": "test receiver" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let v: Value = resp.json().await.unwrap();
    (v["webhook"]["id"].as_i64().unwrap(), v["secret"].as_str().unwrap().to_string())
}

/// Adds a server whose BMC does not answer: an `added` event, then a failed
/// registration (a state change and a job outcome).
async fn add_server(app: &TestApp, name: &str) -> i64 {
    let new = app::backend::services::NewServer {
        name: name.into(),
        bmc_address: format!("http://127.0.0.1:9/redfish/v1/Systems/{name}"),
        ..Default::default()
    };
    app.backend.add_server(&Actor::user("admin"), &new).await.unwrap().id
}

async fn deliveries(app: &TestApp, token: &str, webhook: i64) -> Vec<Value> {
    let v: Value = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/webhooks/{webhook}/deliveries")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["items"].as_array().unwrap().clone()
}

/// An admin points a webhook at their chat bridge for state changes and job outcomes:
/// adding a server and its failed registration arrive as signed JSON the receiver
/// verifies with the secret it was given, each with the audit event's id, kind and
/// server; the delivery log says delivered; adding the webhook was audited.
#[tokio::test]
async fn a_receiver_verifies_every_delivery_and_gets_state_changes_and_job_outcomes() {
    let app = sending_app().await;
    let token = api_token_for(&app, Role::Admin).await;
    let (rx, url) = receiver().await;
    let (webhook, secret) = add_webhook(&app, &token, &url, &["state_changes", "job_outcomes"]).await;
    assert!(secret.len() >= 32, "a made secret is long: {secret}");
    *rx.secret.lock().unwrap() = secret;

    let id = add_server(&app, "web-1").await;
    let added = rx.wait_for("added", |v| v["event"]["kind"] == "added").await;
    assert_eq!(
        (added["event"]["server_id"].as_i64(), added["event"]["server_name"].as_str()),
        (Some(id), Some("web-1"))
    );
    assert_eq!(added["webhook_id"].as_i64(), Some(webhook));
    let job = rx.wait_for("job outcome", |v| v["event"]["kind"] == "job_finished").await;
    assert_eq!((job["event"]["from"].as_str(), job["event"]["to"].as_str()), (Some("register"), Some("failed")));
    assert!(job["event"]["topics"].as_array().unwrap().contains(&json!("job_outcomes")));
    assert!(rx.refused.lock().unwrap().is_empty());

    let log = deliveries(&app, &token, webhook).await;
    assert!(log.iter().any(|d| d["status"] == "delivered" && d["last_status"] == 200), "{log:?}");
    let audited: (String, String) = sqlx::query_as("SELECT actor, to_value FROM events WHERE kind = 'webhook_added'")
        .fetch_one(app.backend.db.pool())
        .await
        .unwrap();
    assert_eq!(audited, ("admin".to_string(), url.clone()));
}

/// The receiver was down (nothing listening) when events happened: attempts fail and
/// are retried with backoff, the log shows the error; once the receiver is back, each
/// event arrives once.
#[tokio::test]
async fn deliveries_wait_out_a_receiver_that_is_down_and_arrive_when_it_is_back() {
    let app = sending_app().await;
    let token = api_token_for(&app, Role::Admin).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}/hook");
    let (webhook, secret) = add_webhook(&app, &token, &url, &["state_changes"]).await;
    add_server(&app, "db-1").await;

    let deadline = tokio::time::Instant::now() + WAIT;
    let failed = loop {
        let log = deliveries(&app, &token, webhook).await;
        if let Some(d) = log.iter().find(|d| d["attempts"].as_i64() >= Some(2)) {
            break d.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no retried delivery: {log:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(failed["status"], "pending", "still retried: {failed}");
    assert!(failed["last_error"].as_str().unwrap().contains("connect"), "{failed}");
    assert!(failed["last_status"].is_null());

    let rx = Receiver::default();
    *rx.secret.lock().unwrap() = secret;
    rx.serve(tokio::net::TcpListener::bind(addr).await.unwrap());
    rx.wait_for("added", |v| v["event"]["kind"] == "added").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let log = deliveries(&app, &token, webhook).await;
        if log.iter().all(|d| d["status"] == "delivered") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not all delivered: {log:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kinds: Vec<String> = rx.bodies().iter().map(|v| v["event"]["id"].to_string()).collect();
    let mut unique = kinds.clone();
    unique.dedup();
    assert_eq!(kinds, unique, "each event once");
}

/// An attacker who captured a delivery replays it: as it was (the delivery id was
/// seen), with a fresh timestamp put in the header (the signature no longer matches),
/// or ten minutes later (too old). The receiver refuses all three.
#[tokio::test]
async fn a_captured_delivery_replayed_is_refused() {
    let app = sending_app().await;
    let token = api_token_for(&app, Role::Admin).await;
    let (rx, url) = receiver().await;
    let (_, secret) = add_webhook(&app, &token, &url, &["state_changes"]).await;
    *rx.secret.lock().unwrap() = secret;
    add_server(&app, "pay-1").await;
    rx.wait_for("added", |v| v["event"]["kind"] == "added").await;
    let captured = rx.accepted.lock().unwrap()[0].clone();
    let (t, v1) = captured.signature.strip_prefix("t=").unwrap().split_once(",v1=").unwrap();
    let now: i64 = t.parse::<i64>().unwrap() + 5;

    let (status, _) = rx.check(&captured.signature, &captured.delivery, &captured.body, now);
    assert_eq!(status, 409, "the same delivery again");
    let forged = format!("t={now},v1={v1}");
    let (status, why) = rx.check(&forged, "9999", &captured.body, now);
    assert_eq!((status.as_u16(), why.contains("does not match")), (401, true), "{why}");
    let (status, why) = rx.check(&captured.signature, "9998", &captured.body, now + 600);
    assert_eq!((status.as_u16(), why.contains("away from now")), (401, true), "{why}");
    let tampered = captured.body.replace("pay-1", "pay-2");
    let (status, _) = rx.check(&captured.signature, "9997", &tampered, now);
    assert_eq!(status, 401, "a changed body");
}

/// Webhook URLs go where BMC credentials may: a link-local metadata address, an
/// address outside RACKSTATE_BMC_NETWORKS and a non-HTTP scheme are refused with the
/// field named; topics must be known; operators may not manage webhooks.
#[tokio::test]
async fn webhook_urls_follow_the_bmc_address_policy() {
    let app = spawn_app_with(|s| {
        s.bmc_networks = app::domain::bmc_address::BmcNetworks::parse("10.0.0.0/8").unwrap();
    })
    .await;
    let token = api_token_for(&app, Role::Admin).await;
    let post = |body: Value| {
        let (url, token) = (app.url("/api/v1/webhooks"), token.clone());
        async move { reqwest::Client::new().post(url).bearer_auth(token).json(&body).send().await.unwrap() }
    };
    for (url, why) in [
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://127.0.0.1:9000/hook", "outside RACKSTATE_BMC_NETWORKS"),
        ("ftp://10.1.2.3/hook", "http"),
        ("http://user:pw@10.1.2.3/hook", "url"),
    ] {
        let resp = post(json!({ "url": url, "topics": ["state_changes"] })).await;
        assert_eq!(resp.status(), 422, "{url}");
        let v: Value = resp.json().await.unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains("url") && message.contains(why), "{url}: {message}");
    }
    let resp = post(json!({ "url": "http://10.1.2.3/hook", "topics": ["state_change"] })).await;
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap().contains("unknown topic"));
    let resp = post(json!({ "url": "http://10.1.2.3/hook", "topics": [], "secret": "short" })).await;
    let text = resp.text().await.unwrap();
    assert!(text.contains("topics") && text.contains("secret"), "every wrong field named: {text}");
    let resp = post(json!({ "url": "http://10.1.2.3/hook", "topics": ["bmc_warnings"] })).await;
    assert_eq!(resp.status(), 201, "inside the networks");

    let operator = api_token_for(&app, Role::Operator).await;
    let resp = reqwest::Client::new().get(app.url("/api/v1/webhooks")).bearer_auth(operator).send().await.unwrap();
    assert_eq!(resp.status(), 403);
}

/// The receiver had a bug and answered 500 for a while: the delivery log shows the
/// status and its answer; after the fix an admin redelivers a delivery, which arrives
/// as a new delivery (its own id); a disabled webhook gets nothing more and its
/// pending deliveries are cancelled.
#[tokio::test]
async fn failed_deliveries_are_logged_redelivered_on_demand_and_disabling_cancels() {
    let app = sending_app().await;
    let token = api_token_for(&app, Role::Admin).await;
    let (rx, url) = receiver().await;
    *rx.failing.lock().unwrap() = true;
    let (webhook, secret) = add_webhook(&app, &token, &url, &["state_changes"]).await;
    *rx.secret.lock().unwrap() = secret;
    add_server(&app, "mail-1").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let failed = loop {
        let log = deliveries(&app, &token, webhook).await;
        if let Some(d) = log.iter().find(|d| d["last_status"] == 500) {
            break d.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no 500 logged: {log:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(failed["last_error"].as_str().unwrap().contains("receiver bug"), "{failed}");

    // Disabled: pending deliveries are cancelled and nothing else is sent.
    let client = reqwest::Client::new();
    let resp = client
        .patch(app.url(&format!("/api/v1/webhooks/{webhook}")))
        .bearer_auth(&token)
        .json(&json!({ "enabled": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let log = deliveries(&app, &token, webhook).await;
    assert!(log.iter().all(|d| d["status"] == "cancelled"), "{log:?}");
    *rx.failing.lock().unwrap() = false;
    add_server(&app, "mail-2").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(rx.bodies().is_empty(), "a disabled webhook gets nothing");
    let redeliver = format!("/api/v1/webhooks/{webhook}/deliveries/{}/redeliver", failed["id"]);
    let resp = client.post(app.url(&redeliver)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 409, "enable it first");

    client
        .patch(app.url(&format!("/api/v1/webhooks/{webhook}")))
        .bearer_auth(&token)
        .json(&json!({ "enabled": true }))
        .send()
        .await
        .unwrap();
    let resp = client.post(app.url(&redeliver)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let again: Value = resp.json().await.unwrap();
    assert_ne!(again["id"], failed["id"]);
    assert_eq!(again["event_id"], failed["event_id"]);
    let event_id = failed["event_id"].as_i64();
    let got = rx.wait_for("the redelivery", |v| v["event"]["id"].as_i64() == event_id).await;
    assert_eq!(got["delivery_id"], again["id"]);
}

/// Rackstate stopped before it could send (here: a process without workers queued
/// them): the deliveries are rows, and the next process with workers sends them.
#[tokio::test]
async fn deliveries_survive_a_restart() {
    // Replicas share the key that seals secrets (RACKSTATE_SECRET_KEY).
    let key = || Some(rackstate_server::settings::Secret("7".repeat(64)));
    let quiet = spawn_app_with(|s| {
        s.workers = 0;
        s.secret_key = key();
    })
    .await;
    let token = api_token_for(&quiet, Role::Admin).await;
    let (rx, url) = receiver().await;
    let (webhook, secret) = add_webhook(&quiet, &token, &url, &["state_changes"]).await;
    *rx.secret.lock().unwrap() = secret;
    add_server(&quiet, "queue-1").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(rx.bodies().is_empty());
    assert!(deliveries(&quiet, &token, webhook).await.iter().all(|d| d["status"] == "pending"));

    let database_url = quiet.database_url.clone();
    let _sender = spawn_app_with(move |s| {
        s.database_url = database_url;
        s.workers = 1;
        s.secret_key = key();
    })
    .await;
    let got = rx.wait_for("added", |v| v["event"]["kind"] == "added").await;
    assert_eq!(got["event"]["server_name"], "queue-1");
}

/// One server-sent event: (id, event, data).
type Sse = (i64, String, Value);

/// Reads server-sent events from `resp` until `n` arrived or `within` passed.
async fn read_events(resp: &mut reqwest::Response, n: usize, within: Duration) -> Vec<Sse> {
    let mut out = Vec::new();
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + within;
    while out.len() < n {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Ok(Ok(Some(chunk))) = tokio::time::timeout(left, resp.chunk()).await else { break };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, String::new(), String::new());
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().into();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if let Some(id) = id {
                out.push((id, event, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    out
}

async fn open_stream(app: &TestApp, token: &str, query: &str, last: Option<i64>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(app.url(&format!("/api/v1/events/stream{query}"))).bearer_auth(token);
    if let Some(last) = last {
        req = req.header("Last-Event-ID", last.to_string());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    resp
}

/// An operator's dashboard follows state changes; it loses its connection, events
/// happen meanwhile, and it reconnects with `Last-Event-ID`: it gets exactly what it
/// missed, in order, nothing twice.
#[tokio::test]
async fn the_event_stream_resumes_after_the_last_event_id() {
    let app = spawn_app().await;
    let token = api_token_for(&app, Role::Operator).await;
    let admin = Actor::user("admin");
    let s = common::server_in_state(&app, "stream-1", ServerState::Available).await;
    let mut stream = open_stream(&app, &token, "?topics=state_changes", None).await;
    app.backend.change_state(&admin, s.id, &StateChange::new(Action::SetUnavailable)).await.unwrap();
    let first = read_events(&mut stream, 1, WAIT).await;
    assert_eq!(first.len(), 1, "{first:?}");
    let (last_id, kind, data) = &first[0];
    assert_eq!(
        (kind.as_str(), data["to"].as_str(), data["server_id"].as_i64()),
        ("state_changed", Some("unavailable"), Some(s.id))
    );
    drop(stream);

    app.backend.change_state(&admin, s.id, &StateChange::new(Action::SetAvailable)).await.unwrap();
    app.backend.change_state(&admin, s.id, &StateChange::new(Action::MarkDefective).because("fan")).await.unwrap();
    let mut stream = open_stream(&app, &token, "?topics=state_changes", Some(*last_id)).await;
    let missed = read_events(&mut stream, 3, Duration::from_secs(3)).await;
    let to: Vec<&str> = missed.iter().map(|(_, _, d)| d["to"].as_str().unwrap()).collect();
    assert_eq!(to, ["available", "defective"], "exactly what was missed: {missed:?}");
    assert_eq!(missed[1].2["reason"], "fan");

    let resp = reqwest::Client::new()
        .get(app.url("/api/v1/events/stream"))
        .bearer_auth(&token)
        .header("Last-Event-ID", "not-a-number")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

/// A tenant follows the stream: they see their own server's state changes from when
/// they got it to its release, never another tenant's servers, the server's history
/// before them, or BMC warnings (even when they ask for them).
#[tokio::test]
async fn a_tenants_stream_shows_only_their_servers_from_when_they_got_them() {
    let app = spawn_app().await;
    let admin = Actor::user("admin");
    let (servers, label) = common::typed_available(&app, "t", 0, 2).await;
    for name in ["acme", "globex"] {
        app.backend.create_user(&admin, name, common::USER_PASSWORD, Role::Tenant).await.unwrap();
    }
    let acme_token = api_token(&app, "acme", common::USER_PASSWORD).await;
    // Before acme holds it, the first server went through an unavailable spell.
    app.backend.change_state(&admin, servers[0].id, &StateChange::new(Action::SetUnavailable)).await.unwrap();
    app.backend.change_state(&admin, servers[0].id, &StateChange::new(Action::SetAvailable)).await.unwrap();
    let first_event = app.backend.server_events(servers[0].id).await.unwrap()[0].id;

    let ask = |tenant: &str| AllocationRequest {
        tenant: Some(tenant.into()),
        server_type: label.clone(),
        count: 1,
        ..Default::default()
    };
    let admin_view = app.backend.list_users().await.unwrap().into_iter().find(|u| u.username == "admin").unwrap();
    let deployment = app.backend.allocate(&admin_view, &ask("acme")).await.unwrap();
    let mine = deployment.servers[0].id;
    let theirs = app.backend.allocate(&admin_view, &ask("globex")).await.unwrap().servers[0].id;
    app.backend.reveal_bmc_credentials(&admin, mine).await.unwrap();
    app.backend.release(&admin_view, deployment.id, None).await.unwrap();
    common::end_jobs(&app, mine).await;
    let change = StateChange::new(Action::MarkDefective).because("after acme");
    app.backend.change_state(&admin, mine, &change).await.unwrap();

    // From the very first event on: only acme's allocation and release show.
    let mut stream = open_stream(&app, &acme_token, "?topics=state_changes,bmc_warnings", Some(first_event)).await;
    let seen = read_events(&mut stream, 5, Duration::from_secs(3)).await;
    let moves: Vec<(Option<i64>, &str, &str)> = seen
        .iter()
        .map(|(_, _, d)| (d["server_id"].as_i64(), d["from"].as_str().unwrap(), d["to"].as_str().unwrap()))
        .collect();
    assert_eq!(moves, [(Some(mine), "available", "used"), (Some(mine), "used", "cleaning")], "{seen:?}");
    assert_eq!(seen[0].1, "state_changed");
    assert_eq!(seen[0].2["actor"], "rackstate", "staff names stay inside");
    assert!(seen[0].2["details"].is_null());
    assert!(seen.iter().all(|(_, _, d)| d["server_id"].as_i64() != Some(theirs)));
}

/// On PostgreSQL an event's id is taken before its transaction commits: a long
/// transaction (a large allocation) may commit its event after a later id was already
/// streamed. The stream still delivers it, once. (SQLite's writers take turns, so the
/// case cannot arise there.)
#[tokio::test]
async fn an_event_committed_after_a_later_one_still_reaches_the_stream() {
    let app = spawn_app().await;
    if app.backend.db.kind() != app::backend::db::DbKind::Postgres {
        return;
    }
    let token = api_token_for(&app, Role::Admin).await;
    let admin = Actor::user("admin");
    let s = common::server_in_state(&app, "slow-1", ServerState::Available).await;
    let fast = common::server_in_state(&app, "fast-1", ServerState::Available).await;
    let mut stream = open_stream(&app, &token, "?topics=state_changes", None).await;

    // A slow transaction takes its event id first and holds it uncommitted.
    let (took, took_id) = tokio::sync::oneshot::channel();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (db, slow_server) = (app.backend.db.clone(), s.id);
    let slow = tokio::spawn(async move {
        db.transaction(move |tx| {
            Box::pin(async move {
                let event = app::backend::store::events::NewEvent {
                    from_value: Some("available"),
                    to_value: Some("unavailable"),
                    reason: Some("the slow one"),
                    ..app::backend::store::events::NewEvent::about(
                        slow_server,
                        "admin",
                        app::domain::EventKind::StateChanged,
                    )
                };
                let id = app::backend::store::events::append(tx, &event, app::backend::store::now_ms()).await?;
                let _ = took.send(id);
                let _ = released.await;
                Ok::<_, app::backend::DbError>(id)
            })
        })
        .await
    });
    let slow_id = took_id.await.unwrap();
    app.backend.change_state(&admin, fast.id, &StateChange::new(Action::SetUnavailable)).await.unwrap();
    let early = read_events(&mut stream, 1, Duration::from_millis(1500)).await;
    assert!(early.is_empty(), "nothing passes the open transaction: {early:?}");
    release.send(()).unwrap();
    assert_eq!(slow.await.unwrap().unwrap(), slow_id);

    let seen = read_events(&mut stream, 3, Duration::from_secs(3)).await;
    let ids: Vec<i64> = seen.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(ids.len(), 2, "{seen:?}");
    assert!(ids.contains(&slow_id), "the slow event arrived: {seen:?}");
    assert!(ids[0] < ids[1] || ids[0] == slow_id, "commit order: {ids:?}");
}
