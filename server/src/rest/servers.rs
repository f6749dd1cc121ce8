//! `/api/v1/servers` and `/api/v1/jobs`: the fleet, one server (with its hardware and
//! running job), its state, processes, BMC access, audit, erase certificates and notes.

use super::extract::{ApiResult, Caller, JsonBody, PathOf, QueryOf, need};
use super::{ApiError, Items, actor};
use app::backend::Backend;
use app::backend::services::servers::{BmcChange, ListParams};
use app::backend::services::{NewServer, ServiceError, StateChange};
use app::domain::{Action, ServerState};
use app::model::{CertificatePin, JobView, Notes, Server, ServerView};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
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

/// One page of the server list.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ServerList {
    items: Vec<Server>,
    /// Servers matching the filters, on all pages.
    total: i64,
    page: i64,
    per_page: i64,
}

#[utoipa::path(get, path = "/api/v1/servers", tag = "servers", security(("bearer" = [])), params(ListQuery), responses((status = 200, body = ServerList), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn list_servers(
    State(backend): State<Backend>,
    _: Caller<need::ViewFleet>,
    QueryOf(q): QueryOf<ListQuery>,
) -> ApiResult<Json<ServerList>> {
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
    let list = backend.server_list_page(&params, false).await?;
    Ok(Json(ServerList { items: list.items, total: list.total, page: list.page, per_page: list.per_page }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewServerRequest {
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
    /// Once registered, give the BMC a random password of Rackstate's (a rotation
    /// job; shown only through the admin's reveal).
    #[serde(default)]
    set_random_bmc_password: bool,
}

fn yes() -> bool {
    true
}

#[utoipa::path(post, path = "/api/v1/servers", tag = "servers", security(("bearer" = [])), request_body = NewServerRequest, responses((status = 201, body = Server), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError, description = "`conflict`: another live server has this BMC address (the message names it)"), (status = 422, body = ApiError)))]
pub(crate) async fn add_server(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::AddServer>,
    JsonBody(req): JsonBody<NewServerRequest>,
) -> ApiResult<(StatusCode, Json<Server>)> {
    let new = NewServer {
        name: req.name,
        bmc_address: req.bmc_address,
        bmc_username: req.bmc_username,
        bmc_password: req.bmc_password.map(app::backend::secrets::SecretString::new),
        bmc_verify_tls: req.bmc_verify_tls,
        datacenter: req.datacenter,
        rack: req.rack,
        set_random_bmc_password: req.set_random_bmc_password,
    };
    let server = backend.add_server(&actor(&user), &new).await?;
    Ok((StatusCode::CREATED, Json(server)))
}

#[utoipa::path(get, path = "/api/v1/servers/{id}", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = ServerView, description = "the server (a tenant: only its own, `bmc_address` null) with its last inventory and running job"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn get_server(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ViewOwnServers>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<Json<ServerView>> {
    Ok(Json(backend.server_view(&user, id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateRequest {
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

#[utoipa::path(post, path = "/api/v1/servers/{id}/state", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), request_body = StateRequest, responses((status = 200, body = ServerView), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn set_state(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::SetManualState>,
    PathOf(id): PathOf<i64>,
    JsonBody(req): JsonBody<StateRequest>,
) -> ApiResult<Json<ServerView>> {
    let target: ServerState = app::backend::services::servers::parse_state("state", &req.state)?;
    let action = Action::for_manual_state(target).ok_or_else(|| {
        ServiceError::invalid(
            "state",
            format!("{target} is set by the system; set available, unavailable, defective or removed_from_rack"),
        )
    })?;
    let mut change = StateChange::new(action).hardware_checked(req.checked);
    change.reason = req.reason;
    change.expected_generation = req.generation;
    let server = backend.change_state(&actor(&user), id, &change).await?;
    Ok(Json(backend.server_view_after(&user, server).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BmcRequest {
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
#[utoipa::path(put, path = "/api/v1/servers/{id}/bmc", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), request_body = BmcRequest, responses((status = 200, body = ServerView), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn change_bmc(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::EditBmc>,
    PathOf(id): PathOf<i64>,
    JsonBody(req): JsonBody<BmcRequest>,
) -> ApiResult<Json<ServerView>> {
    let change = BmcChange {
        address: req.bmc_address,
        username: req.bmc_username,
        password: req.bmc_password.map(app::backend::secrets::SecretString::new),
        verify_tls: req.bmc_verify_tls,
        generation: req.generation,
    };
    let server = backend.change_bmc(&actor(&user), id, &change).await?;
    Ok(Json(backend.server_view_after(&user, server).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HardwareAckRequest {
    /// The server's generation whose `hardware_changes` were looked at: changes a later
    /// registration found are not acknowledged unseen (409).
    generation: i64,
    /// What was checked (kept in the audit); required, at most 2,000 characters.
    comment: String,
}

/// Acknowledges the hardware changes the server's registrations found since its
/// hardware was last accepted (`hardware_changes`), so it may be set available again.
/// Audited with the comment and the changes acknowledged.
#[utoipa::path(post, path = "/api/v1/servers/{id}/hardware-acknowledgement", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), request_body = HardwareAckRequest, responses((status = 200, body = ServerView, description = "acknowledged: `hardware_changes` is empty"), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError, description = "changed since `generation`, or nothing to acknowledge"), (status = 422, body = ApiError)))]
pub(crate) async fn acknowledge_hardware(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::AcknowledgeHardware>,
    PathOf(id): PathOf<i64>,
    JsonBody(req): JsonBody<HardwareAckRequest>,
) -> ApiResult<Json<ServerView>> {
    let server = backend.acknowledge_hardware(&user, id, req.generation, &req.comment).await?;
    Ok(Json(backend.server_view_after(&user, server).await?))
}

/// A process that was started or changed: the server's latest job.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct JobAccepted {
    job: Option<JobView>,
}

/// 202 with the server's latest job.
async fn accepted_job(backend: &Backend, id: i64) -> ApiResult<(StatusCode, Json<JobAccepted>)> {
    let job = backend.latest_job(id).await?;
    Ok((StatusCode::ACCEPTED, Json(JobAccepted { job })))
}

/// Rotates the server's BMC password: a job sets a new random password on the BMC
/// account Rackstate uses, logs in with it, and only then stores it (audited without
/// either password). A failure at any step leaves the old one working and stored.
#[utoipa::path(post, path = "/api/v1/servers/{id}/bmc/rotate", tag = "processes", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 202, body = JobAccepted), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError, description = "a job runs, no password is stored, or the server is decommissioned")))]
pub(crate) async fn rotate_bmc(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::EditBmc>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<(StatusCode, Json<JobAccepted>)> {
    backend.request_bmc_rotation(&user, id).await?;
    accepted_job(&backend, id).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotationsRequest {
    /// The servers whose BMC passwords to rotate (at most 1,000).
    server_ids: Vec<i64>,
}

/// One server's rotation: its job, or why it was refused.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RotationOutcome {
    server_id: i64,
    job: Option<i64>,
    error: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RotationsOut {
    items: Vec<RotationOutcome>,
}

/// Rotates the BMC passwords of a selection: one job per server; a refusal stops
/// nothing else.
#[utoipa::path(post, path = "/api/v1/bmc-rotations", tag = "processes", security(("bearer" = [])), request_body = RotationsRequest, responses((status = 200, body = RotationsOut), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn rotate_many(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::EditBmc>,
    JsonBody(req): JsonBody<RotationsRequest>,
) -> ApiResult<Json<RotationsOut>> {
    if req.server_ids.is_empty() || req.server_ids.len() > 1000 {
        return Err(ServiceError::invalid("server_ids", "1 to 1,000 server ids").into());
    }
    let mut items = Vec::with_capacity(req.server_ids.len());
    for id in req.server_ids {
        items.push(match backend.request_bmc_rotation(&user, id).await {
            Ok(job) => RotationOutcome { server_id: id, job: Some(job), error: None },
            Err(e) => RotationOutcome { server_id: id, job: None, error: Some(e.user_message()) },
        });
    }
    Ok(Json(RotationsOut { items }))
}

#[utoipa::path(post, path = "/api/v1/servers/{id}/register", tag = "processes", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 202, body = JobAccepted), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub(crate) async fn register(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::StartRegistration>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<(StatusCode, Json<JobAccepted>)> {
    let server = backend.server(id).await?;
    let action = Action::registration_from(server.state);
    backend.change_state(&actor(&user), id, &StateChange::new(action)).await?;
    accepted_job(&backend, id).await
}

#[utoipa::path(post, path = "/api/v1/servers/{id}/decommission", tag = "processes", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 202, body = JobAccepted), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub(crate) async fn decommission(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::Decommission>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<(StatusCode, Json<JobAccepted>)> {
    backend.change_state(&actor(&user), id, &StateChange::new(Action::Decommission)).await?;
    accepted_job(&backend, id).await
}

#[utoipa::path(post, path = "/api/v1/servers/{id}/jobs/current/retry", tag = "processes", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 202, body = JobAccepted), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub(crate) async fn retry(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::RetryAbortJobs>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<(StatusCode, Json<JobAccepted>)> {
    backend.retry_job_for(&user, id).await?;
    accepted_job(&backend, id).await
}

#[utoipa::path(post, path = "/api/v1/servers/{id}/jobs/current/abort", tag = "processes", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 202, body = JobAccepted), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub(crate) async fn abort(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::RetryAbortJobs>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<(StatusCode, Json<JobAccepted>)> {
    backend.abort_job(&actor(&user), id).await?;
    accepted_job(&backend, id).await
}

/// A server's BMC access, revealed (audited).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BmcCredentialsOut {
    address: String,
    username: String,
    /// Null when none is stored (forgotten, or never entered).
    password: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/servers/{id}/bmc-credentials", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = BmcCredentialsOut, description = "audited"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn bmc_credentials(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::RevealBmcCredentials>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<Json<BmcCredentialsOut>> {
    let c = backend.reveal_bmc_credentials(&actor(&user), id).await?;
    let password = c.password.as_ref().map(|p| p.expose().to_string());
    Ok(Json(BmcCredentialsOut { address: c.address, username: c.username, password }))
}

#[utoipa::path(get, path = "/api/v1/servers/{id}/bmc/certificate", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = CertificatePin, description = "the BMC certificate pinned at first use, and a different one seen since (jobs stop until it is accepted)"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn bmc_certificate(
    State(backend): State<Backend>,
    _: Caller<need::EditBmc>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<Json<CertificatePin>> {
    Ok(Json(backend.bmc_certificate(id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptCertificate {
    /// The SHA-256 of the certificate the BMC presented (`offered`).
    fingerprint: String,
}

#[utoipa::path(post, path = "/api/v1/servers/{id}/bmc/certificate/accept", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), request_body = AcceptCertificate, responses((status = 200, body = CertificatePin), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError, description = "not the certificate offered"), (status = 422, body = ApiError)))]
pub(crate) async fn accept_bmc_certificate(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::EditBmc>,
    PathOf(id): PathOf<i64>,
    JsonBody(req): JsonBody<AcceptCertificate>,
) -> ApiResult<Json<CertificatePin>> {
    backend.accept_bmc_certificate(&actor(&user), id, &req.fingerprint).await?;
    Ok(Json(backend.bmc_certificate(id).await?))
}

#[utoipa::path(get, path = "/api/v1/servers/{id}/events", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = Items<app::model::Event>, description = "the server's audit, newest first"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn events(
    State(backend): State<Backend>,
    _: Caller<need::ViewAudit>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<Json<Items<app::model::Event>>> {
    backend.server(id).await?;
    Ok(Json(Items::of(backend.server_events(id).await?)))
}

#[utoipa::path(get, path = "/api/v1/servers/{id}/erase-certificates", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = Items<app::domain::erase::EraseCertificate>, description = "newest first: each cleaning's evidence (NIST SP 800-88 fields)"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn erase_certificates(
    State(backend): State<Backend>,
    _: Caller<need::ViewAudit>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<Json<Items<app::domain::erase::EraseCertificate>>> {
    Ok(Json(Items::of(backend.erase_certificates(id).await?)))
}

#[utoipa::path(get, path = "/api/v1/servers/{id}/erase-certificates/{cert}", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path), ("cert" = i64, Path)), responses((status = 200, body = app::domain::erase::EraseCertificate), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn erase_certificate(
    State(backend): State<Backend>,
    _: Caller<need::ViewAudit>,
    PathOf((id, cert)): PathOf<(i64, i64)>,
) -> ApiResult<Json<app::domain::erase::EraseCertificate>> {
    Ok(Json(backend.erase_certificate(id, cert).await?))
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "processes", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = JobView), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn job(
    State(backend): State<Backend>,
    _: Caller<need::ViewAudit>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<Json<JobView>> {
    Ok(Json(backend.job(id).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotesQuery {
    /// Versions older than this one (the previous page's `next_before`).
    before: Option<i64>,
    /// Versions per page, 1-100 (default 20).
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/servers/{id}/notes", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path), NotesQuery), responses((status = 200, body = Notes, description = "the current text and one page of the history; `next_before` when older versions exist"), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn get_notes(
    State(backend): State<Backend>,
    _: Caller<need::ViewFleet>,
    PathOf(id): PathOf<i64>,
    QueryOf(q): QueryOf<NotesQuery>,
) -> ApiResult<Json<Notes>> {
    let limit = q.limit.unwrap_or(app::backend::services::notes::NOTES_PAGE);
    Ok(Json(backend.notes_page(id, q.before, limit).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotesRequest {
    text: String,
    /// The version the text was edited from (0 for the first notes).
    version: i64,
}

#[utoipa::path(put, path = "/api/v1/servers/{id}/notes", tag = "servers", security(("bearer" = [])), params(("id" = i64, Path)), request_body = NotesRequest, responses((status = 200, body = Notes), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError, description = "someone saved in between: the message shows their version"), (status = 422, body = ApiError)))]
pub(crate) async fn put_notes(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::EditNotes>,
    PathOf(id): PathOf<i64>,
    JsonBody(req): JsonBody<NotesRequest>,
) -> ApiResult<Json<Notes>> {
    Ok(Json(backend.save_notes(&actor(&user), id, &req.text, req.version).await?))
}
