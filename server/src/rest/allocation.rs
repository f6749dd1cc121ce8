//! `/api/v1/subscriptions` and `/api/v1/deployments`: reservations for tenants and
//! allocation, through the same service functions as the pages.

use super::extract::{ApiResult, Caller, Failure, JsonBody, JsonOrEmpty, PathOf, need};
use super::{ApiError, Items, actor};
use crate::api_error::error;
use app::backend::Backend;
use app::backend::services::allocation::{AllocationRequest, NewSubscription};
use app::domain::Permission;
use app::model::{Deployment, DeploymentServer, Subscription, UserView};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscriptionRequest {
    /// The tenant user it reserves for.
    username: String,
    /// A server type label; may be omitted when `servers` are given.
    #[serde(default)]
    server_type: String,
    /// How many servers (1 to 1000); omitted when `servers` are given.
    #[serde(default)]
    count: i64,
    /// Specific servers by name (optional).
    #[serde(default)]
    servers: Vec<String>,
    /// Unix milliseconds; default now.
    #[serde(default)]
    starts_at: Option<i64>,
    /// Unix milliseconds; none: until ended.
    #[serde(default)]
    ends_at: Option<i64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResizeRequest {
    count: i64,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AllocateRequest {
    server_type: String,
    count: i64,
    /// The tenant, when an operator or admin allocates on its behalf.
    #[serde(default)]
    username: Option<String>,
    /// A catalog image to write to each server (`GET /api/v1/images`); each server
    /// gets a deploy job (see the server's `GET .../deploy`).
    #[serde(default)]
    image: Option<String>,
    /// SSH public keys for the servers' config drive, as in authorized_keys (needs `image`).
    #[serde(default)]
    ssh_keys: Vec<String>,
    /// cloud-init user data for the servers' config drive (needs `image`).
    #[serde(default)]
    user_data: Option<String>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReleaseRequest {
    /// Server ids to release; omitted: all of the deployment's servers.
    #[serde(default)]
    servers: Option<Vec<i64>>,
}

/// A deployment as the API shows it: `servers` are the ids it holds now, `members`
/// the same servers with name and state.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct DeploymentOut {
    id: i64,
    username: String,
    server_type: String,
    count: i64,
    /// active or released
    status: String,
    created_by: String,
    created_at: i64,
    released_at: Option<i64>,
    /// The catalog image written to its servers, if any.
    image: Option<String>,
    servers: Vec<i64>,
    members: Vec<DeploymentServer>,
    /// Servers released from it, with their state now.
    released: Vec<DeploymentServer>,
}

impl From<Deployment> for DeploymentOut {
    fn from(d: Deployment) -> Self {
        DeploymentOut {
            id: d.id,
            username: d.username,
            server_type: d.server_type,
            count: d.count,
            status: d.status,
            created_by: d.created_by,
            created_at: d.created_at,
            released_at: d.released_at,
            image: d.image.clone(),
            servers: d.servers.iter().map(|s| s.id).collect(),
            members: d.servers,
            released: d.released,
        }
    }
}

/// A caller who may allocate: a tenant for itself, operators and admins for tenants.
fn allocator(Caller(user, ..): Caller) -> Result<UserView, Failure> {
    if user.role.can(Permission::AllocateOwn) || user.role.can(Permission::AllocateForTenants) {
        Ok(user)
    } else {
        let message = format!("your role ({}) may not allocate servers", user.role);
        Err(error(StatusCode::FORBIDDEN, "forbidden", &message).into())
    }
}

#[utoipa::path(get, path = "/api/v1/subscriptions", tag = "allocation", security(("bearer" = [])), responses((status = 200, body = Items<Subscription>, description = "all for admins, a tenant's own for tenants"), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub(crate) async fn list_subscriptions(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ViewOwnServers>,
) -> ApiResult<Json<Items<Subscription>>> {
    let own = (!user.role.can(Permission::ManageSubscriptions)).then_some(user.username.as_str());
    Ok(Json(Items::of(backend.list_subscriptions(own).await?)))
}

#[utoipa::path(post, path = "/api/v1/subscriptions", tag = "allocation", security(("bearer" = [])), request_body = SubscriptionRequest, responses((status = 201, body = Subscription, description = "created and filled as far as possible: `filled`, `short`"), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn create_subscription(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ManageSubscriptions>,
    JsonBody(req): JsonBody<SubscriptionRequest>,
) -> ApiResult<(StatusCode, Json<Subscription>)> {
    let new = NewSubscription {
        username: req.username,
        server_type: req.server_type,
        count: req.count,
        servers: req.servers,
        starts_at: req.starts_at,
        ends_at: req.ends_at,
    };
    let sub = backend.create_subscription(&actor(&user), &new).await?;
    Ok((StatusCode::CREATED, Json(sub)))
}

#[utoipa::path(get, path = "/api/v1/subscriptions/{id}", tag = "allocation", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = Subscription), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn get_subscription(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ViewOwnServers>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<Json<Subscription>> {
    let sub = backend.subscription(id).await?;
    if !user.role.can(Permission::ManageSubscriptions) && sub.username != user.username {
        return Err(error(StatusCode::NOT_FOUND, "not_found", &format!("subscription {id} not found")).into());
    }
    Ok(Json(sub))
}

#[utoipa::path(patch, path = "/api/v1/subscriptions/{id}", tag = "allocation", security(("bearer" = [])), params(("id" = i64, Path)), request_body = ResizeRequest, responses((status = 200, body = Subscription), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn resize_subscription(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ManageSubscriptions>,
    PathOf(id): PathOf<i64>,
    JsonBody(req): JsonBody<ResizeRequest>,
) -> ApiResult<Json<Subscription>> {
    Ok(Json(backend.resize_subscription(&actor(&user), id, req.count).await?))
}

#[utoipa::path(delete, path = "/api/v1/subscriptions/{id}", tag = "allocation", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = Subscription, description = "ended: reserved servers are available again"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub(crate) async fn end_subscription(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ManageSubscriptions>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<Json<Subscription>> {
    Ok(Json(backend.end_subscription(&actor(&user), id).await?))
}

#[utoipa::path(get, path = "/api/v1/deployments", tag = "allocation", security(("bearer" = [])), responses((status = 200, body = Items<DeploymentOut>, description = "a tenant's own, everyone's for operators and admins"), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub(crate) async fn list_deployments(
    State(backend): State<Backend>,
    caller: Caller,
) -> ApiResult<Json<Items<DeploymentOut>>> {
    let user = allocator(caller)?;
    let items = backend.list_deployments(&user, None).await?.into_iter().map(Into::into).collect();
    Ok(Json(Items::of(items)))
}

#[utoipa::path(post, path = "/api/v1/deployments", tag = "allocation", security(("bearer" = [])), request_body = AllocateRequest, responses((status = 201, body = DeploymentOut), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError, description = "`insufficient_capacity` with `requested` and `missing`; nothing was allocated"), (status = 422, body = ApiError)))]
pub(crate) async fn allocate(
    State(backend): State<Backend>,
    caller: Caller,
    JsonBody(req): JsonBody<AllocateRequest>,
) -> ApiResult<(StatusCode, Json<DeploymentOut>)> {
    let user = allocator(caller)?;
    let request = AllocationRequest {
        tenant: req.username,
        server_type: req.server_type,
        count: req.count,
        image: req.image,
        ssh_keys: req.ssh_keys.join("\n"),
        user_data: req.user_data.unwrap_or_default(),
    };
    let d = backend.allocate(&user, &request).await?;
    Ok((StatusCode::CREATED, Json(d.into())))
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}", tag = "allocation", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = DeploymentOut), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn get_deployment(
    State(backend): State<Backend>,
    caller: Caller,
    PathOf(id): PathOf<i64>,
) -> ApiResult<Json<DeploymentOut>> {
    let user = allocator(caller)?;
    Ok(Json(backend.deployment(&user, id).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/deployments/{id}/release", tag = "allocation", security(("bearer" = [])), params(("id" = i64, Path)), request_body = ReleaseRequest, responses((status = 202, body = DeploymentOut, description = "the servers are cleaning; their cleaning jobs started"), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn release(
    State(backend): State<Backend>,
    caller: Caller,
    PathOf(id): PathOf<i64>,
    JsonOrEmpty(req): JsonOrEmpty<ReleaseRequest>,
) -> ApiResult<(StatusCode, Json<DeploymentOut>)> {
    let user = allocator(caller)?;
    let d = backend.release(&user, id, req.servers.as_deref()).await?;
    Ok((StatusCode::ACCEPTED, Json(d.into())))
}
