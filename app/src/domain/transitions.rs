//! The lifecycle transition table: every allowed (state, action) -> state, who may
//! trigger it, and under which condition. The service layer enforces it, the UI reads
//! it to show buttons, the docs diagram is generated from it, the tests walk it.
//! Anything not listed is refused with a reason.

use super::state::ServerState::{self, *};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What someone or something asks to happen to a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    // Buttons an admin presses (manual states).
    SetAvailable,
    SetUnavailable,
    MarkDefective,
    RemoveFromRack,
    // Processes a user starts; a worker carries them out.
    Register,
    ReRegister,
    Decommission,
    // Outcomes the system reports.
    RegistrationSucceeded,
    RegistrationFailed,
    CleaningSucceeded,
    CleaningFailed,
    DecommissionSucceeded,
    DecommissionFailed,
    // Subscriptions and allocation.
    Reserve,
    Unreserve,
    Allocate,
    Release,
}

impl Action {
    pub const ALL: [Action; 17] = [
        Action::SetAvailable,
        Action::SetUnavailable,
        Action::MarkDefective,
        Action::RemoveFromRack,
        Action::Register,
        Action::ReRegister,
        Action::Decommission,
        Action::RegistrationSucceeded,
        Action::RegistrationFailed,
        Action::CleaningSucceeded,
        Action::CleaningFailed,
        Action::DecommissionSucceeded,
        Action::DecommissionFailed,
        Action::Reserve,
        Action::Unreserve,
        Action::Allocate,
        Action::Release,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::SetAvailable => "set_available",
            Action::SetUnavailable => "set_unavailable",
            Action::MarkDefective => "mark_defective",
            Action::RemoveFromRack => "remove_from_rack",
            Action::Register => "register",
            Action::ReRegister => "re_register",
            Action::Decommission => "decommission",
            Action::RegistrationSucceeded => "registration_succeeded",
            Action::RegistrationFailed => "registration_failed",
            Action::CleaningSucceeded => "cleaning_succeeded",
            Action::CleaningFailed => "cleaning_failed",
            Action::DecommissionSucceeded => "decommission_succeeded",
            Action::DecommissionFailed => "decommission_failed",
            Action::Reserve => "reserve",
            Action::Unreserve => "unreserve",
            Action::Allocate => "allocate",
            Action::Release => "release",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Words for messages: "cannot {verb} a server in state ...".
    pub fn verb(self) -> &'static str {
        match self {
            Action::SetAvailable => "set available",
            Action::SetUnavailable => "set unavailable",
            Action::MarkDefective => "mark defective",
            Action::RemoveFromRack => "remove from rack",
            Action::Register => "register",
            Action::ReRegister => "re-register",
            Action::Decommission => "decommission",
            Action::RegistrationSucceeded => "complete registration of",
            Action::RegistrationFailed => "fail registration of",
            Action::CleaningSucceeded => "complete cleaning of",
            Action::CleaningFailed => "fail cleaning of",
            Action::DecommissionSucceeded => "complete decommissioning of",
            Action::DecommissionFailed => "fail decommissioning of",
            Action::Reserve => "reserve",
            Action::Unreserve => "unreserve",
            Action::Allocate => "allocate",
            Action::Release => "release",
        }
    }

    /// The manual state a button sets, for the four admin buttons.
    pub fn manual_target(self) -> Option<ServerState> {
        match self {
            Action::SetAvailable => Some(Available),
            Action::SetUnavailable => Some(Unavailable),
            Action::MarkDefective => Some(Defective),
            Action::RemoveFromRack => Some(RemovedFromRack),
            _ => None,
        }
    }

    /// The action of the manual button that sets `state`, if any.
    pub fn for_manual_state(state: ServerState) -> Option<Action> {
        [Action::SetAvailable, Action::SetUnavailable, Action::MarkDefective, Action::RemoveFromRack]
            .into_iter()
            .find(|a| a.manual_target() == Some(state))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may trigger a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A person, by hand (which roles may is the permission table's business).
    User,
    /// A worker or the allocator; never a person directly.
    System,
}

/// A condition beyond the state that must hold, or the move is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    None,
    /// The server's current job has ended (failed or aborted): nothing runs on it.
    NoActiveJob,
    /// The reservation belongs to the user the allocation is for.
    ReservedForRequester,
}

/// Which of a pair's rows applies, when one (state, action) has two outcomes that
/// depend on the server rather than on the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    Always,
    /// The failed job was a first registration (from decommissioned or new).
    FirstRegistration,
    /// The failed job re-registered an unavailable server.
    ReRegistration,
    /// No subscription holds the server.
    NotReserved,
    /// A subscription still holds the server (it returns to it).
    StillReserved,
    /// Its last registration found hardware changes nobody acknowledged yet: it does
    /// not go back to the pool unseen.
    HardwareUnacknowledged,
}

impl When {
    pub fn holds(self, ctx: Context) -> bool {
        match self {
            When::Always => true,
            When::FirstRegistration => !ctx.re_registration,
            When::ReRegistration => ctx.re_registration,
            When::NotReserved => !ctx.still_reserved && !ctx.hardware_unacknowledged,
            When::StillReserved => ctx.still_reserved && !ctx.hardware_unacknowledged,
            When::HardwareUnacknowledged => ctx.hardware_unacknowledged,
        }
    }
}

/// The job a move starts or ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobEffect {
    None,
    /// A process starts: its job is queued in the same transaction.
    Starts(JobKind),
    /// A process reports its outcome: its active job ends so.
    Ends(JobKind, JobEvent),
}

/// What the move does with the reason given for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonRule {
    /// Kept in the audit when given.
    Optional,
    /// The person must say why (what is wrong with a defective server).
    Required,
    /// A process failed: the reason becomes the server's last error.
    Failure,
}

/// What a move does to the server's last error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorEffect {
    Keep,
    /// A new process or a success clears the previous process's error.
    Clear,
    /// A failure's reason is the error.
    SetToReason,
}

/// One row of the table: the move and everything it implies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub from: ServerState,
    pub action: Action,
    pub to: ServerState,
    pub by: Trigger,
    pub guard: Guard,
    pub when: When,
    /// The permission a person needs (user rows only).
    pub permission: Option<Permission>,
    pub reason: ReasonRule,
    pub job: JobEffect,
    /// The person confirms the disks and switch interfaces were checked first.
    pub hardware_check: bool,
    /// The stored BMC password is forgotten (audited).
    pub forgets_bmc_secret: bool,
    /// Refused while the server's hardware changes are not acknowledged.
    pub needs_hardware_ack: bool,
}

use super::jobs::JobEvent;
pub use super::jobs::JobKind;
use super::roles::Permission;

impl Transition {
    const fn new(from: ServerState, action: Action, to: ServerState, by: Trigger) -> Self {
        Transition {
            from,
            action,
            to,
            by,
            guard: Guard::None,
            when: When::Always,
            permission: None,
            reason: ReasonRule::Optional,
            job: JobEffect::None,
            hardware_check: false,
            forgets_bmc_secret: false,
            needs_hardware_ack: false,
        }
    }

    const fn guarded(mut self, guard: Guard) -> Self {
        self.guard = guard;
        self
    }

    const fn when(mut self, when: When) -> Self {
        self.when = when;
        self
    }

    const fn requires_reason(mut self) -> Self {
        self.reason = ReasonRule::Required;
        self
    }

    const fn hardware_check(mut self) -> Self {
        self.hardware_check = true;
        self
    }

    const fn after_hardware_ack(mut self) -> Self {
        self.needs_hardware_ack = true;
        self
    }

    const fn forgets_bmc_secret(mut self) -> Self {
        self.forgets_bmc_secret = true;
        self
    }

    const fn starts(mut self, kind: JobKind) -> Self {
        self.job = JobEffect::Starts(kind);
        self
    }

    /// The job this move starts, if it starts a process.
    pub fn starts_job(&self) -> Option<JobKind> {
        match self.job {
            JobEffect::Starts(kind) => Some(kind),
            _ => None,
        }
    }

    /// The job this move ends and how, if it reports a process's outcome.
    pub fn ends_job(&self) -> Option<(JobKind, JobEvent)> {
        match self.job {
            JobEffect::Ends(kind, event) => Some((kind, event)),
            _ => None,
        }
    }

    pub fn error_effect(&self) -> ErrorEffect {
        match (self.reason, self.job) {
            (ReasonRule::Failure, _) => ErrorEffect::SetToReason,
            (_, JobEffect::Starts(_) | JobEffect::Ends(_, JobEvent::Succeed)) => ErrorEffect::Clear,
            _ => ErrorEffect::Keep,
        }
    }
}

/// A button a person presses to set a manual state (never while a job runs).
const fn manual(from: ServerState, action: Action, to: ServerState) -> Transition {
    let mut t = Transition::new(from, action, to, Trigger::User).guarded(Guard::NoActiveJob);
    t.permission = Some(Permission::SetManualState);
    t
}

/// A process a person starts; a worker carries it out.
const fn process(from: ServerState, action: Action, to: ServerState, job: JobKind, needs: Permission) -> Transition {
    let mut t = Transition::new(from, action, to, Trigger::User).guarded(Guard::NoActiveJob).starts(job);
    t.permission = Some(needs);
    t
}

/// A move the system makes (a worker, the allocator).
const fn system(from: ServerState, action: Action, to: ServerState) -> Transition {
    Transition::new(from, action, to, Trigger::System)
}

/// A process's outcome, reported by its worker: it ends the job; a failure's reason
/// is the server's last error.
const fn outcome(from: ServerState, action: Action, to: ServerState, job: JobKind, event: JobEvent) -> Transition {
    let mut t = Transition::new(from, action, to, Trigger::System);
    t.job = JobEffect::Ends(job, event);
    if matches!(event, JobEvent::Fail) {
        t.reason = ReasonRule::Failure;
    }
    t
}

use Action as A;
use JobEvent::{Fail, Succeed};
use JobKind::{Clean, Decommission as Decom, Register as Reg};
use Permission::{Decommission as MayDecommission, StartRegistration as MayRegister};

/// The table. Every user row requires that no job is running on the server, so a
/// button never races a worker. Adding a transition is adding a row (and its test).
pub const TRANSITIONS: &[Transition] = &[
    // Manual buttons (seed: "moved into available, unavailable, defective or removed_from_rack").
    // The seed: an unavailable server is set available once its disks and switch
    // interfaces were checked.
    // Hardware changes a registration found are acknowledged before either.
    manual(Unavailable, A::SetAvailable, Available).hardware_check().after_hardware_ack(),
    manual(Defective, A::SetAvailable, Available).after_hardware_ack(),
    manual(Available, A::SetUnavailable, Unavailable),
    manual(Defective, A::SetUnavailable, Unavailable),
    manual(Registering, A::MarkDefective, Defective).requires_reason(),
    manual(Unavailable, A::MarkDefective, Defective).requires_reason(),
    manual(Available, A::MarkDefective, Defective).requires_reason(),
    manual(AvailableReserved, A::MarkDefective, Defective).requires_reason(),
    manual(Cleaning, A::MarkDefective, Defective).requires_reason(),
    manual(Decommissioned, A::MarkDefective, Defective).requires_reason(),
    manual(RemovedFromRack, A::MarkDefective, Defective).requires_reason(),
    manual(Unavailable, A::RemoveFromRack, RemovedFromRack),
    manual(Defective, A::RemoveFromRack, RemovedFromRack),
    manual(Decommissioned, A::RemoveFromRack, RemovedFromRack),
    // Processes.
    process(Decommissioned, A::Register, Registering, Reg, MayRegister),
    process(Unavailable, A::ReRegister, Registering, Reg, MayRegister),
    process(Used, A::ReRegister, UsedRegistering, Reg, MayRegister),
    process(Unavailable, A::Decommission, Unavailable, Decom, MayDecommission),
    process(Defective, A::Decommission, Defective, Decom, MayDecommission),
    // Outcomes of registration. A failed first registration stays in registering; a
    // failed re-registration returns where it came from (the job knows which).
    outcome(Registering, A::RegistrationSucceeded, Unavailable, Reg, Succeed),
    outcome(UsedRegistering, A::RegistrationSucceeded, Used, Reg, Succeed),
    outcome(Registering, A::RegistrationFailed, Registering, Reg, Fail).when(When::FirstRegistration),
    outcome(Registering, A::RegistrationFailed, Unavailable, Reg, Fail).when(When::ReRegistration),
    outcome(UsedRegistering, A::RegistrationFailed, Used, Reg, Fail),
    // Cleaning after release: back to the pool, or to the subscription holding it.
    outcome(Cleaning, A::CleaningSucceeded, Available, Clean, Succeed).when(When::NotReserved),
    outcome(Cleaning, A::CleaningSucceeded, AvailableReserved, Clean, Succeed).when(When::StillReserved),
    // A used server whose hardware changed (re-registered while used) waits for a look.
    outcome(Cleaning, A::CleaningSucceeded, Unavailable, Clean, Succeed).when(When::HardwareUnacknowledged),
    outcome(Cleaning, A::CleaningFailed, Cleaning, Clean, Fail),
    // Decommissioning: the BMC password is forgotten once the server is off.
    outcome(Unavailable, A::DecommissionSucceeded, Decommissioned, Decom, Succeed).forgets_bmc_secret(),
    outcome(Defective, A::DecommissionSucceeded, Decommissioned, Decom, Succeed).forgets_bmc_secret(),
    outcome(Unavailable, A::DecommissionFailed, Unavailable, Decom, Fail),
    outcome(Defective, A::DecommissionFailed, Defective, Decom, Fail),
    // Subscriptions and allocation.
    system(Available, A::Reserve, AvailableReserved),
    system(AvailableReserved, A::Unreserve, Available),
    system(Available, A::Allocate, Used),
    system(AvailableReserved, A::Allocate, Used).guarded(Guard::ReservedForRequester),
    // A power or deploy job running on the server is aborted by the release (the
    // allocator does it in the same transaction); the cleaning job waits for its
    // cleanup (one job per server at a time).
    system(Used, A::Release, Cleaning).starts(Clean),
];

/// What the caller knows beyond the state, for guards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// A job is queued or running on the server.
    pub active_job: bool,
    /// For allocation: the server is reserved for the requesting user.
    pub reserved_for_requester: bool,
    /// For a failed registration: it was a re-registration of an unavailable server
    /// (it returns to unavailable rather than waiting in registering).
    pub re_registration: bool,
    /// For a finished cleaning: a subscription still holds the server, so it returns
    /// to available_reserved rather than available.
    pub still_reserved: bool,
    /// Its last registration found hardware changes not yet acknowledged.
    pub hardware_unacknowledged: bool,
}

/// Why a request was refused. The message names the state, the action and the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("cannot {verb} a server in state {state}: {reason}", verb = action.verb())]
pub struct TransitionError {
    pub state: ServerState,
    pub action: Action,
    pub reason: String,
}

impl Action {
    /// The registration a user starts on a server in `state`: Register for a
    /// decommissioned server (the first cycle again), Re-register for any other.
    pub fn registration_from(state: ServerState) -> Action {
        if state == Decommissioned { Action::Register } else { Action::ReRegister }
    }
}

/// The seed: an admin sets an unavailable server available once its disks and switch
/// interfaces were checked. Pages ask for that confirmation; this says when.
pub fn needs_hardware_check(state: ServerState, action: Action) -> bool {
    TRANSITIONS.iter().any(|t| t.from == state && t.action == action && t.hardware_check)
}

/// Checks a request against the table and returns the row it follows.
/// `by` is who asks; a user can never use a system row and the reverse.
pub fn request_transition(
    state: ServerState,
    action: Action,
    by: Trigger,
    ctx: Context,
) -> Result<Transition, TransitionError> {
    let refuse = |reason: String| Err(TransitionError { state, action, reason });
    let Some(t) = TRANSITIONS.iter().copied().find(|t| t.from == state && t.action == action && t.when.holds(ctx))
    else {
        return refuse(refusal_reason(state, action));
    };
    if t.by != by {
        return refuse(match t.by {
            Trigger::System => format!("{} is done by the system, never by hand", action.verb()),
            Trigger::User => format!("{} is a user's decision, not the system's", action.verb()),
        });
    }
    match t.guard {
        Guard::None => {}
        Guard::NoActiveJob if ctx.active_job => {
            return refuse(match state {
                Registering | Cleaning => format!(
                    "its {} job is still running; abort it or wait until it fails",
                    if state == Cleaning { "cleaning" } else { "registration" }
                ),
                _ => "a job is running on it; wait for it or abort it first".into(),
            });
        }
        Guard::NoActiveJob => {}
        Guard::ReservedForRequester if !ctx.reserved_for_requester => {
            return refuse("it is reserved for another user".into());
        }
        Guard::ReservedForRequester => {}
    }
    if t.needs_hardware_ack && ctx.hardware_unacknowledged {
        return refuse(
            "its last registration found hardware changes; acknowledge them on its page (with a comment) first".into(),
        );
    }
    Ok(t)
}

/// The reason for a pair the table does not list, in words an admin can act on.
fn refusal_reason(state: ServerState, action: Action) -> String {
    let reason: &str = match (state, action) {
        (Used | UsedRegistering, A::MarkDefective) => "a used server cannot be marked defective; release it first",
        (Used | UsedRegistering, A::SetAvailable | A::SetUnavailable | A::RemoveFromRack) => {
            "a used server changes state only by release or re-registration; release it first"
        }
        (Available, A::ReRegister) => "set the server unavailable first, then re-register it",
        (AvailableReserved, A::ReRegister) => "the server is reserved; set it unavailable first, then re-register it",
        (Defective, A::Allocate) => "a defective server can never be used; repair it and set it available",
        (Decommissioned, A::ReRegister) => "a decommissioned server comes back by registering it again",
        (_, A::Register) => "only a decommissioned server is registered again; use re-register",
        (Available | AvailableReserved, A::Decommission) => "set the server unavailable first",
        (Used | UsedRegistering, A::Decommission) => "release the server and set it unavailable first",
        (_, A::Decommission) => "only an unavailable or defective server can be decommissioned",
        (Unavailable | Registering | Cleaning | Decommissioned | RemovedFromRack, A::Allocate) => {
            "only available servers can be allocated"
        }
        (_, A::RemoveFromRack) => {
            "only an unavailable, defective or decommissioned server can be removed from the rack"
        }
        (_, A::SetAvailable) => "only an unavailable or defective server can be set available",
        (_, A::SetUnavailable) => "only an available or defective server can be set unavailable",
        (Defective, A::MarkDefective) => "it is already defective",
        (_, A::Release) => "only a used server can be released",
        (_, A::Reserve) => "only an available server can be reserved",
        (_, A::Unreserve) => "it is not reserved",
        (_, A::ReRegister) => "only an unavailable or used server can be re-registered",
        _ => "this change is not part of the server lifecycle",
    };
    reason.to_string()
}

/// Actions a user could take from `state`, ignoring guards: the buttons a page shows.
pub fn user_actions(state: ServerState) -> impl Iterator<Item = Action> {
    TRANSITIONS.iter().filter(move |t| t.from == state && t.by == Trigger::User).map(|t| t.action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Trigger::{System as SYS, User as USR};

    /// One (state, action) has exactly one outcome for any server: a pair listed twice
    /// has rows whose `when` exclude each other and together cover every case.
    #[test]
    fn every_pair_has_one_outcome_for_any_server() {
        for t in TRANSITIONS {
            for bits in 0..8u8 {
                let (re_registration, still_reserved, hardware_unacknowledged) =
                    (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
                let ctx = Context { re_registration, still_reserved, hardware_unacknowledged, ..Context::default() };
                let rows = TRANSITIONS.iter().filter(|r| r.from == t.from && r.action == t.action);
                assert_eq!(rows.filter(|r| r.when.holds(ctx)).count(), 1, "{t:?} with {ctx:?}");
            }
        }
    }

    /// Each row says what it implies, consistently: user rows name their permission
    /// (the same for every row of an action), system rows none; outcomes end the job
    /// their process started; only a failure records its reason as the last error.
    #[test]
    fn rows_carry_consistent_effects() {
        for t in TRANSITIONS {
            assert_eq!(t.permission.is_some(), t.by == Trigger::User, "{t:?}");
            for other in TRANSITIONS.iter().filter(|o| o.action == t.action) {
                assert_eq!(other.permission, t.permission, "{t:?} / {other:?}");
                assert_eq!(other.reason, t.reason, "{t:?} / {other:?}");
            }
            if let Some((_, event)) = t.ends_job() {
                assert_eq!(t.by, Trigger::System, "{t:?}");
                assert_eq!(event == JobEvent::Fail, t.error_effect() == ErrorEffect::SetToReason, "{t:?}");
            }
            if t.forgets_bmc_secret {
                assert_eq!(t.to, Decommissioned, "{t:?}");
            }
        }
        assert!(needs_hardware_check(Unavailable, A::SetAvailable));
        assert!(!needs_hardware_check(Defective, A::SetAvailable));
    }

    /// Every (state, action) pair: listed ones succeed for their trigger, all others
    /// are refused with a reason naming state and action.
    #[test]
    fn every_pair_is_decided_by_the_table() {
        for state in ServerState::ALL {
            for action in Action::ALL {
                let ctx = Context { reserved_for_requester: true, ..Context::default() };
                let listed = TRANSITIONS.iter().find(|t| t.from == state && t.action == action && t.when.holds(ctx));
                for by in [Trigger::User, Trigger::System] {
                    let got = request_transition(state, action, by, ctx);
                    match listed {
                        Some(t) if t.by == by => assert_eq!(got.unwrap().to, t.to),
                        _ => {
                            let e = got.unwrap_err();
                            let msg = e.to_string();
                            assert!(msg.contains(state.as_str()), "{msg}");
                            assert!(msg.contains(action.verb()), "{msg}");
                        }
                    }
                }
            }
        }
    }

    /// A person can never put a server into a system-set state by hand, except by
    /// starting the process that owns it.
    #[test]
    fn users_never_set_system_states_directly() {
        for t in TRANSITIONS.iter().filter(|t| t.by == Trigger::User && t.starts_job().is_none()) {
            assert!(!t.to.is_system_set(), "{t:?}");
        }
    }

    /// Defective never leads to used, directly or by allocation.
    #[test]
    fn defective_never_used() {
        assert!(TRANSITIONS.iter().all(|t| !(t.from == Defective && t.to == Used)));
        let e = request_transition(Defective, A::Allocate, SYS, Context::default()).unwrap_err();
        assert!(e.reason.contains("never be used"));
    }

    /// A used server cannot be marked defective; the message says to release it.
    #[test]
    fn used_to_defective_says_release_first() {
        let e = request_transition(Used, A::MarkDefective, USR, Context::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot mark defective a server in state used: a used server cannot be marked defective; release it first"
        );
    }

    /// Re-register from available tells the admin to set it unavailable first.
    #[test]
    fn re_register_from_available_is_refused_with_advice() {
        let e = request_transition(Available, A::ReRegister, USR, Context::default()).unwrap_err();
        assert!(e.reason.contains("unavailable first"));
    }

    /// Registering and cleaning can be marked defective only once their job stopped.
    #[test]
    fn defective_from_running_job_waits_for_it() {
        for s in [Registering, Cleaning] {
            let busy = Context { active_job: true, ..Context::default() };
            assert!(request_transition(s, A::MarkDefective, USR, busy).is_err());
            assert_eq!(request_transition(s, A::MarkDefective, USR, Context::default()).unwrap().to, Defective);
        }
    }

    /// A failed re-registration of an unavailable server returns it to unavailable;
    /// a failed first registration waits in registering; a used one returns to used.
    #[test]
    fn failed_registration_returns_where_it_came_from() {
        let reserved = Context { still_reserved: true, ..Context::default() };
        let t = request_transition(Cleaning, Action::CleaningSucceeded, Trigger::System, reserved).unwrap();
        assert_eq!(t.to, AvailableReserved, "cleaned, still held by a subscription");
        let t = request_transition(Cleaning, Action::CleaningSucceeded, Trigger::System, Context::default()).unwrap();
        assert_eq!(t.to, Available);
        let re = Context { re_registration: true, ..Context::default() };
        assert_eq!(request_transition(Registering, A::RegistrationFailed, SYS, re).unwrap().to, Unavailable);
        assert_eq!(
            request_transition(Registering, A::RegistrationFailed, SYS, Context::default()).unwrap().to,
            Registering
        );
        assert_eq!(request_transition(UsedRegistering, A::RegistrationFailed, SYS, re).unwrap().to, Used);
    }

    /// A server whose registration found hardware changes is not set available (from
    /// unavailable or defective) until someone acknowledged them; cleaned after a
    /// release it waits in unavailable instead of going back to the pool or its
    /// subscription.
    #[test]
    fn unacknowledged_hardware_changes_keep_a_server_out_of_the_pool() {
        let changed = Context { hardware_unacknowledged: true, ..Context::default() };
        for from in [Unavailable, Defective] {
            let e = request_transition(from, A::SetAvailable, USR, changed).unwrap_err();
            assert!(e.reason.contains("acknowledge"), "{e}");
            assert_eq!(request_transition(from, A::SetAvailable, USR, Context::default()).unwrap().to, Available);
        }
        let reserved_and_changed = Context { still_reserved: true, ..changed };
        for ctx in [changed, reserved_and_changed] {
            let t = request_transition(Cleaning, A::CleaningSucceeded, SYS, ctx).unwrap();
            assert_eq!(t.to, Unavailable, "{ctx:?}");
        }
        assert_eq!(request_transition(Available, A::SetUnavailable, USR, changed).unwrap().to, Unavailable);
    }

    /// Another user's reservation cannot be allocated.
    #[test]
    fn reserved_server_only_for_its_user() {
        assert!(request_transition(AvailableReserved, A::Allocate, SYS, Context::default()).is_err());
        let mine = Context { reserved_for_requester: true, ..Context::default() };
        assert_eq!(request_transition(AvailableReserved, A::Allocate, SYS, mine).unwrap().to, Used);
    }

    /// The system cannot press an admin's button, and an admin cannot report an outcome.
    #[test]
    fn triggers_are_not_interchangeable() {
        assert!(request_transition(Unavailable, A::SetAvailable, SYS, Context::default()).is_err());
        assert!(request_transition(Registering, A::RegistrationSucceeded, USR, Context::default()).is_err());
        assert!(request_transition(Available, A::Allocate, USR, Context::default()).is_err());
    }

    /// Every state is reachable from registering through the table.
    #[test]
    fn every_state_reachable() {
        let mut seen = vec![Registering];
        let mut i = 0;
        while i < seen.len() {
            let s = seen[i];
            for t in TRANSITIONS.iter().filter(|t| t.from == s) {
                if !seen.contains(&t.to) {
                    seen.push(t.to);
                }
            }
            i += 1;
        }
        for s in ServerState::ALL {
            assert!(seen.contains(&s), "{s} unreachable");
        }
    }
}
