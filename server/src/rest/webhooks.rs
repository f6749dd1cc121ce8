//! `/api/v1/webhooks`: admins add, change and remove webhooks, read each one's
//! delivery log and redeliver.

use super::extract::{ApiResult, Caller, JsonBody, PathOf, QueryOf, need};
use super::{ApiError, Items};
use app::backend::Backend;
use app::backend::services::ServiceError;
use app::backend::services::webhooks::WebhookRequest;
use app::domain::webhooks::{DeliveryStatus, Topics};
use app::model::{NewWebhook, Webhook, WebhookDelivery};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

fn topics(words: &[String]) -> Result<Topics, ServiceError> {
    Topics::parse(words.iter().map(String::as_str)).map_err(|m| ServiceError::invalid("topics", m))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddRequest {
    /// http:// or https://; its host must be where RACKSTATE_BMC_NETWORKS lets
    /// Rackstate send (checked again at every delivery).
    url: String,
    /// state_changes, job_outcomes, hardware_changes, bmc_warnings, allocations.
    topics: Vec<String>,
    #[serde(default)]
    description: String,
    /// 16 to 200 printable characters; left out, Rackstate makes one. Returned once.
    #[serde(default)]
    secret: String,
}

/// The webhooks (admins).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])), responses((status = 200, body = Items<Webhook>), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub(crate) async fn list_webhooks(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ManageWebhooks>,
) -> ApiResult<Json<Items<Webhook>>> {
    Ok(Json(Items::of(backend.webhooks(&user).await?)))
}

/// Adds a webhook (admins; audited). The answer holds its signing secret, shown this
/// once: deliveries carry `Rackstate-Signature: t=<unix seconds>,v1=<hex
/// HMAC-SHA256("<t>.<body>")>`.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = AddRequest, responses((status = 201, body = NewWebhook), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn add_webhook(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ManageWebhooks>,
    JsonBody(req): JsonBody<AddRequest>,
) -> ApiResult<(StatusCode, Json<NewWebhook>)> {
    let request =
        WebhookRequest { url: req.url, topics: topics(&req.topics)?, description: req.description, secret: req.secret };
    Ok((StatusCode::CREATED, Json(backend.add_webhook(&user, &request).await?)))
}

/// One webhook with its delivery counts.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = Webhook), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn get_webhook(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ManageWebhooks>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<Json<Webhook>> {
    Ok(Json(backend.webhook(&user, id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeRequest {
    /// false stops deliveries and cancels the pending ones.
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    topics: Option<Vec<String>>,
    #[serde(default)]
    description: Option<String>,
}

/// Enables, disables or changes a webhook (admins; audited). The URL and secret stay:
/// to change them, add another and remove this one.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])), params(("id" = i64, Path)), request_body = ChangeRequest, responses((status = 200, body = Webhook), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn change_webhook(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ManageWebhooks>,
    PathOf(id): PathOf<i64>,
    JsonBody(req): JsonBody<ChangeRequest>,
) -> ApiResult<Json<Webhook>> {
    let topics = req.topics.as_deref().map(topics).transpose()?;
    Ok(Json(backend.change_webhook(&user, id, req.enabled, topics, req.description).await?))
}

/// Removes a webhook (admins; audited): pending deliveries are cancelled.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 204), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn remove_webhook(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ManageWebhooks>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<StatusCode> {
    backend.remove_webhook(&user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct DeliveriesQuery {
    /// pending, delivered, failed or cancelled.
    #[serde(default)]
    status: Option<String>,
    /// Deliveries older than this delivery id (the next page).
    #[serde(default)]
    before: Option<i64>,
    /// At most this many (1 to 500, default 100).
    #[serde(default)]
    limit: Option<i64>,
}

/// A webhook's delivery log, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])), params(("id" = i64, Path), DeliveriesQuery), responses((status = 200, body = Items<WebhookDelivery>), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn deliveries(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ManageWebhooks>,
    PathOf(id): PathOf<i64>,
    QueryOf(q): QueryOf<DeliveriesQuery>,
) -> ApiResult<Json<Items<WebhookDelivery>>> {
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            ServiceError::invalid("status", format!("{s:?} is not pending, delivered, failed or cancelled"))
        })?),
        None => None,
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ServiceError::invalid("limit", "from 1 to 500").into());
    }
    Ok(Json(Items::of(backend.webhook_deliveries(&user, id, status, q.before, limit).await?)))
}

/// Sends a delivery's event again now, as a new delivery (its own id) with a day of retries (admins).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", tag = "webhooks", security(("bearer" = [])), params(("id" = i64, Path), ("delivery" = i64, Path)), responses((status = 202, body = WebhookDelivery), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub(crate) async fn redeliver(
    State(backend): State<Backend>,
    Caller(user, ..): Caller<need::ManageWebhooks>,
    PathOf((id, delivery)): PathOf<(i64, i64)>,
) -> ApiResult<(StatusCode, Json<WebhookDelivery>)> {
    Ok((StatusCode::ACCEPTED, Json(backend.redeliver(&user, id, delivery).await?)))
}
