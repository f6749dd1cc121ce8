//! Background jobs' words and rules: a job's kind, status and phase, the table of what
//! moves a job from one status and phase to the next (the store builds its UPDATEs
//! from it), and the table of how a failed job is run again.

use super::{Action, ServerState};
use serde::{Deserialize, Serialize};

pub use super::words::UnknownWord;

words! {
    /// Kinds of background process.
    JobKind, "job kind" {
        Register => "register",
        Clean => "clean",
        Decommission => "decommission",
        /// A power request (on, off, reset); no state change.
        Power => "power",
        /// Writing an operating system image to a used server and booting it; no state
        /// change (the server stays its tenant's whatever happens).
        Deploy => "deploy",
        /// A new random BMC password set through the BMC's account service, verified
        /// by logging in with it, then stored; no state change.
        RotateBmcPassword => "rotate_bmc_password",
    }
}

words! {
    /// Where a job is in its life: the first three hold its server (it runs or will).
    JobStatus, "job status" {
        Queued => "queued",
        Running => "running",
        /// Parked while the live image boots: no runner slot is held.
        WaitingForAgent => "waiting_for_agent",
        Succeeded => "succeeded",
        Failed => "failed",
        Aborted => "aborted",
    }
}

impl JobStatus {
    /// The statuses in which a job still holds its server (one job per server).
    pub const ACTIVE: &'static [JobStatus] = &[JobStatus::Queued, JobStatus::Running, JobStatus::WaitingForAgent];

    pub fn is_active(self) -> bool {
        Self::ACTIVE.contains(&self)
    }

    /// A job that ended without doing its work: it may be run again.
    pub fn is_retryable(self) -> bool {
        matches!(self, JobStatus::Failed | JobStatus::Aborted)
    }

    /// For people: "waiting for agent".
    pub fn label(self) -> &'static str {
        match self {
            JobStatus::WaitingForAgent => "waiting for agent",
            other => other.as_str(),
        }
    }
}

/// How far ahead of its place in the queue a job expected to be long may start, in
/// ms. Queued jobs are claimed in order of when they became due less what their
/// server's last job of the kind took (or its last job of any kind): a batch then
/// starts its longest jobs first and ends sooner (a machine slow to power off, a big
/// disk to erase), while a job is never overtaken by one queued more than this
/// after it.
pub const MOST_EXPECTED_LEAD_MS: i64 = 60 * 60 * 1000;

words! {
    /// Where a job is in its process (the live-image jobs pass through all of them).
    JobPhase, "job phase" {
        /// Nothing done yet (or a job without a live image).
        Start => "start",
        /// The live image was given an agent token and is booting.
        Booting => "booting",
        /// Parked until its agent reports.
        Waiting => "waiting",
        /// The agent reported its work: the job finishes its process.
        AgentReported => "agent_reported",
        /// The agent reported a failed step: the job fails with its reason.
        AgentFailed => "agent_failed",
        /// Someone aborted it: it cleans up (power off, eject) and ends aborted.
        Aborting => "aborting",
    }
}

impl JobPhase {
    /// A claim in these phases starts the process (again): it counts as an attempt.
    /// Resuming after the agent reported, or cleaning up, is not a new attempt.
    pub fn starts_attempt(self) -> bool {
        matches!(self, JobPhase::Start | JobPhase::Booting)
    }

    /// The agent may still report for a job in these phases.
    pub fn awaits_agent(self) -> bool {
        matches!(self, JobPhase::Booting | JobPhase::Waiting)
    }
}

/// What happens to a job; each is one conditional UPDATE in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobEvent {
    /// A runner takes it: queued and due, its runner's lease expired, or parked past its
    /// agent's deadline or its process's lease.
    Claim,
    /// The live image is about to boot with a new agent token.
    Boot,
    /// It waits for its agent without holding a runner slot.
    Park,
    /// Its agent reported its work done.
    AgentReported,
    /// Its agent reported a failed step.
    AgentFailed,
    /// Its runner (or the state change applying its outcome) ends it well.
    Succeed,
    /// Its runner (or the state change applying its outcome) ends it badly.
    Fail,
    /// A transient failure: queued again for later.
    RetryLater,
    /// Someone aborted it: whoever holds it loses it, and it is queued to clean up.
    Abort,
}

impl JobEvent {
    pub const ALL: &'static [JobEvent] = &[
        JobEvent::Claim,
        JobEvent::Boot,
        JobEvent::Park,
        JobEvent::AgentReported,
        JobEvent::AgentFailed,
        JobEvent::Succeed,
        JobEvent::Fail,
        JobEvent::RetryLater,
        JobEvent::Abort,
    ];
}

/// What renewing a claim's lease found. The fence tells the last two apart: only a
/// new claim or an abort moves it, while the claim's own runner parking or ending the
/// job leaves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseRenewal {
    /// Still running under the claim: held for another lease.
    Renewed,
    /// The claim's own runner moved the job on (parked it for its agent, or ended it
    /// with the server's move): its remaining bookkeeping goes on, but it may not act
    /// on the machine any more.
    MovedOn,
    /// Someone else's now: aborted, or claimed by another runner after the lease ran
    /// out. The runner stops at once.
    Lost,
}

/// Which phases a row applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phases {
    Any,
    Only(&'static [JobPhase]),
    Except(&'static [JobPhase]),
}

impl Phases {
    pub fn contains(self, phase: JobPhase) -> bool {
        match self {
            Phases::Any => true,
            Phases::Only(list) => list.contains(&phase),
            Phases::Except(list) => !list.contains(&phase),
        }
    }

    /// The phases this names, in `JobPhase::ALL`'s order.
    pub fn list(self) -> Vec<JobPhase> {
        JobPhase::ALL.iter().copied().filter(|p| self.contains(*p)).collect()
    }
}

/// One row: `event` moves a job in one of `from` and `phases` to `to`, and to `phase`
/// (None: the phase stays).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobMove {
    pub event: JobEvent,
    pub from: &'static [JobStatus],
    pub phases: Phases,
    pub to: JobStatus,
    pub phase: Option<JobPhase>,
}

use JobPhase as P;
use JobStatus as S;

const ACTIVE: &[JobStatus] = JobStatus::ACTIVE;
const AWAITING_AGENT: Phases = Phases::Only(&[P::Booting, P::Waiting]);
const ABORTING: Phases = Phases::Only(&[P::Aborting]);
const NOT_ABORTING: Phases = Phases::Except(&[P::Aborting]);

const fn mv(
    event: JobEvent,
    from: &'static [JobStatus],
    phases: Phases,
    to: JobStatus,
    phase: Option<JobPhase>,
) -> JobMove {
    JobMove { event, from, phases, to, phase }
}

/// The table. At most one row applies to an event in a status and phase (tested);
/// an event with no row for the job's status and phase does nothing.
pub const JOB_MOVES: &[JobMove] = &[
    // When a job may be claimed (its time has come, a lease ran out) is the store's
    // business; which jobs may be is this.
    mv(JobEvent::Claim, ACTIVE, Phases::Any, S::Running, None),
    mv(JobEvent::Boot, &[S::Running], NOT_ABORTING, S::Running, Some(P::Booting)),
    mv(JobEvent::Park, &[S::Running], AWAITING_AGENT, S::WaitingForAgent, Some(P::Waiting)),
    // A job still booting sees the phase when it tries to park; a parked one is
    // queued to go on at once.
    mv(JobEvent::AgentReported, &[S::Running], AWAITING_AGENT, S::Running, Some(P::AgentReported)),
    mv(JobEvent::AgentReported, &[S::WaitingForAgent], AWAITING_AGENT, S::Queued, Some(P::AgentReported)),
    mv(JobEvent::AgentFailed, &[S::Running], AWAITING_AGENT, S::Running, Some(P::AgentFailed)),
    mv(JobEvent::AgentFailed, &[S::WaitingForAgent], AWAITING_AGENT, S::Queued, Some(P::AgentFailed)),
    // A job being aborted ends aborted, whatever its cleanup says.
    mv(JobEvent::Succeed, ACTIVE, NOT_ABORTING, S::Succeeded, None),
    mv(JobEvent::Succeed, ACTIVE, ABORTING, S::Aborted, None),
    mv(JobEvent::Fail, ACTIVE, NOT_ABORTING, S::Failed, None),
    mv(JobEvent::Fail, ACTIVE, ABORTING, S::Aborted, None),
    mv(JobEvent::RetryLater, ACTIVE, Phases::Any, S::Queued, None),
    mv(JobEvent::Abort, ACTIVE, NOT_ABORTING, S::Queued, Some(P::Aborting)),
];

/// The rows of one event.
pub fn moves_of(event: JobEvent) -> impl Iterator<Item = &'static JobMove> {
    JOB_MOVES.iter().filter(move |m| m.event == event)
}

/// Where `event` takes a job in `status` and `phase`; None when it does not apply
/// (the store's UPDATE then changes no row).
pub fn job_move(event: JobEvent, status: JobStatus, phase: JobPhase) -> Option<(JobStatus, JobPhase)> {
    moves_of(event)
        .find(|m| m.from.contains(&status) && m.phases.contains(phase))
        .map(|m| (m.to, m.phase.unwrap_or(phase)))
}

/// How a failed or aborted job is run again, given where its server is now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// The same job, queued again with its parameters: the server is still where the
    /// process left it.
    SameJob,
    /// The action that starts the process, through the lifecycle table.
    Action(Action),
    /// The job no longer applies to the server.
    NoLonger,
}

/// What retrying a job of `kind` needs beyond Retry itself: running a decommission
/// again is decommissioning.
pub fn retry_needs(kind: JobKind) -> Option<super::Permission> {
    (kind == JobKind::Decommission).then_some(super::Permission::Decommission)
}

/// The retry table: a job kind and its server's state now.
pub fn restart_for(kind: JobKind, state: ServerState) -> Restart {
    use ServerState as St;
    match (kind, state) {
        (JobKind::Register, St::Registering | St::UsedRegistering) | (JobKind::Clean, St::Cleaning) => Restart::SameJob,
        (JobKind::Register, St::Unavailable | St::Used) => Restart::Action(Action::ReRegister),
        (JobKind::Decommission, St::Unavailable | St::Defective) => Restart::Action(Action::Decommission),
        // A power request is asked again as it was (its BMC password must still be known).
        (JobKind::Power, state) if state != St::Decommissioned => Restart::SameJob,
        // An image is written again while the server is still its tenant's.
        (JobKind::Deploy, St::Used) => Restart::SameJob,
        // A rotation runs again from where it stopped (a pending password is tried first).
        (JobKind::RotateBmcPassword, state) if state != St::Decommissioned => Restart::SameJob,
        _ => Restart::NoLonger,
    }
}

/// docs/jobs.md: the job table and the retry table, generated from the code (a test
/// keeps the file current).
pub fn jobs_doc() -> String {
    let words = |list: &[JobStatus]| list.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
    let phases = |p: Phases| match p {
        Phases::Any => "any".to_string(),
        Phases::Only(l) => l.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "),
        Phases::Except(l) => format!("not {}", l.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")),
    };
    let mut out = String::from(
        "# Jobs\n\n<!-- Generated from app/src/domain/jobs.rs; `UPDATE_DOCS=1 cargo test -p app` rewrites it. -->\n\n\
         A background job (registration, cleaning, decommissioning, power, deploy) is a row in\n\
         `jobs`. Its **status** says whether it holds its server (`queued`, `running`,\n\
         `waiting_for_agent`: one such job per server at a time) or how it ended (`succeeded`,\n\
         `failed`, `aborted`); its **phase** says where it is in its process. Every change of\n\
         either is one conditional UPDATE built from this table, so an event that does not\n\
         apply to a job changes nothing.\n\n\
         | event | from status | in phase | to status | to phase |\n|---|---|---|---|---|\n",
    );
    for m in JOB_MOVES {
        let event = serde_json::to_string(&m.event).unwrap_or_default();
        let to_phase = m.phase.map(|p| format!("`{p}`")).unwrap_or_else(|| "unchanged".into());
        out += &format!(
            "| {} | {} | {} | `{}` | {} |\n",
            event.trim_matches('"'),
            words(m.from),
            phases(m.phases),
            m.to,
            to_phase
        );
    }
    out += &format!(
        "\nA claim in phase `start` or `booting` counts as an attempt; resuming after the \
         agent reported, or cleaning up an abort, does not.\n\n\
         Queued jobs are claimed in order of when they became due less what their server's \
         last successful job of the kind took (else its last successful job of any kind), \
         at most {} minutes: a batch starts its longest jobs first (a machine slow to power \
         off, big disks to erase) and ends sooner, and no job is overtaken by one queued \
         more than that after it. A job whose agent reported goes on in the order of its \
         report: after the jobs due before it (a batch boots all its machines before the \
         first finishes), before those due after it. On PostgreSQL a claim passes over \
         jobs another transaction holds (another replica's claim, an agent's report being \
         written) instead of waiting for them: replicas claiming at the same moment take \
         different jobs.\n\n",
        MOST_EXPECTED_LEAD_MS / 60_000
    );
    out += "## Retry\n\nRetry runs a `failed` or `aborted` job again, depending on where its \
            server is now:\n\n| job | server state | retry |\n|---|---|---|\n";
    for kind in JobKind::ALL {
        for state in ServerState::ALL {
            let how = match restart_for(*kind, state) {
                Restart::SameJob => "the same job again".to_string(),
                Restart::Action(a) => format!("the `{}` action", a.as_str()),
                Restart::NoLonger => continue,
            };
            out += &format!("| {kind} | {} | {how} |\n", state.as_str());
        }
    }
    out += "\nAny other combination is refused: the job no longer applies.\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/jobs.md shows the tables the code runs.
    #[test]
    fn jobs_doc_is_current() {
        crate::domain::assert_doc_current("jobs.md", &jobs_doc());
    }

    fn every_case() -> impl Iterator<Item = (JobEvent, JobStatus, JobPhase)> {
        JobEvent::ALL
            .iter()
            .flat_map(|e| JobStatus::ALL.iter().flat_map(move |s| JobPhase::ALL.iter().map(move |p| (*e, *s, *p))))
    }

    /// The table is a function: no event in any status and phase has two rows.
    #[test]
    fn at_most_one_row_applies() {
        for (event, status, phase) in every_case() {
            let rows = moves_of(event).filter(|m| m.from.contains(&status) && m.phases.contains(phase)).count();
            assert!(rows <= 1, "{event:?} in {status:?}/{phase:?} has {rows} rows");
        }
    }

    /// A job that ended stays ended: nothing moves a succeeded, failed or aborted job
    /// (a retry is a new job).
    #[test]
    fn ended_jobs_never_move() {
        for (event, status, phase) in every_case().filter(|(_, s, _)| !s.is_active()) {
            assert_eq!(job_move(event, status, phase), None, "{event:?} moved a {status:?} job");
        }
    }

    /// An abort cannot be undone by the work it stopped: an aborting job cleans up
    /// and ends aborted, whichever way its runner reports, and cannot be aborted twice.
    #[test]
    fn an_aborting_job_ends_aborted() {
        for status in JobStatus::ACTIVE {
            for event in [JobEvent::Succeed, JobEvent::Fail] {
                assert_eq!(job_move(event, *status, P::Aborting), Some((S::Aborted, P::Aborting)));
            }
            assert_eq!(job_move(JobEvent::Abort, *status, P::Aborting), None);
            assert_eq!(job_move(JobEvent::Boot, *status, P::Aborting), None, "no new live image while aborting");
            assert_eq!(job_move(JobEvent::Claim, *status, P::Aborting), Some((S::Running, P::Aborting)));
        }
    }

    /// Every active job can be aborted, claimed and ended; the agent's report only
    /// lands while the job waits for it.
    #[test]
    fn what_applies_to_active_jobs() {
        for (event, status, phase) in every_case().filter(|(_, s, _)| s.is_active()) {
            let applies = job_move(event, status, phase).is_some();
            let expected = match event {
                JobEvent::Claim | JobEvent::Succeed | JobEvent::Fail | JobEvent::RetryLater => true,
                JobEvent::Abort => phase != P::Aborting,
                JobEvent::Boot => status == S::Running && phase != P::Aborting,
                JobEvent::Park => status == S::Running && phase.awaits_agent(),
                JobEvent::AgentReported | JobEvent::AgentFailed => {
                    matches!(status, S::Running | S::WaitingForAgent) && phase.awaits_agent()
                }
            };
            assert_eq!(applies, expected, "{event:?} in {status:?}/{phase:?}");
        }
    }

    /// Words round-trip through their database spelling.
    #[test]
    fn words_round_trip() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::try_from(s.as_str().to_string()), Ok(*s));
        }
        for p in JobPhase::ALL {
            assert_eq!(JobPhase::parse(p.as_str()), Some(*p));
        }
        for k in JobKind::ALL {
            assert_eq!(JobKind::parse(k.as_str()), Some(*k));
        }
        let err = JobStatus::try_from("done".to_string()).unwrap_err();
        assert_eq!(err.to_string(), "unknown job status \"done\"");
    }

    /// A failed cleaning is run again while the server is still cleaning, but not once
    /// someone moved it on; a failed registration of a server now unavailable is a
    /// re-registration.
    #[test]
    fn how_failed_jobs_restart() {
        assert_eq!(restart_for(JobKind::Clean, ServerState::Cleaning), Restart::SameJob);
        assert_eq!(restart_for(JobKind::Clean, ServerState::Available), Restart::NoLonger);
        assert_eq!(restart_for(JobKind::Register, ServerState::Unavailable), Restart::Action(Action::ReRegister));
        assert_eq!(restart_for(JobKind::Power, ServerState::Decommissioned), Restart::NoLonger);
        assert_eq!(restart_for(JobKind::Deploy, ServerState::Available), Restart::NoLonger);
    }
}
