//! `/api/v1/server-types/{type}/firmware`: a type's firmware drift (JSON, or each
//! server's components as CSV) and its baseline.

use super::ApiError;
use super::extract::{ApiResult, Caller, JsonBody, PathOf, need};
use app::backend::Backend;
use app::domain::firmware::TypeFirmware;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::BTreeMap;

#[utoipa::path(get, path = "/api/v1/server-types/{type}/firmware", tag = "firmware", security(("bearer" = [])), params(("type" = String, Path, description = "the server type's label")), responses((status = 200, body = TypeFirmware, description = "each component's baseline and how many servers are on, behind or ahead of it; with `Accept: text/csv` each server's components instead (server, server_id, component, version, baseline, drift)"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn type_firmware(
    State(backend): State<Backend>,
    _: Caller<need::ViewFleet>,
    PathOf(label): PathOf<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let wants_csv = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/csv"));
    if wants_csv {
        let rows = backend.firmware_servers(&label, None, None).await?;
        let csv = app::domain::firmware::servers_csv(&rows);
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response());
    }
    let mut types = backend.firmware_drift(Some(&label)).await?;
    Ok(Json(types.remove(0)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BaselineRequest {
    /// Component id -> version: the whole baseline (components left out have none).
    #[serde(default)]
    components: BTreeMap<String, String>,
    /// Instead: each component at the version most of the type's servers run.
    #[serde(default)]
    adopt_most_common: bool,
}

/// Replaces a type's baseline (audited).
#[utoipa::path(put, path = "/api/v1/server-types/{type}/firmware/baseline", tag = "firmware", security(("bearer" = [])), params(("type" = String, Path, description = "the server type's label")), request_body = BaselineRequest, responses((status = 200, body = TypeFirmware), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn put_baseline(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ManageFirmwareBaselines>,
    PathOf(label): PathOf<String>,
    JsonBody(req): JsonBody<BaselineRequest>,
) -> ApiResult<Json<TypeFirmware>> {
    if req.adopt_most_common {
        if !req.components.is_empty() {
            return Err(app::backend::services::ServiceError::invalid(
                "components",
                "give components or adopt_most_common, not both",
            )
            .into());
        }
        return Ok(Json(backend.adopt_common_firmware(&user, &label).await?));
    }
    Ok(Json(backend.set_firmware_baseline(&user, &label, req.components.into_iter().collect()).await?))
}
