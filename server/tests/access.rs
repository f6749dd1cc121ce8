//! Every server function and page, called as anonymous, viewer, tenant, operator and
//! admin. Anonymous gets 401 (pages redirect to login); a role without the permission
//! gets 403 and nothing changes; an allowed role gets its answer. A server function
//! missing from the endpoint table or from this test's arguments fails the test.

mod common;
use app::api::{Access, ENDPOINTS, access_for};
use app::domain::{Role, ServerState};
use common::{TestApp, server_in_state, spawn_app};

/// Valid arguments for each endpoint (form-encoded). `{id}` and `{gen}` are a fresh
/// unavailable server's; `{role}` makes names unique per caller.
fn args(path: &str) -> Option<Vec<(&'static str, &'static str)>> {
    Some(match path {
        "/api/login" => vec![("username", "admin"), ("password", common::ADMIN_PASSWORD)],
        "/api/whoami" | "/api/logout" | "/api/utilization" | "/api/list_users" | "/api/list_api_tokens" => vec![],
        "/api/notes_history" => vec![("id", "{id}"), ("before", "5")],
        "/api/accept_bmc_certificate" => {
            vec![("id", "{id}"), ("fingerprint", "abababababababababababababababababababababababababababababababab")]
        }
        "/api/revoke_api_token" => vec![("id", "{token}")],
        "/api/subscriptions_data" | "/api/tenant_usage" | "/api/deployments_data" => vec![],
        "/api/create_subscription" => vec![("username", "tenant"), ("server_type", "{type}"), ("count", "1")],
        "/api/resize_subscription" => vec![("id", "{subscription}"), ("count", "2")],
        "/api/end_subscription" => vec![("id", "{subscription}")],
        "/api/allocate" => vec![("server_type", "{type}"), ("count", "1"), ("username", "tenant")],
        "/api/release_deployment" => vec![("id", "{deployment}")],
        "/api/change_password" => vec![("current", "{password}"), ("new_password", "{password}")],
        "/api/list_servers" => vec![("state", "unavailable"), ("server_type", "M.8.16")],
        "/api/server_detail" | "/api/server_activity" | "/api/reveal_bmc_credentials" => vec![("id", "{id}")],
        "/api/add_server" => vec![
            ("name", "new-{role}"),
            ("bmc_address", "http://10.9.9.9/redfish/v1/Systems/{role}"),
            ("bmc_username", "root"),
            ("bmc_password", "calvin"),
            ("datacenter", "dc"),
            ("rack", "r1"),
        ],
        "/api/set_server_state" => {
            vec![("id", "{id}"), ("action", "set_available"), ("generation", "{gen}"), ("checked", "on")]
        }
        "/api/acknowledge_hardware" => vec![("id", "{id}"), ("generation", "{gen}"), ("comment", "checked by {role}")],
        "/api/firmware_drift" => vec![],
        "/api/rotate_bmc_password" => vec![("id", "{id}")],
        "/api/set_firmware_baseline" => {
            vec![("server_type", "{type}"), ("component[]", "BMC"), ("version[]", "2.10.4")]
        }
        "/api/adopt_common_firmware" => vec![("server_type", "{type}")],
        "/api/webhooks_data" => vec![("webhook", "{webhook}")],
        "/api/add_webhook" => vec![("url", "http://127.0.0.1:9/{role}"), ("topics[]", "state_changes")],
        "/api/set_webhook_enabled" => vec![("id", "{webhook}"), ("enabled", "false")],
        "/api/remove_webhook" => vec![("id", "{webhook}"), ("confirm", "yes")],
        "/api/redeliver_webhook" => vec![("webhook_id", "{webhook}"), ("delivery_id", "{delivery}")],
        "/api/bulk_action" => vec![("action", "re_register"), ("targets[]", "{id}:{gen}")],
        "/api/change_bmc" => vec![
            ("id", "{id}"),
            ("generation", "{gen}"),
            ("bmc_address", "http://10.8.8.8/redfish/v1/Systems/{role}"),
            ("bmc_username", "root"),
            ("bmc_password", ""),
        ],
        "/api/start_registration" | "/api/decommission_server" => vec![("id", "{id}"), ("generation", "{gen}")],
        "/api/retry_job" | "/api/abort_job" => vec![("id", "{id}")],
        "/api/request_power" => vec![("id", "{id}"), ("request", "on")],
        "/api/images_data" => vec![],
        "/api/add_image" => vec![
            ("name", "img-{role}"),
            ("url", "http://127.0.0.1:9/{role}.raw"),
            ("sha256", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            ("format", "raw"),
        ],
        "/api/retire_image" => vec![("id", "{image}")],
        "/api/redeploy_server" => vec![("id", "{id}"), ("image", "{image_name}"), ("overwrite", "on")],
        "/api/set_root_disk" => vec![("id", "{id}"), ("serial", "")],
        "/api/preview_notes" => vec![("text", "**preview by {role}**")],
        "/api/save_notes" => vec![("id", "{id}"), ("text", "# notes by {role}"), ("version", "0")],
        "/api/create_user" => {
            vec![("username", "made-by-{role}"), ("password", "another-long-password"), ("role", "viewer")]
        }
        "/api/set_user_role" => vec![("username", "victim"), ("role", "operator")],
        "/api/set_user_disabled" => vec![("username", "victim"), ("disabled", "false")],
        "/api/reset_user_password" => vec![("username", "victim"), ("password", "reset-long-password")],
        _ => return None,
    })
}

/// Rows in the tables a call could change: a refused call must leave them alone.
async fn snapshot(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    let tables = [
        "servers",
        "events",
        "users",
        "server_types",
        "subscriptions",
        "deployments",
        "deployment_servers",
        "api_tokens",
    ];
    for table in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(app.backend.db.pool())
            .await
            .unwrap();
        out.push(n);
    }
    let gens: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(generation), 0) AS BIGINT) FROM servers")
        .fetch_one(app.backend.db.pool())
        .await
        .unwrap();
    out.push(gens);
    out
}

/// The snapshot, minus the server (with its event and generation) that `call()`
/// adds as a fixture before each call.
async fn snapshot_without_fixture(app: &TestApp) -> Vec<i64> {
    let mut s = snapshot(app).await;
    s[0] -= 1;
    s[1] -= 1;
    let gens = s.len() - 1;
    s[gens] -= 1;
    s
}

/// Values for the placeholders of subscription and deployment calls: a type with
/// available servers, a fresh subscription and a fresh deployment of the tenant
/// `tenant`. Made before the call's snapshot, so they count as state before it.
async fn prepare(app: &TestApp, path: &str) -> Vec<(&'static str, String)> {
    use app::backend::services::allocation::{AllocationRequest, NewSubscription};
    let mut out = Vec::new();
    if path == "/api/retire_image" || path == "/api/redeploy_server" {
        // A fresh catalog image to retire or deploy.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let new = app::domain::images::NewImage {
            name: format!("fixture-{n}"),
            url: "http://127.0.0.1:9/fixture.raw".into(),
            sha256: "ab".repeat(32),
            format: "raw".into(),
            min_disk_gib: None,
        };
        let image = app.backend.add_image(&Actor::user("admin"), &new).await.unwrap();
        out.push(("{image}", image.id.to_string()));
        out.push(("{image_name}", image.name));
    }
    if path.contains("webhook") {
        // A webhook with a delivery that failed (nothing sends here: no workers).
        let admin = app.backend.list_users().await.unwrap().into_iter().find(|u| u.username == "admin").unwrap();
        let req = app::backend::services::webhooks::WebhookRequest {
            url: "http://127.0.0.1:9/fixture".into(),
            topics: app::domain::webhooks::Topics::all(),
            ..Default::default()
        };
        let hook = app.backend.add_webhook(&admin, &req).await.unwrap().webhook;
        let delivery: i64 = sqlx::query_scalar(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, status, created_at, next_attempt_at) \
             SELECT $1, MAX(id), 'failed', 0, 0 FROM events RETURNING id",
        )
        .bind(hook.id)
        .fetch_one(app.backend.db.pool())
        .await
        .unwrap();
        out.push(("{webhook}", hook.id.to_string()));
        out.push(("{delivery}", delivery.to_string()));
    }
    if path == "/api/revoke_api_token" {
        // A token of victim's (victim's password may have been reset by an earlier call).
        let victim = app.backend.list_users().await.unwrap().into_iter().find(|u| u.username == "victim").unwrap();
        let mut conn = app.backend.db.conn().await.unwrap();
        let hash = app::backend::secrets::token_hash(&app::backend::secrets::random_token());
        let far = i64::MAX / 2;
        let id = app::backend::store::api_tokens::insert(&mut conn, victim.id, "victim's script", &hash, 0, far)
            .await
            .unwrap();
        out.push(("{token}", id.to_string()));
    }
    let Some(label) = sqlx::query_scalar::<_, String>("SELECT label FROM server_types ORDER BY id LIMIT 1")
        .fetch_optional(app.backend.db.pool())
        .await
        .unwrap()
    else {
        return out;
    };
    out.push(("{type}", label.clone()));
    let admin = Actor::user("admin");
    if path.ends_with("_subscription") {
        let new =
            NewSubscription { username: "tenant".into(), server_type: label.clone(), count: 1, ..Default::default() };
        out.push(("{subscription}", app.backend.create_subscription(&admin, &new).await.unwrap().id.to_string()));
    }
    if path == "/api/release_deployment" {
        let users = app.backend.list_users().await.unwrap();
        let tenant = users.iter().find(|u| u.username == "tenant").unwrap();
        let req = AllocationRequest { tenant: None, server_type: label, count: 1, image: None, ..Default::default() };
        out.push(("{deployment}", app.backend.allocate(tenant, &req).await.unwrap().id.to_string()));
    }
    out
}

async fn call(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    role: &str,
    prepared: &[(&'static str, String)],
) -> reqwest::StatusCode {
    let s =
        server_in_state(app, &format!("t-{role}-{}", path.trim_start_matches("/api/")), ServerState::Unavailable).await;
    // A tenant may see its own servers only: make this one the tenant's.
    sqlx::query("UPDATE servers SET reserved_for = $1 WHERE id = $2")
        .bind(role)
        .bind(s.id)
        .execute(app.backend.db.pool())
        .await
        .unwrap();
    if path == "/api/accept_bmc_certificate" {
        // Something to accept: a certificate the BMC presented instead of the pinned one.
        sqlx::query("UPDATE servers SET bmc_cert_sha256 = $1, bmc_cert_offered = $2 WHERE id = $3")
            .bind("cd".repeat(32))
            .bind("ab".repeat(32))
            .bind(s.id)
            .execute(app.backend.db.pool())
            .await
            .unwrap();
    }
    if path == "/api/acknowledge_hardware" {
        // Something to acknowledge: a disk a registration found missing.
        sqlx::query("UPDATE servers SET hardware_changes = $1 WHERE id = $2")
            .bind(r#"[{"component":"disk","key":"S1","before":"a disk","after":null}]"#)
            .bind(s.id)
            .execute(app.backend.db.pool())
            .await
            .unwrap();
    }
    if path == "/api/rotate_bmc_password" {
        // A stored password to rotate.
        let binding = app::backend::services::identity::bmc_binding(&s.bmc_address, s.bmc_verify_tls);
        let sealed = app.backend.secrets.seal_for(&app::backend::secrets::SecretString::new("calvin"), &binding);
        sqlx::query("UPDATE servers SET bmc_secret = $1 WHERE id = $2")
            .bind(sealed)
            .bind(s.id)
            .execute(app.backend.db.pool())
            .await
            .unwrap();
    }
    if path == "/api/request_power" || path == "/api/redeploy_server" {
        // Tenants power their own used servers.
        sqlx::query("UPDATE servers SET state = 'used' WHERE id = $1")
            .bind(s.id)
            .execute(app.backend.db.pool())
            .await
            .unwrap();
    }
    if path == "/api/abort_job" {
        // Something to abort: the fixture's registration job, running again.
        sqlx::query("UPDATE jobs SET status = 'queued' WHERE server_id = $1")
            .bind(s.id)
            .execute(app.backend.db.pool())
            .await
            .unwrap();
    }
    let password = if role == "admin" { common::ADMIN_PASSWORD } else { common::USER_PASSWORD };
    let form: Vec<(String, String)> = args(path)
        .unwrap_or_else(|| panic!("{path}: add arguments for it to tests/access.rs"))
        .into_iter()
        .map(|(k, v)| {
            let mut v = v.to_string();
            for (placeholder, value) in prepared {
                v = v.replace(placeholder, value);
            }
            let v = v
                .replace("{id}", &s.id.to_string())
                .replace("{gen}", &s.generation.to_string())
                .replace("{role}", role)
                .replace("{password}", password);
            (k.to_string(), v)
        })
        .collect();
    client.post(app.url(path)).form(&form).send().await.unwrap().status()
}

/// The endpoint table covers every registered server function, and nothing else.
#[test]
fn endpoint_table_covers_every_server_function() {
    let registered: Vec<String> = leptos::server_fn::axum::server_fn_paths().map(|(p, _)| p.to_string()).collect();
    for p in &registered {
        assert!(access_for(p).is_some(), "server function {p} is missing from app::api::ENDPOINTS");
        assert!(args(p).is_some(), "server function {p} is missing from tests/access.rs args()");
    }
    for (p, _) in ENDPOINTS {
        assert!(registered.iter().any(|r| r == p), "ENDPOINTS lists {p}, which is no server function");
    }
}

/// Each server function as each kind of caller.
#[tokio::test]
async fn every_server_function_as_every_role() {
    let app = spawn_app().await;
    let admin = Actor::user("admin");
    app.backend.create_user(&admin, "victim", "victim-long-password", Role::Viewer).await.unwrap();
    // A tenant and a pool of servers for the subscription and deployment calls.
    app.backend.create_user(&admin, "tenant", common::USER_PASSWORD, Role::Tenant).await.unwrap();
    common::typed_available(&app, "pool", 0, 40).await;
    for (path, access) in ENDPOINTS {
        // Anonymous.
        let prepared = prepare(&app, path).await;
        let before = snapshot(&app).await;
        let anon = app.anonymous();
        let status = call(&app, &anon, path, "anon", &prepared).await;
        match access {
            Access::Public => assert_ne!(status, 401, "{path} anonymous"),
            _ => {
                assert_eq!(status, 401, "{path} anonymous");
                assert_eq!(snapshot_without_fixture(&app).await, before, "{path}: anonymous call changed something");
            }
        }
        for role in Role::ALL {
            let client = app.client_for(role).await;
            let prepared = prepare(&app, path).await;
            let before = snapshot(&app).await;
            let status = call(&app, &client, path, role.as_str(), &prepared).await;
            let allowed = access.allows(role);
            if allowed {
                assert!(status.is_success() || status.is_redirection(), "{path} as {role}: {status}");
            } else {
                assert_eq!(status, 403, "{path} as {role}");
                assert_eq!(
                    snapshot_without_fixture(&app).await,
                    before,
                    "{path}: forbidden call as {role} changed something"
                );
            }
        }
    }
}

use app::backend::services::Actor;

/// Every page: anonymous visitors are redirected to login; logged-in users get it.
#[tokio::test]
async fn every_page_needs_login() {
    let app = spawn_app().await;
    let s = server_in_state(&app, "page", ServerState::Available).await;
    let routes = leptos_axum::generate_route_list(app::App);
    assert!(!routes.is_empty());
    sqlx::query("UPDATE servers SET reserved_for = 'tenant' WHERE id = $1")
        .bind(s.id)
        .execute(app.backend.db.pool())
        .await
        .unwrap();
    for route in routes {
        let pattern = route.path().to_string();
        let access = app::ui::PAGES
            .iter()
            .find(|(p, _)| *p == pattern)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("page {pattern} is missing from app::ui::PAGES"));
        let path = pattern.replace("{id}", &s.id.to_string());
        let anon = app.anonymous().get(app.url(&path)).send().await.unwrap();
        if path == "/login" {
            assert_eq!(anon.status(), 200);
            continue;
        }
        assert!(anon.status().is_redirection(), "{path} anonymous: {}", anon.status());
        assert!(anon.headers()["location"].to_str().unwrap().starts_with("/login?next="));
        for role in Role::ALL {
            let client = app.client_for(role).await;
            let resp = client.get(app.url(&path)).send().await.unwrap();
            let allowed = access.allows(role);
            let status = resp.status();
            let html = resp.text().await.unwrap();
            if allowed {
                assert_eq!(status, 200, "{path} as {role}");
            } else {
                assert_eq!(status, 403, "{path} as {role}");
                assert!(html.contains("may not"), "{path} as {role}: the page should say why");
            }
        }
    }
}
