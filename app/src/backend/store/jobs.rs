//! The `jobs` table: durable background jobs with leases.
//!
//! A runner claims a job by setting its lease (owner and expiry) in one conditional
//! UPDATE; the condition is re-checked on the row it updates, so two runners (even in
//! different Rackstate processes on one PostgreSQL) never hold the same job. A job
//! whose lease expired (its runner died) is claimable again.
//!
//! Every claim bumps the job's `fence` (a fencing token). Each write of the job's work
//! (lease renewal, agent token, parking, step log, outcome) is conditional on the fence
//! its runner claimed with, so a runner that stalled past its lease (a stopped
//! process, a long GC-like pause) and woke up after another took the job over writes
//! nothing. A job parked for its agent keeps its runner as owner; the owning process
//! renews all its parked jobs together, and when it dies they are claimed again
//! after the lease, before the agent's deadline.

use crate::backend::db::{DbError, DbKind};
use crate::domain::jobs::{JobEvent, JobKind, JobMove, JobPhase, JobStatus, LeaseRenewal, Phases, moves_of};
use sqlx::AnyConnection;
use std::collections::HashMap;
use std::sync::LazyLock;

/// `('a', 'b')`: words for an SQL `IN`.
fn sql_list<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = words.into_iter().map(|w| format!("'{w}'")).collect();
    format!("({})", quoted.join(", "))
}

fn statuses(list: &[JobStatus]) -> String {
    sql_list(list.iter().map(|s| s.as_str()))
}

/// The SQL of one row of the job table: the job is in its statuses and phases.
fn row_condition(m: &JobMove) -> String {
    let from = format!("status IN {}", statuses(m.from));
    match m.phases {
        Phases::Any => from,
        phases => format!("({from} AND phase IN {})", sql_list(phases.list().iter().map(|p| p.as_str()))),
    }
}

/// For each event of `domain::jobs::JOB_MOVES`: the SET of its status and phase, and the
/// condition under which it applies. Every UPDATE of a job's status or phase is built
/// from these, so the table is the one place that decides them.
struct EventSql {
    set: String,
    applies: String,
}

static EVENT_SQL: LazyLock<HashMap<JobEvent, EventSql>> = LazyLock::new(|| {
    JobEvent::ALL
        .iter()
        .map(|&event| {
            let rows: Vec<&JobMove> = moves_of(event).collect();
            let conditions: Vec<String> = rows.iter().map(|m| row_condition(m)).collect();
            let case = |value: &dyn Fn(&JobMove) -> Option<&'static str>, column: &str| -> Option<String> {
                let values: Vec<Option<&str>> = rows.iter().map(|m| value(m)).collect();
                if values.iter().all(Option::is_none) {
                    return None;
                }
                if let Some(first) = values[0]
                    && values.iter().all(|v| *v == Some(first))
                {
                    return Some(format!("{column} = '{first}'"));
                }
                let arms: Vec<String> = conditions
                    .iter()
                    .zip(&values)
                    .filter_map(|(c, v)| v.map(|v| format!("WHEN {c} THEN '{v}'")))
                    .collect();
                Some(format!("{column} = CASE {} ELSE {column} END", arms.join(" ")))
            };
            let status = case(&|m| Some(m.to.as_str()), "status").expect("every row sets a status");
            let set = match case(&|m| m.phase.map(JobPhase::as_str), "phase") {
                Some(phase) => format!("{status}, {phase}"),
                None => status,
            };
            (event, EventSql { set, applies: format!("({})", conditions.join(" OR ")) })
        })
        .collect()
});

/// `status = ..., phase = ...` for `event`.
fn set(event: JobEvent) -> &'static str {
    &EVENT_SQL[&event].set
}

/// The condition under which `event` applies to a job row.
fn applies(event: JobEvent) -> &'static str {
    &EVENT_SQL[&event].applies
}

/// Statuses in which a job still holds its server, for an SQL `IN`.
pub fn active_statuses() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| statuses(JobStatus::ACTIVE));
    &SQL
}

/// Whether a job is queued or running on the server.
pub async fn has_active(conn: &mut AnyConnection, server_id: i64) -> Result<bool, DbError> {
    let n: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM jobs WHERE server_id = $1 AND status IN {}",
        active_statuses()
    ))
    .bind(server_id)
    .fetch_one(conn)
    .await
    .map_err(|e| DbError::query("checking a server's jobs", e))?;
    Ok(n > 0)
}

/// A job as the runner sees it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub server_id: i64,
    #[sqlx(try_from = "String")]
    pub kind: JobKind,
    #[sqlx(try_from = "String")]
    pub status: JobStatus,
    pub attempts: i64,
    pub params: String,
    pub last_error: Option<String>,
    pub lease_owner: Option<String>,
    /// Where the job is in its process.
    #[sqlx(try_from = "String")]
    pub phase: JobPhase,
    /// The fencing token of the current claim.
    pub fence: i64,
    /// A cleaning's agent proved it runs on the recorded machine (1).
    pub agent_verified: i64,
    /// While parked: when the agent's time is up (unix ms).
    pub agent_deadline: Option<i64>,
}

const COLUMNS: &str = "id, server_id, kind, status, attempts, params, last_error, lease_owner, phase, fence, agent_verified, agent_deadline";

/// Queues a job; runs in the caller's transaction (with the state change that starts it).
/// Its place in the claim order (`claim_at`) is now less what its server's last
/// succeeded job of this kind took, else its last succeeded job of any kind, at most
/// `MOST_EXPECTED_LEAD_MS` (see there).
pub async fn enqueue(
    conn: &mut AnyConnection,
    server_id: i64,
    kind: JobKind,
    params: &str,
    now: i64,
) -> Result<i64, DbError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        // The server's own jobs newest first (jobs_server); its status is tested inside
        // a CASE so that no database walks an index of every succeeded job instead.
        let took = |kind: &str| {
            format!(
                "SELECT p.finished_at - p.started_at FROM jobs p WHERE p.server_id = $1 {kind} \
                 AND p.started_at IS NOT NULL AND p.finished_at IS NOT NULL \
                 AND CASE WHEN p.status = '{}' THEN 1 ELSE 0 END = 1 ORDER BY p.id DESC LIMIT 1",
                JobStatus::Succeeded.as_str()
            )
        };
        format!(
            "INSERT INTO jobs (server_id, kind, status, attempts, params, run_after, claim_at, created_at, updated_at) \
             SELECT $1, $2, $5, 0, $3, $4, $4 - CASE WHEN took > $6 THEN $6 WHEN took > 0 THEN took ELSE 0 END, $4, $4 \
             FROM (SELECT COALESCE(({}), ({}), 0) AS took) AS expected RETURNING id",
            took("AND p.kind = $2"),
            took("")
        )
    });
    sqlx::query_scalar(&SQL)
        .bind(server_id)
        .bind(kind.as_str())
        .bind(params)
        .bind(now)
        .bind(JobStatus::Queued.as_str())
        .bind(crate::domain::jobs::MOST_EXPECTED_LEAD_MS)
        .fetch_one(conn)
        .await
        .map_err(|e| DbError::query("queueing a job", e))
}

/// Claims up to `limit` runnable jobs for `owner` until `lease_until`, in one
/// statement: queued jobs whose time has come, running ones whose lease expired
/// (their runner died), or ones waiting for their agents past the deadline (the
/// handler then fails them) or whose parking process died (the handler re-checks the
/// machine). A claim bumps the job's fence and, when it starts an attempt, sets
/// `started_at`. First in claim order (`claim_at`, see `enqueue`), then oldest;
/// empty when there is none.
pub async fn claim(
    conn: &mut AnyConnection,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: usize,
) -> Result<Vec<JobRow>, DbError> {
    let sql = claim_statement(super::dialect::of(conn));
    let mut claimed: Vec<JobRow> = sqlx::query_as(sql)
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .bind(limit.max(1) as i64)
        .fetch_all(conn)
        .await
        .map_err(|e| DbError::query("claiming jobs", e))?;
    claimed.sort_by_key(|j| j.id);
    Ok(claimed)
}

/// The statement `claim` runs on a database of `kind` (its parameters: the owner, the
/// lease's end, now, how many), built once per dialect.
pub fn claim_statement(kind: DbKind) -> &'static str {
    static SQL: [LazyLock<String>; 2] =
        [LazyLock::new(|| claim_sql(DbKind::Sqlite)), LazyLock::new(|| claim_sql(DbKind::Postgres))];
    &SQL[usize::from(kind == DbKind::Postgres)]
}

/// The statement of `claim` on a database of `kind`.
fn claim_sql(kind: DbKind) -> String {
    use JobStatus::{Queued, Running, WaitingForAgent};
    let claimable = applies(JobEvent::Claim);
    let (due, expired) = (
        |status: &[JobStatus]| format!("status IN {} AND run_after <= $3", statuses(status)),
        format!("status IN {} AND lease_expires_at < $3", statuses(&[Running, WaitingForAgent])),
    );
    let runnable = format!("({claimable} AND (({}) OR ({expired})))", due(&[Queued, WaitingForAgent]));
    let attempt_phases: Vec<&str> = JobPhase::ALL.iter().filter(|p| p.starts_attempt()).map(|p| p.as_str()).collect();
    // One job per server at a time: a job waits while an older one of its server is
    // active (a release's cleaning waits for the aborted deploy's cleanup).
    let free = format!(
        "NOT EXISTS (SELECT 1 FROM jobs o WHERE o.server_id = jobs.server_id AND o.id < jobs.id \
         AND o.status IN {})",
        active_statuses()
    );
    // The first runnable jobs, as the first of each way to be runnable: queued
    // jobs walked in claim order (jobs_status_claim: due time less the expected
    // run time, see `enqueue`) up to the `limit`th free one; parked jobs now due
    // and jobs whose lease ran out found by time (few at any moment).
    let skip_locked = super::dialect::skip_locked(kind);
    let first = |condition: String| {
        format!(
            "SELECT id, claim_at FROM (SELECT id, claim_at FROM jobs WHERE {condition} AND {claimable} AND {free} \
             ORDER BY claim_at, id LIMIT $4{skip_locked}) AS c"
        )
    };
    // `+run_after` keeps SQLite off the (status, run_after) index there: it would
    // read every due queued job and sort them by id at each claim.
    let queued = format!("status IN {} AND +run_after <= $3", statuses(&[Queued]));
    let candidates = [first(queued), first(due(&[WaitingForAgent])), first(expired.clone())].join(" UNION ALL ");
    // `attempts` counts starts of the process; resuming after the agent reported, or
    // failing a job whose agent never did, is not a new attempt.
    // The WHERE is repeated outside the subquery on purpose: on PostgreSQL a runner
    // that lost the race re-evaluates it on the updated row and gets nothing.
    format!(
        "UPDATE jobs{by_id} SET {set}, \
         lease_owner = $1, lease_expires_at = $2, updated_at = $3, fence = fence + 1, \
         attempts = attempts + CASE WHEN phase IN {attempt} THEN 1 ELSE 0 END, \
         started_at = CASE WHEN phase IN {attempt} THEN $3 ELSE started_at END \
         WHERE id IN (SELECT id FROM ({candidates}) AS firsts ORDER BY claim_at, id LIMIT $4) AND {runnable} \
         RETURNING {COLUMNS}",
        by_id = super::dialect::by_id(kind),
        set = set(JobEvent::Claim),
        attempt = sql_list(attempt_phases),
    )
}

/// Extends the lease of the claim `fence` while the job runs under it; otherwise
/// says whether the claim's own runner moved the job on or someone else has it.
pub async fn renew(
    conn: &mut AnyConnection,
    id: i64,
    fence: i64,
    now: i64,
    lease_until: i64,
) -> Result<LeaseRenewal, DbError> {
    let renewed = sqlx::query(
        "UPDATE jobs SET lease_expires_at = $1, updated_at = $2 WHERE id = $3 AND fence = $4 AND status = $5",
    )
    .bind(lease_until)
    .bind(now)
    .bind(id)
    .bind(fence)
    .bind(JobStatus::Running.as_str())
    .execute(&mut *conn)
    .await
    .map_err(|e| DbError::query("renewing a job lease", e))?
    .rows_affected()
        == 1;
    if renewed {
        return Ok(LeaseRenewal::Renewed);
    }
    // Not running under this claim: whose doing was it (rare: read only then)?
    let current: Option<i64> = sqlx::query_scalar("SELECT fence FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("renewing a job lease", e))?;
    Ok(if current == Some(fence) { LeaseRenewal::MovedOn } else { LeaseRenewal::Lost })
}

/// Renews the leases of every job `owner` parked for its agent: the process is alive,
/// its parked jobs need no takeover. Returns how many.
pub async fn renew_parked(conn: &mut AnyConnection, owner: &str, now: i64, lease_until: i64) -> Result<u64, DbError> {
    sqlx::query(
        "UPDATE jobs SET lease_expires_at = $1 WHERE lease_owner = $2 AND status = $4 AND lease_expires_at >= $3",
    )
    .bind(lease_until)
    .bind(owner)
    .bind(now)
    .bind(JobStatus::WaitingForAgent.as_str())
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
    .map_err(|e| DbError::query("renewing parked jobs", e))
}

/// Gives up the claim `fence` of a running job at shutdown: its lease ends now, so
/// another process takes it over at once (as after a crash, without the wait).
/// False when the claim was no longer this one's.
pub async fn release(conn: &mut AnyConnection, id: i64, fence: i64, now: i64) -> Result<bool, DbError> {
    sqlx::query(
        "UPDATE jobs SET lease_expires_at = $1, updated_at = $2 WHERE id = $3 AND fence = $4 AND status IN ($5, $6)",
    )
    .bind(now - 1)
    .bind(now)
    .bind(id)
    .bind(fence)
    .bind(JobStatus::Running.as_str())
    .bind(JobStatus::WaitingForAgent.as_str())
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
    .map_err(|e| DbError::query("releasing a job", e))
}

/// Gives up, at shutdown, the leases of every job `owner` parked for its agent: the
/// next process to look resumes them at once. Returns how many.
pub async fn release_parked(conn: &mut AnyConnection, owner: &str, now: i64) -> Result<u64, DbError> {
    renew_parked(conn, owner, now, now - 1).await
}

/// Ends the claim `fence` of a job with `end` (Succeed or Fail: a job being aborted
/// ends aborted); false when the job was claimed again since (its lease expired and
/// another runner took it).
pub async fn finish(
    conn: &mut AnyConnection,
    id: i64,
    fence: i64,
    end: JobEvent,
    error: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    let_go(conn, id, fence, end, error, None, now).await
}

/// Puts a job back in the queue after a transient failure, to run at `run_after`;
/// false when the job was claimed again since.
pub async fn retry_later(
    conn: &mut AnyConnection,
    id: i64,
    fence: i64,
    error: &str,
    run_after: i64,
    now: i64,
) -> Result<bool, DbError> {
    let_go(conn, id, fence, JobEvent::RetryLater, Some(error), Some(run_after), now).await
}

/// Drops the claim `fence` and moves the job by `event`: finished (no `run_after`) or
/// queued again at `run_after`.
async fn let_go(
    conn: &mut AnyConnection,
    id: i64,
    fence: i64,
    event: JobEvent,
    error: Option<&str>,
    run_after: Option<i64>,
    now: i64,
) -> Result<bool, DbError> {
    let finished_at = run_after.is_none().then_some(now);
    let ended: Vec<Ended> = sqlx::query_as(&format!(
        "UPDATE jobs SET {}, \
         last_error = $1, lease_owner = NULL, lease_expires_at = NULL, \
         finished_at = $2, run_after = COALESCE($3, run_after), claim_at = claim_at + COALESCE($3 - run_after, 0), \
         updated_at = $4, \
         agent_token_hash = CASE WHEN $2 IS NULL THEN agent_token_hash ELSE NULL END \
         WHERE id = $5 AND fence = $6 AND {} {RETURNING_ENDED}",
        set(event),
        applies(event)
    ))
    .bind(error)
    .bind(finished_at)
    .bind(run_after)
    .bind(now)
    .bind(id)
    .bind(fence)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| DbError::query("releasing a job", e))?;
    if finished_at.is_some() {
        audit_finished(conn, &ended, now).await?;
    }
    Ok(ended.len() == 1)
}

/// A job that just ended, as the UPDATE that ended it returns it.
#[derive(sqlx::FromRow)]
struct Ended {
    id: i64,
    server_id: i64,
    #[sqlx(try_from = "String")]
    kind: JobKind,
    #[sqlx(try_from = "String")]
    status: JobStatus,
    last_error: Option<String>,
}

/// What an UPDATE ending jobs returns for [`Ended`].
const RETURNING_ENDED: &str = "RETURNING id, server_id, kind, status, last_error";

/// Audits each ended job (`job_finished`: its kind, how it ended, its error), in the
/// statement's transaction: webhooks and the event stream carry job outcomes from the
/// audit.
async fn audit_finished(conn: &mut AnyConnection, ended: &[Ended], now: i64) -> Result<(), DbError> {
    use crate::backend::store::events::{self, NewEvent};
    for job in ended {
        let actor = format!("system: {} job", job.kind.as_str());
        let details = format!("{{\"job_id\":{}}}", job.id);
        let event = NewEvent {
            from_value: Some(job.kind.as_str()),
            to_value: Some(job.status.as_str()),
            reason: job.last_error.as_deref(),
            details: Some(&details),
            ..NewEvent::about(job.server_id, &actor, crate::domain::EventKind::JobFinished)
        };
        events::append(&mut *conn, &event, now).await?;
    }
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<JobRow>, DbError> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("reading a job", e))
}

/// A line for a job's step log from the runner of claim `fence`, or, with no fence,
/// from the job's agent (its token is the authority: its lines are evidence, written
/// whichever process runs the job now).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepLine {
    pub job_id: i64,
    pub fence: Option<i64>,
    pub at: i64,
    pub message: String,
}

/// Most lines in one statement (five parameters each; SQLite allows 32,766).
pub const STEP_LINES_PER_STATEMENT: usize = 500;

/// Appends lines to their jobs' step logs in one statement, in the order given; a
/// fenced line whose job was claimed again since (its fence moved on) is not written
/// (a stalled runner's lines would mislead). Returns the ids of the jobs that got lines.
pub async fn log_steps(conn: &mut AnyConnection, lines: &[StepLine]) -> Result<Vec<i64>, DbError> {
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    // The casts give PostgreSQL the parameters' types (SQLite takes them as they come).
    let values: Vec<String> = (0..lines.len())
        .map(|i| {
            let p = i * 5;
            format!(
                "(CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS TEXT))",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5
            )
        })
        .collect();
    let sql = format!(
        "WITH v (seq, job_id, fence, at, message) AS (VALUES {}) \
         INSERT INTO job_steps (job_id, at, message) \
         SELECT v.job_id, v.at, v.message FROM v JOIN jobs j ON j.id = v.job_id AND (v.fence IS NULL OR j.fence = v.fence) \
         ORDER BY v.seq RETURNING job_id",
        values.join(", ")
    );
    let mut query = sqlx::query_scalar::<_, i64>(&sql);
    for (seq, line) in lines.iter().enumerate() {
        query = query.bind(seq as i64).bind(line.job_id).bind(line.fence).bind(line.at).bind(line.message.as_str());
    }
    query.fetch_all(conn).await.map_err(|e| DbError::query("logging job steps", e))
}

/// Appends a line to a job's step log (the agent API, in its own transaction).
pub async fn log_step(conn: &mut AnyConnection, job_id: i64, message: &str, now: i64) -> Result<(), DbError> {
    sqlx::query("INSERT INTO job_steps (job_id, at, message) VALUES ($1, $2, $3)")
        .bind(job_id)
        .bind(now)
        .bind(message)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("logging a job step", e))
}

/// A job's step log, oldest first: (at, message).
pub async fn steps(conn: &mut AnyConnection, job_id: i64) -> Result<Vec<(i64, String)>, DbError> {
    sqlx::query_as("SELECT at, message FROM job_steps WHERE job_id = $1 ORDER BY id")
        .bind(job_id)
        .fetch_all(conn)
        .await
        .map_err(|e| DbError::query("reading a job's steps", e))
}

/// Gives the running job an agent token (its hash) before the live image boots: the
/// BMC downloads the image, and the agent reports, with it. A new boot proves the
/// machine again (`agent_verified` cleared). False when the job was claimed again.
pub async fn set_agent_token(
    conn: &mut AnyConnection,
    id: i64,
    fence: i64,
    token_hash: &str,
    now: i64,
) -> Result<bool, DbError> {
    sqlx::query(&format!(
        "UPDATE jobs SET agent_token_hash = $1, {}, agent_verified = 0, updated_at = $2 \
         WHERE id = $3 AND fence = $4 AND {}",
        set(JobEvent::Boot),
        applies(JobEvent::Boot)
    ))
    .bind(token_hash)
    .bind(now)
    .bind(id)
    .bind(fence)
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
    .map_err(|e| DbError::query("setting a job's agent token", e))
}

/// Parks a booting job until its agent reports or `deadline` passes: no runner slot
/// is held while a machine boots, but the job stays its process's (`lease_until`,
/// renewed by [`renew_parked`]) so that another process takes it over if this one
/// dies. A job taken over while waiting parks again from phase `waiting`. False when
/// the job was claimed again, or its agent already reported (then the caller goes on
/// at once).
pub async fn wait_for_agent(
    conn: &mut AnyConnection,
    id: i64,
    fence: i64,
    deadline: i64,
    lease_until: i64,
    now: i64,
) -> Result<bool, DbError> {
    sqlx::query(&format!(
        "UPDATE jobs SET {}, lease_expires_at = $5, run_after = $1, agent_deadline = $1, updated_at = $2 \
         WHERE id = $3 AND fence = $4 AND {}",
        set(JobEvent::Park),
        applies(JobEvent::Park)
    ))
    .bind(deadline)
    .bind(now)
    .bind(id)
    .bind(fence)
    .bind(lease_until)
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
    .map_err(|e| DbError::query("parking a job for its agent", e))
}

/// The active job that holds this agent token hash, if any.
pub async fn by_agent_token(conn: &mut AnyConnection, id: i64, token_hash: &str) -> Result<Option<JobRow>, DbError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE id = $1 AND agent_token_hash = $2 AND status IN {}",
        active_statuses()
    ))
    .bind(id)
    .bind(token_hash)
    .fetch_optional(conn)
    .await
    .map_err(|e| DbError::query("finding a job by agent token", e))
}

/// The agent is done: the job goes on to finish its process (a parked job is queued
/// again; a job still booting sees the phase when it tries to park). With `failure`,
/// the agent reported a failed step: the job resumes to fail with that reason. False
/// when the job was not waiting for its agent.
pub async fn agent_reported(
    conn: &mut AnyConnection,
    id: i64,
    failure: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    let event = if failure.is_none() { JobEvent::AgentReported } else { JobEvent::AgentFailed };
    // A parked job lets go of its process's lease: it is queued to go on at once,
    // in claim order after the jobs that became due before its report (what is left is
    // short, and a batch's machines are all booted before the first of them finishes).
    let parked = JobStatus::WaitingForAgent.as_str();
    sqlx::query(&format!(
        "UPDATE jobs SET {}, \
         last_error = COALESCE($1, last_error), run_after = $2, updated_at = $2, \
         claim_at = CASE WHEN status = '{parked}' THEN $2 ELSE claim_at END, \
         lease_owner = CASE WHEN status = '{parked}' THEN NULL ELSE lease_owner END, \
         lease_expires_at = CASE WHEN status = '{parked}' THEN NULL ELSE lease_expires_at END \
         WHERE id = $3 AND {}",
        set(event),
        applies(event)
    ))
    .bind(failure)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
    .map_err(|e| DbError::query("recording an agent report", e))
}

/// Ends the server's active job of `kind` by `end` (Succeed or Fail), in the
/// transaction that applies the job's outcome to the server. With `fence`, only if
/// that claim still holds the job. False when there was no such job. An aborted job
/// keeps its abort's reason.
pub async fn close_active(
    conn: &mut AnyConnection,
    server_id: i64,
    kind: JobKind,
    fence: Option<i64>,
    end: JobEvent,
    error: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    let ended: Vec<Ended> = sqlx::query_as(&format!(
        "UPDATE jobs SET {}, \
         last_error = CASE WHEN phase = '{}' THEN last_error ELSE $1 END, \
         lease_owner = NULL, lease_expires_at = NULL, finished_at = $2, updated_at = $2, agent_token_hash = NULL \
         WHERE server_id = $3 AND kind = $4 AND {} \
         AND ($5 IS NULL OR fence = $5) {RETURNING_ENDED}",
        set(end),
        JobPhase::Aborting.as_str(),
        applies(end)
    ))
    .bind(error)
    .bind(now)
    .bind(server_id)
    .bind(kind.as_str())
    .bind(fence)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| DbError::query("closing a job", e))?;
    audit_finished(conn, &ended, now).await?;
    Ok(!ended.is_empty())
}

/// The server's most recent job, if any (for the server page).
pub async fn latest_for_server(conn: &mut AnyConnection, server_id: i64) -> Result<Option<JobRow>, DbError> {
    sqlx::query_as(&format!("{} LIMIT 1", latest_for_server_sql()))
        .bind(server_id)
        .bind(JobKind::Power.as_str())
        .bind(JobStatus::Succeeded.as_str())
        .fetch_optional(conn)
        .await
        .map_err(|e| DbError::query("reading a server's jobs", e))
}

/// `latest_for_server` of many servers, a few statements for all: each server's most
/// recent job, by server (servers without one are absent).
pub async fn latest_for_servers(conn: &mut AnyConnection, server_ids: &[i64]) -> Result<HashMap<i64, JobRow>, DbError> {
    let mut out = HashMap::with_capacity(server_ids.len());
    let sql = format!(
        "SELECT {COLUMNS} FROM jobs WHERE id IN (SELECT MAX(id) FROM jobs WHERE server_id IN ({{ids}}) \
         AND NOT (kind = $1 AND status = $2) GROUP BY server_id)"
    );
    for (sql, part) in super::id_chunks(&sql, 3, server_ids) {
        let query = sqlx::query_as::<_, JobRow>(&sql).bind(JobKind::Power.as_str()).bind(JobStatus::Succeeded.as_str());
        let rows = part
            .iter()
            .fold(query, |q, id| q.bind(*id))
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| DbError::query("reading servers' jobs", e))?;
        out.extend(rows.into_iter().map(|j| (j.server_id, j)));
    }
    Ok(out)
}

/// The server's most recent job (as `latest_for_server`) and the data of its latest
/// inventory, in one statement: what a server's view needs besides its row.
pub async fn latest_with_inventory(
    conn: &mut AnyConnection,
    server_id: i64,
) -> Result<(Option<JobRow>, Option<String>), DbError> {
    use sqlx::{FromRow, Row};
    let row = sqlx::query(&format!(
        "SELECT j.*, (SELECT data FROM inventories WHERE server_id = $1 ORDER BY id DESC LIMIT 1) AS inventory \
         FROM (SELECT 1 AS one) o LEFT JOIN ({} LIMIT 1) j ON 1 = 1",
        latest_for_server_sql()
    ))
    .bind(server_id)
    .bind(JobKind::Power.as_str())
    .bind(JobStatus::Succeeded.as_str())
    .fetch_one(conn)
    .await
    .map_err(|e| DbError::query("reading a server's job and inventory", e))?;
    let decoded = || -> Result<_, sqlx::Error> {
        let job = match row.try_get::<Option<i64>, _>("id")? {
            Some(_) => Some(JobRow::from_row(&row)?),
            None => None,
        };
        Ok((job, row.try_get::<Option<String>, _>("inventory")?))
    };
    decoded().map_err(|e| DbError::query("reading a server's job and inventory", e))
}

/// A server's jobs, newest first. A power action that succeeded does not hide the
/// process before it (a failed cleaning stays retryable after someone powered the
/// machine on to look). Binds: server id, `power`, `succeeded`.
fn latest_for_server_sql() -> String {
    format!("SELECT {COLUMNS} FROM jobs WHERE server_id = $1 AND NOT (kind = $2 AND status = $3) ORDER BY id DESC")
}

/// A server's latest job of `kind` and when it last changed (unix ms).
pub async fn latest_of_kind(
    conn: &mut AnyConnection,
    server_id: i64,
    kind: JobKind,
) -> Result<Option<(JobRow, i64)>, DbError> {
    #[derive(sqlx::FromRow)]
    struct WithTime {
        #[sqlx(flatten)]
        job: JobRow,
        updated_at: i64,
    }
    sqlx::query_as::<_, WithTime>(&format!(
        "SELECT {COLUMNS}, updated_at FROM jobs WHERE server_id = $1 AND kind = $2 ORDER BY id DESC LIMIT 1"
    ))
    .bind(server_id)
    .bind(kind.as_str())
    .fetch_optional(conn)
    .await
    .map(|r| r.map(|r| (r.job, r.updated_at)))
    .map_err(|e| DbError::query("reading a server's jobs", e))
}

/// Asks for an active job to be aborted: whoever holds it loses it (its runner stops
/// at its next lease renewal), and it is queued to clean up (power off, eject) and
/// fail. False when the job is not active or already aborting.
pub async fn abort(conn: &mut AnyConnection, id: i64, reason: &str, now: i64) -> Result<bool, DbError> {
    sqlx::query(&format!(
        "UPDATE jobs SET {}, run_after = $1, updated_at = $1, fence = fence + 1, \
         lease_owner = NULL, lease_expires_at = NULL, agent_token_hash = NULL, last_error = $2 \
         WHERE id = $3 AND {}",
        set(JobEvent::Abort),
        applies(JobEvent::Abort)
    ))
    .bind(now)
    .bind(reason)
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
    .map_err(|e| DbError::query("aborting a job", e))
}

/// A cleaning's agent proved it runs on the recorded machine: erase steps may be
/// handed out.
pub async fn set_agent_verified(conn: &mut AnyConnection, id: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE jobs SET agent_verified = 1 WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| DbError::query("marking a job's agent verified", e))
}
