//! Request guards in front of every route: who is calling (from the session), whether
//! they may (the endpoint table), whether a state change came from our own pages
//! (Origin check), and the security headers on every response.

use app::api::{Access, access_for, ssr::CurrentUser};
use app::backend::Backend;
use app::backend::store::sessions::USER_ID_KEY;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

/// Paths anyone may load without logging in.
fn is_public_path(path: &str) -> bool {
    path == "/login"
        || path == "/healthz"
        || path == "/readyz"
        || path == "/metrics"
        || path == "/favicon.ico"
        || path == "/favicon.svg"
        || path.starts_with("/pkg/")
}

/// Resolves the caller and enforces the endpoint table (server functions) and the
/// login requirement (pages). Anonymous calls get 401 (server functions) or a
/// redirect to the login page (pages); calls without the permission get 403.
pub async fn authorize(State(backend): State<Backend>, session: Session, mut req: Request, next: Next) -> Response {
    let user = match session.get::<i64>(USER_ID_KEY).await {
        Ok(Some(id)) => match backend.active_user(id).await {
            Ok(Some(u)) => Some(u),
            Ok(None) => {
                // Deleted or disabled since login: the session is worthless.
                let _ = session.flush().await;
                None
            }
            Err(e) => {
                tracing::error!(error = %app::backend::error_chain(&e), "resolving the session's user");
                return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response();
            }
        },
        Ok(None) => None,
        // The database did not answer: the caller may well be logged in, so neither a
        // login page nor a 401 would be true.
        Err(e @ tower_sessions::session::Error::Store(tower_sessions::session_store::Error::Backend(_))) => {
            tracing::error!(error = %app::backend::error_chain(&e), "reading the session");
            return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response();
        }
        // A session that cannot be decoded is no session.
        Err(e) => {
            tracing::warn!(error = %app::backend::error_chain(&e), "reading the session");
            None
        }
    };
    let path = req.uri().path().to_string();
    if path.starts_with("/api/v1/") {
        // The REST routes answer before this guard; anything else under /api/v1 is unknown.
        let body = serde_json::json!({ "error": { "code": "not_found", "message": "no such API endpoint" } });
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    if path.starts_with("/api/") {
        let Some(access) = access_for(&path) else {
            return error(StatusCode::NOT_FOUND, "no such endpoint");
        };
        match (access, &user) {
            (Access::Public, _) => {}
            (_, None) => return error(StatusCode::UNAUTHORIZED, "log in first"),
            (access, Some(u)) if access.allows(u.role) => {}
            (access, Some(u)) => {
                return error(StatusCode::FORBIDDEN, &format!("your role ({}) may not {}", u.role, access.describe()));
            }
        }
    } else if user.is_none() && !is_public_path(&path) {
        let target = match req.uri().path_and_query() {
            Some(pq) => format!("/login?next={}", urlencode(pq.as_str())),
            None => "/login".into(),
        };
        return Redirect::to(&target).into_response();
    }
    req.extensions_mut().insert(CurrentUser(user));
    next.run(req).await
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message.to_string()).into_response()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Refuses state-changing requests that a page on another site sent on behalf of a
/// logged-in user: the Origin must be this site's, and Sec-Fetch-Site must not be
/// cross-site. Requests with neither header (scripts, curl) pass; they carry no
/// browser's ambient cookies unless the caller chose to send them.
pub async fn same_origin(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    if !same_origin_ok(req.headers()) {
        tracing::warn!(origin = ?req.headers().get(header::ORIGIN), path = %req.uri().path(), "cross-origin request refused");
        return error(StatusCode::FORBIDDEN, "cross-site request refused");
    }
    next.run(req).await
}

fn same_origin_ok(h: &HeaderMap) -> bool {
    if let Some(origin) = h.get(header::ORIGIN) {
        let (Ok(origin), Some(host)) = (origin.to_str(), h.get(header::HOST).and_then(|v| v.to_str().ok())) else {
            return false;
        };
        let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
        return origin_host.eq_ignore_ascii_case(host);
    }
    !matches!(h.get("sec-fetch-site").and_then(|v| v.to_str().ok()), Some("cross-site"))
}

/// Security headers for every response. HTML pages set their own CSP with a nonce
/// for the hydration script (see app::ui::shell); this one covers everything else.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// Decides the client's address once (`RACKSTATE_TRUSTED_PROXIES` says whose
/// `X-Forwarded-For` counts) and hands it on as `ClientIp` for throttling and logs.
pub async fn client_address(
    State(proxies): State<std::sync::Arc<app::domain::client_addr::TrustedProxies>>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let forwarded: Vec<&str> =
        req.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    let client = proxies.client(peer, &forwarded);
    req.extensions_mut().insert(app::backend::ClientIp(client));
    next.run(req).await
}

/// Gives every request an id (the caller's `x-request-id`, if sane, else a new one),
/// runs it inside a `request` span carrying the id (so every log line of the request
/// has it), returns the id in `x-request-id`, and logs method, path, status and time
/// (reads that succeed at DEBUG, the rest at INFO, server errors at WARN).
pub async fn request_id(req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        // "job-<id>" names a job's work in the audit: a client cannot claim it.
        .map(|v| if v.starts_with("job-") { format!("client-{v}") } else { v.to_string() })
        .unwrap_or_else(|| app::backend::secrets::random_token()[..16].to_string());
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let span = tracing::info_span!("request", id = %id, %method, %path);
    let started = std::time::Instant::now();
    let mut res = app::backend::CORRELATION_ID.scope(id.clone(), next.run(req).instrument(span.clone())).await;
    let status = res.status().as_u16();
    crate::metrics::http_request(method.as_str(), status, started.elapsed());
    // Writes and failures at INFO; successful reads (pages, lists, polling) at DEBUG,
    // so the log stays proportionate under load (RACKSTATE_LOG still overrides).
    let ms = started.elapsed().as_millis() as u64;
    let read = matches!(method, axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS);
    span.in_scope(|| match status {
        500.. => tracing::warn!(status, ms, "request"),
        _ if read && status < 400 => tracing::debug!(status, ms, "request"),
        _ => tracing::info!(status, ms, "request"),
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// A server function that could not read its arguments (one missing, a wrong type, a
/// wrong content type) is the client's mistake: 400 with the reason, not 500
/// (`ActionError`'s kind says which it was).
pub async fn server_fn_input_errors(req: Request, next: Next) -> Response {
    let is_server_fn = req.uri().path().starts_with("/api/") && !req.uri().path().starts_with("/api/v1/");
    let res = next.run(req).await;
    if !is_server_fn || res.status() != axum::http::StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, axum::body::Body::from("internal error"));
    };
    if serde_json::from_slice::<app::api::ActionError>(&bytes).is_ok_and(|e| e.kind == app::api::ErrorKind::BadInput) {
        parts.status = axum::http::StatusCode::BAD_REQUEST;
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    /// Our own origin passes; another site's is refused; no headers passes.
    #[test]
    fn origin_rules() {
        assert!(same_origin_ok(&headers(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")])));
        assert!(!same_origin_ok(&headers(&[("host", "127.0.0.1:3000"), ("origin", "https://evil.example")])));
        assert!(!same_origin_ok(&headers(&[("host", "127.0.0.1:3000"), ("sec-fetch-site", "cross-site")])));
        assert!(same_origin_ok(&headers(&[("host", "127.0.0.1:3000")])));
    }
}
