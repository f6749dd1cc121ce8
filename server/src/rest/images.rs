//! `/api/v1/images` (the catalog: everyone lists, admins add and retire) and
//! `/api/v1/servers/{id}/deploy` (a server's latest deployment; writing an image to a
//! used server again).

use super::extract::{ApiResult, Caller, JsonBody, PathOf, QueryOf, need};
use super::{ApiError, Items, actor};
use app::backend::Backend;
use app::backend::services::ServiceError;
use app::domain::images::NewImage;
use app::model::{DeployView, Image};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

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
#[utoipa::path(get, path = "/api/v1/images", tag = "images", security(("bearer" = [])), params(ListQuery), responses((status = 200, body = Items<Image>), (status = 400, body = ApiError), (status = 401, body = ApiError)))]
pub(crate) async fn list_images(
    State(backend): State<Backend>,
    _: Caller,
    QueryOf(q): QueryOf<ListQuery>,
) -> ApiResult<Json<Items<Image>>> {
    Ok(Json(Items::of(backend.images(q.retired).await?)))
}

/// Adds an image to the catalog (admins; audited).
#[utoipa::path(post, path = "/api/v1/images", tag = "images", security(("bearer" = [])), request_body = ImageRequest, responses((status = 201, body = Image), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn add_image(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ManageImages>,
    JsonBody(req): JsonBody<ImageRequest>,
) -> ApiResult<(StatusCode, Json<Image>)> {
    let new = NewImage {
        name: req.name,
        url: req.url,
        sha256: req.sha256,
        format: req.format,
        min_disk_gib: req.min_disk_gib,
    };
    let image = backend.add_image(&actor(&user), &new).await?;
    Ok((StatusCode::CREATED, Json(image)))
}

/// Retires an image: deployments that used it keep it, no new one may (admins; audited).
#[utoipa::path(delete, path = "/api/v1/images/{id}", tag = "images", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = Image), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub(crate) async fn retire_image(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ManageImages>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<Json<Image>> {
    Ok(Json(backend.retire_image(&actor(&user), id).await?))
}

/// A server's latest deployment (null when none).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DeployOut {
    deploy: Option<DeployView>,
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
#[utoipa::path(get, path = "/api/v1/servers/{id}/deploy", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = DeployOut), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn get_deploy(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ViewOwnServers>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<Json<DeployOut>> {
    Ok(Json(DeployOut { deploy: backend.deploy_status(&user, id).await? }))
}

/// Writes an image to a used server again (its tenant, operators, admins): the disk
/// is overwritten, so `overwrite: true` is required. 202 with the deployment.
#[utoipa::path(post, path = "/api/v1/servers/{id}/deploy", tag = "processes", security(("bearer" = [])), params(("id" = i64, Path)), request_body = DeployRequest, responses((status = 202, body = DeployOut), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn redeploy(
    State(backend): State<Backend>,
    Caller(user, ..): Caller,
    PathOf(id): PathOf<i64>,
    JsonBody(req): JsonBody<DeployRequest>,
) -> ApiResult<(StatusCode, Json<DeployOut>)> {
    if !req.overwrite {
        let message = "the server's disk is overwritten: confirm with \"overwrite\": true";
        return Err(ServiceError::invalid("overwrite", message).into());
    }
    backend.redeploy(&user, id, &req.image).await?;
    Ok((StatusCode::ACCEPTED, Json(DeployOut { deploy: backend.deploy_status(&user, id).await? })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RootDiskRequest {
    /// A disk serial from the server's inventory; null or empty: the smallest disk
    /// that fits.
    serial: Option<String>,
}

/// Sets which disk images are written to on this server (a root-disk hint); audited.
#[utoipa::path(put, path = "/api/v1/servers/{id}/root-disk", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), request_body = RootDiskRequest, responses((status = 200, body = RootDiskOut), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn set_root_disk(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::DeployAnyServer>,
    PathOf(id): PathOf<i64>,
    JsonBody(req): JsonBody<RootDiskRequest>,
) -> ApiResult<Json<RootDiskOut>> {
    backend.set_root_disk(&user, id, req.serial.as_deref()).await?;
    Ok(Json(RootDiskOut { serial: req.serial.filter(|s| !s.trim().is_empty()) }))
}

/// The root-disk hint now set (null: the smallest disk that fits).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RootDiskOut {
    serial: Option<String>,
}
