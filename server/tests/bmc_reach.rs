//! The BMC address reaches no further than a BMC: each test is an SSRF attack from
//! the hardening issue, reproduced against the real app or the Redfish driver.

mod common;

use app::backend::BmcReach;
use app::backend::services::{Actor, NewServer, ServiceError};
use app::domain::bmc_address::BmcNetworks;
use rackstate_server::bmc::Bmc;
use rackstate_server::bmc::redfish::RedfishBmc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A stub "BMC" on loopback answering every request with `answer`; returns its URL
/// and the paths it was asked for.
async fn stub(answer: axum::response::Response) -> (String, Arc<Mutex<Vec<String>>>) {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let seen = hits.clone();
    let answer = Arc::new(Mutex::new(Some(answer)));
    let template = {
        let a = answer.lock().unwrap().take().unwrap();
        let (parts, body) = a.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, bytes)
    };
    let router = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let seen = seen.clone();
        let (status, headers, bytes) = template.clone();
        async move {
            seen.lock().unwrap().push(uri.path().to_string());
            (status, headers, bytes)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, hits)
}

fn loopback() -> BmcReach {
    BmcReach { networks: BmcNetworks::any().with("127.0.0.0/8"), max_response_bytes: 64 * 1024, ..Default::default() }
}

fn new_server(name: &str, address: &str) -> NewServer {
    NewServer { name: name.into(), bmc_address: address.into(), bmc_username: "root".into(), ..Default::default() }
}

/// An operator enters the cloud metadata address, a link-local one, loopback (no lab,
/// not listed), Rackstate's own listener or a path with `..`: each is refused on
/// `bmc_address`, nothing is added.
#[tokio::test]
async fn forbidden_addresses_are_refused_when_entered() {
    let app = common::spawn_app_with(|s| s.bmc_networks = BmcNetworks::any()).await;
    let own = app.base.clone();
    for (i, address) in [
        "169.254.169.254",
        "http://169.254.169.254/latest/meta-data",
        "https://[fe80::1]",
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        own.as_str(),
        "http://10.0.0.5/redfish/v1/Systems/../../../admin",
        "http://10.0.0.5/redfish/%2e%2e/x",
        "0.0.0.0",
    ]
    .iter()
    .enumerate()
    {
        let e =
            app.backend.add_server(&Actor::user("admin"), &new_server(&format!("s{i}"), address)).await.unwrap_err();
        assert!(matches!(e, ServiceError::Invalid { field: "bmc_address", .. }), "{address}: {e:?}");
    }
    assert_eq!(app.backend.servers_total().await.unwrap(), 0);
    app.backend.add_server(&Actor::user("admin"), &new_server("ok", "10.0.0.5")).await.unwrap();
}

/// A name that resolves to a forbidden address now (DNS changed since it was
/// entered) gets no request: the connection is refused before anything is sent.
#[tokio::test]
async fn a_name_resolving_to_a_forbidden_address_gets_no_request() {
    let (url, hits) = stub(axum::Json(serde_json::json!({})).into_response_helper()).await;
    let port = url.rsplit(':').next().unwrap();
    let reach = BmcReach { networks: BmcNetworks::any(), ..Default::default() };
    let bmc = RedfishBmc::new(&format!("http://localhost:{port}"), "root", "calvin", true, &reach).unwrap();
    let e = bmc.system().await.unwrap_err();
    assert!(e.to_string().contains("loopback"), "{e}");
    assert!(hits.lock().unwrap().is_empty(), "no request reached it");
    let e = RedfishBmc::new(&url, "root", "calvin", true, &reach).unwrap_err();
    assert!(e.to_string().contains("not sent") && e.to_string().contains("loopback"), "{e}");
}

/// A "BMC" that redirects elsewhere: the redirect is not followed (the credentials
/// would go with it), and the error says so.
#[tokio::test]
async fn redirects_are_not_followed() {
    let (target, target_hits) = stub(axum::Json(serde_json::json!({ "Members": [] })).into_response_helper()).await;
    let redirect = axum::response::Redirect::temporary(&format!("{target}/stolen")).into_response_helper();
    let (url, _) = stub(redirect).await;
    let bmc = RedfishBmc::new(&url, "root", "calvin", true, &loopback()).unwrap();
    let e = bmc.system().await.unwrap_err();
    assert!(e.to_string().contains("redirects are not followed"), "{e}");
    assert!(target_hits.lock().unwrap().is_empty(), "the redirect target got nothing");
}

/// A 400 MB answer is not read: past the cap the exchange fails clearly.
#[tokio::test]
async fn oversized_answers_are_not_read() {
    let huge = "x".repeat(1024 * 1024);
    let (url, _) = stub(
        ([(axum::http::header::CONTENT_TYPE, "application/json")], format!("{{\"pad\": \"{huge}\"}}"))
            .into_response_helper(),
    )
    .await;
    let bmc = RedfishBmc::new(&url, "root", "calvin", true, &loopback()).unwrap();
    let e = bmc.system().await.unwrap_err();
    assert!(e.to_string().contains("larger than 65536 bytes"), "{e}");
}

/// A local service's error page holding a secret: the job's error keeps the status
/// and a generic reason, not a character of the body (viewers read last_error).
#[tokio::test]
async fn error_bodies_are_not_copied() {
    let (url, _) = stub(
        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "aws_secret_access_key=SECRET-1234 internal details")
            .into_response_helper(),
    )
    .await;
    let app = common::spawn_app_with(|s| {
        s.workers = 2;
        s.bmc_timeout = Duration::from_secs(2);
    })
    .await;
    let mut new = new_server("leaky", &url);
    new.bmc_password = Some(app::backend::secrets::SecretString::new("calvin"));
    let s = app.backend.add_server(&Actor::user("admin"), &new).await.unwrap();
    let s = common::wait_for_server(&app, s.id, Duration::from_secs(60), |s| s.last_error.is_some()).await;
    let error = s.last_error.unwrap();
    assert!(error.contains("HTTP 500") && !error.contains("SECRET"), "{error}");
}

trait IntoResponseHelper {
    fn into_response_helper(self) -> axum::response::Response;
}

impl<T: axum::response::IntoResponse> IntoResponseHelper for T {
    fn into_response_helper(self) -> axum::response::Response {
        self.into_response()
    }
}
