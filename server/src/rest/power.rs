//! `/api/v1/servers/{id}/power`: power on, off (graceful, then forced) and reset as a
//! job, and the server's power controls. Who may is `domain::power::power_refusal`.

use super::ApiError;
use super::extract::{ApiResult, Caller, JsonBody, PathOf, need};
use app::backend::Backend;
use app::backend::services::ServiceError;
use app::domain::power::PowerRequest;
use app::model::PowerJob;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PowerBody {
    /// `on`, `off` (the operating system is asked to shut down, then the server is
    /// forced off after RACKSTATE_SHUTDOWN_GRACE_SECONDS) or `reset` (forced restart).
    action: String,
}

/// The power state as the BMC last reported it, what the caller may ask, and the
/// latest request.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PowerOut {
    /// On, Off, PoweringOn, PoweringOff or unknown (never assumed off).
    power_state: app::domain::power::PowerState,
    /// The requests the caller may make now (empty while a job runs on the server).
    allowed: Vec<PowerRequest>,
    /// Why none is allowed, when so.
    why_not: Option<String>,
    last: Option<PowerJob>,
}

async fn power_out(backend: &Backend, user: &app::model::UserView, id: i64) -> ApiResult<Json<PowerOut>> {
    let server = backend.server_for(user, id).await?;
    let control = backend.power_control(user, id).await?;
    Ok(Json(PowerOut {
        power_state: server.power_state,
        allowed: control.buttons.iter().filter(|b| b.enabled).map(|b| b.request).collect(),
        why_not: control.buttons.iter().find_map(|b| b.why_not.clone()),
        last: control.last,
    }))
}

/// Asks for a power action; it runs as a job (202). Admins and operators: any server
/// without a running job; tenants: their own used servers. Audited.
#[utoipa::path(post, path = "/api/v1/servers/{id}/power", tag = "processes", security(("bearer" = [])), params(("id" = i64, Path)), request_body = PowerBody, responses((status = 202, body = PowerOut), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn request_power(
    State(backend): State<Backend>,
    Caller(user, ..): Caller,
    PathOf(id): PathOf<i64>,
    JsonBody(req): JsonBody<PowerBody>,
) -> ApiResult<(StatusCode, Json<PowerOut>)> {
    let request = PowerRequest::parse(&req.action)
        .ok_or_else(|| ServiceError::invalid("action", format!("{:?} is not on, off or reset", req.action)))?;
    backend.request_power(&user, id, request).await?;
    Ok((StatusCode::ACCEPTED, power_out(&backend, &user, id).await?))
}

/// The server's power state, the requests the caller may make, and the latest one.
#[utoipa::path(get, path = "/api/v1/servers/{id}/power", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = PowerOut), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn get_power(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ViewOwnServers>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<Json<PowerOut>> {
    power_out(&backend, &user, id).await
}
