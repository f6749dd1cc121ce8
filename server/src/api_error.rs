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
pub fn service_error(e: ServiceError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error(status, e.code(), &e.user_message())
}
