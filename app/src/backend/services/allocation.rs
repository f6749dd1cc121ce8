//! Subscriptions, reservations and allocation.
//!
//! A subscription keeps `count` servers of a type reserved for a tenant
//! (`available` -> `available_reserved`). Servers it reserved stay its own while the
//! tenant uses them and while they are cleaned; one that leaves (defective,
//! unavailable, ...) is replaced from the available pool. Ending or shrinking gives
//! reserved servers back to `available`.
//!
//! A deployment allocates N servers of a type to a tenant, all or none: the tenant's
//! own reserved servers first, then available ones. Releasing moves them to
//! `cleaning`, which starts the cleaning job.
//!
//! Everything that reserves or allocates servers of a type takes that type's lock
//! first (`store::server_types::lock`), so concurrent requests, in one process or in
//! several sharing PostgreSQL, see each other's results and never take a server twice.

use super::lifecycle::{StateChange, abort_in, apply_in, apply_read, apply_typed, finish, not_found, plan};
use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::store::{self, events::NewEvent, now_ms};
use crate::domain::EventKind;
use crate::domain::{Action, Permission, Role, ServerState};
use crate::model::{Deployment, Server, Subscription, TenantUsage, UserView};
use sqlx::AnyConnection;

/// At most this many servers per subscription or deployment request.
pub const MAX_COUNT: i64 = 1000;

/// What an admin asks for when creating a subscription.
#[derive(Clone, Debug, Default)]
pub struct NewSubscription {
    /// The tenant it reserves for.
    pub username: String,
    /// The type label; may be empty when `servers` are given (their type is used).
    pub server_type: String,
    /// How many servers; ignored (taken as the number of servers) when `servers` are given.
    pub count: i64,
    /// Specific servers by name, optional.
    pub servers: Vec<String>,
    /// Unix ms; None: now.
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
}

/// A request to allocate servers.
#[derive(Clone, Debug, Default)]
pub struct AllocationRequest {
    /// The tenant to allocate for; None: the caller (a tenant).
    pub tenant: Option<String>,
    pub server_type: String,
    pub count: i64,
    /// A catalog image to write to each server (None: handed out as they are).
    pub image: Option<String>,
    /// SSH public keys for the servers' config drive, one per line (needs an image).
    pub ssh_keys: String,
    /// cloud-init user data for the servers' config drive (needs an image).
    pub user_data: String,
}

fn check_count(count: i64) -> Result<(), ServiceError> {
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(ServiceError::invalid("count", format!("must be 1 to {MAX_COUNT}")));
    }
    Ok(())
}

fn forbidden(message: impl Into<String>) -> ServiceError {
    ServiceError::Forbidden { message: message.into() }
}

impl Backend {
    /// Creates a subscription and fills it from the available servers at once
    /// (or when it starts). The result says how many it is short.
    pub async fn create_subscription(
        &self,
        actor: &Actor,
        new: &NewSubscription,
    ) -> Result<Subscription, ServiceError> {
        let now = now_ms();
        let (actor, new) = (actor.clone(), new.clone());
        let view = self
            .write_runnable(move |tx| {
                Box::pin(async move {
                    let tenant = tenant_user(tx, &new.username).await?;
                    let mut pinned = Vec::new();
                    let mut type_label = new.server_type.trim().to_string();
                    for name in new.servers.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
                        let id = store::servers::id_by_name(tx, name)
                            .await?
                            .ok_or_else(|| ServiceError::invalid("servers", format!("no server named {name:?}")))?;
                        let server = store::servers::get(tx, id).await?.ok_or_else(|| not_found(id))?;
                        let Some(label) = server.server_type else {
                            return Err(ServiceError::invalid(
                                "servers",
                                format!("{name} has no type yet (not registered)"),
                            ));
                        };
                        if type_label.is_empty() {
                            type_label.clone_from(&label);
                        }
                        if label != type_label {
                            return Err(ServiceError::invalid(
                                "servers",
                                format!("{name} is of type {label}, not {type_label}; one subscription holds one type"),
                            ));
                        }
                        if !pinned.contains(&id) {
                            pinned.push(id);
                        }
                    }
                    let count = if pinned.is_empty() { new.count } else { pinned.len() as i64 };
                    check_count(count)?;
                    if type_label.is_empty() {
                        return Err(ServiceError::invalid("server_type", "name a server type (or specific servers)"));
                    }
                    let type_id = store::server_types::id_by_label(tx, &type_label).await?.ok_or_else(|| {
                        ServiceError::invalid("server_type", format!("no server type {type_label:?}"))
                    })?;
                    let starts_at = new.starts_at.unwrap_or(now);
                    if new.ends_at.is_some_and(|e| e <= starts_at.max(now)) {
                        return Err(ServiceError::invalid("ends_at", "must be in the future and after the start"));
                    }
                    store::server_types::lock(tx, type_id).await?;
                    let row = store::subscriptions::NewSubscription {
                        username: &tenant,
                        server_type_id: type_id,
                        count,
                        pinned: !pinned.is_empty(),
                        starts_at,
                        ends_at: new.ends_at,
                        created_by: &actor.audit_name(),
                    };
                    let id = store::subscriptions::insert(tx, &row, now).await?;
                    for server_id in pinned {
                        store::subscriptions::pin(tx, id, server_id).await?;
                    }
                    reconcile_type(tx, type_id, now).await?;
                    let view = subscription_view(tx, id).await?;
                    Ok(view)
                })
            })
            .await?;
        tracing::info!(
            subscription = view.id,
            tenant = view.username,
            count = view.count,
            filled = view.filled,
            "subscription created"
        );
        Ok(view)
    }

    /// Changes how many servers a subscription holds: it fills up or gives reserved
    /// servers back (servers in use stay until they are released).
    pub async fn resize_subscription(&self, _actor: &Actor, id: i64, count: i64) -> Result<Subscription, ServiceError> {
        check_count(count)?;
        let now = now_ms();
        self.write_runnable(move |tx| {
            Box::pin(async move {
                let sub = open_subscription(tx, id).await?;
                if sub.pinned != 0 {
                    return Err(ServiceError::invalid("count", "a subscription of specific servers keeps its servers"));
                }
                store::server_types::lock(tx, sub.server_type_id).await?;
                store::subscriptions::set_count(tx, id, count, now).await?;
                reconcile_type(tx, sub.server_type_id, now).await?;
                let view = subscription_view(tx, id).await?;
                Ok(view)
            })
        })
        .await
    }

    /// Ends a subscription: its reserved servers return to available; servers the
    /// tenant uses stay in use and return to the pool after release.
    pub async fn end_subscription(&self, actor: &Actor, id: i64) -> Result<Subscription, ServiceError> {
        let now = now_ms();
        let actor = actor.clone();
        self.write_runnable(move |tx| {
            Box::pin(async move {
                let sub = open_subscription(tx, id).await?;
                store::server_types::lock(tx, sub.server_type_id).await?;
                end_in(tx, id, &format!("ended by {}", actor.audit_name()), now).await?;
                reconcile_type(tx, sub.server_type_id, now).await?;
                let view = subscription_view(tx, id).await?;
                Ok(view)
            })
        })
        .await
    }

    pub async fn subscription(&self, id: i64) -> Result<Subscription, ServiceError> {
        let mut conn = self.db.conn().await?;
        subscription_view(&mut conn, id).await
    }

    /// Subscriptions, newest first; a tenant's own when `username` is given.
    pub async fn list_subscriptions(&self, username: Option<&str>) -> Result<Vec<Subscription>, ServiceError> {
        let mut conn = self.db.conn().await?;
        let rows = store::subscriptions::list(&mut conn, username).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let names =
                if row.pinned != 0 { store::subscriptions::pinned_names(&mut conn, row.id).await? } else { vec![] };
            out.push(row.into_view(names));
        }
        Ok(out)
    }

    /// Ends subscriptions whose end passed, starts those whose start came, refills
    /// any that are short: the periodic safety net beside the immediate reactions.
    pub async fn reconcile_subscriptions(&self) -> Result<(), ServiceError> {
        let types = {
            let mut conn = self.db.conn().await?;
            store::subscriptions::open_types(&mut conn).await?
        };
        for type_id in types {
            let now = now_ms();
            self.write_runnable(move |tx| Box::pin(async move { reconcile_type(tx, type_id, now).await })).await?;
        }
        Ok(())
    }

    /// Allocates servers for a tenant, all or none: the tenant's reserved servers of
    /// the type first, then available ones. Fails with how many are missing.
    pub async fn allocate(&self, caller: &UserView, req: &AllocationRequest) -> Result<Deployment, ServiceError> {
        check_count(req.count)?;
        let (ssh_keys, user_data) =
            crate::domain::images::check_os_config(&req.ssh_keys, &req.user_data).map_err(|errors| {
                ServiceError::check_fields(errors).err().unwrap_or_else(|| ServiceError::invalid("ssh_keys", "invalid"))
            })?;
        let os = super::deploy::OsConfig { ssh_keys, user_data };
        if os != super::deploy::OsConfig::default() && req.image.as_deref().is_none_or(|i| i.trim().is_empty()) {
            return Err(ServiceError::invalid("image", "SSH keys and user data go on a deployed image: choose one"));
        }
        let label = req.server_type.trim();
        let now = now_ms();
        let req_image = req.image.clone();
        let (caller, req, label) = (caller.clone(), req.clone(), label.to_string());
        let view = self
            .write_runnable(move |tx| {
                Box::pin(async move {
                    let label = label.as_str();
                    let tenant = acting_for(tx, &caller, req.tenant.as_deref()).await?;
                    let type_id = store::server_types::id_by_label(tx, label)
                        .await?
                        .ok_or_else(|| ServiceError::invalid("server_type", format!("no server type {label:?}")))?;
                    store::server_types::lock(tx, type_id).await?;
                    let mut chosen = store::servers::pool(
                        tx,
                        type_id,
                        ServerState::AvailableReserved,
                        Some(&tenant),
                        None,
                        req.count,
                    )
                    .await?;
                    let rest = req.count - chosen.len() as i64;
                    if rest > 0 {
                        chosen
                            .extend(store::servers::pool(tx, type_id, ServerState::Available, None, None, rest).await?);
                    }
                    let missing = req.count - chosen.len() as i64;
                    if missing > 0 {
                        return Err(ServiceError::InsufficientCapacity {
                            server_type: label.to_string(),
                            requested: req.count,
                            missing,
                        });
                    }
                    let image = match req.image.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                        Some(name) => Some(Backend::image_for_deploy(tx, name).await?),
                        None => None,
                    };
                    let id = store::deployments::insert(tx, &tenant, type_id, req.count, &caller.username, now).await?;
                    if let Some(image) = &image {
                        store::deployments::set_image(tx, id, image.id, &os.ssh_keys, os.user_data.as_deref()).await?;
                    }
                    let actor = Actor::system(format!("deployment {id} by {}", caller.username));
                    // Each server's statements that are the same for all run once for all
                    // (a statement each was 10,000 round trips per 1,000 servers).
                    let ids: Vec<i64> = chosen.iter().map(|s| s.id).collect();
                    // The holder first: the allocation's audit event records the tenant
                    // it hands the server to (their event stream shows it).
                    store::servers::set_tenant_many(tx, &ids, Some(&tenant), now).await?;
                    let changes: Vec<StateChange> = chosen
                        .iter()
                        .map(|server| {
                            let mut change =
                                StateChange::new(Action::Allocate).because(format!("allocated to {tenant}"));
                            change.reserved_for_requester = server.reserved_for.as_deref() == Some(tenant.as_str());
                            change
                        })
                        .collect();
                    let targets: Vec<(i64, &StateChange)> = ids.iter().copied().zip(&changes).collect();
                    move_many(tx, &actor, &targets, now).await?;
                    if let Some(image) = &image {
                        for server in &chosen {
                            super::deploy::queue_deploy(tx, &actor, server, image, &os, now).await?;
                        }
                    }
                    store::deployments::add_servers(tx, id, &ids, now).await?;
                    let view = deployment_view(tx, id).await?;
                    Ok(view)
                })
            })
            .await?;
        tracing::info!(deployment = view.id, tenant = view.username, count = view.count, image = ?req_image, "allocated");
        Ok(view)
    }

    /// Releases a deployment's servers (all, or those in `only`): each goes to
    /// cleaning and its cleaning job starts. All listed or none.
    pub async fn release(&self, caller: &UserView, id: i64, only: Option<&[i64]>) -> Result<Deployment, ServiceError> {
        let now = now_ms();
        let (caller, only) = (caller.clone(), only.map(<[i64]>::to_vec));
        let view = self
            .write_runnable(move |tx| {
                Box::pin(async move {
                    let only = only.as_deref();
                    visible_deployment(tx, &caller, id).await?;
                    let live = store::deployments::servers(tx, id, false).await?;
                    let targets: Vec<i64> = match only {
                        None => live.iter().map(|s| s.id).collect(),
                        Some(ids) => {
                            if let Some(stray) = ids.iter().find(|i| !live.iter().any(|s| s.id == **i)) {
                                return Err(ServiceError::invalid(
                                    "servers",
                                    format!("server {stray} is not in deployment {id}"),
                                ));
                            }
                            // A server named twice is released once.
                            let mut ids = ids.to_vec();
                            ids.sort_unstable();
                            ids.dedup();
                            ids
                        }
                    };
                    if targets.is_empty() {
                        return Err(ServiceError::Conflict { message: format!("deployment {id} holds no servers") });
                    }
                    let actor = Actor::system(format!("deployment {id} released by {}", caller.username));
                    // The tenant's power or deploy jobs stop: cleaning follows their cleanup.
                    // (Read for all servers at once, as are the servers below.)
                    let jobs = store::jobs::latest_for_servers(tx, &targets).await?;
                    for server_id in &targets {
                        if let Some(job) = jobs.get(server_id).filter(|j| j.status.is_active()) {
                            let reason = format!("aborted: the server was released from deployment {id}");
                            abort_in(tx, job, &reason, &reason, &actor.audit_name(), now).await?;
                        }
                    }
                    let change = StateChange::new(Action::Release).because(format!("released from deployment {id}"));
                    let moves: Vec<(i64, &StateChange)> = targets.iter().map(|&s| (s, &change)).collect();
                    // Servers not reserved: the tenant's hold ends with the release.
                    let unheld: Vec<i64> = move_many(tx, &actor, &moves, now)
                        .await?
                        .into_iter()
                        .filter(|after| after.subscription_id.is_none())
                        .map(|after| after.id)
                        .collect();
                    store::deployments::release_servers(tx, id, &targets, now).await?;
                    store::servers::set_tenant_many(tx, &unheld, None, now).await?;
                    store::deployments::close_if_empty(tx, id, now).await?;
                    let view = deployment_view(tx, id).await?;
                    Ok(view)
                })
            })
            .await?;
        tracing::info!(deployment = view.id, tenant = view.username, "released");
        Ok(view)
    }

    pub async fn deployment(&self, caller: &UserView, id: i64) -> Result<Deployment, ServiceError> {
        let mut conn = self.db.conn().await?;
        visible_deployment(&mut conn, caller, id).await?;
        deployment_view(&mut conn, id).await
    }

    /// Deployments the caller may see: a tenant's own, everyone's for operators and
    /// admins (or one tenant's with `tenant`).
    pub async fn list_deployments(
        &self,
        caller: &UserView,
        tenant: Option<&str>,
    ) -> Result<Vec<Deployment>, ServiceError> {
        let mut conn = self.db.conn().await?;
        let who = if caller.role.can(Permission::AllocateForTenants) { tenant } else { Some(caller.username.as_str()) };
        let rows = store::deployments::list(&mut conn, who, 500).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let servers = store::deployments::servers(&mut conn, row.id, false).await?;
            let released = store::deployments::servers(&mut conn, row.id, true).await?;
            out.push(row.into_view(servers, released));
        }
        Ok(out)
    }

    /// The servers a tenant holds: reserved for them or allocated to them.
    pub async fn tenant_servers(&self, tenant: &str) -> Result<Vec<Server>, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::servers::held_by_tenant(&mut conn, tenant).await?)
    }

    /// Users with the tenant role (for the forms that act on a tenant's behalf).
    pub async fn tenant_names(&self) -> Result<Vec<String>, ServiceError> {
        let mut conn = self.db.conn().await?;
        let users = store::users::list(&mut conn).await?;
        Ok(users.into_iter().filter(|u| u.role == Role::Tenant && !u.disabled).map(|u| u.username).collect())
    }

    pub async fn server_type_labels(&self) -> Result<Vec<String>, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::server_types::labels(&mut conn).await?)
    }

    /// Reserved, used and cleaning servers per tenant, and what their subscriptions
    /// are short of (the admins' report).
    pub async fn tenant_usage(&self) -> Result<Vec<TenantUsage>, ServiceError> {
        let mut conn = self.db.conn().await?;
        let mut out: Vec<TenantUsage> = Vec::new();
        let entry = |out: &mut Vec<TenantUsage>, name: &str| -> usize {
            match out.iter().position(|t| t.username == name) {
                Some(i) => i,
                None => {
                    out.push(TenantUsage { username: name.to_string(), ..Default::default() });
                    out.len() - 1
                }
            }
        };
        for (tenant, state, n) in store::subscriptions::tenant_usage(&mut conn).await? {
            let i = entry(&mut out, &tenant);
            match ServerState::parse(&state) {
                Some(ServerState::AvailableReserved) => out[i].reserved += n,
                Some(ServerState::Used | ServerState::UsedRegistering) => out[i].used += n,
                Some(ServerState::Cleaning) => out[i].cleaning += n,
                _ => {}
            }
        }
        for row in store::subscriptions::list(&mut conn, None).await? {
            let sub = row.into_view(vec![]);
            if sub.short > 0 {
                let i = entry(&mut out, &sub.username);
                out[i].short += sub.short;
            }
        }
        out.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(out)
    }
}

/// The username of an enabled tenant user, or a field error.
async fn tenant_user(conn: &mut AnyConnection, name: &str) -> Result<String, ServiceError> {
    let name = name.trim().to_ascii_lowercase();
    match store::users::by_username(conn, &name).await?.map(|u| u.view) {
        Some(u) if u.role == Role::Tenant && !u.disabled => Ok(name),
        Some(u) if u.role != Role::Tenant => {
            Err(ServiceError::invalid("username", format!("{name} has the {} role, not tenant", u.role)))
        }
        Some(_) => Err(ServiceError::invalid("username", format!("{name} is disabled"))),
        None => Err(ServiceError::invalid("username", format!("no user named {name:?}"))),
    }
}

/// Whom an allocation or release is for: a tenant acts for itself; operators and
/// admins name the tenant.
async fn acting_for(conn: &mut AnyConnection, caller: &UserView, tenant: Option<&str>) -> Result<String, ServiceError> {
    let tenant = tenant.map(str::trim).filter(|t| !t.is_empty());
    if caller.role.can(Permission::AllocateForTenants) {
        let Some(name) = tenant else {
            return Err(ServiceError::invalid("username", "name the tenant to allocate for"));
        };
        return tenant_user(conn, name).await;
    }
    if caller.role.can(Permission::AllocateOwn) {
        return match tenant {
            Some(name) if !name.eq_ignore_ascii_case(&caller.username) => {
                Err(forbidden("a tenant allocates only for itself"))
            }
            _ => Ok(caller.username.clone()),
        };
    }
    Err(forbidden(format!("your role ({}) may not allocate servers", caller.role)))
}

/// A deployment the caller may act on; another tenant's is "not found".
async fn visible_deployment(
    conn: &mut AnyConnection,
    caller: &UserView,
    id: i64,
) -> Result<store::deployments::Row, ServiceError> {
    let missing = || ServiceError::NotFound { what: format!("deployment {id}") };
    let row = store::deployments::get(conn, id).await?.ok_or_else(missing)?;
    if caller.role.can(Permission::AllocateForTenants) || row.username == caller.username {
        Ok(row)
    } else {
        Err(missing())
    }
}

async fn deployment_view(conn: &mut AnyConnection, id: i64) -> Result<Deployment, ServiceError> {
    let row = store::deployments::get(conn, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound { what: format!("deployment {id}") })?;
    let servers = store::deployments::servers(&mut *conn, id, false).await?;
    let released = store::deployments::servers(&mut *conn, id, true).await?;
    Ok(row.into_view(servers, released))
}

async fn subscription_view(conn: &mut AnyConnection, id: i64) -> Result<Subscription, ServiceError> {
    let row = store::subscriptions::get(conn, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound { what: format!("subscription {id}") })?;
    let names = if row.pinned != 0 { store::subscriptions::pinned_names(conn, id).await? } else { vec![] };
    Ok(row.into_view(names))
}

async fn open_subscription(conn: &mut AnyConnection, id: i64) -> Result<store::subscriptions::Row, ServiceError> {
    let row = store::subscriptions::get(conn, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound { what: format!("subscription {id}") })?;
    if row.ended_at.is_some() {
        return Err(ServiceError::Conflict { message: format!("subscription {id} has ended") });
    }
    Ok(row)
}

/// What a state change means for subscriptions (called by `change_state_in` in the
/// same transaction): a server that left its subscription is no longer held (and is
/// replaced); a server that became available, or came back from cleaning, may fill
/// or overfill one. `type_id`: the server's type, None when it has no subscriptions.
/// Returns whether it wrote anything (the caller's copy of the server may then be
/// stale).
pub(crate) async fn after_move(
    tx: &mut AnyConnection,
    before: &Server,
    after: &Server,
    type_id: Option<i64>,
    now: i64,
) -> Result<bool, ServiceError> {
    let mut reconcile = after.state == ServerState::Available && before.state != ServerState::Available;
    let mut touched = false;
    if let Some(sub) = after.subscription_id
        && !after.state.held_by_subscription()
    {
        store::servers::set_holder(&mut *tx, after.id, None, None, now).await?;
        let who = format!("system: subscription {sub}");
        let event = NewEvent {
            from_value: after.reserved_for.as_deref(),
            reason: Some(&format!("the server left subscription {sub} (now {})", after.state)),
            ..NewEvent::about(after.id, &who, EventKind::ReservationEnded)
        };
        store::events::append(&mut *tx, &event, now).await?;
        reconcile = true;
        touched = true;
    }
    if after.subscription_id.is_some() && after.state == ServerState::AvailableReserved && before.state != after.state {
        reconcile = true;
    }
    if !reconcile {
        return Ok(false);
    }
    if let Some(type_id) = type_id {
        touched |= reconcile_type(tx, type_id, now).await?;
    }
    Ok(touched)
}

/// Brings every open subscription of a type to its count: ends those past their end,
/// gives back what overfilled ones hold, then fills short ones (oldest first) from
/// the available servers. Takes the type's lock. True when it changed anything.
async fn reconcile_type(tx: &mut AnyConnection, type_id: i64, now: i64) -> Result<bool, ServiceError> {
    store::server_types::lock(&mut *tx, type_id).await?;
    let subs = store::subscriptions::open_for_type(&mut *tx, type_id).await?;
    if subs.is_empty() {
        return Ok(false);
    }
    let mut fill = Vec::new();
    for sub in subs {
        if sub.ends_at.is_some_and(|e| e <= now) {
            end_in(&mut *tx, sub.id, "its end date passed", now).await?;
            continue;
        }
        if sub.starts_at > now {
            continue;
        }
        let actor = Actor::system(format!("subscription {}", sub.id));
        let held: Vec<Server> = store::servers::held_by_subscription(&mut *tx, sub.id)
            .await?
            .into_iter()
            .filter(|s| s.state.held_by_subscription())
            .collect();
        let mut excess = held.len() as i64 - sub.count;
        for s in held.iter().filter(|s| s.state == ServerState::AvailableReserved) {
            if excess <= 0 {
                break;
            }
            unreserve(&mut *tx, &actor, s.id, &format!("subscription {} holds more than {}", sub.id, sub.count), now)
                .await?;
            excess -= 1;
        }
        if (held.len() as i64) < sub.count {
            fill.push((sub, held.len() as i64));
        }
    }
    for (sub, held) in fill {
        let actor = Actor::system(format!("subscription {}", sub.id));
        let pinned = (sub.pinned != 0).then_some(sub.id);
        let candidates =
            store::servers::pool(&mut *tx, type_id, ServerState::Available, None, pinned, sub.count - held).await?;
        for s in candidates {
            store::servers::set_holder(&mut *tx, s.id, Some(&sub.username), Some(sub.id), now).await?;
            let change = StateChange::new(Action::Reserve).because(format!("reserved for {}", sub.username));
            apply_in(&mut *tx, &actor, s.id, &change, now).await?;
        }
    }
    Ok(true)
}

/// Ends a subscription: reserved servers go back to available; servers in use keep
/// their tenant until released, then return to the pool.
async fn end_in(tx: &mut AnyConnection, id: i64, why: &str, now: i64) -> Result<(), ServiceError> {
    if !store::subscriptions::end(&mut *tx, id, now).await? {
        return Ok(());
    }
    let actor = Actor::system(format!("subscription {id}"));
    for s in store::servers::held_by_subscription(&mut *tx, id).await? {
        if s.state == ServerState::AvailableReserved {
            unreserve(&mut *tx, &actor, s.id, &format!("subscription {id} {why}"), now).await?;
        } else {
            let in_use = matches!(s.state, ServerState::Used | ServerState::UsedRegistering);
            let tenant = in_use.then_some(s.reserved_for.as_deref()).flatten();
            store::servers::set_holder(&mut *tx, s.id, tenant, None, now).await?;
        }
    }
    tracing::info!(subscription = id, why, "subscription ended");
    Ok(())
}

/// Moves many servers, each as its change says and by the lifecycle's rules (the
/// same as one server's change), reading them in a few statements for all and, where
/// that pays (`dialect::batches_writes`), writing the moves with their audit events so
/// too. All or none: the first refusal (or a server changed meanwhile) is the error.
/// The servers after their moves, in order.
async fn move_many(
    tx: &mut AnyConnection,
    actor: &Actor,
    targets: &[(i64, &StateChange)],
    now: i64,
) -> Result<Vec<Server>, ServiceError> {
    let ids: Vec<i64> = targets.iter().map(|(id, _)| *id).collect();
    let mut read = store::servers::get_for_change_many(&mut *tx, &ids).await?;
    if !store::dialect::batches_writes(tx) {
        let mut out = Vec::with_capacity(targets.len());
        for &(id, change) in targets {
            let row = read.remove(&id).ok_or_else(|| not_found(id))?;
            out.push(apply_read(&mut *tx, actor, row, change, now).await?.1);
        }
        return Ok(out);
    }
    let mut planned = Vec::with_capacity(targets.len());
    for &(id, change) in targets {
        let row = read.remove(&id).ok_or_else(|| not_found(id))?;
        planned.push(plan(&mut *tx, actor, row, change, now).await?);
    }
    let writes: Vec<_> = planned.iter().map(|p| p.write()).collect();
    if !store::servers::move_audited_many(&mut *tx, &writes, now).await? {
        // PostgreSQL only (SQLite's write lock keeps others out between read and write).
        return Err(ServiceError::Conflict {
            message: "a server was changed by someone else meanwhile; nothing was done, try again".into(),
        });
    }
    drop(writes);
    let mut out = Vec::with_capacity(planned.len());
    for (p, &(_, change)) in planned.into_iter().zip(targets) {
        let (_, after, _) = finish(&mut *tx, actor, p, change, now).await?;
        out.push(after);
    }
    Ok(out)
}

async fn unreserve(tx: &mut AnyConnection, actor: &Actor, id: i64, why: &str, now: i64) -> Result<(), ServiceError> {
    let change = StateChange::new(Action::Unreserve).because(why);
    apply_in(&mut *tx, actor, id, &change, now).await?;
    store::servers::set_holder(&mut *tx, id, None, None, now).await?;
    Ok(())
}

/// `change_state` inside the caller's transaction, followed by what the move means
/// for subscriptions: a reserved server that left is replaced, a server that became
/// available may fill one.
pub(crate) async fn change_state_in(
    tx: &mut sqlx::AnyConnection,
    actor: &Actor,
    id: i64,
    change: &StateChange,
    now: i64,
) -> Result<Server, ServiceError> {
    let (before, after, type_id) = apply_typed(&mut *tx, actor, id, change, now).await?;
    if after_move(&mut *tx, &before, &after, type_id, now).await? {
        // The subscriptions touched this server (its holder, or reserved it again).
        return store::servers::get(&mut *tx, id).await?.ok_or_else(|| not_found(id));
    }
    Ok(after)
}
