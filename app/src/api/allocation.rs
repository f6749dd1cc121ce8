//! Subscriptions (admins) and deployments (tenants for themselves, operators and
//! admins for tenants).

use super::ActionError;
#[cfg(feature = "ssr")]
use crate::domain::Permission;
use crate::model::{Deployment, Server, Subscription};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the subscriptions page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionsData {
    pub subscriptions: Vec<Subscription>,
    /// Tenant users, for the create form.
    pub tenants: Vec<String>,
    pub server_types: Vec<String>,
    /// The current catalog images' names (an allocation may write one).
    #[serde(default)]
    pub images: Vec<String>,
}

/// What the deployments page shows the caller.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeploymentsData {
    /// The caller acts for tenants (operators, admins) rather than for itself.
    pub for_tenants: bool,
    /// Servers the caller holds (tenants): reserved and allocated.
    pub servers: Vec<Server>,
    /// The caller's subscriptions (tenants).
    pub subscriptions: Vec<Subscription>,
    pub deployments: Vec<Deployment>,
    pub tenants: Vec<String>,
    pub server_types: Vec<String>,
    /// The current catalog images' names (an allocation may write one).
    #[serde(default)]
    pub images: Vec<String>,
}

#[cfg(feature = "ssr")]
fn parse_count(field: &'static str, count: &str) -> Result<i64, ActionError> {
    count.trim().parse::<i64>().map_err(|_| {
        super::ssr::service_error(crate::backend::services::ServiceError::invalid(field, "must be a whole number"))
    })
}

/// "2027-03-31" (a date input) as unix ms at the end of that day, UTC; empty: None.
#[cfg(feature = "ssr")]
fn parse_end_date(s: &str) -> Result<Option<i64>, ActionError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    crate::domain::dates::parse_date(s).map(|start| Some(start + 86_400_000 - 1)).ok_or_else(|| {
        super::ssr::service_error(crate::backend::services::ServiceError::invalid(
            "ends_at",
            "must be a date like 2027-03-31",
        ))
    })
}

#[server(endpoint = "subscriptions_data", output = crate::api::codec::Json)]
pub async fn load_subscriptions() -> Result<SubscriptionsData, ActionError> {
    let (backend, _, _) = super::ssr::require(Some(Permission::ManageSubscriptions)).await?;
    let err = super::ssr::service_error;
    Ok(SubscriptionsData {
        subscriptions: backend.list_subscriptions(None).await.map_err(err)?,
        tenants: backend.tenant_names().await.map_err(err)?,
        server_types: backend.server_type_labels().await.map_err(err)?,
        images: backend.images(false).await.map_err(err)?.into_iter().map(|i| i.name).collect(),
    })
}

/// Creates a subscription: `count` servers of a type, or the servers named in
/// `servers` (separated by spaces or commas), until `ends_at` (a date) or ended.
#[server(endpoint = "create_subscription", output = crate::api::codec::Json)]
pub async fn create_subscription(
    username: String,
    server_type: String,
    count: String,
    #[server(default)] servers: String,
    #[server(default)] ends_at: String,
) -> Result<Subscription, ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(Permission::ManageSubscriptions)).await?;
    let servers: Vec<String> =
        servers.split([',', ' ', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
    let count = if servers.is_empty() { parse_count("count", &count)? } else { 0 };
    let new = crate::backend::services::allocation::NewSubscription {
        username,
        server_type,
        count,
        servers,
        starts_at: None,
        ends_at: parse_end_date(&ends_at)?,
    };
    backend.create_subscription(&actor, &new).await.map_err(super::ssr::service_error)
}

#[server(endpoint = "resize_subscription", output = crate::api::codec::Json)]
pub async fn resize_subscription(id: i64, count: String) -> Result<Subscription, ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(Permission::ManageSubscriptions)).await?;
    let count = parse_count("count", &count)?;
    backend.resize_subscription(&actor, id, count).await.map_err(super::ssr::service_error)
}

#[server(endpoint = "end_subscription", output = crate::api::codec::Json)]
pub async fn end_subscription(id: i64) -> Result<Subscription, ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(Permission::ManageSubscriptions)).await?;
    backend.end_subscription(&actor, id).await.map_err(super::ssr::service_error)
}

/// Reserved and used servers per tenant (the admins' part of the report), as HTML
/// rendered here (`ui/pages/report_rendered.rs`).
#[server(endpoint = "tenant_usage", output = crate::api::codec::Json)]
pub async fn load_tenant_usage() -> Result<String, ActionError> {
    let (backend, _, _) = super::ssr::require(Some(Permission::ManageSubscriptions)).await?;
    let rows = backend.tenant_usage().await.map_err(super::ssr::service_error)?;
    Ok(crate::ui::pages::report_rendered::tenant_usage(rows))
}

#[server(endpoint = "deployments_data", output = crate::api::codec::Json)]
pub async fn load_deployments() -> Result<DeploymentsData, ActionError> {
    let (backend, user, _) = super::ssr::require_access(super::ALLOCATE).await?;
    let err = super::ssr::service_error;
    let for_tenants = user.role.can(Permission::AllocateForTenants);
    let (servers, subscriptions, tenants) = if for_tenants {
        (vec![], vec![], backend.tenant_names().await.map_err(err)?)
    } else {
        let own = Some(user.username.as_str());
        let mut servers = backend.tenant_servers(&user.username).await.map_err(err)?;
        // Tenants never see BMC data.
        servers.iter_mut().for_each(|s| s.bmc_address.clear());
        (servers, backend.list_subscriptions(own).await.map_err(err)?, vec![])
    };
    Ok(DeploymentsData {
        for_tenants,
        servers,
        subscriptions,
        deployments: backend.list_deployments(&user, None).await.map_err(err)?,
        tenants,
        server_types: backend.server_type_labels().await.map_err(err)?,
        images: backend.images(false).await.map_err(err)?.into_iter().map(|i| i.name).collect(),
    })
}

/// Allocates `count` servers of a type, all or none; `username` names the tenant
/// when an operator or admin allocates for one.
#[server(endpoint = "allocate", output = crate::api::codec::Json)]
pub async fn allocate(
    server_type: String,
    count: String,
    #[server(default)] username: Option<String>,
    #[server(default)] image: Option<String>,
    #[server(default)] ssh_keys: Option<String>,
    #[server(default)] user_data: Option<String>,
) -> Result<Deployment, ActionError> {
    let (backend, user, _) = super::ssr::require_access(super::ALLOCATE).await?;
    let request = crate::backend::services::allocation::AllocationRequest {
        tenant: username.filter(|u| !u.trim().is_empty()),
        server_type,
        count: parse_count("count", &count)?,
        image: image.filter(|i| !i.trim().is_empty()),
        ssh_keys: ssh_keys.unwrap_or_default(),
        user_data: user_data.unwrap_or_default(),
    };
    backend.allocate(&user, &request).await.map_err(super::ssr::service_error)
}

/// Releases a deployment, or one server of it (`server_id`): the servers go to
/// cleaning.
#[server(endpoint = "release_deployment", output = crate::api::codec::Json)]
pub async fn release_deployment(id: i64, #[server(default)] server_id: Option<i64>) -> Result<Deployment, ActionError> {
    let (backend, user, _) = super::ssr::require_access(super::ALLOCATE).await?;
    let only = server_id.map(|s| vec![s]);
    backend.release(&user, id, only.as_deref()).await.map_err(super::ssr::service_error)
}
