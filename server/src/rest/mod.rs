//! The automation API under `/api/v1`: JSON over HTTP, `Authorization: Bearer <token>`,
//! the same permission table and the same service layer as the pages. Errors are
//! `{"error": {"code": "<snake_case>", "message": "..."}}`: 400 malformed, 401 no or
//! bad token, 403 role, 404, 409 illegal transition or stale generation, 422 invalid
//! field (the message names it), 429 throttled. Bad input never gets a 500. Handlers
//! take typed parts (`extract`) and answer typed structs, so the OpenAPI document's
//! schemas are the answers' real shapes.

mod accounts;
mod allocation;
mod events;
mod extract;
mod firmware;
mod images;
mod power;
mod reports;
mod servers;
mod webhooks;

use app::backend::Backend;
use app::backend::services::Actor;
use app::model::{JobView, Server, ServerView, UserView};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::Serialize;

/// The largest request body the API accepts.
const MAX_BODY: usize = 256 * 1024;

pub fn router(backend: Backend, stopping: tokio::sync::watch::Receiver<bool>) -> Router {
    use accounts::*;
    use servers::*;
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
        .route("/api/v1/servers/{id}/bmc", put(change_bmc))
        .route("/api/v1/servers/{id}/bmc/rotate", post(rotate_bmc))
        .route("/api/v1/bmc-rotations", post(rotate_many))
        .route("/api/v1/servers/{id}/hardware-acknowledgement", post(acknowledge_hardware))
        .route("/api/v1/servers/{id}/bmc/certificate", get(bmc_certificate))
        .route("/api/v1/servers/{id}/bmc/certificate/accept", post(accept_bmc_certificate))
        .route("/api/v1/servers/{id}/events", get(events))
        .route("/api/v1/servers/{id}/erase-certificates", get(erase_certificates))
        .route("/api/v1/servers/{id}/erase-certificates/{cert}", get(erase_certificate))
        .route("/api/v1/servers/{id}/notes", get(get_notes).put(put_notes))
        .route("/api/v1/servers/{id}/power", get(power::get_power).post(power::request_power))
        .route("/api/v1/servers/{id}/deploy", get(images::get_deploy).post(images::redeploy))
        .route("/api/v1/servers/{id}/root-disk", put(images::set_root_disk))
        .route("/api/v1/images", get(images::list_images).post(images::add_image))
        .route("/api/v1/images/{id}", delete(images::retire_image))
        .route("/api/v1/jobs/{id}", get(job))
        .route("/api/v1/reports/utilization", get(reports::utilization))
        .route("/api/v1/server-types/{type}/firmware", get(firmware::type_firmware))
        .route("/api/v1/server-types/{type}/firmware/baseline", put(firmware::put_baseline))
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
        .route("/api/v1/webhooks", get(webhooks::list_webhooks).post(webhooks::add_webhook))
        .route(
            "/api/v1/webhooks/{id}",
            get(webhooks::get_webhook).patch(webhooks::change_webhook).delete(webhooks::remove_webhook),
        )
        .route("/api/v1/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", post(webhooks::redeliver))
        .route("/api/v1/events/stream", get(events::stream))
        .route("/api/v1/openapi.json", get(openapi_json))
        .layer(axum::Extension(events::Stopping(stopping)))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(backend)
}

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
        accounts::create_token, accounts::list_tokens, accounts::revoke_token, accounts::create_user,
        servers::list_servers, servers::add_server, servers::get_server, servers::set_state, servers::register,
        servers::decommission, servers::retry, servers::abort, servers::bmc_credentials, servers::change_bmc,
        servers::acknowledge_hardware, servers::rotate_bmc, servers::rotate_many,
        servers::bmc_certificate, servers::accept_bmc_certificate, servers::events, servers::erase_certificates,
        servers::erase_certificate, servers::get_notes, servers::put_notes, servers::job, reports::utilization,
        allocation::list_subscriptions, allocation::create_subscription, allocation::get_subscription,
        allocation::resize_subscription, allocation::end_subscription, allocation::list_deployments,
        allocation::allocate, allocation::get_deployment, allocation::release,
        power::request_power, power::get_power, images::list_images, images::add_image, images::retire_image,
        images::get_deploy, images::redeploy, images::set_root_disk, firmware::type_firmware,
        firmware::put_baseline, webhooks::list_webhooks, webhooks::add_webhook, webhooks::get_webhook,
        webhooks::change_webhook, webhooks::remove_webhook, webhooks::deliveries, webhooks::redeliver, events::stream
    ),
    components(schemas(
        ApiError, ApiErrorBody, Server, ServerView, JobView, app::model::JobStep, UserView, app::model::ApiToken, app::model::CertificatePin, app::model::Event, app::domain::Inventory, app::domain::inventory::Change, app::model::Notes,
        app::domain::firmware::TypeFirmware, app::domain::firmware::ComponentDrift,
        app::domain::firmware::VersionCount, app::domain::firmware::Drift, firmware::BaselineRequest,
        app::model::Subscription, allocation::DeploymentOut, app::model::DeploymentServer,
        app::domain::erase::EraseCertificate, app::domain::erase::CertifiedDisk, app::domain::erase::EraseMode,
        app::domain::erase::EraseMethod, power::PowerOut, app::model::PowerJob, app::domain::power::PowerRequest,
        app::model::Image, app::model::DeployView, app::domain::images::ImageFormat,
        app::domain::power::PowerState, app::domain::power::Health, app::domain::JobStatus, app::domain::JobPhase,
        app::domain::JobKind, app::domain::EventKind, app::model::Webhook, app::model::WebhookDelivery,
        app::model::NewWebhook, app::model::StreamEvent, app::domain::webhooks::Topic,
        app::domain::webhooks::DeliveryStatus, webhooks::AddRequest, webhooks::ChangeRequest
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

/// A list answer: `{"items": [...]}` (room for paging fields later without breaking
/// clients).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Items<T: utoipa::ToSchema> {
    items: Vec<T>,
}

impl<T: utoipa::ToSchema> Items<T> {
    pub(crate) fn of(items: Vec<T>) -> Self {
        Items { items }
    }
}

pub(crate) fn actor(user: &UserView) -> Actor {
    Actor::user(user.username.clone())
}
