//! The lifecycle core: one move of one server through the transition table inside
//! the caller's transaction (checks, state, audit, the job it starts or ends). The
//! server services and the allocator both build on it; it knows neither.

use super::{Actor, ServiceError};
use crate::backend::store::{self, events::NewEvent, servers::LastError};
use crate::domain::EventKind;
use crate::domain::power::{Health, PowerState};
use crate::domain::transitions::{Context, ErrorEffect, ReasonRule};
use crate::domain::{self, Action, ServerState};
use crate::model::Server;

/// The longest reason a move may carry.
pub(crate) const MAX_REASON: usize = 2000;

/// A request to move a server.
#[derive(Clone, Debug)]
pub struct StateChange {
    pub action: Action,
    /// The generation the requester saw; None lets the system act on the current one.
    pub expected_generation: Option<i64>,
    pub reason: Option<String>,
    /// For a failed registration: it was a re-registration.
    pub re_registration: bool,
    /// For allocation: the reservation is the requester's.
    pub reserved_for_requester: bool,
    /// For a process outcome reported by a runner: the job and the runner holding it.
    /// The outcome is applied only while that runner still holds the job.
    pub job: Option<JobLease>,
    /// For a person's change: whether they said they checked the server's disks and
    /// switch interfaces, which making an unavailable server available asks for
    /// (judged here, against the state the change moves from). None: not asked (the
    /// system's own moves).
    pub hardware_checked: Option<bool>,
    /// For a job's last move: the power and health its BMC showed at the end, written
    /// with the move (one write instead of two).
    pub power: Option<(PowerState, Health)>,
}

/// A job as held by one claim (its fencing token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobLease {
    pub id: i64,
    pub fence: i64,
}

/// What a job's params say; written when the job is queued.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobParams {
    /// A registration of a server that was registered before (from unavailable or
    /// used): failure returns it where it came from.
    #[serde(default)]
    pub re_registration: bool,
    /// For a power job: what was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<crate::domain::power::PowerRequest>,
    /// For a deploy job: the image to write (as the catalog said when it was queued).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_image: Option<crate::domain::agent::WriteImage>,
    /// For a deploy job: the catalog name of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// For a first registration: rotate the BMC password once it succeeded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rotate_bmc_password: bool,
}

impl StateChange {
    pub fn new(action: Action) -> Self {
        Self {
            action,
            expected_generation: None,
            reason: None,
            re_registration: false,
            reserved_for_requester: false,
            job: None,
            hardware_checked: None,
            power: None,
        }
    }
    /// A person's change: `checked` says whether they checked the hardware.
    pub fn hardware_checked(mut self, checked: bool) -> Self {
        self.hardware_checked = Some(checked);
        self
    }
    /// The outcome of `job`, reported by the runner of claim `fence`.
    pub fn by_job(mut self, id: i64, fence: i64) -> Self {
        self.job = Some(JobLease { id, fence });
        self
    }
    pub fn at_generation(mut self, generation: i64) -> Self {
        self.expected_generation = Some(generation);
        self
    }
    /// The power and health the BMC last showed, recorded with the move.
    pub fn with_power(mut self, power: PowerState, health: Health) -> Self {
        self.power = Some((power, health));
        self
    }
    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// Queues a job in the caller's transaction (the one that starts the process).
pub(crate) async fn queue_job(
    tx: &mut sqlx::AnyConnection,
    server_id: i64,
    kind: domain::JobKind,
    params: &JobParams,
    now: i64,
) -> Result<i64, ServiceError> {
    let params = serde_json::to_string(params).expect("job params serialize");
    Ok(store::jobs::enqueue(tx, server_id, kind, &params, now).await?)
}

/// Aborts `job` in the caller's transaction (whoever holds it loses it; it is queued
/// to clean up): `reason` becomes its error, `message` its step log line, and the
/// audit says `who` did it. False when the job was no longer abortable.
pub(crate) async fn abort_in(
    tx: &mut sqlx::AnyConnection,
    job: &store::jobs::JobRow,
    reason: &str,
    message: &str,
    who: &str,
    now: i64,
) -> Result<bool, ServiceError> {
    if !store::jobs::abort(tx, job.id, reason, now).await? {
        return Ok(false);
    }
    store::jobs::log_step(tx, job.id, message, now).await?;
    let details = format!("{} job #{}", job.kind, job.id);
    let event = NewEvent { details: Some(&details), ..NewEvent::about(job.server_id, who, EventKind::JobAborted) };
    store::events::append(tx, &event, now).await?;
    Ok(true)
}

/// One move through the table in the caller's transaction: checks, state, audit,
/// the job it starts or ends. Returns the server before and after. Subscriptions
/// are the caller's business (the allocator moves servers with this directly).
pub(crate) async fn apply_in(
    tx: &mut sqlx::AnyConnection,
    actor: &Actor,
    id: i64,
    change: &StateChange,
    now: i64,
) -> Result<(Server, Server), ServiceError> {
    apply_typed(tx, actor, id, change, now).await.map(|(before, after, _)| (before, after))
}

/// `apply_in`, also returning the server's type id (read with the row) if the type
/// may have subscriptions.
pub(crate) async fn apply_typed(
    tx: &mut sqlx::AnyConnection,
    actor: &Actor,
    id: i64,
    change: &StateChange,
    now: i64,
) -> Result<(Server, Server, Option<i64>), ServiceError> {
    // The row, its type and whether a job runs: one read.
    let read = store::servers::get_for_change(&mut *tx, id).await?.ok_or_else(|| not_found(id))?;
    apply_read(tx, actor, read, change, now).await
}

/// `apply_typed` on a server already read in this transaction: `plan`, the move with
/// its audit event, `finish` (a change of many servers runs the same three steps, its
/// moves written together: `allocation::move_many`).
pub(crate) async fn apply_read(
    tx: &mut sqlx::AnyConnection,
    actor: &Actor,
    read: store::servers::ForChange,
    change: &StateChange,
    now: i64,
) -> Result<(Server, Server, Option<i64>), ServiceError> {
    let planned = plan(&mut *tx, actor, read, change, now).await?;
    let (mv, audit) = planned.write();
    if !store::servers::move_audited(&mut *tx, &mv, &audit, now).await? {
        // Only reachable on PostgreSQL, where another transaction committed between
        // our read and our write; SQLite's write lock prevents it.
        let id = planned.before.id;
        let current = store::servers::get(&mut *tx, id).await?.ok_or_else(|| not_found(id))?;
        return Err(stale(&current));
    }
    finish(tx, actor, planned, change, now).await
}

/// A move decided (its rules checked, the type's lock taken) and not yet written: what
/// `apply_read` writes with `move_audited`, and a change of many servers with
/// `move_audited_many`, before each one's `finish`.
pub(crate) struct Planned<'c> {
    pub before: Server,
    pub after: Server,
    type_id: Option<i64>,
    t: domain::transitions::Transition,
    reason: Option<&'c str>,
    last_error: LastError<'c>,
    power: Option<(PowerState, Health)>,
    who: String,
    action: Action,
}

impl Planned<'_> {
    /// The move and its audit event, as the move statement writes them.
    pub(crate) fn write(&self) -> (store::servers::Move<'_>, NewEvent<'_>) {
        let audit = NewEvent {
            server_id: Some(self.before.id),
            actor: &self.who,
            kind: EventKind::StateChanged,
            from_value: Some(self.before.state.as_str()),
            to_value: Some(self.t.to.as_str()),
            reason: self.reason,
            details: Some(self.action.as_str()),
        };
        let mv = store::servers::Move {
            id: self.before.id,
            generation: self.before.generation,
            from: self.before.state,
            to: self.t.to,
            last_error: self.last_error,
            power: self.power,
        };
        (mv, audit)
    }
}

/// The checks and locks of a change to a server read in this transaction: the
/// generation, the transition table and its guards, the reason, the type's lock.
pub(crate) async fn plan<'c>(
    tx: &mut sqlx::AnyConnection,
    actor: &Actor,
    read: store::servers::ForChange,
    change: &'c StateChange,
    now: i64,
) -> Result<Planned<'c>, ServiceError> {
    let reason = change.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.len() > MAX_REASON) {
        return Err(ServiceError::invalid("reason", format!("at most {MAX_REASON} characters")));
    }
    let store::servers::ForChange { server, type_id, active_job, type_subscribed } = read;
    // No subscription of its type: the move cannot concern one (and the subscription
    // check after it is skipped).
    let (server_type_id, held) = (type_id, server.subscription_id.is_some());
    let mut type_id = type_id.filter(|_| type_subscribed || held);
    if change.hardware_checked == Some(false) && domain::transitions::needs_hardware_check(server.state, change.action)
    {
        return Err(ServiceError::invalid(
            "checked",
            "confirm that you checked the server's disks and switch interfaces",
        ));
    }
    if let Some(expected) = change.expected_generation
        && expected != server.generation
    {
        return Err(stale(&server));
    }
    let ctx = Context {
        active_job,
        reserved_for_requester: change.reserved_for_requester,
        re_registration: change.re_registration,
        still_reserved: server.subscription_id.is_some(),
        hardware_unacknowledged: !server.hardware_changes.is_empty(),
    };
    let t = domain::transitions::request_transition(server.state, change.action, actor.trigger(), ctx)?;
    if t.reason == ReasonRule::Required && reason.is_none() {
        return Err(ServiceError::invalid("reason", "say what is wrong with the server"));
    }
    if t.to == ServerState::Available || (held && !t.to.held_by_subscription()) {
        // Subscriptions of its type will be reconciled: take the type's lock before
        // the server's row, in the order the allocator takes them.
        if let Some(id) = type_id {
            store::server_types::lock(&mut *tx, id).await?;
        } else if let Some(id) = server_type_id
            && store::dialect::needs_locks(tx)
        {
            // PostgreSQL, and no open subscription as of the read above: a shared lock
            // is enough (moves of one type then commit side by side instead of in
            // turn). It waits for a subscription being created; one committed since
            // the read is seen now, and then this move reconciles after all
            // (upgrading: rare, and should two moves upgrade at once, PostgreSQL
            // fails one of them as a deadlock, which changes nothing).
            store::server_types::lock_shared(&mut *tx, id).await?;
            if store::subscriptions::type_subscribed(&mut *tx, id).await? {
                store::server_types::lock(&mut *tx, id).await?;
                type_id = Some(id);
            }
        }
    }
    let last_error = match t.error_effect() {
        ErrorEffect::SetToReason => LastError::Set(reason.unwrap_or("failed without a reason")),
        ErrorEffect::Clear => LastError::Clear,
        ErrorEffect::Keep => LastError::Keep,
    };
    // The row after the move, as the UPDATE below writes it (no second read).
    let after = Server {
        state: t.to,
        generation: server.generation + 1,
        updated_at: now,
        last_error: match &last_error {
            LastError::Keep => server.last_error.clone(),
            LastError::Clear => None,
            LastError::Set(e) => Some(e.to_string()),
        },
        power_state: change.power.map_or(server.power_state, |(p, _)| p),
        health: change.power.map_or(server.health, |(_, h)| h),
        ..server.clone()
    };
    Ok(Planned {
        before: server,
        after,
        type_id,
        t,
        reason,
        last_error,
        power: change.power,
        who: actor.audit_name(),
        action: change.action,
    })
}

/// What follows a written move: the job it starts, the BMC secret it forgets, the job
/// it ends. Returns the server before and after, and its type if subscriptions concern it.
pub(crate) async fn finish(
    tx: &mut sqlx::AnyConnection,
    actor: &Actor,
    planned: Planned<'_>,
    change: &StateChange,
    now: i64,
) -> Result<(Server, Server, Option<i64>), ServiceError> {
    let Planned { before: server, after, type_id, t, reason, .. } = planned;
    let id = server.id;
    if let Some(kind) = t.starts_job() {
        let params = JobParams {
            re_registration: matches!(server.state, ServerState::Unavailable | ServerState::Used),
            ..JobParams::default()
        };
        queue_job(&mut *tx, id, kind, &params, now).await?;
    }
    if t.forgets_bmc_secret {
        store::servers::forget_bmc_secret(&mut *tx, id, now).await?;
        let who = actor.audit_name();
        let forgot = NewEvent::about(id, &who, EventKind::CredentialsForgotten);
        store::events::append(&mut *tx, &forgot, now).await?;
    }
    if let Some((kind, status)) = t.ends_job() {
        let fence = change.job.as_ref().map(|j| j.fence);
        let closed = store::jobs::close_active(&mut *tx, id, kind, fence, status, reason, now).await?;
        if !closed && fence.is_some() {
            // The runner lost its lease; whoever holds the job now reports instead.
            return Err(ServiceError::Conflict {
                message: format!(
                    "the {} job on server {} is no longer held by this runner",
                    kind.as_str(),
                    server.name
                ),
            });
        }
    }
    Ok((server, after, type_id))
}

/// A server as `caller` may act on it, in the caller's transaction: the row, whether a
/// job runs on it, and whether the caller holds it. A server a tenant does not hold is
/// not found (a tenant learns nothing about servers that are not theirs).
pub(crate) async fn held_for_change(
    tx: &mut sqlx::AnyConnection,
    caller: &crate::model::UserView,
    id: i64,
) -> Result<(Server, bool, bool), ServiceError> {
    let store::servers::ForChange { server, active_job, .. } =
        store::servers::get_for_change(&mut *tx, id).await?.ok_or_else(|| not_found(id))?;
    let own = server.reserved_for.as_deref() == Some(caller.username.as_str());
    if !own && !caller.role.can(crate::domain::Permission::ViewFleet) {
        return Err(not_found(id));
    }
    Ok((server, active_job, own))
}

pub(crate) fn not_found(id: i64) -> ServiceError {
    ServiceError::NotFound { what: format!("server {id}") }
}

pub(crate) fn stale(current: &Server) -> ServiceError {
    ServiceError::Conflict {
        message: format!(
            "server {} was changed by someone else: it is now {} (generation {}); reload and try again",
            current.name, current.state, current.generation
        ),
    }
}
