//! The webhooks page's server functions (admins): the webhooks and one's delivery
//! log, adding (the secret shown once), enabling, disabling, removing, redelivering.

use super::ActionError;
use crate::model::{NewWebhook, Webhook, WebhookDelivery};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the webhooks page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhooksPage {
    pub webhooks: Vec<Webhook>,
    /// The delivery log of the webhook asked for (newest first), if one was.
    pub deliveries: Option<(Webhook, Vec<WebhookDelivery>)>,
}

/// How many deliveries the page lists.
#[cfg(feature = "ssr")]
const PAGE: i64 = 100;

#[server(endpoint = "webhooks_data", output = crate::api::codec::Json)]
pub async fn load_webhooks(
    #[server(default)] webhook: Option<i64>,
    #[server(default)] status: Option<String>,
) -> Result<WebhooksPage, ActionError> {
    use crate::backend::services::ServiceError;
    use crate::domain::webhooks::DeliveryStatus;
    let (backend, user, _) = super::ssr::require(Some(crate::domain::Permission::ManageWebhooks)).await?;
    let webhooks = backend.webhooks(&user).await.map_err(super::ssr::service_error)?;
    let deliveries = match webhook {
        Some(id) => {
            let status = match status.as_deref().filter(|s| !s.is_empty()) {
                Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
                    super::ssr::service_error(ServiceError::invalid(
                        "status",
                        "must be pending, delivered, failed or cancelled",
                    ))
                })?),
                None => None,
            };
            let hook = backend.webhook(&user, id).await.map_err(super::ssr::service_error)?;
            let log =
                backend.webhook_deliveries(&user, id, status, None, PAGE).await.map_err(super::ssr::service_error)?;
            Some((hook, log))
        }
        None => None,
    };
    Ok(WebhooksPage { webhooks, deliveries })
}

/// Adds a webhook; every wrong field is named. The answer carries the secret, which
/// the page shows this once.
#[server(endpoint = "add_webhook", output = crate::api::codec::Json)]
pub async fn add_webhook(
    url: String,
    #[server(default)] topics: Vec<String>,
    #[server(default)] description: String,
    #[server(default)] secret: String,
) -> Result<NewWebhook, ActionError> {
    use crate::backend::services::ServiceError;
    let (backend, user, _) = super::ssr::require(Some(crate::domain::Permission::ManageWebhooks)).await?;
    let topics = crate::domain::webhooks::Topics::parse(topics.iter().map(String::as_str))
        .map_err(|m| super::ssr::service_error(ServiceError::invalid("topics", m)))?;
    let req = crate::backend::services::webhooks::WebhookRequest { url, topics, description, secret };
    backend.add_webhook(&user, &req).await.map_err(super::ssr::service_error)
}

/// Enables or disables a webhook (disabling cancels its pending deliveries).
#[server(endpoint = "set_webhook_enabled", output = crate::api::codec::Json)]
pub async fn set_webhook_enabled(id: i64, enabled: bool) -> Result<Webhook, ActionError> {
    let (backend, user, _) = super::ssr::require(Some(crate::domain::Permission::ManageWebhooks)).await?;
    backend.change_webhook(&user, id, Some(enabled), None, None).await.map_err(super::ssr::service_error)
}

/// Removes a webhook; `confirm` (a checkbox) must be ticked.
#[server(endpoint = "remove_webhook", output = crate::api::codec::Json)]
pub async fn remove_webhook(id: i64, #[server(default)] confirm: Option<String>) -> Result<(), ActionError> {
    let (backend, user, _) = super::ssr::require(Some(crate::domain::Permission::ManageWebhooks)).await?;
    if confirm.is_none() {
        return super::ssr::fail(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "confirm: tick the box to remove the webhook".to_string(),
        );
    }
    backend.remove_webhook(&user, id).await.map_err(super::ssr::service_error)
}

/// Sends a delivery's event again, as a new delivery.
#[server(endpoint = "redeliver_webhook", output = crate::api::codec::Json)]
pub async fn redeliver_webhook(webhook_id: i64, delivery_id: i64) -> Result<WebhookDelivery, ActionError> {
    let (backend, user, _) = super::ssr::require(Some(crate::domain::Permission::ManageWebhooks)).await?;
    backend.redeliver(&user, webhook_id, delivery_id).await.map_err(super::ssr::service_error)
}
