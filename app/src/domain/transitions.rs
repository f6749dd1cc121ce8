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

    /// For a process outcome: the job kind it ends and how it ends it.
    pub fn outcome_of(self) -> Option<(JobKind, JobEvent)> {
        use JobEvent::{Fail, Succeed};
        match self {
            Action::RegistrationSucceeded => Some((JobKind::Register, Succeed)),
            Action::RegistrationFailed => Some((JobKind::Register, Fail)),
            Action::CleaningSucceeded => Some((JobKind::Clean, Succeed)),
            Action::CleaningFailed => Some((JobKind::Clean, Fail)),
            Action::DecommissionSucceeded => Some((JobKind::Decommission, Succeed)),
            Action::DecommissionFailed => Some((JobKind::Decommission, Fail)),
            _ => None,
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

/// A condition beyond the state that must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    None,
    /// The server's current job has ended (failed or aborted): nothing runs on it.
    NoActiveJob,
    /// The reservation belongs to the user the allocation is for.
    ReservedForRequester,
}

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub from: ServerState,
    pub action: Action,
    pub to: ServerState,
    pub by: Trigger,
    pub guard: Guard,
    /// The job this action starts, when it starts a process.
    pub starts_job: Option<JobKind>,
}

use super::jobs::JobEvent;
pub use super::jobs::JobKind;

const fn row(from: ServerState, action: Action, to: ServerState, by: Trigger) -> Transition {
    Transition { from, action, to, by, guard: Guard::None, starts_job: None }
}
const fn guarded(from: ServerState, action: Action, to: ServerState, by: Trigger, guard: Guard) -> Transition {
    Transition { from, action, to, by, guard, starts_job: None }
}
const fn process(from: ServerState, action: Action, to: ServerState, job: JobKind) -> Transition {
    Transition { from, action, to, by: Trigger::User, guard: Guard::NoActiveJob, starts_job: Some(job) }
}

use Action as A;
use Trigger::{System as SYS, User as USR};

/// The table. Every user row requires that no job is running on the server, so a
/// button never races a worker.
pub const TRANSITIONS: &[Transition] = &[
    // Manual buttons (seed: "moved into available, unavailable, defective or removed_from_rack").
    guarded(Unavailable, A::SetAvailable, Available, USR, Guard::NoActiveJob),
    guarded(Defective, A::SetAvailable, Available, USR, Guard::NoActiveJob),
    guarded(Available, A::SetUnavailable, Unavailable, USR, Guard::NoActiveJob),
    guarded(Defective, A::SetUnavailable, Unavailable, USR, Guard::NoActiveJob),
    guarded(Registering, A::MarkDefective, Defective, USR, Guard::NoActiveJob),
    guarded(Unavailable, A::MarkDefective, Defective, USR, Guard::NoActiveJob),
    guarded(Available, A::MarkDefective, Defective, USR, Guard::NoActiveJob),
    guarded(AvailableReserved, A::MarkDefective, Defective, USR, Guard::NoActiveJob),
    guarded(Cleaning, A::MarkDefective, Defective, USR, Guard::NoActiveJob),
    guarded(Decommissioned, A::MarkDefective, Defective, USR, Guard::NoActiveJob),
    guarded(RemovedFromRack, A::MarkDefective, Defective, USR, Guard::NoActiveJob),
    guarded(Unavailable, A::RemoveFromRack, RemovedFromRack, USR, Guard::NoActiveJob),
    guarded(Defective, A::RemoveFromRack, RemovedFromRack, USR, Guard::NoActiveJob),
    guarded(Decommissioned, A::RemoveFromRack, RemovedFromRack, USR, Guard::NoActiveJob),
    // Processes.
    process(Decommissioned, A::Register, Registering, JobKind::Register),
    process(Unavailable, A::ReRegister, Registering, JobKind::Register),
    process(Used, A::ReRegister, UsedRegistering, JobKind::Register),
    process(Unavailable, A::Decommission, Unavailable, JobKind::Decommission),
    process(Defective, A::Decommission, Defective, JobKind::Decommission),
    // Outcomes of registration. A failed first registration stays in registering; a
    // failed re-registration returns where it came from (the job knows which).
    row(Registering, A::RegistrationSucceeded, Unavailable, SYS),
    row(UsedRegistering, A::RegistrationSucceeded, Used, SYS),
    row(Registering, A::RegistrationFailed, Registering, SYS),
    row(UsedRegistering, A::RegistrationFailed, Used, SYS),
    // Cleaning after release.
    row(Cleaning, A::CleaningSucceeded, Available, SYS),
    row(Cleaning, A::CleaningFailed, Cleaning, SYS),
    // Decommissioning.
    row(Unavailable, A::DecommissionSucceeded, Decommissioned, SYS),
    row(Defective, A::DecommissionSucceeded, Decommissioned, SYS),
    row(Unavailable, A::DecommissionFailed, Unavailable, SYS),
    row(Defective, A::DecommissionFailed, Defective, SYS),
    // Subscriptions and allocation.
    row(Available, A::Reserve, AvailableReserved, SYS),
    row(AvailableReserved, A::Unreserve, Available, SYS),
    row(Available, A::Allocate, Used, SYS),
    guarded(AvailableReserved, A::Allocate, Used, SYS, Guard::ReservedForRequester),
    // A power or deploy job running on the server is aborted by the release (the
    // allocator does it in the same transaction); the cleaning job waits for its
    // cleanup (one job per server at a time).
    Transition {
        from: Used,
        action: A::Release,
        to: Cleaning,
        by: SYS,
        guard: Guard::None,
        starts_job: Some(JobKind::Clean),
    },
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
    state == Unavailable && action == Action::SetAvailable
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
    let Some(mut t) = TRANSITIONS.iter().copied().find(|t| t.from == state && t.action == action) else {
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
    if action == Action::RegistrationFailed && state == Registering && ctx.re_registration {
        t.to = Unavailable;
    }
    if action == Action::CleaningSucceeded && ctx.still_reserved {
        t.to = AvailableReserved;
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

    /// Every pair of the table is unique: one (state, action) never has two outcomes.
    #[test]
    fn table_has_no_duplicate_pairs() {
        for (i, a) in TRANSITIONS.iter().enumerate() {
            for b in &TRANSITIONS[i + 1..] {
                assert!(!(a.from == b.from && a.action == b.action), "duplicate {a:?} / {b:?}");
            }
        }
    }

    /// Every (state, action) pair: listed ones succeed for their trigger, all others
    /// are refused with a reason naming state and action.
    #[test]
    fn every_pair_is_decided_by_the_table() {
        for state in ServerState::ALL {
            for action in Action::ALL {
                let listed = TRANSITIONS.iter().find(|t| t.from == state && t.action == action);
                for by in [Trigger::User, Trigger::System] {
                    let ctx = Context { reserved_for_requester: true, ..Context::default() };
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
        for t in TRANSITIONS.iter().filter(|t| t.by == Trigger::User && t.starts_job.is_none()) {
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
