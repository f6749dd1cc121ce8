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
/// were asked for and how many are missing.
pub fn service_error(e: ServiceError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = serde_json::json!({ "error": { "code": e.code(), "message": e.user_message() } });
    if let ServiceError::InsufficientCapacity { requested, missing, .. } = e {
        body["error"]["requested"] = requested.into();
        body["error"]["missing"] = missing.into();
    }
    (status, axum::Json(body)).into_response()
}
