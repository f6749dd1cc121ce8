//! Servers: add, change state through the transition table, record inventory and type,
//! read, and the utilization report.

pub use super::lifecycle::{JobLease, JobParams, StateChange};
pub(crate) use super::lifecycle::{not_found, queue_job, stale};
use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::secrets::SecretString;
use crate::backend::store::{self, events::NewEvent, now_ms};
use crate::domain::EventKind;
use crate::domain::bmc_address::redact as redact_bmc;
use crate::domain::power::{Health, PowerState};
use crate::domain::{self, Action, Inventory, ServerState, TypeSpec};
use crate::model::{Event, Server, Utilization, UtilizationRow};

/// A server's BMC credentials, opened for an admin who asked to see them.
#[derive(Debug)]
pub struct BmcCredentials {
    pub address: String,
    pub username: String,
    pub password: Option<SecretString>,
    pub verify_tls: bool,
    /// The SHA-256 of the BMC's certificate pinned at first use (unverified TLS).
    pub tls_pin: Option<String>,
}

/// What a job needs to reach a server's machine, read at once: the BMC's credentials,
/// what was recorded of the machine (the identity check compares with it) and the
/// power state last recorded (an unchanged one is not written again).
#[derive(Debug)]
pub struct BmcAccess {
    pub credentials: BmcCredentials,
    pub recorded: domain::identity::MachineIdentity,
    pub power: PowerState,
    pub health: Health,
}

/// What an admin gives to add a server by its BMC.
#[derive(Clone, Debug, Default)]
pub struct NewServer {
    pub name: String,
    pub bmc_address: String,
    pub bmc_username: String,
    pub bmc_password: Option<SecretString>,
    pub bmc_verify_tls: bool,
    pub datacenter: String,
    pub rack: String,
    /// Once registered, give the BMC a random password of Rackstate's (a rotation):
    /// no one knows it unless an admin reveals it.
    pub set_random_bmc_password: bool,
}

/// New BMC access for a server, from an admin or operator.
#[derive(Clone, Debug, Default)]
pub struct BmcChange {
    pub address: String,
    pub username: String,
    /// None or empty: keep the stored password, unless the address or TLS setting
    /// changes (then it is forgotten: it was entered for another BMC).
    pub password: Option<SecretString>,
    pub verify_tls: bool,
    /// The generation the requester saw.
    pub generation: i64,
}

/// The server list's query as a page or an API client sends it (text fields; empty
/// means "any"), checked into a filter.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct ListParams {
    pub state: Option<String>,
    pub server_type: Option<String>,
    pub datacenter: Option<String>,
    pub rack: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    /// `asc` or `desc`.
    pub dir: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// A state named by a client; the error names the field and the states there are.
pub fn parse_state(field: &'static str, s: &str) -> Result<ServerState, ServiceError> {
    ServerState::parse(s).ok_or_else(|| {
        let all: Vec<&str> = ServerState::ALL.iter().map(|s| s.as_str()).collect();
        ServiceError::invalid(field, format!("unknown state {s:?}; one of {}", all.join(", ")))
    })
}

/// Servers per list page unless asked otherwise, and at most.
pub const DEFAULT_PER_PAGE: i64 = 50;
pub const MAX_PER_PAGE: i64 = 500;
const MAX_QUERY: usize = 200;

impl ListParams {
    /// The filter, the page and the page size; a field error names the parameter.
    pub fn filter(&self) -> Result<(store::servers::ListFilter, i64, i64), ServiceError> {
        use store::servers::SortKey;
        fn given(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let state = given(&self.state).map(|s| parse_state("state", s)).transpose()?;
        let sort = match given(&self.sort) {
            None => SortKey::Name,
            Some(s) => SortKey::parse(s).ok_or_else(|| {
                let all: Vec<&str> = SortKey::ALL.iter().map(|k| k.as_str()).collect();
                ServiceError::invalid("sort", format!("unknown sort {s:?}; one of {}", all.join(", ")))
            })?,
        };
        let descending = match given(&self.dir) {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(ServiceError::invalid("dir", "must be asc or desc")),
        };
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ServiceError::invalid("per_page", format!("must be 1 to {MAX_PER_PAGE}")));
        }
        let page = self.page.unwrap_or(1);
        if !(1..=1_000_000).contains(&page) {
            return Err(ServiceError::invalid("page", "must be 1 to 1000000"));
        }
        if self.q.as_deref().is_some_and(|q| q.chars().count() > MAX_QUERY) {
            return Err(ServiceError::invalid("q", format!("at most {MAX_QUERY} characters")));
        }
        let filter = store::servers::ListFilter {
            state,
            // "" is a real choice here: servers not typed yet.
            server_type: self.server_type.clone(),
            datacenter: given(&self.datacenter).map(str::to_string),
            rack: given(&self.rack).map(str::to_string),
            q: given(&self.q).map(str::to_string),
            sort,
            descending,
            offset: (page - 1) * per_page,
            limit: per_page,
        };
        Ok((filter, page, per_page))
    }
}

const MAX_NAME: usize = 63;
const MAX_FIELD: usize = 255;
const MAX_BMC_PASSWORD: usize = 1024;

fn name_error(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Some(format!("must be 1 to {MAX_NAME} characters"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Some("may contain only letters, digits, '-', '_' and '.'".into());
    }
    None
}

/// A BMC is a host, host:port, or an `http(s)://` base URL with a plain path.
fn bmc_address_error(bmc: &str) -> Option<String> {
    domain::bmc_address::parse(bmc).err()
}

/// Every field error of a BMC login (address, user, password), so a form shows them
/// all at once.
fn bmc_errors(address: &str, username: &str, password: Option<&SecretString>) -> Vec<(&'static str, String)> {
    let mut errors = Vec::new();
    if let Some(e) = bmc_address_error(address) {
        errors.push(("bmc_address", e));
    }
    if username.len() > MAX_FIELD || username.chars().any(char::is_control) {
        errors.push(("bmc_username", format!("at most {MAX_FIELD} characters, no control characters")));
    }
    if password.is_some_and(|p| p.expose().len() > MAX_BMC_PASSWORD) {
        errors.push(("bmc_password", format!("at most {MAX_BMC_PASSWORD} characters")));
    }
    errors
}

/// Every field error of a new server.
fn new_server_errors(new: &NewServer) -> Vec<(&'static str, String)> {
    let mut errors = Vec::new();
    if let Some(e) = name_error(new.name.trim()) {
        errors.push(("name", e));
    }
    errors.extend(bmc_errors(new.bmc_address.trim(), new.bmc_username.trim(), new.bmc_password.as_ref()));
    for (field, value) in [("datacenter", &new.datacenter), ("rack", &new.rack)] {
        if value.trim().len() > MAX_FIELD || value.chars().any(char::is_control) {
            errors.push((field, format!("at most {MAX_FIELD} characters, no control characters")));
        }
    }
    errors
}

impl Backend {
    /// Adds a server by its BMC; it starts in `registering`.
    pub async fn add_server(&self, actor: &Actor, new: &NewServer) -> Result<Server, ServiceError> {
        ServiceError::check_fields(new_server_errors(new))?;
        let bmc = new.bmc_address.trim();
        super::identity::ensure_reachable(&self.bmc_reach, bmc).await?;
        let binding = super::identity::bmc_binding(bmc, new.bmc_verify_tls);
        let sealed =
            new.bmc_password.as_ref().filter(|p| !p.expose().is_empty()).map(|p| self.secrets.seal_for(p, &binding));
        let key = domain::identity::bmc_key(bmc);
        let now = now_ms();
        let (actor, new) = (actor.clone(), new.clone());
        self.write_runnable(move |tx| {
            Box::pin(async move {
                let (name, bmc) = (new.name.trim(), new.bmc_address.trim());
                store::identity::lock(tx, store::identity::Claim::Bmc(&key)).await?;
                super::identity::ensure_bmc_free(tx, bmc, 0).await?;
                let row = store::servers::NewServerRow {
                    name,
                    state: ServerState::Registering,
                    bmc_address: bmc,
                    bmc_key: &key,
                    bmc_username: new.bmc_username.trim(),
                    bmc_secret: sealed.as_deref(),
                    bmc_verify_tls: new.bmc_verify_tls,
                    datacenter: new.datacenter.trim(),
                    rack: new.rack.trim(),
                };
                let Some(id) = store::servers::insert(tx, &row, now).await? else {
                    return Err(ServiceError::invalid("name", format!("a server named {name:?} exists already")));
                };
                let who = actor.audit_name();
                let audit = NewEvent {
                    to_value: Some(ServerState::Registering.as_str()),
                    details: Some(&format!("BMC {bmc}")),
                    ..NewEvent::about(id, &who, EventKind::Added)
                };
                store::events::append(tx, &audit, now).await?;
                let params = JobParams { rotate_bmc_password: new.set_random_bmc_password, ..JobParams::default() };
                queue_job(tx, id, domain::JobKind::Register, &params, now).await?;
                let server = store::servers::get(tx, id).await?.ok_or_else(|| not_found(id))?;
                Ok(server)
            })
        })
        .await
    }

    /// Applies one action to a server: checks the generation, the transition table and
    /// its guards, moves the state and writes the audit event, all in one transaction.
    pub async fn change_state(&self, actor: &Actor, id: i64, change: &StateChange) -> Result<Server, ServiceError> {
        let (actor, change) = (actor.clone(), change.clone());
        // (Many changes start a job: the runner may have work.)
        self.write_runnable(move |tx| {
            Box::pin(async move { super::allocation::change_state_in(tx, &actor, id, &change, now_ms()).await })
        })
        .await
    }

    /// Stores a discovered inventory, derives the server type (creating it, with the
    /// next `.vN` when the label is taken by other hardware), and audits what changed.
    /// Returns the server and the differences from the previous inventory.
    pub async fn record_inventory(
        &self,
        actor: &Actor,
        id: i64,
        inventory: &Inventory,
        class: char,
    ) -> Result<(Server, Vec<domain::inventory::Change>), ServiceError> {
        let (actor, inventory) = (actor.clone(), inventory.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let out = record_inventory_in(tx, &actor, id, &inventory, class, now_ms()).await?;
                Ok(out)
            })
        })
        .await
    }

    /// Opens a server's BMC credentials and audits who looked (the seed asks admins
    /// to copy them before a decommission).
    pub async fn reveal_bmc_credentials(&self, actor: &Actor, id: i64) -> Result<BmcCredentials, ServiceError> {
        let now = now_ms();
        let (this, actor) = (self.clone(), actor.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let creds = this.open_bmc_credentials(tx, id).await?;
                let who = actor.audit_name();
                let event = NewEvent::about(id, &who, EventKind::CredentialsRevealed);
                store::events::append(tx, &event, now).await?;
                Ok(creds)
            })
        })
        .await
    }

    /// One action on many servers, each in its own transaction at the generation the
    /// requester saw: each server's outcome is reported, one refusal stops nothing.
    /// `checked`: the requester checked the disks and switch interfaces (Available
    /// from unavailable asks for it, as on the server page).
    pub async fn change_many(
        &self,
        actor: &Actor,
        action: Action,
        targets: &[(i64, i64)],
        reason: Option<&str>,
        checked: bool,
    ) -> Vec<crate::model::BulkOutcome> {
        let mut out = Vec::with_capacity(targets.len());
        for &(id, generation) in targets {
            let server = match self.server(id).await {
                Ok(s) => s,
                Err(e) => {
                    let error = Some(e.user_message());
                    out.push(crate::model::BulkOutcome { id, name: format!("#{id}"), state: None, error });
                    continue;
                }
            };
            let action = match action {
                Action::Register | Action::ReRegister => Action::registration_from(server.state),
                other => other,
            };
            let mut change = StateChange::new(action).at_generation(generation).hardware_checked(checked);
            change.reason = reason.map(str::to_string);
            let result = self.change_state(actor, id, &change).await;
            out.push(match result {
                Ok(s) => crate::model::BulkOutcome { id, name: s.name, state: Some(s.state), error: None },
                Err(e) => {
                    crate::model::BulkOutcome { id, name: server.name, state: None, error: Some(e.user_message()) }
                }
            });
        }
        out
    }

    /// Replaces a server's BMC address, user, password (unless left empty) and TLS
    /// setting, e.g. after a BMC board swap or before registering a decommissioned
    /// server again. Not while a job talks to the BMC. Audited without the secret.
    pub async fn change_bmc(&self, actor: &Actor, id: i64, change: &BmcChange) -> Result<Server, ServiceError> {
        let address = change.address.trim();
        let username = change.username.trim();
        let password = change.password.as_ref().filter(|p| !p.expose().is_empty());
        ServiceError::check_fields(bmc_errors(address, username, password))?;
        super::identity::ensure_reachable(&self.bmc_reach, address).await?;
        let sealed =
            password.map(|p| self.secrets.seal_for(p, &super::identity::bmc_binding(address, change.verify_tls)));
        let key = domain::identity::bmc_key(address);
        let now = now_ms();
        let (actor, change) = (actor.clone(), change.clone());
        self.write(move |tx| {
            Box::pin(async move {
                let (address, username) = (change.address.trim(), change.username.trim());
                store::identity::lock(tx, store::identity::Claim::Bmc(&key)).await?;
                let server = store::servers::get(tx, id).await?.ok_or_else(|| not_found(id))?;
                if server.generation != change.generation {
                    return Err(stale(&server));
                }
                if store::jobs::has_active(tx, id).await? {
                    return Err(ServiceError::Conflict {
                        message: format!(
                            "server {} has a running job that talks to its BMC; wait for it or abort it first",
                            server.name
                        ),
                    });
                }
                super::identity::ensure_bmc_free(tx, address, id).await?;
                let old = store::servers::bmc_credentials(tx, id).await?.ok_or_else(|| not_found(id))?;
                // The stored secret was entered for the old BMC: it follows no new address.
                let moved = domain::identity::bmc_key(&old.bmc_address) != key
                    || (old.bmc_verify_tls != 0) != change.verify_tls;
                let secret = match (&sealed, moved) {
                    (Some(s), _) => store::servers::SecretUpdate::Set(s),
                    (None, true) if old.bmc_secret.is_some() => store::servers::SecretUpdate::Drop,
                    (None, _) => store::servers::SecretUpdate::Keep,
                };
                let update =
                    store::servers::BmcUpdate { address, key: &key, username, secret, verify_tls: change.verify_tls };
                if !store::servers::set_bmc(tx, id, server.generation, &update, now).await? {
                    let current = store::servers::get(tx, id).await?.ok_or_else(|| not_found(id))?;
                    return Err(stale(&current));
                }
                let mut what = Vec::new();
                if old.bmc_address != address {
                    what.push(format!("address {} → {address}", old.bmc_address));
                }
                if old.bmc_username != username {
                    what.push("user changed".to_string());
                }
                match secret {
                    store::servers::SecretUpdate::Set(_) => what.push("password set".to_string()),
                    store::servers::SecretUpdate::Drop => {
                        what.push("stored password forgotten (entered for the old BMC)".to_string())
                    }
                    store::servers::SecretUpdate::Keep => {}
                }
                // New BMC access may be a new BMC board: its own UUID is learned again; the
                // machine's UUID and serial stay, so the address must still reach this machine.
                if moved {
                    // Another BMC (or TLS setting): its certificate is learned again.
                    store::bmc_certificates::forget(tx, id).await?;
                }
                if old.bmc_address != address || sealed.is_some() {
                    store::identity::forget_manager(tx, id).await?;
                }
                if (old.bmc_verify_tls != 0) != change.verify_tls {
                    what.push(if change.verify_tls { "TLS verified" } else { "TLS not verified" }.to_string());
                }
                let details = if what.is_empty() { "nothing changed".to_string() } else { what.join("; ") };
                let who = actor.audit_name();
                let event = NewEvent { details: Some(&details), ..NewEvent::about(id, &who, EventKind::BmcChanged) };
                store::events::append(tx, &event, now).await?;
                let server = store::servers::get(tx, id).await?.ok_or_else(|| not_found(id))?;
                Ok(server)
            })
        })
        .await
    }

    /// The BMC user name of a server (not a secret; the edit form shows it).
    pub async fn bmc_username(&self, id: i64) -> Result<String, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::servers::bmc_credentials(&mut conn, id).await?.ok_or_else(|| not_found(id))?.bmc_username)
    }

    /// The BMC credentials for the system's own use (a job logging in); not audited
    /// as a reveal, never shown.
    pub async fn bmc_login(&self, id: i64) -> Result<BmcCredentials, ServiceError> {
        Ok(self.bmc_access(id).await?.credentials)
    }

    /// `bmc_login` with what a job checks the machine against, in the same read.
    pub async fn bmc_access(&self, id: i64) -> Result<BmcAccess, ServiceError> {
        let mut conn = self.db.conn().await?;
        let row = store::servers::bmc_credentials(&mut conn, id).await?.ok_or_else(|| not_found(id))?;
        let recorded = domain::identity::MachineIdentity {
            system_uuid: row.system_uuid.clone(),
            serial: row.system_serial.clone(),
            manager_uuid: row.manager_uuid.clone(),
        };
        let (power, health) = (row.power_state.clone().into(), row.health.clone().into());
        Ok(BmcAccess { credentials: self.unseal(row)?, recorded, power, health })
    }

    async fn open_bmc_credentials(
        &self,
        conn: &mut sqlx::AnyConnection,
        id: i64,
    ) -> Result<BmcCredentials, ServiceError> {
        let row = store::servers::bmc_credentials(conn, id).await?.ok_or_else(|| not_found(id))?;
        self.unseal(row)
    }

    /// The credentials of a row, the password opened for the BMC it was sealed for.
    fn unseal(&self, row: store::servers::BmcRow) -> Result<BmcCredentials, ServiceError> {
        let binding = super::identity::bmc_binding(&row.bmc_address, row.bmc_verify_tls != 0);
        let password = match row.bmc_secret {
            Some(s) => Some(
                self.secrets.open_for(&s, &binding).map_err(|e| ServiceError::Conflict { message: e.to_string() })?,
            ),
            None => None,
        };
        Ok(BmcCredentials {
            address: row.bmc_address,
            username: row.bmc_username,
            password,
            verify_tls: row.bmc_verify_tls != 0,
            tls_pin: row.bmc_cert_sha256,
        })
    }

    /// Records the power state and health a BMC reported.
    pub async fn record_power(&self, id: i64, power: PowerState, health: Health) -> Result<(), ServiceError> {
        let now = now_ms();
        Ok(self.db.write_one(move |c| Box::pin(store::servers::set_power(c, id, power, health, now))).await?)
    }

    /// Jobs by kind and status (for metrics).
    pub async fn job_counts(&self) -> Result<Vec<(String, String, i64)>, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::reports::job_counts(&mut conn).await?)
    }

    /// Servers the periodic BMC sweep checks.
    pub async fn sweep_targets(&self) -> Result<Vec<i64>, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::servers::sweep_targets(&mut conn).await?)
    }

    /// Records one sweep of a server's BMC: power and health, or a failure; after
    /// `warn_after` failures in a row the server shows a BMC warning (its state does
    /// not change). Returns the failures in a row.
    pub async fn record_sweep(
        &self,
        id: i64,
        outcome: Result<(PowerState, Health), &str>,
        warn_after: i64,
    ) -> Result<i64, ServiceError> {
        let now = now_ms();
        // On the writer like every write: from a reading connection SQLite's lock would
        // be fought for through its busy handler.
        Ok(match outcome {
            Ok((power, health)) => {
                self.db.write_one(move |c| Box::pin(store::servers::sweep_ok(c, id, power, health, now))).await?;
                0
            }
            Err(error) => {
                let warning = format!("the BMC did not answer {warn_after} checks in a row: {error}");
                self.db
                    .write_one(move |c| {
                        Box::pin(async move { store::servers::sweep_failed(c, id, &warning, warn_after, now).await })
                    })
                    .await?
            }
        })
    }

    /// The id of the server named `name`, if any.
    pub async fn server_id_by_name(&self, name: &str) -> Result<Option<i64>, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::servers::id_by_name(&mut conn, name).await?)
    }

    /// A server as `user` may see it: those who see the fleet see any; a tenant only
    /// the servers it holds, without BMC data (another's is "not found").
    pub async fn server_for(&self, user: &crate::model::UserView, id: i64) -> Result<Server, ServiceError> {
        visible_to(user, self.server(id).await?)
    }

    pub async fn server(&self, id: i64) -> Result<Server, ServiceError> {
        let mut conn = self.db.conn().await?;
        store::servers::get(&mut conn, id).await?.ok_or_else(|| not_found(id))
    }

    /// One page of the server list (with the total and, for a page's filters, the
    /// locations).
    pub async fn server_list_page(
        &self,
        params: &ListParams,
        with_locations: bool,
    ) -> Result<crate::model::ServerListPage, ServiceError> {
        let (filter, page, per_page) = params.filter()?;
        let mut conn = self.db.conn().await?;
        let (items, total) = store::servers::page(&mut conn, &filter, true).await?;
        let locations = if with_locations { store::reports::locations(&mut conn).await? } else { vec![] };
        Ok(crate::model::ServerListPage { items, total, page, per_page, locations })
    }

    /// Servers matching a filter, in its order.
    pub async fn list_servers(&self, filter: &store::servers::ListFilter) -> Result<Vec<Server>, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::servers::list(&mut conn, filter).await?)
    }

    /// How many servers match a filter (for paging).
    pub async fn count_servers(&self, filter: &store::servers::ListFilter) -> Result<i64, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::servers::count_matching(&mut conn, filter).await?)
    }

    /// Keeps the firmware versions the BMC lists with the server's newest inventory,
    /// beside those the agent read for components the BMC does not list; they are the
    /// server's versions for firmware drift.
    pub async fn record_firmware(
        &self,
        id: i64,
        firmware: &[crate::domain::inventory::Firmware],
    ) -> Result<(), ServiceError> {
        let firmware = firmware.to_vec();
        self.write(move |tx| {
            Box::pin(async move {
                if let Some(merged) = store::inventories::set_firmware(tx, id, &firmware).await? {
                    store::firmware::replace(tx, id, &merged).await?;
                }
                Ok(())
            })
        })
        .await
    }

    pub async fn latest_inventory(&self, id: i64) -> Result<Option<Inventory>, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::inventories::latest(&mut conn, id, 1).await?.into_iter().next())
    }

    /// One job and its step log.
    pub async fn job(&self, job_id: i64) -> Result<crate::model::JobView, ServiceError> {
        let mut conn = self.db.conn().await?;
        let job = store::jobs::get(&mut conn, job_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound { what: format!("job {job_id}") })?;
        job_view(&mut conn, job).await
    }

    /// A server as `user` may see it with its last inventory and its running job (the
    /// API's answer; the server page reads `server_page_view`, which skips the job's
    /// steps), read on one connection.
    pub async fn server_view(
        &self,
        user: &crate::model::UserView,
        id: i64,
    ) -> Result<crate::model::ServerView, ServiceError> {
        let mut conn = self.db.conn().await?;
        let server = store::servers::get(&mut conn, id).await?.ok_or_else(|| not_found(id))?;
        view_of(&mut conn, user, visible_to(user, server)?).await
    }

    /// `server_view` of a server the caller just changed (the row it got back): only
    /// the inventory and the job are read.
    pub async fn server_view_after(
        &self,
        user: &crate::model::UserView,
        server: Server,
    ) -> Result<crate::model::ServerView, ServiceError> {
        let mut conn = self.db.conn().await?;
        view_of(&mut conn, user, visible_to(user, server)?).await
    }

    /// Fingerprints of a server page's parts (server, activity): when one changes, a
    /// page showing it is out of date (live updates).
    pub async fn page_fingerprint(&self, id: i64) -> Result<(String, String), ServiceError> {
        let mut conn = self.db.conn().await?;
        store::servers::page_fingerprint(&mut conn, id).await?.ok_or_else(|| not_found(id))
    }

    /// What the server page's header and cards need: the server as the caller may see
    /// it, its last inventory, and whether a job holds it (the job's steps are the
    /// activity card's, read by `latest_job`); one connection.
    pub async fn server_page_view(
        &self,
        user: &crate::model::UserView,
        id: i64,
    ) -> Result<(Server, Option<crate::domain::Inventory>, bool), ServiceError> {
        let mut conn = self.db.conn().await?;
        let server = store::servers::get(&mut conn, id).await?.ok_or_else(|| not_found(id))?;
        let server = visible_to(user, server)?;
        let hardware = store::inventories::latest(&mut *conn, id, 1).await?.into_iter().next();
        let active_job = store::jobs::has_active(&mut conn, id).await?;
        Ok((server, hardware, active_job))
    }

    pub async fn has_active_job(&self, id: i64) -> Result<bool, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::jobs::has_active(&mut conn, id).await?)
    }

    /// The server's latest job with its step log, if it ever had one.
    pub async fn latest_job(&self, id: i64) -> Result<Option<crate::model::JobView>, ServiceError> {
        let mut conn = self.db.conn().await?;
        let Some(job) = store::jobs::latest_for_server(&mut conn, id).await? else { return Ok(None) };
        drop(conn);
        self.job(job.id).await.map(Some)
    }

    pub async fn server_events(&self, id: i64) -> Result<Vec<Event>, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::events::for_server(&mut conn, id).await?)
    }

    /// Server types x states: counts, totals and utilization, over the whole fleet.
    pub async fn utilization(&self) -> Result<Utilization, ServiceError> {
        self.report(None, None, false).await
    }

    /// The report over one datacenter and/or rack (None: all), with the locations
    /// there are to choose from.
    pub async fn utilization_at(
        &self,
        datacenter: Option<&str>,
        rack: Option<&str>,
    ) -> Result<Utilization, ServiceError> {
        self.report(datacenter, rack, true).await
    }

    /// The report; the locations query only when a page needs its filters.
    async fn report(
        &self,
        datacenter: Option<&str>,
        rack: Option<&str>,
        with_locations: bool,
    ) -> Result<Utilization, ServiceError> {
        let mut conn = self.db.conn().await?;
        let counts = if datacenter.is_none() && rack.is_none() {
            store::reports::type_state_counts(&mut conn).await?
        } else {
            store::reports::type_state_counts_at(&mut conn, datacenter, rack).await?
        };
        let locations = if with_locations { store::reports::locations(&mut conn).await? } else { vec![] };
        let mut rows: Vec<UtilizationRow> = Vec::new();
        let mut totals = UtilizationRow::default();
        for (label, state, n) in counts {
            let Some(idx) = ServerState::ALL.iter().position(|s| s.as_str() == state) else {
                tracing::warn!(state, "unknown state in servers table; left out of the report");
                continue;
            };
            let row = match rows.iter_mut().position(|r| r.server_type == label) {
                Some(i) => &mut rows[i],
                None => {
                    rows.push(UtilizationRow { server_type: label, ..Default::default() });
                    rows.last_mut().expect("just pushed")
                }
            };
            row.counts[idx] += n;
            totals.counts[idx] += n;
        }
        rows.iter_mut().for_each(UtilizationRow::finish);
        // Typed servers by label; untyped (still registering) last.
        rows.sort_by(|a, b| match (&a.server_type, &b.server_type) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        totals.finish();
        Ok(Utilization { rows, totals, locations })
    }
}

/// `record_inventory` inside the caller's transaction.
pub(crate) async fn record_inventory_in(
    tx: &mut sqlx::AnyConnection,
    actor: &Actor,
    id: i64,
    inventory: &Inventory,
    class: char,
    now: i64,
) -> Result<(Server, Vec<domain::inventory::Change>), ServiceError> {
    let server = store::servers::get(&mut *tx, id).await?.ok_or_else(|| not_found(id))?;
    let previous = store::inventories::latest(&mut *tx, id, 1).await?.into_iter().next();
    let accepted = store::servers::hardware_accepted(&mut *tx, id).await?;
    let old_type_id = accepted.type_id;
    let inventory_id = store::inventories::insert(&mut *tx, id, inventory, now).await?;
    // The agent's firmware readings until the BMC's list joins them.
    store::firmware::replace(&mut *tx, id, &inventory.firmware).await?;
    let spec = TypeSpec::from_inventory(inventory, class);
    let (type_id, label) = store::server_types::find_or_create(&mut *tx, &spec, now).await?;
    let macs = inventory.nics.iter().map(|n| n.mac.to_lowercase()).collect::<Vec<_>>().join(" ");
    // Changes from the hardware someone last accepted (the first inventory is accepted
    // as it is): they wait for an acknowledgement before the server is available.
    let (accepted_inventory_id, accepted_type_id, unacknowledged) = match accepted.inventory_id {
        None => (inventory_id, type_id, Vec::new()),
        Some(accepted_id) => {
            let base = store::inventories::get(&mut *tx, accepted_id).await?;
            let mut changes = base.map(|b| domain::inventory::diff(&b, inventory)).unwrap_or_default();
            let accepted_type = accepted.accepted_type_id.unwrap_or(type_id);
            if accepted_type != type_id {
                let before = store::server_types::label(&mut *tx, accepted_type).await?;
                changes.push(domain::inventory::Change::of_type(before, label.clone()));
            }
            (accepted_id, accepted_type, changes)
        }
    };
    let unacknowledged =
        (!unacknowledged.is_empty()).then(|| serde_json::to_string(&unacknowledged).expect("changes serialize"));
    let found = store::servers::HardwareFound {
        server_type_id: type_id,
        serial_number: &inventory.system.serial_number,
        macs: &macs,
        accepted_inventory_id,
        accepted_type_id,
        changes: unacknowledged.as_deref(),
    };
    if !store::servers::set_hardware(&mut *tx, id, server.generation, &found, now).await? {
        let current = store::servers::get(&mut *tx, id).await?.ok_or_else(|| not_found(id))?;
        return Err(stale(&current));
    }
    let changes = previous.as_ref().map(|p| domain::inventory::diff(p, inventory)).unwrap_or_default();
    let details = serde_json::to_string(&changes).ok();
    let actor_name = actor.audit_name();
    let summary = match &previous {
        None => "first inventory".to_string(),
        Some(_) if changes.is_empty() => "inventory unchanged".to_string(),
        Some(_) => format!("{} hardware change(s)", changes.len()),
    };
    let event = NewEvent {
        reason: Some(&summary),
        details: details.as_deref(),
        ..NewEvent::about(id, &actor_name, EventKind::Inventory)
    };
    store::events::append(&mut *tx, &event, now).await?;
    if old_type_id != Some(type_id) {
        let old_label = match old_type_id {
            Some(t) => store::server_types::label(&mut *tx, t).await?,
            None => None,
        };
        let event = NewEvent {
            from_value: old_label.as_deref(),
            to_value: Some(&label),
            ..NewEvent::about(id, &actor_name, EventKind::TypeChanged)
        };
        store::events::append(&mut *tx, &event, now).await?;
    }
    let server = store::servers::get(&mut *tx, id).await?.ok_or_else(|| not_found(id))?;

    Ok((server, changes))
}

/// A job row with its step log, as pages and the API show it.
async fn job_view(
    conn: &mut sqlx::AnyConnection,
    job: store::jobs::JobRow,
) -> Result<crate::model::JobView, ServiceError> {
    let steps = store::jobs::steps(&mut *conn, job.id)
        .await?
        .into_iter()
        .map(|(at, message)| crate::model::JobStep { at, message })
        .collect();
    Ok(crate::model::JobView {
        id: job.id,
        kind: job.kind,
        status: job.status,
        phase: job.phase,
        attempts: job.attempts,
        last_error: job.last_error,
        steps,
    })
}

/// The server as `user` may see it: those who see the fleet see it whole; a tenant
/// only a server it holds, without BMC data (another's is "not found").
fn visible_to(user: &crate::model::UserView, mut server: Server) -> Result<Server, ServiceError> {
    if !user.role.can(crate::domain::Permission::ViewFleet) {
        if server.reserved_for.as_deref() != Some(user.username.as_str()) {
            return Err(not_found(server.id));
        }
        server.last_error = server.last_error.map(|e| redact_bmc(&e, &server.bmc_address));
        server.bmc_address.clear();
    }
    Ok(server)
}

/// The server with its last inventory and its running job (the job's steps only when
/// one runs). For a caller who does not see the fleet (a tenant), the job's steps and
/// error name no BMC.
async fn view_of(
    conn: &mut sqlx::AnyConnection,
    user: &crate::model::UserView,
    server: Server,
) -> Result<crate::model::ServerView, ServiceError> {
    let id = server.id;
    let (job, hardware) = store::jobs::latest_with_inventory(&mut *conn, id).await?;
    let hardware = hardware.as_deref().map(store::inventories::parse).transpose()?;
    let mut current_job = match job {
        Some(job) if job.status.is_active() => Some(job_view(&mut *conn, job).await?),
        _ => None,
    };
    if let Some(j) = current_job.as_mut()
        && !user.role.can(crate::domain::Permission::ViewFleet)
    {
        let address = store::servers::bmc_credentials(&mut *conn, id).await?.map(|c| c.bmc_address).unwrap_or_default();
        j.last_error = j.last_error.take().map(|e| redact_bmc(&e, &address));
        for step in &mut j.steps {
            step.message = redact_bmc(&step.message, &address);
        }
    }
    Ok(crate::model::ServerView { server, hardware, current_job })
}
