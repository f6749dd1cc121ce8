//! The automation API under `/api/v1`: JSON over HTTP, `Authorization: Bearer <token>`,
//! the same permission table and the same service layer as the pages. Errors are
//! `{"error": {"code": "<snake_case>", "message": "..."}}`: 400 malformed, 401 no or
//! bad token, 403 role, 404, 409 illegal transition or stale generation, 422 invalid
//! field (the message names it), 429 throttled. Bad input never gets a 500.

mod allocation;
mod images;
mod power;

use crate::api_error::{error, service_error};
use app::backend::Backend;
use app::backend::services::accounts::LoginError;
use app::backend::services::servers::ListParams;
use app::backend::services::{Actor, NewServer, ServiceError, StateChange};
use app::domain::{Action, Permission, Role, ServerState};
use app::model::{JobView, Server, UserView};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};

/// The largest request body the API accepts.
const MAX_BODY: usize = 256 * 1024;

pub fn router(backend: Backend) -> Router {
    Router::new()
        .route("/api/v1/tokens", post(create_token).get(list_tokens))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .route("/api/v1/servers", get(list_servers).post(add_server))
        .route("/api/v1/servers/{id}", get(get_server))
        .route("/api/v1/servers/{id}/state", post(set_state))
        .route("/api/v1/servers/{id}/register", post(register))
        .route("/api/v1/servers/{id}/decommission", post(decommission))
        .route("/api/v1/servers/{id}/jobs/current/retry", post(retry))
        .route("/api/v1/servers/{id}/jobs/current/abort", post(abort))
        .route("/api/v1/servers/{id}/bmc-credentials", get(bmc_credentials))
        .route("/api/v1/servers/{id}/bmc", axum::routing::put(change_bmc))
        .route("/api/v1/servers/{id}/bmc/certificate", get(bmc_certificate))
        .route("/api/v1/servers/{id}/bmc/certificate/accept", post(accept_bmc_certificate))
        .route("/api/v1/servers/{id}/events", get(events))
        .route("/api/v1/servers/{id}/erase-certificates", get(erase_certificates))
        .route("/api/v1/servers/{id}/erase-certificates/{cert}", get(erase_certificate))
        .route("/api/v1/servers/{id}/notes", get(get_notes).put(put_notes))
        .route("/api/v1/servers/{id}/power", get(power::get_power).post(power::request_power))
        .route("/api/v1/servers/{id}/deploy", get(images::get_deploy).post(images::redeploy))
        .route("/api/v1/servers/{id}/root-disk", axum::routing::put(images::set_root_disk))
        .route("/api/v1/images", get(images::list_images).post(images::add_image))
        .route("/api/v1/images/{id}", delete(images::retire_image))
        .route("/api/v1/jobs/{id}", get(job))
        .route("/api/v1/reports/utilization", get(utilization))
        .route("/api/v1/users", post(create_user))
        .route("/api/v1/subscriptions", get(allocation::list_subscriptions).post(allocation::create_subscription))
        .route(
            "/api/v1/subscriptions/{id}",
            get(allocation::get_subscription)
                .patch(allocation::resize_subscription)
                .delete(allocation::end_subscription),
        )
        .route("/api/v1/deployments", get(allocation::list_deployments).post(allocation::allocate))
        .route("/api/v1/deployments/{id}", get(allocation::get_deployment))
        .route("/api/v1/deployments/{id}/release", post(allocation::release))
        .route("/api/v1/openapi.json", get(openapi_json))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(backend)
}

pub(crate) type ApiResult = Result<Response, Response>;

/// Every error: a stable code and a message for people.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ApiError {
    pub error: ApiErrorBody,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ApiErrorBody {
    /// malformed, unauthorized, forbidden, not_found, illegal_transition, conflict, identity_mismatch,
    /// invalid_field, throttled
    pub code: String,
    pub message: String,
}

/// The OpenAPI document of this API, generated from the handlers above.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Rackstate automation API", version = "1"),
    paths(
        create_token, list_tokens, revoke_token, list_servers, add_server, get_server, set_state, register,
        decommission, retry, abort, bmc_credentials, change_bmc, bmc_certificate, accept_bmc_certificate, events, erase_certificates, erase_certificate,
        get_notes, put_notes, job, utilization, create_user,
        allocation::list_subscriptions, allocation::create_subscription, allocation::get_subscription,
        allocation::resize_subscription, allocation::end_subscription, allocation::list_deployments,
        allocation::allocate, allocation::get_deployment, allocation::release,
        power::request_power, power::get_power, images::list_images, images::add_image, images::retire_image,
        images::get_deploy, images::redeploy, images::set_root_disk
    ),
    components(schemas(
        ApiError, ApiErrorBody, Server, JobView, app::model::JobStep, UserView, app::model::ApiToken, app::model::CertificatePin, app::model::Event, app::domain::Inventory, app::model::Notes,
        app::model::Subscription, allocation::DeploymentOut, app::model::DeploymentServer,
        app::domain::erase::EraseCertificate, app::domain::erase::CertifiedDisk, app::domain::erase::EraseMode,
        app::domain::erase::EraseMethod, power::PowerOut, app::model::PowerJob, app::domain::power::PowerRequest,
        app::model::Image, app::model::DeployView, app::domain::images::ImageFormat,
        app::domain::power::PowerState, app::domain::power::Health, app::domain::JobStatus, app::domain::JobPhase,
        app::domain::JobKind, app::domain::EventKind
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi_json() -> Response {
    use utoipa::OpenApi;
    axum::Json(ApiDoc::openapi()).into_response()
}

fn login_error(e: LoginError) -> Response {
    match e {
        LoginError::BadCredentials => error(StatusCode::UNAUTHORIZED, "unauthorized", &e.to_string()),
        LoginError::Throttled { retry_after_secs } => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "throttled", &e.to_string());
            r.headers_mut().insert(header::RETRY_AFTER, retry_after_secs.into());
            r
        }
        LoginError::Service(e) => service_error(e),
    }
}

/// A JSON body of type `T`, or 400 saying what is wrong with it.
pub(crate) fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "malformed", &format!("the request body is not valid: {e}")))
}

pub(crate) fn json(status: StatusCode, value: impl serde::Serialize) -> Response {
    (status, axum::Json(value)).into_response()
}

/// The token's user, who must hold `permission` (None: any user).
pub(crate) async fn caller(
    backend: &Backend,
    headers: &HeaderMap,
    permission: Option<Permission>,
) -> Result<UserView, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            error(StatusCode::UNAUTHORIZED, "unauthorized", "send Authorization: Bearer <token> (POST /api/v1/tokens)")
        })?;
    let user = backend
        .token_user(token)
        .await
        .map_err(service_error)?
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "unauthorized", "unknown or revoked token"))?;
    if let Some(p) = permission
        && !user.role.can(p)
    {
        let message = format!("your role ({}) may not {}", user.role, p.as_str().replace('_', " "));
        return Err(error(StatusCode::FORBIDDEN, "forbidden", &message));
    }
    Ok(user)
}

pub(crate) fn actor(user: &UserView) -> Actor {
    Actor::user(user.username.clone())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    username: String,
    password: String,
    name: String,
    /// Days the token lives, 1-365 (default 90).
    expires_in_days: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = TokenRequest, responses((status = 201, description = "`{id, name, token, expires_at}`: the token is shown once"), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 422, body = ApiError), (status = 429, body = ApiError)))]
async fn create_token(
    State(backend): State<Backend>,
    axum::Extension(client): axum::Extension<app::backend::ClientIp>,
    bytes: Bytes,
) -> ApiResult {
    let req: TokenRequest = body(&bytes)?;
    if req.username.len() > app::backend::MAX_LOGIN_NAME {
        let message = format!("username: at most {} characters", app::backend::MAX_LOGIN_NAME);
        return Err(error(StatusCode::BAD_REQUEST, "malformed", &message));
    }
    let client = client.0.to_string();
    let token = backend
        .create_token(&req.username, &req.password, &req.name, req.expires_in_days, &client)
        .await
        .map_err(login_error)?;
    let answer =
        json!({ "id": token.id, "name": req.name.trim(), "token": token.token, "expires_at": token.expires_at });
    Ok(json(StatusCode::CREATED, answer))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct TokensQuery {
    /// `true`: every user's tokens (manage_users).
    all: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])), params(TokensQuery), responses((status = 200, description = "`{items: [ApiToken]}`: the caller's tokens, or with `all=true` every user's (manage_users)"), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
async fn list_tokens(
    State(backend): State<Backend>,
    headers: HeaderMap,
    query: Result<Query<TokensQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let user = caller(&backend, &headers, None).await?;
    let Query(q) = query.map_err(|e| error(StatusCode::BAD_REQUEST, "malformed", &e.body_text()))?;
    let items =
        if q.all == Some(true) { backend.list_all_tokens(&user).await } else { backend.list_tokens(&user).await };
    Ok(json(StatusCode::OK, json!({ "items": items.map_err(service_error)? })))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 204, description = "revoked: the caller's own token, or any user's for manage_users (audited)"), (status = 401, body = ApiError), (status = 404, body = ApiError)))]
async fn revoke_token(State(backend): State<Backend>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    let user = caller(&backend, &headers, None).await?;
    backend.revoke_token(&user, id).await.map_err(service_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    state: Option<String>,
    /// A type label; empty: servers not typed yet.
    server_type: Option<String>,
    datacenter: Option<String>,
    rack: Option<String>,
    /// Text in the name, serial number, BMC address or a MAC address.
    q: Option<String>,
    /// name (default), state, type, serial, bmc, location, updated.
    sort: Option<String>,
    /// asc (default) or desc.
    dir: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

fn parse_state(field: &'static str, s: &str) -> Result<ServerState, Response> {
    app::backend::services::servers::parse_state(field, s).map_err(service_error)
}

#[utoipa::path(get, path = "/api/v1/servers", tag = "servers", security(("bearer" = [])), params(ListQuery), responses((status = 200, description = "`{items: [Server], total, page, per_page}`"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
async fn list_servers(
    State(backend): State<Backend>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    caller(&backend, &headers, Some(Permission::ViewFleet)).await?;
    let Query(q) = query.map_err(|e| error(StatusCode::BAD_REQUEST, "malformed", &e.body_text()))?;
    let params = ListParams {
        state: q.state,
        server_type: q.server_type,
        datacenter: q.datacenter,
        rack: q.rack,
        q: q.q,
        sort: q.sort,
        dir: q.dir,
        page: q.page,
        per_page: q.per_page,
    };
    let list = backend.server_list_page(&params, false).await.map_err(service_error)?;
    Ok(json(
        StatusCode::OK,
        json!({ "items": list.items, "total": list.total, "page": list.page, "per_page": list.per_page }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewServerRequest {
    name: String,
    bmc_address: String,
    #[serde(default)]
    bmc_username: String,
    #[serde(default)]
    bmc_password: Option<String>,
    #[serde(default = "yes")]
    bmc_verify_tls: bool,
    #[serde(default)]
    datacenter: String,
    #[serde(default)]
    rack: String,
}

fn yes() -> bool {
    true
}

#[utoipa::path(post, path = "/api/v1/servers", tag = "servers", security(("bearer" = [])), request_body = NewServerRequest, responses((status = 201, body = Server), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError, description = "`conflict`: another live server has this BMC address (the message names it)"), (status = 422, body = ApiError)))]
async fn add_server(State(backend): State<Backend>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    let user = caller(&backend, &headers, Some(Permission::AddServer)).await?;
    let req: NewServerRequest = body(&bytes)?;
    let new = NewServer {
        name: req.name,
        bmc_address: req.bmc_address,
        bmc_username: req.bmc_username,
        bmc_password: req.bmc_password.map(app::backend::secrets::SecretString::new),
        bmc_verify_tls: req.bmc_verify_tls,
        datacenter: req.datacenter,
        rack: req.rack,
    };
    let server = backend.add_server(&actor(&user), &new).await.map_err(service_error)?;
    Ok(json(StatusCode::CREATED, server))
}

/// A server as the API shows it: its fields, its hardware and its current job.
async fn server_view(backend: &Backend, user: &UserView, server: Server) -> Result<Value, Response> {
    let (hardware, job) = backend.server_extras_for(user, server.id).await.map_err(service_error)?;
    let mut v = serde_json::to_value(&server).expect("a server serializes");
    if !user.role.can(Permission::ViewFleet) {
        v["bmc_address"] = Value::Null;
    }
    v["hardware"] = serde_json::to_value(hardware).expect("an inventory serializes");
    v["current_job"] = serde_json::to_value(job).expect("a job serializes");
    Ok(v)
}

/// The server, if the user may see it (tenants: only their own).
async fn visible_server(backend: &Backend, user: &UserView, id: i64) -> Result<Server, Response> {
    backend.server_for(user, id).await.map_err(service_error)
}

#[utoipa::path(get, path = "/api/v1/servers/{id}", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, description = "Server with `hardware` (Inventory or null) and `current_job` (JobView or null)"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn get_server(State(backend): State<Backend>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    let user = caller(&backend, &headers, Some(Permission::ViewOwnServers)).await?;
    let server = visible_server(&backend, &user, id).await?;
    Ok(json(StatusCode::OK, server_view(&backend, &user, server).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct StateRequest {
    state: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    generation: Option<i64>,
    /// The disks and switch interfaces were checked: required to make an unavailable
    /// server available (the page asks the same).
    #[serde(default)]
    checked: bool,
}

#[utoipa::path(post, path = "/api/v1/servers/{id}/state", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), request_body = StateRequest, responses((status = 200, body = Server), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn set_state(State(backend): State<Backend>, headers: HeaderMap, Path(id): Path<i64>, bytes: Bytes) -> ApiResult {
    let user = caller(&backend, &headers, Some(Permission::SetManualState)).await?;
    let req: StateRequest = body(&bytes)?;
    let target = parse_state("state", &req.state)?;
    let action = Action::for_manual_state(target).ok_or_else(|| {
        service_error(ServiceError::invalid(
            "state",
            format!("{target} is set by the system; set available, unavailable, defective or removed_from_rack"),
        ))
    })?;
    let current = backend.server_for(&user, id).await.map_err(service_error)?;
    if !req.checked && app::domain::transitions::needs_hardware_check(current.state, action) {
        return Err(service_error(ServiceError::invalid(
            "checked",
            "confirm that you checked the server's disks and switch interfaces (\"checked\": true)",
        )));
    }
    let mut change = StateChange::new(action);
    change.reason = req.reason;
    change.expected_generation = req.generation;
    let server = backend.change_state(&actor(&user), id, &change).await.map_err(service_error)?;
    Ok(json(StatusCode::OK, server_view(&backend, &user, server).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BmcRequest {
    bmc_address: String,
    #[serde(default)]
    bmc_username: String,
    /// Absent or empty: keep the stored password.
    #[serde(default)]
    bmc_password: Option<String>,
    #[serde(default = "yes")]
    bmc_verify_tls: bool,
    /// The server's generation the change is based on.
    generation: i64,
}

/// Replaces a server's BMC address, user, password and TLS setting (audited, never
/// while a job runs on the server).
#[utoipa::path(put, path = "/api/v1/servers/{id}/bmc", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), request_body = BmcRequest, responses((status = 200, body = Server), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn change_bmc(
    State(backend): State<Backend>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    bytes: Bytes,
) -> ApiResult {
    let user = caller(&backend, &headers, Some(Permission::EditBmc)).await?;
    let req: BmcRequest = body(&bytes)?;
    let change = app::backend::services::servers::BmcChange {
        address: req.bmc_address,
        username: req.bmc_username,
        password: req.bmc_password.map(app::backend::secrets::SecretString::new),
        verify_tls: req.bmc_verify_tls,
        generation: req.generation,
    };
    let server = backend.change_bmc(&actor(&user), id, &change).await.map_err(service_error)?;
    Ok(json(StatusCode::OK, server_view(&backend, &user, server).await?))
}

/// 202 with the server's current job.
async fn accepted_job(backend: &Backend, id: i64) -> ApiResult {
    let job = backend.latest_job(id).await.map_err(service_error)?;
    Ok(json(StatusCode::ACCEPTED, json!({ "job": job })))
}

#[utoipa::path(post, path = "/api/v1/servers/{id}/register", tag = "processes", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 202, description = "`{job: JobView}`"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError)))]
async fn register(State(backend): State<Backend>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    let user = caller(&backend, &headers, Some(Permission::StartRegistration)).await?;
    let server = backend.server(id).await.map_err(service_error)?;
    let action = Action::registration_from(server.state);
    backend.change_state(&actor(&user), id, &StateChange::new(action)).await.map_err(service_error)?;
    accepted_job(&backend, id).await
}

#[utoipa::path(post, path = "/api/v1/servers/{id}/decommission", tag = "processes", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 202, description = "`{job: JobView}`"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError)))]
async fn decommission(State(backend): State<Backend>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    let user = caller(&backend, &headers, Some(Permission::Decommission)).await?;
    backend.change_state(&actor(&user), id, &StateChange::new(Action::Decommission)).await.map_err(service_error)?;
    accepted_job(&backend, id).await
}

#[utoipa::path(post, path = "/api/v1/servers/{id}/jobs/current/retry", tag = "processes", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 202, description = "`{job: JobView}`"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError)))]
async fn retry(State(backend): State<Backend>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    let user = caller(&backend, &headers, Some(Permission::RetryAbortJobs)).await?;
    backend.retry_job_for(&user, id).await.map_err(service_error)?;
    accepted_job(&backend, id).await
}

#[utoipa::path(post, path = "/api/v1/servers/{id}/jobs/current/abort", tag = "processes", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 202, description = "`{job: JobView}`"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError)))]
async fn abort(State(backend): State<Backend>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    let user = caller(&backend, &headers, Some(Permission::RetryAbortJobs)).await?;
    backend.abort_job(&actor(&user), id).await.map_err(service_error)?;
    accepted_job(&backend, id).await
}

#[utoipa::path(get, path = "/api/v1/servers/{id}/bmc-credentials", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, description = "`{address, username, password}` (audited)"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn bmc_credentials(State(backend): State<Backend>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    let user = caller(&backend, &headers, Some(Permission::RevealBmcCredentials)).await?;
    let c = backend.reveal_bmc_credentials(&actor(&user), id).await.map_err(service_error)?;
    let password = c.password.as_ref().map(|p| p.expose().to_string());
    Ok(json(StatusCode::OK, json!({ "address": c.address, "username": c.username, "password": password })))
}

#[utoipa::path(get, path = "/api/v1/servers/{id}/events", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, description = "`{items: [Event]}`"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn events(State(backend): State<Backend>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    caller(&backend, &headers, Some(Permission::ViewAudit)).await?;
    backend.server(id).await.map_err(service_error)?;
    Ok(json(StatusCode::OK, json!({ "items": backend.server_events(id).await.map_err(service_error)? })))
}

#[utoipa::path(get, path = "/api/v1/servers/{id}/erase-certificates", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, description = "`{items: [EraseCertificate]}`, newest first: each cleaning's evidence (NIST SP 800-88 fields)"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn erase_certificates(State(backend): State<Backend>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    caller(&backend, &headers, Some(Permission::ViewAudit)).await?;
    Ok(json(StatusCode::OK, json!({ "items": backend.erase_certificates(id).await.map_err(service_error)? })))
}

#[utoipa::path(get, path = "/api/v1/servers/{id}/erase-certificates/{cert}", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path), ("cert" = i64, Path)), responses((status = 200, body = app::domain::erase::EraseCertificate), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn erase_certificate(
    State(backend): State<Backend>,
    headers: HeaderMap,
    Path((id, cert)): Path<(i64, i64)>,
) -> ApiResult {
    caller(&backend, &headers, Some(Permission::ViewAudit)).await?;
    Ok(json(StatusCode::OK, backend.erase_certificate(id, cert).await.map_err(service_error)?))
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "processes", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = JobView), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn job(State(backend): State<Backend>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    caller(&backend, &headers, Some(Permission::ViewAudit)).await?;
    Ok(json(StatusCode::OK, backend.job(id).await.map_err(service_error)?))
}

#[utoipa::path(get, path = "/api/v1/reports/utilization", tag = "reports", security(("bearer" = [])), responses((status = 200, description = "`{server_types: [{server_type, counts, total, utilization}], totals}`; CSV with `Accept: text/csv`"), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
async fn utilization(State(backend): State<Backend>, headers: HeaderMap) -> ApiResult {
    caller(&backend, &headers, Some(Permission::ViewFleet)).await?;
    let u = backend.utilization().await.map_err(service_error)?;
    let wants_csv = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/csv"));
    if wants_csv {
        let csv = u.to_csv();
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response());
    }
    let row = |r: &app::model::UtilizationRow| {
        let counts: serde_json::Map<String, Value> =
            ServerState::ALL.iter().zip(r.counts).map(|(s, n)| (s.as_str().to_string(), json!(n))).collect();
        json!({ "server_type": r.server_type, "counts": counts, "total": r.total, "utilization": r.utilization })
    };
    Ok(json(
        StatusCode::OK,
        json!({ "server_types": u.rows.iter().map(row).collect::<Vec<_>>(), "totals": row(&u.totals) }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUserRequest {
    username: String,
    password: String,
    role: String,
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("bearer" = [])), request_body = NewUserRequest, responses((status = 201, body = UserView), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
async fn create_user(State(backend): State<Backend>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    let user = caller(&backend, &headers, Some(Permission::ManageUsers)).await?;
    let req: NewUserRequest = body(&bytes)?;
    let role = Role::parse(&req.role)
        .ok_or_else(|| service_error(ServiceError::invalid("role", "must be admin, operator, viewer or tenant")))?;
    let created =
        backend.create_user(&actor(&user), &req.username, &req.password, role).await.map_err(service_error)?;
    Ok(json(StatusCode::CREATED, created))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NotesRequest {
    text: String,
    /// The version the text was edited from (0 for the first notes).
    version: i64,
}

#[utoipa::path(get, path = "/api/v1/servers/{id}/bmc/certificate", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = app::model::CertificatePin, description = "the BMC certificate pinned at first use, and a different one seen since (jobs stop until it is accepted)"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn bmc_certificate(State(backend): State<Backend>, headers: HeaderMap, Path(id): Path<i64>) -> ApiResult {
    caller(&backend, &headers, Some(Permission::EditBmc)).await?;
    Ok(json(StatusCode::OK, backend.bmc_certificate(id).await.map_err(service_error)?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AcceptCertificate {
    /// The SHA-256 of the certificate the BMC presented (`offered`).
    fingerprint: String,
}

#[utoipa::path(post, path = "/api/v1/servers/{id}/bmc/certificate/accept", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), request_body = AcceptCertificate, responses((status = 200, body = app::model::CertificatePin), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError, description = "not the certificate offered"), (status = 422, body = ApiError)))]
async fn accept_bmc_certificate(
    State(backend): State<Backend>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    bytes: Bytes,
) -> ApiResult {
    let user = caller(&backend, &headers, Some(Permission::EditBmc)).await?;
    let req: AcceptCertificate = body(&bytes)?;
    backend.accept_bmc_certificate(&actor(&user), id, &req.fingerprint).await.map_err(service_error)?;
    Ok(json(StatusCode::OK, backend.bmc_certificate(id).await.map_err(service_error)?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct NotesQuery {
    /// Versions older than this one (the previous page's `next_before`).
    before: Option<i64>,
    /// Versions per page, 1-100 (default 20).
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/servers/{id}/notes", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path), NotesQuery), responses((status = 200, body = app::model::Notes, description = "the current text and one page of the history; `next_before` when older versions exist"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn get_notes(
    State(backend): State<Backend>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    query: Result<Query<NotesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    caller(&backend, &headers, Some(Permission::ViewFleet)).await?;
    let Query(q) = query.map_err(|e| error(StatusCode::BAD_REQUEST, "malformed", &e.body_text()))?;
    let limit = q.limit.unwrap_or(app::backend::services::notes::NOTES_PAGE);
    Ok(json(StatusCode::OK, backend.notes_page(id, q.before, limit).await.map_err(service_error)?))
}

#[utoipa::path(put, path = "/api/v1/servers/{id}/notes", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), request_body = NotesRequest, responses((status = 200, body = app::model::Notes), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError, description = "someone saved in between: the message shows their version"), (status = 422, body = ApiError)))]
async fn put_notes(State(backend): State<Backend>, headers: HeaderMap, Path(id): Path<i64>, bytes: Bytes) -> ApiResult {
    let user = caller(&backend, &headers, Some(Permission::EditNotes)).await?;
    let req: NotesRequest = body(&bytes)?;
    Ok(json(
        StatusCode::OK,
        backend.save_notes(&actor(&user), id, &req.text, req.version).await.map_err(service_error)?,
    ))
}
