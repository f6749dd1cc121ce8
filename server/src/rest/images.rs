//! `/api/v1/images` (the catalog: everyone lists, admins add and retire) and
//! `/api/v1/servers/{id}/deploy` (a server's latest deployment; writing an image to a
//! used server again).

use super::{ApiError, ApiResult, actor, body, caller, json};
use crate::api_error::service_error;
use app::backend::Backend;
use app::domain::Permission;
use app::domain::images::NewImage;
use app::model::{DeployView, Image};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImageRequest {
    /// 1 to 64 letters, digits, '.', '_' or '-'.
    name: String,
    /// http:// or https://, reachable from the servers; its host must be in
    /// RACKSTATE_BMC_NETWORKS.
    url: String,
    /// 64 hexadecimal digits.
    sha256: String,
    /// raw or qcow2.
    format: String,
    /// The smallest disk it may be written to, in GiB.
    #[serde(default)]
    min_disk_gib: Option<i64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct ListQuery {
    /// Also list retired images.
    #[serde(default)]
    retired: bool,
}

/// The image catalog by name (current images; `retired=true` adds retired ones).
#[utoipa::path(get, path = "/api/v1/images", tag = "images", security(("bearer" = [])), params(ListQuery), responses((status = 200, description = "`{items: [Image]}`"), (status = 401, body = ApiError)))]
pub(crate) async fn list_images(
    State(backend): State<Backend>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> ApiResult {
    caller(&backend, &headers, None).await?;
    let items: Vec<Image> = backend.images(q.retired).await.map_err(service_error)?;
    Ok(json(StatusCode::OK, serde_json::json!({ "items": items })))
}

/// Adds an image to the catalog (admins; audited).
#[utoipa::path(post, path = "/api/v1/images", tag = "images", security(("bearer" = [])), request_body = ImageRequest, responses((status = 201, body = Image), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn add_image(State(backend): State<Backend>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    let user = caller(&backend, &headers, Some(Permission::ManageImages)).await?;
    let req: ImageRequest = body(&bytes)?;
    let new = NewImage {
        name: req.name,
        url: req.url,
        sha256: req.sha256,
        format: req.format,
        min_disk_gib: req.min_disk_gib,
    };
    let image = backend.add_image(&actor(&user), &new).await.map_err(service_error)?;
    Ok(json(StatusCode::CREATED, image))
}

/// Retires an image: deployments that used it keep it, no new one may (admins; audited).
#[utoipa::path(delete, path = "/api/v1/images/{id}", tag = "images", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = Image), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub(crate) async fn retire_image(State(backend): State<Backend>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    let user = caller(&backend, &headers, Some(Permission::ManageImages)).await?;
    let image = backend.retire_image(&actor(&user), id).await.map_err(service_error)?;
    Ok(json(StatusCode::OK, image))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeployRequest {
    /// A current catalog image.
    image: String,
    /// Must be true: the server's disk is overwritten.
    #[serde(default)]
    overwrite: bool,
}

/// The server's latest deployment: image, status, steps, error (null when none).
#[utoipa::path(get, path = "/api/v1/servers/{id}/deploy", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, description = "`{deploy: DeployView | null}`"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn get_deploy(State(backend): State<Backend>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    let user = caller(&backend, &headers, Some(Permission::ViewOwnServers)).await?;
    let deploy: Option<DeployView> = backend.deploy_status(&user, id).await.map_err(service_error)?;
    Ok(json(StatusCode::OK, serde_json::json!({ "deploy": deploy })))
}

/// Writes an image to a used server again (its tenant, operators, admins): the disk
/// is overwritten, so `overwrite: true` is required. 202 with the deployment.
#[utoipa::path(post, path = "/api/v1/servers/{id}/deploy", tag = "processes", security(("bearer" = [])), params(("id" = i64, Path)), request_body = DeployRequest, responses((status = 202, description = "`{deploy: DeployView}`"), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn redeploy(
    State(backend): State<Backend>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    bytes: Bytes,
) -> ApiResult {
    let user = caller(&backend, &headers, None).await?;
    let req: DeployRequest = body(&bytes)?;
    if !req.overwrite {
        return Err(service_error(app::backend::services::ServiceError::invalid(
            "overwrite",
            "the server's disk is overwritten: confirm with \"overwrite\": true",
        )));
    }
    backend.redeploy(&user, id, &req.image).await.map_err(service_error)?;
    let deploy = backend.deploy_status(&user, id).await.map_err(service_error)?;
    Ok(json(StatusCode::ACCEPTED, serde_json::json!({ "deploy": deploy })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RootDiskRequest {
    /// A disk serial from the server's inventory; null or empty: the smallest disk
    /// that fits.
    serial: Option<String>,
}

/// Sets which disk images are written to on this server (a root-disk hint); audited.
#[utoipa::path(put, path = "/api/v1/servers/{id}/root-disk", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), request_body = RootDiskRequest, responses((status = 200, description = "`{serial}`"), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn set_root_disk(
    State(backend): State<Backend>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    bytes: Bytes,
) -> ApiResult {
    let user = caller(&backend, &headers, Some(Permission::DeployAnyServer)).await?;
    let req: RootDiskRequest = body(&bytes)?;
    backend.set_root_disk(&user, id, req.serial.as_deref()).await.map_err(service_error)?;
    let serial = req.serial.filter(|s| !s.trim().is_empty());
    Ok(json(StatusCode::OK, serde_json::json!({ "serial": serial })))
}
