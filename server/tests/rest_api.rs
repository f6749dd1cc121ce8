//! The automation API v1: bearer tokens, the error contract, and each endpoint with
//! the permission table of the pages.

mod common;

use app::domain::{Role, ServerState};
use common::{
    ADMIN_PASSWORD, TestApp, USER_PASSWORD, api_token as token, api_token_for as token_for, server_in_state, spawn_app,
};
use serde_json::{Value, json};

struct Api<'a> {
    app: &'a TestApp,
    token: String,
}

impl Api<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = reqwest::Client::new().request(method, self.app.url(path)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn tokens_are_logins() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let bad = |user: &str| json!({ "username": user, "password": "wrong-password!", "name": "ci" });
    let r1 = client.post(app.url("/api/v1/tokens")).json(&bad("admin")).send().await.unwrap();
    let r2 = client.post(app.url("/api/v1/tokens")).json(&bad("nobody")).send().await.unwrap();
    assert_eq!((r1.status(), r2.status()), (reqwest::StatusCode::UNAUTHORIZED, reqwest::StatusCode::UNAUTHORIZED));
    let (m1, m2): (Value, Value) = (r1.json().await.unwrap(), r2.json().await.unwrap());
    assert_eq!(m1, m2, "the same answer for an unknown user and a wrong password");

    let api = Api { app: &app, token: token(&app, "admin", ADMIN_PASSWORD).await };
    let (status, list) = api.get("/api/v1/tokens").await;
    assert_eq!(status, 200);
    let id = list["items"][0]["id"].as_i64().unwrap();
    assert!(!list.to_string().contains(&api.token), "tokens are never shown again");
    assert_eq!(api.call(reqwest::Method::DELETE, &format!("/api/v1/tokens/{id}"), None).await.0, 204);
    let (status, body) = api.get("/api/v1/servers").await;
    assert_eq!((status, code(&body)), (401, "unauthorized"), "a revoked token opens nothing");
    let anon = client.get(app.url("/api/v1/servers")).send().await.unwrap();
    assert_eq!(anon.status(), 401);

    // The login throttle applies to token requests too.
    for _ in 0..5 {
        client.post(app.url("/api/v1/tokens")).json(&bad("victim")).send().await.unwrap();
    }
    let r = client.post(app.url("/api/v1/tokens")).json(&bad("victim")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(code(&r.json().await.unwrap()), "throttled");
}

#[tokio::test]
async fn servers_endpoints_and_errors() {
    let app = spawn_app().await;
    let admin = Api { app: &app, token: token_for(&app, Role::Admin).await };
    let viewer = Api { app: &app, token: token_for(&app, Role::Viewer).await };
    let operator = Api { app: &app, token: token_for(&app, Role::Operator).await };

    // Create: 201 in registering; bad input: 400 or 422 naming the field; roles: 403.
    let new = json!({ "name": "api-1", "bmc_address": "10.0.0.9", "bmc_username": "root", "bmc_password": "calvin" });
    let (status, s) = admin.post("/api/v1/servers", new.clone()).await;
    assert_eq!((status, s["state"].as_str()), (201, Some("registering")));
    assert!(!s.to_string().contains("calvin"), "no password in answers");
    let (status, body) = viewer.post("/api/v1/servers", new.clone()).await;
    assert_eq!((status, code(&body)), (403, "forbidden"));
    let raw = reqwest::Client::new()
        .post(app.url("/api/v1/servers"))
        .bearer_auth(&admin.token)
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let (status, body) = admin.post("/api/v1/servers", json!({ "name": "x", "bmc_address": "y", "colour": 1 })).await;
    assert_eq!((status, code(&body)), (400, "malformed"));
    assert!(body["error"]["message"].as_str().unwrap().contains("colour"));
    let (status, body) = admin.post("/api/v1/servers", json!({ "name": "bad name!", "bmc_address": "10.0.0.1" })).await;
    assert_eq!((status, code(&body)), (422, "invalid_field"));
    assert!(body["error"]["message"].as_str().unwrap().starts_with("name:"));

    // List: filters, search, paging.
    for i in 2..=5 {
        server_in_state(&app, &format!("api-{i}"), ServerState::Unavailable).await;
    }
    let (status, page) = viewer.get("/api/v1/servers?per_page=2&page=2").await;
    assert_eq!((status, page["total"].as_i64(), page["items"].as_array().unwrap().len()), (200, Some(5), 2));
    assert_eq!(page["items"][0]["name"], "api-3");
    let (_, found) = viewer.get("/api/v1/servers?q=API-4").await;
    assert_eq!(found["total"], 1);
    let (_, unavailable) = viewer.get("/api/v1/servers?state=unavailable").await;
    assert_eq!(unavailable["total"], 4);
    let (status, body) = viewer.get("/api/v1/servers?state=broken").await;
    assert_eq!((status, code(&body)), (422, "invalid_field"));
    let (status, body) = viewer.get("/api/v1/servers?per_page=9999").await;
    assert_eq!((status, code(&body)), (422, "invalid_field"));

    // One server: fields, hardware, current job.
    let id = s["id"].as_i64().unwrap();
    let (status, one) = viewer.get(&format!("/api/v1/servers/{id}")).await;
    assert_eq!(status, 200);
    for field in [
        "id",
        "name",
        "state",
        "server_type",
        "serial_number",
        "bmc_address",
        "datacenter",
        "rack",
        "power_state",
        "last_error",
        "generation",
        "hardware",
    ] {
        assert!(one.get(field).is_some(), "no {field} in {one}");
    }
    assert_eq!(one["current_job"]["kind"], "register");
    assert_eq!(viewer.get("/api/v1/servers/999999").await.0, 404);

    // State: manual states only, generation checked, the table enforced.
    let target = server_in_state(&app, "api-state", ServerState::Unavailable).await;
    let path = format!("/api/v1/servers/{}/state", target.id);
    let (status, body) = admin.post(&path, json!({ "state": "available", "generation": target.generation })).await;
    assert_eq!((status, code(&body)), (422, "invalid_field"), "the page's confirmation is asked here too");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("checked:"), "{body}");
    let (status, body) =
        admin.post(&path, json!({ "state": "available", "generation": target.generation - 1, "checked": true })).await;
    assert_eq!((status, code(&body)), (409, "conflict"));
    let (status, moved) =
        admin.post(&path, json!({ "state": "available", "generation": target.generation, "checked": true })).await;
    assert_eq!((status, moved["state"].as_str()), (200, Some("available")));
    let (status, body) = admin.post(&path, json!({ "state": "used" })).await;
    assert_eq!((status, code(&body)), (422, "invalid_field"));
    let (status, body) = admin.post(&path, json!({ "state": "removed_from_rack" })).await;
    assert_eq!((status, code(&body)), (409, "illegal_transition"));
    let (status, _) = operator.post(&path, json!({ "state": "unavailable" })).await;
    assert_eq!(status, 403, "operators press no manual buttons");

    // Processes: 202 with the job; decommission is for admins.
    let other = server_in_state(&app, "api-proc", ServerState::Unavailable).await;
    let (status, body) = operator.post(&format!("/api/v1/servers/{}/decommission", other.id), json!({})).await;
    assert_eq!((status, code(&body)), (403, "forbidden"));
    let (status, body) = operator.post(&format!("/api/v1/servers/{}/register", other.id), json!({})).await;
    assert_eq!(
        (status, body["job"]["kind"].as_str(), body["job"]["status"].as_str()),
        (202, Some("register"), Some("queued"))
    );
    let job_id = body["job"]["id"].as_i64().unwrap();
    let (status, body) = operator.post(&format!("/api/v1/servers/{}/jobs/current/abort", other.id), json!({})).await;
    assert_eq!((status, body["job"]["phase"].as_str()), (202, Some("aborting")));
    let (status, job) = viewer.get(&format!("/api/v1/jobs/{job_id}")).await;
    assert_eq!((status, job["id"].as_i64()), (200, Some(job_id)));
    let (status, events) = viewer.get(&format!("/api/v1/servers/{}/events", other.id)).await;
    assert_eq!(status, 200);
    assert!(events["items"].as_array().unwrap().iter().any(|e| e["kind"] == "job_aborted"));

    // Secrets: admins only, audited.
    let (status, creds) = admin.get(&format!("/api/v1/servers/{id}/bmc-credentials")).await;
    assert_eq!((status, creds["password"].as_str()), (200, Some("calvin")));
    assert_eq!(viewer.get(&format!("/api/v1/servers/{id}/bmc-credentials")).await.0, 403);

    // Report: JSON and CSV.
    let (status, report) = viewer.get("/api/v1/reports/utilization").await;
    assert_eq!(status, 200);
    assert_eq!(report["totals"]["total"], 7);
    assert!(report["totals"]["counts"].get("decommissioned").is_some());
    let csv = reqwest::Client::new()
        .get(app.url("/api/v1/reports/utilization"))
        .bearer_auth(&viewer.token)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("server_type,registering,unavailable,"), "{csv}");
    assert!(csv.lines().last().unwrap().starts_with("all types,"), "{csv}");

    // Users: admins create them.
    let (status, u) = admin
        .post("/api/v1/users", json!({ "username": "bob", "password": "a-long-password", "role": "operator" }))
        .await;
    assert_eq!((status, u["role"].as_str()), (201, Some("operator")));
    assert_eq!(
        viewer
            .post("/api/v1/users", json!({ "username": "eve", "password": "a-long-password", "role": "admin" }))
            .await
            .0,
        403
    );
    let (status, body) =
        admin.post("/api/v1/users", json!({ "username": "x", "password": "a-long-password", "role": "king" })).await;
    assert_eq!((status, code(&body)), (422, "invalid_field"));

    // Unknown endpoints: a JSON 404.
    let (status, body) = viewer.get("/api/v1/nothing-here").await;
    assert_eq!((status, code(&body)), (404, "not_found"));
}

/// The OpenAPI document, generated from the handlers, lists every endpoint with its
/// methods, the bearer scheme and the schemas; anyone may fetch it.
#[tokio::test]
async fn openapi_document() {
    let app = spawn_app().await;
    let resp = reqwest::get(app.url("/api/v1/openapi.json")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let want = [
        ("/api/v1/tokens", &["get", "post"][..]),
        ("/api/v1/tokens/{id}", &["delete"]),
        ("/api/v1/servers", &["get", "post"]),
        ("/api/v1/servers/{id}", &["get"]),
        ("/api/v1/servers/{id}/state", &["post"]),
        ("/api/v1/servers/{id}/register", &["post"]),
        ("/api/v1/servers/{id}/decommission", &["post"]),
        ("/api/v1/servers/{id}/jobs/current/retry", &["post"]),
        ("/api/v1/servers/{id}/jobs/current/abort", &["post"]),
        ("/api/v1/servers/{id}/bmc-credentials", &["get"]),
        ("/api/v1/servers/{id}/bmc", &["put"]),
        ("/api/v1/servers/{id}/bmc/certificate", &["get"]),
        ("/api/v1/servers/{id}/bmc/certificate/accept", &["post"]),
        ("/api/v1/servers/{id}/hardware-acknowledgement", &["post"]),
        ("/api/v1/servers/{id}/bmc/rotate", &["post"]),
        ("/api/v1/bmc-rotations", &["post"]),
        ("/api/v1/servers/{id}/events", &["get"]),
        ("/api/v1/servers/{id}/erase-certificates", &["get"]),
        ("/api/v1/servers/{id}/erase-certificates/{cert}", &["get"]),
        ("/api/v1/servers/{id}/notes", &["get", "put"]),
        ("/api/v1/servers/{id}/power", &["get", "post"]),
        ("/api/v1/servers/{id}/deploy", &["get", "post"]),
        ("/api/v1/servers/{id}/root-disk", &["put"]),
        ("/api/v1/images", &["get", "post"]),
        ("/api/v1/images/{id}", &["delete"]),
        ("/api/v1/jobs/{id}", &["get"]),
        ("/api/v1/reports/utilization", &["get"]),
        ("/api/v1/server-types/{type}/firmware", &["get"]),
        ("/api/v1/server-types/{type}/firmware/baseline", &["put"]),
        ("/api/v1/users", &["post"]),
        ("/api/v1/subscriptions", &["get", "post"]),
        ("/api/v1/subscriptions/{id}", &["get", "patch", "delete"]),
        ("/api/v1/deployments", &["get", "post"]),
        ("/api/v1/deployments/{id}", &["get"]),
        ("/api/v1/deployments/{id}/release", &["post"]),
        ("/api/v1/webhooks", &["get", "post"]),
        ("/api/v1/webhooks/{id}", &["get", "patch", "delete"]),
        ("/api/v1/webhooks/{id}/deliveries", &["get"]),
        ("/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", &["post"]),
        ("/api/v1/events/stream", &["get"]),
    ];
    assert_eq!(paths.len(), want.len(), "{:?}", paths.keys().collect::<Vec<_>>());
    for (path, methods) in want {
        for m in methods {
            assert!(paths[path].get(*m).is_some(), "{m} {path} missing");
        }
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert!(doc["components"]["schemas"]["Server"]["properties"].get("bmc_verify_tls").is_some());
    assert!(doc["components"]["schemas"]["Inventory"].is_object());
}

/// A client generator reads the document: every answer that has a body names its
/// schema (no prose in place of a shape), and each error answer is `ApiError`.
#[tokio::test]
async fn every_answer_in_the_openapi_document_has_a_schema() {
    let app = spawn_app().await;
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json")).await.unwrap().json().await.unwrap();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, answer) in op["responses"].as_object().unwrap() {
                // JSON answers, and the event stream's events (text/event-stream).
                let content = &answer["content"];
                let schema = if content["text/event-stream"].is_object() {
                    &content["text/event-stream"]["schema"]
                } else {
                    &content["application/json"]["schema"]
                };
                if status == "204" {
                    assert!(answer.get("content").is_none(), "{method} {path} {status} has no body");
                    continue;
                }
                if schema.is_null() {
                    missing.push(format!("{method} {path} {status}"));
                } else if status.starts_with('4') {
                    assert_eq!(schema["$ref"], "#/components/schemas/ApiError", "{method} {path} {status}");
                }
            }
        }
    }
    assert!(missing.is_empty(), "answers without a schema: {missing:?}");
    let server_view = &doc["components"]["schemas"]["ServerView"];
    assert!(server_view.is_object(), "the server detail has its own schema");
}

/// A script sends a server name where the id belongs: 400 in the API's error shape,
/// naming the problem (not a plain-text framework message).
#[tokio::test]
async fn a_malformed_path_or_query_gets_the_api_error() {
    let app = spawn_app().await;
    let admin = Api { app: &app, token: token_for(&app, Role::Admin).await };
    let (status, body) = admin.get("/api/v1/servers/web-01").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "malformed", "{body}");
    let (status, body) = admin.get("/api/v1/servers?page=first").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "malformed", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("page"), "{body}");
}

/// Every endpoint as every role: the permission table of the pages decides (403 and
/// nothing done without it); without a token, 401.
#[tokio::test]
async fn every_endpoint_as_every_role() {
    use app::domain::Permission as P;
    let app = spawn_app().await;
    let mut tokens = Vec::new();
    for role in Role::ALL {
        tokens.push((role, token_for(&app, role).await));
    }
    let endpoints: &[(&str, &str, Option<P>, Value)] = &[
        ("GET", "/api/v1/tokens", None, Value::Null),
        ("GET", "/api/v1/servers", Some(P::ViewFleet), Value::Null),
        (
            "POST",
            "/api/v1/servers",
            Some(P::AddServer),
            json!({ "name": "n-{role}", "bmc_address": "http://10.1.1.1/redfish/v1/Systems/{role}" }),
        ),
        ("GET", "/api/v1/servers/{id}", Some(P::ViewOwnServers), Value::Null),
        (
            "POST",
            "/api/v1/servers/{id}/state",
            Some(P::SetManualState),
            json!({ "state": "available", "checked": true }),
        ),
        ("POST", "/api/v1/servers/{id}/register", Some(P::StartRegistration), json!({})),
        ("POST", "/api/v1/servers/{id}/decommission", Some(P::Decommission), json!({})),
        ("POST", "/api/v1/servers/{id}/jobs/current/retry", Some(P::RetryAbortJobs), json!({})),
        ("POST", "/api/v1/servers/{id}/jobs/current/abort", Some(P::RetryAbortJobs), json!({})),
        ("GET", "/api/v1/servers/{id}/bmc-credentials", Some(P::RevealBmcCredentials), Value::Null),
        (
            "PUT",
            "/api/v1/servers/{id}/bmc",
            Some(P::EditBmc),
            json!({ "bmc_address": "http://10.9.9.9/redfish/v1/Systems/{role}", "bmc_username": "root", "generation": "{gen}" }),
        ),
        (
            "POST",
            "/api/v1/servers/{id}/hardware-acknowledgement",
            Some(P::AcknowledgeHardware),
            json!({ "generation": "{gen}", "comment": "checked by {role}" }),
        ),
        ("GET", "/api/v1/servers/{id}/events", Some(P::ViewAudit), Value::Null),
        ("GET", "/api/v1/servers/{id}/erase-certificates", Some(P::ViewAudit), Value::Null),
        ("GET", "/api/v1/jobs/{job}", Some(P::ViewAudit), Value::Null),
        ("GET", "/api/v1/servers/{id}/notes", Some(P::ViewFleet), Value::Null),
        ("PUT", "/api/v1/servers/{id}/notes", Some(P::EditNotes), json!({ "text": "by {role}", "version": 0 })),
        ("GET", "/api/v1/reports/utilization", Some(P::ViewFleet), Value::Null),
        (
            "POST",
            "/api/v1/users",
            Some(P::ManageUsers),
            json!({ "username": "u-{role}", "password": "a-long-password", "role": "viewer" }),
        ),
    ];
    let mut n = 0;
    for (method, path, permission, body) in endpoints {
        for (role, token) in &tokens {
            n += 1;
            // A fresh unavailable server of this role (tenants see their own), with
            // a job to abort or retry as the endpoint needs.
            let s = server_in_state(&app, &format!("r-{role}-{n}"), ServerState::Unavailable).await;
            let username = if *role == Role::Admin { "admin".to_string() } else { format!("api-{}", role.as_str()) };
            sqlx::query("UPDATE servers SET reserved_for = $1 WHERE id = $2")
                .bind(&username)
                .bind(s.id)
                .execute(app.backend.db.pool())
                .await
                .unwrap();
            if path.ends_with("hardware-acknowledgement") {
                sqlx::query("UPDATE servers SET hardware_changes = $1 WHERE id = $2")
                    .bind(r#"[{"component":"nic","key":"02:00:00:00:00:01","before":null,"after":"eth9"}]"#)
                    .bind(s.id)
                    .execute(app.backend.db.pool())
                    .await
                    .unwrap();
            }
            if path.ends_with("abort") {
                sqlx::query("UPDATE jobs SET status = 'queued' WHERE server_id = $1")
                    .bind(s.id)
                    .execute(app.backend.db.pool())
                    .await
                    .unwrap();
            }
            let job = common::latest_job(&app, s.id).await.0.id;
            let url = path.replace("{id}", &s.id.to_string()).replace("{job}", &job.to_string());
            let s = app.backend.server(s.id).await.unwrap();
            let body =
                body.to_string().replace("{role}", role.as_str()).replace("\"{gen}\"", &s.generation.to_string());
            let body = serde_json::from_str::<Value>(&body).unwrap();
            let api = Api { app: &app, token: token.clone() };
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let (status, answer) = api.call(method.clone(), &url, (!body.is_null()).then_some(body.clone())).await;
            let allowed = permission.is_none_or(|p| role.can(p));
            if allowed {
                assert!((200..300).contains(&status), "{method} {url} as {role}: {status} {answer}");
            } else {
                assert_eq!((status, code(&answer)), (403, "forbidden"), "{method} {url} as {role}");
            }
            let anon = Api { app: &app, token: "no-such-token".into() };
            assert_eq!(
                anon.call(method, &url, (!body.is_null()).then_some(body)).await.0,
                401,
                "{url} without a token"
            );
        }
    }
}

/// An audit event names the request (or job) that wrote it, as the logs do.
#[tokio::test]
async fn events_carry_the_request_id() {
    let app = spawn_app().await;
    let token = token(&app, "admin", ADMIN_PASSWORD).await;
    let s = server_in_state(&app, "corr", ServerState::Unavailable).await;
    let resp = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/servers/{}/state", s.id)))
        .bearer_auth(&token)
        .header("x-request-id", "change-42")
        .json(&json!({ "state": "available", "checked": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let events = app.backend.server_events(s.id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!((last.kind.as_str(), last.correlation_id.as_deref()), ("state_changed", Some("change-42")));
    // A client's id never passes for a job's.
    let resp = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/servers/{}/state", s.id)))
        .bearer_auth(&token)
        .header("x-request-id", "job-7")
        .json(&json!({ "state": "unavailable" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "client-job-7");
    let events = app.backend.server_events(s.id).await.unwrap();
    assert_eq!(events.last().unwrap().correlation_id.as_deref(), Some("client-job-7"));
}

/// Notes: versions with who and when; two editors from the same version: the second
/// save is refused with the first's change shown, and nothing is lost.
#[tokio::test]
async fn notes_versions_and_conflicts() {
    let app = spawn_app().await;
    let alice = Api { app: &app, token: token(&app, "admin", ADMIN_PASSWORD).await };
    let bob = Api { app: &app, token: token_for(&app, Role::Operator).await };
    let s = server_in_state(&app, "noted", ServerState::Unavailable).await;
    let path = format!("/api/v1/servers/{}/notes", s.id);
    let (status, empty) = bob.get(&path).await;
    assert_eq!((status, empty["version"].as_i64()), (200, Some(0)));
    let (status, v1) =
        alice.call(reqwest::Method::PUT, &path, Some(json!({ "text": "# Rack 12\nPSU swapped", "version": 0 }))).await;
    assert_eq!((status, v1["version"].as_i64()), (200, Some(1)));
    // The notes come rendered by the server (the browser has no Markdown parser).
    assert!(v1["html"].as_str().unwrap().contains("<h1>Rack 12</h1>"), "{v1}");
    // Bob edits from version 0 too: refused, with Alice's text in the message.
    let (status, body) =
        bob.call(reqwest::Method::PUT, &path, Some(json!({ "text": "bob's view", "version": 0 }))).await;
    assert_eq!((status, code(&body)), (409, "conflict"));
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("admin saved version 1") && message.contains("PSU swapped"), "{message}");
    // Bob merges and saves on top of version 1.
    let (status, v2) =
        bob.call(reqwest::Method::PUT, &path, Some(json!({ "text": "PSU swapped; bob's view", "version": 1 }))).await;
    assert_eq!((status, v2["version"].as_i64()), (200, Some(2)));
    let history = v2["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!((history[0]["author"].as_str(), history[1]["author"].as_str()), (Some("api-operator"), Some("admin")));
    let big = "x".repeat(70 * 1024);
    let (status, body) = bob.call(reqwest::Method::PUT, &path, Some(json!({ "text": big, "version": 2 }))).await;
    assert_eq!((status, code(&body)), (422, "invalid_field"));
}

/// An operator types notes with a script tag: the editor's preview, rendered by the
/// server as the saved notes will be, shows the tag as text.
#[tokio::test]
async fn the_notes_preview_is_rendered_by_the_server_and_safe() {
    let app = spawn_app().await;
    let client = app.client_for(Role::Operator).await;
    let text = "**PSU 2** <script>alert(1)</script> [x](javascript:alert(1))";
    let res = client.post(app.url("/api/preview_notes")).form(&[("text", text)]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html: String = res.json().await.unwrap();
    assert!(html.contains("<strong>PSU 2</strong>"), "{html}");
    assert!(html.contains("&lt;script&gt;") && !html.contains("<script"), "{html}");
    assert!(!html.contains("javascript:"), "{html}");
    let big = "x".repeat(70 * 1024);
    let res = client.post(app.url("/api/preview_notes")).form(&[("text", big)]).send().await.unwrap();
    assert_eq!(res.status(), 422, "{:?}", res.text().await);
}

/// The audit of user accounts (events of no server): kind and actor.
async fn user_events(app: &TestApp) -> Vec<(String, String)> {
    let mut conn = app.backend.db.conn().await.unwrap();
    sqlx::query_as("SELECT kind, actor FROM events WHERE server_id IS NULL ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

/// Tokens expire: 90 days unless asked (1 to 365), the expiry is listed, and a token
/// past it opens nothing.
#[tokio::test]
async fn tokens_expire() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let ask =
        |days: Value| json!({ "username": "admin", "password": ADMIN_PASSWORD, "name": "ci", "expires_in_days": days });
    for bad in [json!(0), json!(-3), json!(366)] {
        let r = client.post(app.url("/api/v1/tokens")).json(&ask(bad.clone())).send().await.unwrap();
        let body: Value = r.json().await.unwrap();
        assert_eq!(code(&body), "invalid_field", "{bad}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().starts_with("expires_in_days"), "{body}");
    }
    let week: Value =
        client.post(app.url("/api/v1/tokens")).json(&ask(json!(7))).send().await.unwrap().json().await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let day = 86_400_000;
    assert!((week["expires_at"].as_i64().unwrap() - (now + 7 * day)).abs() < 60_000, "{week}");
    let api = Api { app: &app, token: token(&app, "admin", ADMIN_PASSWORD).await };
    let (_, list) = api.get("/api/v1/tokens").await;
    let default = list["items"].as_array().unwrap().iter().find(|t| t["id"] != week["id"]).unwrap().clone();
    assert!((default["expires_at"].as_i64().unwrap() - (now + 90 * day)).abs() < 60_000, "{default}");
    // The week-long token a week and a bit later.
    let mut conn = app.backend.db.conn().await.unwrap();
    sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE id = $2")
        .bind(now - 1)
        .bind(week["id"].as_i64().unwrap())
        .execute(&mut *conn)
        .await
        .unwrap();
    let expired = Api { app: &app, token: week["token"].as_str().unwrap().to_string() };
    let (status, body) = expired.get("/api/v1/servers").await;
    assert_eq!((status, code(&body)), (401, "unauthorized"));
    assert_eq!(api.get("/api/v1/servers").await.0, 200);
}

/// An admin resets a user's leaked password, or disables the user: the user's API
/// tokens stop working, and re-enabling the user does not revive them.
#[tokio::test]
async fn password_reset_and_disabling_revoke_tokens() {
    let app = spawn_app().await;
    let admin = app::backend::services::Actor::user("admin");
    let first = Api { app: &app, token: token_for(&app, Role::Operator).await };
    assert_eq!(first.get("/api/v1/servers").await.0, 200);
    app.backend.set_password(&admin, "api-operator", "another-long-password", None).await.unwrap();
    assert_eq!(first.get("/api/v1/servers").await.0, 401, "revoked by the reset");
    let second = Api { app: &app, token: token(&app, "api-operator", "another-long-password").await };
    app.backend.set_disabled(&admin, "api-operator", true).await.unwrap();
    app.backend.set_disabled(&admin, "api-operator", false).await.unwrap();
    assert_eq!(second.get("/api/v1/servers").await.0, 401, "disabling revoked it for good");
    let kinds: Vec<String> = user_events(&app).await.into_iter().map(|(kind, _)| kind).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "api_tokens_revoked").count(), 2, "{kinds:?}");
}

/// An admin sees every user's tokens and revokes one (audited); other roles see only
/// their own and cannot touch anyone else's.
#[tokio::test]
async fn admins_list_and_revoke_anyones_tokens() {
    let app = spawn_app().await;
    let admin = Api { app: &app, token: token_for(&app, Role::Admin).await };
    let operator = Api { app: &app, token: token_for(&app, Role::Operator).await };
    let (status, all) = admin.get("/api/v1/tokens?all=true").await;
    assert_eq!(status, 200);
    let users: Vec<&str> = all["items"].as_array().unwrap().iter().map(|t| t["username"].as_str().unwrap()).collect();
    assert_eq!(users, ["admin", "api-operator"]);
    assert_eq!(code(&operator.get("/api/v1/tokens?all=true").await.1), "forbidden");
    let (_, own) = operator.get("/api/v1/tokens").await;
    assert_eq!(own["items"].as_array().unwrap().len(), 1);
    let admins = all["items"][0]["id"].as_i64().unwrap();
    let operators = all["items"][1]["id"].as_i64().unwrap();
    let (status, body) = operator.call(reqwest::Method::DELETE, &format!("/api/v1/tokens/{admins}"), None).await;
    assert_eq!((status, code(&body)), (404, "not_found"), "another's token is not the operator's to see");
    assert_eq!(admin.call(reqwest::Method::DELETE, &format!("/api/v1/tokens/{operators}"), None).await.0, 204);
    assert_eq!(operator.get("/api/v1/servers").await.0, 401);
    let events = user_events(&app).await;
    assert!(events.iter().any(|(kind, actor)| kind == "api_token_revoked" && actor == "admin"), "{events:?}");
}

/// A server whose notes were edited 45 times: a read returns the current text and
/// one page of 20 versions, and the pages walk back to version 1 without repeats.
#[tokio::test]
async fn notes_history_is_paged() {
    let app = spawn_app().await;
    let api = Api { app: &app, token: token(&app, "admin", ADMIN_PASSWORD).await };
    let s = server_in_state(&app, "chatty", ServerState::Unavailable).await;
    let actor = app::backend::services::Actor::user("admin");
    for v in 0..45 {
        app.backend.save_notes(&actor, s.id, &format!("edit {}", v + 1), v).await.unwrap();
    }
    let path = format!("/api/v1/servers/{}/notes", s.id);
    let (status, first) = api.get(&path).await;
    assert_eq!((status, first["version"].as_i64(), first["text"].as_str()), (200, Some(45), Some("edit 45")));
    let mut seen: Vec<i64> = Vec::new();
    let mut page = first;
    loop {
        let versions: Vec<i64> =
            page["history"].as_array().unwrap().iter().map(|v| v["version"].as_i64().unwrap()).collect();
        assert!(versions.len() <= 20, "{versions:?}");
        seen.extend(versions);
        match page["next_before"].as_i64() {
            Some(before) => page = api.get(&format!("{path}?before={before}")).await.1,
            None => break,
        }
    }
    assert_eq!(seen, (1..=45).rev().collect::<Vec<_>>());
    let (status, small) = api.get(&format!("{path}?limit=5")).await;
    assert_eq!((status, small["history"].as_array().unwrap().len(), small["next_before"].as_i64()), (200, 5, Some(41)));
    assert_eq!(code(&api.get(&format!("{path}?limit=0")).await.1), "invalid_field");
    assert_eq!(code(&api.get(&format!("{path}?limit=1000")).await.1), "invalid_field");
    assert_eq!(api.get(&format!("{path}?before=x")).await.0, 400);
}

/// Subscriptions and deployments over the API: who may do what, all-or-nothing with
/// `insufficient_capacity` naming what is missing, tenant isolation, release -> cleaning.
#[tokio::test]
async fn subscriptions_and_deployments() {
    let app = spawn_app().await;
    let (_, label) = common::typed_available(&app, "p", 0, 4).await;
    let admin = Api { app: &app, token: token_for(&app, Role::Admin).await };
    let operator = Api { app: &app, token: token_for(&app, Role::Operator).await };
    let viewer = Api { app: &app, token: token_for(&app, Role::Viewer).await };
    let tenant = Api { app: &app, token: token_for(&app, Role::Tenant).await };
    let (status, _) =
        admin.post("/api/v1/users", json!({ "username": "other", "password": USER_PASSWORD, "role": "tenant" })).await;
    assert_eq!(status, 201);
    let other = Api { app: &app, token: token(&app, "other", USER_PASSWORD).await };

    // Subscriptions: admins only; the answer says how full it is.
    let want = json!({ "username": "api-tenant", "server_type": label, "count": 2 });
    assert_eq!(operator.post("/api/v1/subscriptions", want.clone()).await.0, 403);
    let (status, sub) = admin.post("/api/v1/subscriptions", want).await;
    assert_eq!(status, 201, "{sub}");
    assert_eq!((sub["filled"].as_i64(), sub["short"].as_i64()), (Some(2), Some(0)));
    let sub_url = format!("/api/v1/subscriptions/{}", sub["id"]);
    let (status, bad) = admin
        .post("/api/v1/subscriptions", json!({ "username": "api-tenant", "server_type": label, "count": 0 }))
        .await;
    assert_eq!((status, code(&bad)), (422, "invalid_field"));
    assert!(bad["error"]["message"].as_str().unwrap().starts_with("count"));
    let (status, bad) = admin.post("/api/v1/subscriptions", json!({ "username": "api-tenant", "colour": "red" })).await;
    assert_eq!((status, code(&bad)), (400, "malformed"));
    // Tenants read their own subscriptions, not others'.
    let (status, mine) = tenant.get("/api/v1/subscriptions").await;
    assert_eq!((status, mine["items"].as_array().unwrap().len()), (200, 1));
    assert_eq!(other.get(&sub_url).await.0, 404);
    assert_eq!(other.get("/api/v1/subscriptions").await.1["items"].as_array().unwrap().len(), 0);

    // Allocation: all or nothing; viewers may not; operators name the tenant.
    assert_eq!(viewer.post("/api/v1/deployments", json!({ "server_type": label, "count": 1 })).await.0, 403);
    let (status, e) = tenant.post("/api/v1/deployments", json!({ "server_type": label, "count": 5 })).await;
    assert_eq!((status, code(&e)), (409, "insufficient_capacity"), "{e}");
    assert_eq!((e["error"]["requested"].as_i64(), e["error"]["missing"].as_i64()), (Some(5), Some(1)));
    let (status, e) = other.post("/api/v1/deployments", json!({ "server_type": label, "count": 3 })).await;
    assert_eq!((status, e["error"]["missing"].as_i64()), (409, Some(1)), "the reserved two are not other's");
    let (status, e) =
        other.post("/api/v1/deployments", json!({ "server_type": label, "count": 1, "username": "api-tenant" })).await;
    assert_eq!((status, code(&e)), (403, "forbidden"));
    let (status, e) = operator.post("/api/v1/deployments", json!({ "server_type": label, "count": 1 })).await;
    assert_eq!((status, code(&e)), (422, "invalid_field"));
    let (status, d) = tenant.post("/api/v1/deployments", json!({ "server_type": label, "count": 3 })).await;
    assert_eq!(status, 201, "{d}");
    assert_eq!(d["servers"].as_array().unwrap().len(), 3);
    assert!(d["members"].as_array().unwrap().iter().all(|m| m["state"] == "used"));
    let d_url = format!("/api/v1/deployments/{}", d["id"]);
    assert_eq!(other.get(&d_url).await.0, 404, "another tenant's deployment does not exist for it");
    assert_eq!(other.post(&format!("{d_url}/release"), json!({})).await.0, 404);
    assert_eq!(operator.get("/api/v1/deployments").await.1["items"].as_array().unwrap().len(), 1);
    // A tenant sees its used servers, not others'.
    let first = d["servers"][0].as_i64().unwrap();
    assert_eq!(tenant.get(&format!("/api/v1/servers/{first}")).await.0, 200);
    assert_eq!(other.get(&format!("/api/v1/servers/{first}")).await.0, 404);
    // A running job's steps name the BMC: the tenant reads them without its address.
    let address = app.backend.server(first).await.unwrap().bmc_address;
    {
        let mut conn = app.backend.db.conn().await.unwrap();
        let job =
            app::backend::store::jobs::enqueue(&mut conn, first, app::domain::JobKind::Clean, "{}", 1).await.unwrap();
        let line = format!("checking the BMC at {address}");
        app::backend::store::jobs::log_step(&mut conn, job, &line, 1).await.unwrap();
    }
    let (_, seen) = tenant.get(&format!("/api/v1/servers/{first}")).await;
    let steps = seen["current_job"]["steps"].to_string();
    assert!(steps.contains("checking the BMC at the BMC") && !steps.contains("127.0.0.1"), "{steps}");
    assert!(seen["bmc_address"].is_null());
    let (_, full) = admin.get(&format!("/api/v1/servers/{first}")).await;
    assert!(full["current_job"]["steps"].to_string().contains(&address), "admins see the address");
    common::end_jobs(&app, first).await;

    // Release one server, then the rest (operators may act for the tenant).
    let (status, r) = tenant.post(&format!("{d_url}/release"), json!({ "servers": [first] })).await;
    assert_eq!((status, r["servers"].as_array().unwrap().len()), (202, 2), "{r}");
    assert_eq!(app.backend.server(first).await.unwrap().state, ServerState::Cleaning);
    let (status, r) = operator.post(&format!("{d_url}/release"), json!({})).await;
    assert_eq!((status, r["status"].as_str()), (202, Some("released")), "{r}");
    let (status, e) = tenant.post(&format!("{d_url}/release"), json!({})).await;
    assert_eq!((status, code(&e)), (409, "conflict"));

    // Resize and end.
    let resize = admin.call(reqwest::Method::PATCH, &sub_url, Some(json!({ "count": 1 }))).await;
    assert_eq!(resize.0, 200, "{}", resize.1);
    let (status, ended) = admin.call(reqwest::Method::DELETE, &sub_url, None).await;
    assert_eq!(status, 200);
    assert!(ended["ended_at"].is_i64());
    assert_eq!(admin.call(reqwest::Method::DELETE, &sub_url, None).await.0, 409);
}
