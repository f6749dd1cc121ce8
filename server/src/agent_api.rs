//! The agent API under `/agent/v1`: what the BMC and the live image call. Outside the
//! session guard: every call carries the job's token (query string for the image the
//! BMC downloads, `Authorization: Bearer` for the agent), checked against the stored
//! hash. Errors are `{"error": {"code", "message"}}`.

use crate::agent::BootConfig;
use crate::api_error::{error, service_error};
use crate::live_image::LiveImage;
use app::backend::Backend;
use app::domain::Inventory;
use app::domain::agent::MAX_AGENT_BODY;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;

#[derive(Clone)]
pub struct AgentApi {
    pub backend: Backend,
    /// The base URL agents call back (written into each job's image).
    pub callback_url: String,
    pub live_image: Option<Arc<LiveImage>>,
    /// How cleaning erases disks (RACKSTATE_ERASE_MODE).
    pub erase_mode: app::domain::erase::EraseMode,
}

pub fn router(api: AgentApi) -> Router {
    Router::new()
        .route("/agent/v1/jobs/{id}/live.iso", get(live_image))
        .route("/agent/v1/jobs/{id}/inventory", post(inventory))
        .route("/agent/v1/jobs/{id}/steps", get(steps))
        .route("/agent/v1/jobs/{id}/steps/{index}", post(step_result))
        .layer(DefaultBodyLimit::max(MAX_AGENT_BODY))
        .with_state(api)
}

fn bearer(headers: &HeaderMap) -> Result<&str, Response> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "unauthorized", "missing Authorization: Bearer <agent token>"))
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn live_image(State(api): State<AgentApi>, Path(id): Path<i64>, Query(q): Query<TokenQuery>) -> Response {
    let Some(token) = q.token.filter(|t| !t.is_empty()) else {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", "missing ?token=");
    };
    if let Err(e) = api.backend.agent_image_access(id, &token).await {
        return service_error(e);
    }
    let Some(image) = api.live_image.as_ref() else {
        return error(StatusCode::NOT_FOUND, "not_found", "no live image is configured (RACKSTATE_LIVE_IMAGE)");
    };
    let config = BootConfig { callback: api.callback_url.clone(), job: id, token };
    match image.body_for(&config).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                (header::CONTENT_LENGTH, image.len().to_string()),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %app::backend::error_chain(&e), "serving the live image");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "cannot read the live image (logged on the server)")
        }
    }
}

async fn inventory(State(api): State<AgentApi>, Path(id): Path<i64>, headers: HeaderMap, body: Bytes) -> Response {
    let token = match bearer(&headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let inventory: Inventory = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => return error(StatusCode::BAD_REQUEST, "malformed", &format!("the inventory is not valid: {e}")),
    };
    match api.backend.agent_report_inventory(id, token, &inventory).await {
        Ok(accepted) => (StatusCode::OK, axum::Json(accepted)).into_response(),
        Err(e) => service_error(e),
    }
}

async fn steps(State(api): State<AgentApi>, Path(id): Path<i64>, headers: HeaderMap) -> Response {
    let token = match bearer(&headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    match api.backend.agent_steps(id, token, api.erase_mode).await {
        Ok(steps) => axum::Json(steps).into_response(),
        Err(e) => service_error(e),
    }
}

async fn step_result(
    State(api): State<AgentApi>,
    Path((id, index)): Path<(i64, usize)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = match bearer(&headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let result: app::domain::agent::StepResult = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, "malformed", &format!("the step result is not valid: {e}")),
    };
    match api.backend.agent_step_result(id, token, index, &result, api.erase_mode).await {
        Ok(()) => axum::Json(serde_json::json!({ "recorded": true })).into_response(),
        Err(e) => service_error(e),
    }
}
