//! The JSON error answer of the machine-facing APIs (REST and agent):
//! `{"error": {"code": "<snake_case>", "message": "..."}}`.

use app::backend::services::ServiceError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}

/// A service error with the status every edge uses for it.
/// An allocation that could not be filled also says, as numbers, how many servers
/// were asked for and how many are missing; a database that is unavailable for a
/// moment (503) says when to try again.
pub fn service_error(e: ServiceError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = serde_json::json!({ "error": { "code": e.code(), "message": e.user_message() } });
    if let ServiceError::InsufficientCapacity { requested, missing, .. } = e {
        body["error"]["requested"] = requested.into();
        body["error"]["missing"] = missing.into();
    }
    let mut response = (status, axum::Json(body)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
    }
    response
}
