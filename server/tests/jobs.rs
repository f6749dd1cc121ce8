//! The durable job runner on a real database: claims, leases, takeover, panics.

mod common;
use app::backend::store::{self, now_ms};
use app::backend::{Backend, Db};
use app::domain::JobStatus;
use app::domain::jobs::JobEvent;
use app::domain::{JobKind, ServerState};
use common::{server_in_state, spawn_app};
use rackstate_server::jobs::{JobContext, JobHandler, JobOutcome, Runner};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Records which runner ran which job.
#[derive(Clone, Default)]
struct Recorder {
    runs: Arc<Mutex<Vec<(i64, String)>>>,
    owner: String,
}

#[async_trait::async_trait]
impl JobHandler for Recorder {
    async fn run(&self, ctx: &JobContext) -> JobOutcome {
        ctx.log("working").await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.runs.lock().unwrap().push((ctx.job.id, self.owner.clone()));
        JobOutcome::Succeeded
    }
}

struct Panics;

#[async_trait::async_trait]
impl JobHandler for Panics {
    async fn run(&self, _ctx: &JobContext) -> JobOutcome {
        panic!("driver bug");
    }
    async fn on_failure(&self, ctx: &JobContext, reason: &str) {
        ctx.log(&format!("on_failure saw: {reason}")).await;
    }
}

async fn enqueue(backend: &Backend, server_id: i64, kind: JobKind) -> i64 {
    let mut conn = backend.db.conn().await.unwrap();
    store::jobs::enqueue(&mut conn, server_id, kind, "{}", now_ms()).await.unwrap()
}

async fn status(backend: &Backend, id: i64) -> store::jobs::JobRow {
    let mut conn = backend.db.conn().await.unwrap();
    store::jobs::get(&mut conn, id).await.unwrap().unwrap()
}

async fn wait_until_done(backend: &Backend, ids: &[i64]) {
    for _ in 0..400 {
        let mut done = true;
        for id in ids {
            let s = status(backend, *id).await.status;
            if s == JobStatus::Queued || s == JobStatus::Running {
                done = false;
                break;
            }
        }
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("jobs did not finish");
}

/// Two runners on two connection pools (as two Rackstate processes) share 60 jobs:
/// every job runs exactly once and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runners_never_run_the_same_job() {
    let app = spawn_app().await;
    let other = Backend::new(Db::connect(&app.database_url, 4).await.unwrap(), app.backend.secrets.clone());
    let s = server_in_state(&app, "s", ServerState::Registering).await;
    let mut ids = Vec::new();
    for _ in 0..60 {
        ids.push(enqueue(&app.backend, s.id, JobKind::Register).await);
    }
    let runs = Arc::new(Mutex::new(Vec::new()));
    let (stop, rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for (name, backend) in [("a", app.backend.clone()), ("b", other.clone())] {
        let rec = Recorder { runs: runs.clone(), owner: name.into() };
        let runner = Runner::new(backend, name, 4).with_poll(Duration::from_millis(10)).handle(JobKind::Register, rec);
        tasks.push(tokio::spawn(runner.run(rx.clone())));
    }
    wait_until_done(&app.backend, &ids).await;
    stop.send(true).unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 60, "every job exactly once");
    let mut seen: Vec<i64> = runs.iter().map(|(id, _)| *id).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 60);
    for id in &ids {
        let j = status(&app.backend, *id).await;
        assert_eq!(j.status, JobStatus::Succeeded);
        assert_eq!(j.attempts, 1);
    }
}

/// A job whose runner died (lease expired) is taken over and finished.
#[tokio::test]
async fn expired_lease_is_taken_over() {
    let app = spawn_app().await;
    let s = server_in_state(&app, "s", ServerState::Registering).await;
    let id = enqueue(&app.backend, s.id, JobKind::Register).await;
    let dead_fence;
    {
        let mut conn = app.backend.db.conn().await.unwrap();
        let claimed = store::jobs::claim(&mut conn, "dead-process", now_ms(), now_ms() - 1, 1).await.unwrap().remove(0);
        assert_eq!(claimed.id, id);
        dead_fence = claimed.fence;
        // Another live runner cannot claim a job under a valid lease.
        store::jobs::renew(&mut conn, id, claimed.fence, now_ms(), now_ms() + 60_000).await.unwrap();
        assert!(store::jobs::claim(&mut conn, "x", now_ms(), now_ms() + 1000, 1).await.unwrap().is_empty());
        // Now the lease runs out.
        sqlx::query("UPDATE jobs SET lease_expires_at = 0 WHERE id = $1").bind(id).execute(&mut *conn).await.unwrap();
    }
    let runs = Arc::new(Mutex::new(Vec::new()));
    let (stop, rx) = watch::channel(false);
    let runner = Runner::new(app.backend.clone(), "live", 2)
        .with_poll(Duration::from_millis(10))
        .handle(JobKind::Register, Recorder { runs: runs.clone(), owner: "live".into() });
    let task = tokio::spawn(runner.run(rx));
    wait_until_done(&app.backend, &[id]).await;
    stop.send(true).unwrap();
    task.await.unwrap();
    let j = status(&app.backend, id).await;
    assert_eq!(j.status, JobStatus::Succeeded);
    assert_eq!(j.attempts, 2);
    // The dead runner's late report changes nothing.
    let mut conn = app.backend.db.conn().await.unwrap();
    assert!(!store::jobs::finish(&mut conn, id, dead_fence, JobEvent::Fail, Some("late"), now_ms()).await.unwrap());
    assert_eq!(status(&app.backend, id).await.status, JobStatus::Succeeded);
}

/// A panicking job fails with a reason, its failure hook runs, and the runner lives on.
#[tokio::test]
async fn panic_fails_the_job_not_the_runner() {
    let app = spawn_app().await;
    let s = server_in_state(&app, "s", ServerState::Cleaning).await;
    let bad = enqueue(&app.backend, s.id, JobKind::Clean).await;
    let good = enqueue(&app.backend, s.id, JobKind::Register).await;
    let (stop, rx) = watch::channel(false);
    let runner = Runner::new(app.backend.clone(), "r", 1)
        .with_poll(Duration::from_millis(10))
        .handle(JobKind::Clean, Panics)
        .handle(JobKind::Register, Recorder::default());
    let task = tokio::spawn(runner.run(rx));
    wait_until_done(&app.backend, &[bad, good]).await;
    stop.send(true).unwrap();
    task.await.unwrap();
    let j = status(&app.backend, bad).await;
    assert_eq!(j.status, JobStatus::Failed);
    assert!(j.last_error.unwrap().contains("panic"));
    let mut conn = app.backend.db.conn().await.unwrap();
    let steps = store::jobs::steps(&mut conn, bad).await.unwrap();
    assert!(steps.iter().any(|(_, m)| m.starts_with("on_failure saw:")), "{steps:?}");
    assert_eq!(status(&app.backend, good).await.status, JobStatus::Succeeded);
}

/// A job of a kind nobody handles fails with that reason instead of hanging.
#[tokio::test]
async fn unknown_kind_fails_clearly() {
    let app = spawn_app().await;
    let s = server_in_state(&app, "s", ServerState::Unavailable).await;
    let id = enqueue(&app.backend, s.id, JobKind::Decommission).await;
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(Runner::new(app.backend.clone(), "r", 1).with_poll(Duration::from_millis(10)).run(rx));
    wait_until_done(&app.backend, &[id]).await;
    stop.send(true).unwrap();
    task.await.unwrap();
    let j = status(&app.backend, id).await;
    assert_eq!(j.status, JobStatus::Failed);
    assert!(j.last_error.unwrap().contains("no handler"));
}

/// Fails transiently once, then succeeds.
struct FlakyOnce;

#[async_trait::async_trait]
impl JobHandler for FlakyOnce {
    async fn run(&self, ctx: &JobContext) -> JobOutcome {
        if ctx.job.attempts == 1 {
            JobOutcome::RetryLater { error: "BMC busy".into(), after: Duration::from_millis(1) }
        } else {
            JobOutcome::Succeeded
        }
    }
}

/// A transient failure requeues the job; the next attempt finishes it, and the
/// requeue is in the step log.
#[tokio::test]
async fn retry_later_requeues_then_succeeds() {
    let app = spawn_app().await;
    let s = server_in_state(&app, "s", ServerState::Registering).await;
    let id = enqueue(&app.backend, s.id, JobKind::Register).await;
    let (stop, rx) = watch::channel(false);
    let runner = Runner::new(app.backend.clone(), "r", 1)
        .with_poll(Duration::from_millis(10))
        .handle(JobKind::Register, FlakyOnce);
    let task = tokio::spawn(runner.run(rx));
    for _ in 0..400 {
        if status(&app.backend, id).await.status == JobStatus::Succeeded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    stop.send(true).unwrap();
    task.await.unwrap();
    let j = status(&app.backend, id).await;
    assert_eq!((j.status.as_str(), j.attempts), ("succeeded", 2));
    let mut conn = app.backend.db.conn().await.unwrap();
    let steps = store::jobs::steps(&mut conn, id).await.unwrap();
    assert!(steps.iter().any(|(_, m)| m.contains("will retry") && m.contains("BMC busy")), "{steps:?}");
}

struct Hangs;

#[async_trait::async_trait]
impl JobHandler for Hangs {
    async fn run(&self, _ctx: &JobContext) -> JobOutcome {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        JobOutcome::Succeeded
    }
}

/// A run that never ends is stopped at the run timeout and fails saying so.
#[tokio::test]
async fn run_timeout_fails_a_hung_job() {
    let app = spawn_app().await;
    let s = server_in_state(&app, "s", ServerState::Cleaning).await;
    let id = enqueue(&app.backend, s.id, JobKind::Clean).await;
    let (stop, rx) = watch::channel(false);
    let runner = Runner::new(app.backend.clone(), "r", 1)
        .with_poll(Duration::from_millis(10))
        .with_run_timeout(Duration::from_millis(300))
        .handle(JobKind::Clean, Hangs);
    let task = tokio::spawn(runner.run(rx));
    wait_until_done(&app.backend, &[id]).await;
    stop.send(true).unwrap();
    task.await.unwrap();
    let j = status(&app.backend, id).await;
    assert_eq!(j.status, JobStatus::Failed);
    assert!(j.last_error.unwrap().contains("did not finish within 0.3 seconds"));
}

/// Forty jobs' runners log twenty lines each at the same time (written together in
/// few statements): every job's log holds its own lines in the order they were
/// logged, and a runner whose claim was taken over logs nothing more.
#[tokio::test]
async fn lines_logged_at_once_keep_their_order_and_their_fence() {
    use app::backend::services::runner::Claim;
    let app = spawn_app().await;
    let mut claims = Vec::new();
    for i in 0..40 {
        let s = server_in_state(&app, &format!("s{i}"), ServerState::Registering).await;
        enqueue(&app.backend, s.id, JobKind::Register).await;
        let job = app.backend.claim_job("runner", Duration::from_secs(60)).await.unwrap().unwrap();
        claims.push(Claim::from(&job));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for claim in claims.clone() {
        let backend = app.backend.clone();
        tasks.spawn(async move {
            for n in 0..20 {
                assert!(backend.log_job_step(claim, &format!("line {n}")).await.unwrap());
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    for claim in &claims {
        let steps: Vec<String> = sqlx::query_scalar("SELECT message FROM job_steps WHERE job_id = $1 ORDER BY id")
            .bind(claim.id)
            .fetch_all(app.backend.db.pool())
            .await
            .unwrap();
        let want: Vec<String> = (0..20).map(|n| format!("line {n}")).collect();
        assert_eq!(steps, want, "job {}", claim.id);
    }
    // The first job is claimed again by another runner (its lease ran out): the first
    // runner's lines are refused, the new runner's written.
    let stale = claims[0];
    sqlx::query("UPDATE jobs SET lease_expires_at = 0, status = 'queued' WHERE id = $1")
        .bind(stale.id)
        .execute(app.backend.db.pool())
        .await
        .unwrap();
    let job = app.backend.claim_job("other", Duration::from_secs(60)).await.unwrap().expect("claimed again");
    assert_eq!(job.id, stale.id);
    let fresh = Claim::from(&job);
    assert!(!app.backend.log_job_step(stale, "from the stalled runner").await.unwrap(), "refused");
    assert!(app.backend.log_job_step(fresh, "from the new runner").await.unwrap());
    let last: Vec<String> =
        sqlx::query_scalar("SELECT message FROM job_steps WHERE job_id = $1 ORDER BY id DESC LIMIT 1")
            .bind(stale.id)
            .fetch_all(app.backend.db.pool())
            .await
            .unwrap();
    assert_eq!(last, vec!["from the new runner".to_string()]);
    let all: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_steps WHERE message = 'from the stalled runner'")
        .fetch_one(app.backend.db.pool())
        .await
        .unwrap();
    assert_eq!(all, 0, "nothing from the stalled runner");
}

/// An agent reports its erase just as another process takes its job over (on
/// PostgreSQL the report reads the job without a row lock, so the claim can commit in
/// between): the agent's lines, written without a fence, still reach the job log,
/// while a fenced line of the old claim is refused.
#[tokio::test]
async fn an_agents_lines_survive_a_takeover_during_its_report() {
    use app::backend::store::jobs::StepLine;
    let app = spawn_app().await;
    let s = server_in_state(&app, "s", ServerState::Registering).await;
    let id = enqueue(&app.backend, s.id, JobKind::Register).await;
    let first = app.backend.claim_job("runner", Duration::from_secs(60)).await.unwrap().unwrap();
    sqlx::query("UPDATE jobs SET lease_expires_at = 0, status = 'queued' WHERE id = $1")
        .bind(id)
        .execute(app.backend.db.pool())
        .await
        .unwrap();
    let second = app.backend.claim_job("other", Duration::from_secs(60)).await.unwrap().expect("taken over");
    assert_ne!(first.fence, second.fence);
    let line =
        |fence: Option<i64>, message: &str| StepLine { job_id: id, fence, at: now_ms(), message: message.into() };
    let mut conn = app.backend.db.conn().await.unwrap();
    let written = store::jobs::log_steps(
        &mut conn,
        &[line(Some(first.fence), "from the stalled runner"), line(None, "erase_disks: ok: certified")],
    )
    .await
    .unwrap();
    assert_eq!(written, vec![id], "only the agent's line");
    let steps = store::jobs::steps(&mut conn, id).await.unwrap();
    assert!(steps.iter().any(|(_, m)| m == "erase_disks: ok: certified"), "{steps:?}");
    assert!(!steps.iter().any(|(_, m)| m == "from the stalled runner"), "{steps:?}");
}

/// A runner with free slots claims the due jobs in one statement: oldest first, never
/// two of one server (the younger waits for the older), each with its own fence.
#[tokio::test]
async fn free_slots_are_filled_by_one_claim_oldest_first_one_per_server() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let s = server_in_state(&app, &format!("s{i}"), ServerState::Registering).await;
        ids.push(enqueue(&app.backend, s.id, JobKind::Register).await);
        if i == 1 {
            // A second job of the same server: it must wait for the first.
            ids.push(enqueue(&app.backend, s.id, JobKind::Register).await);
        }
    }
    let claimed = app.backend.claim_jobs("runner", Duration::from_secs(60), 10).await.unwrap();
    let got: Vec<i64> = claimed.iter().map(|j| j.id).collect();
    assert_eq!(got, vec![ids[0], ids[1], ids[3]], "the second job of s1 ({}) waits", ids[2]);
    assert!(claimed.iter().all(|j| j.fence == 1 && j.status == JobStatus::Running));
    assert!(app.backend.claim_jobs("other", Duration::from_secs(60), 10).await.unwrap().is_empty(), "nothing left due");
}

/// A past job of the server that succeeded after running `took_ms` (tests only).
async fn finished_job(backend: &Backend, server_id: i64, kind: JobKind, took_ms: i64) {
    let id = enqueue(backend, server_id, kind).await;
    sqlx::query("UPDATE jobs SET status = 'succeeded', started_at = $2, finished_at = $3 WHERE id = $1")
        .bind(id)
        .bind(1_000)
        .bind(1_000 + took_ms)
        .execute(backend.db.pool())
        .await
        .unwrap();
}

/// Queues a cleaning of `server_id` as if at `at` (unix ms).
async fn enqueue_clean_at(backend: &Backend, server_id: i64, at: i64) -> i64 {
    let mut conn = backend.db.conn().await.unwrap();
    store::jobs::enqueue(&mut conn, server_id, JobKind::Clean, "{}", at).await.unwrap()
}

/// Claims every claimable job, one at a time: their ids in claim order.
async fn claim_all(backend: &Backend) -> Vec<i64> {
    let mut order = Vec::new();
    while let Some(job) = backend.claim_job("runner", Duration::from_secs(60)).await.unwrap() {
        order.push(job.id);
    }
    order
}

/// An admin cleans a fleet in which some machines are slow (a BMC that takes seconds
/// to show power off, big disks): the jobs of the machines whose last job took
/// longest start first, so the batch ends sooner, and a machine without history waits
/// its turn; but a job queued longer ago than the most a job may jump ahead is not
/// overtaken, however long the newer one is expected to take.
#[tokio::test]
async fn jobs_expected_to_take_longest_start_first_within_a_bound() {
    use app::domain::jobs::MOST_EXPECTED_LEAD_MS;
    let app = spawn_app().await;
    let backend = &app.backend;
    let server = |name: &'static str| server_in_state(&app, name, ServerState::Cleaning);
    let (old, huge, recent) = (server("old").await, server("huge").await, server("recent").await);
    let (new, quick, slow) = (server("new").await, server("quick").await, server("slow").await);
    finished_job(backend, huge.id, JobKind::Register, 10 * MOST_EXPECTED_LEAD_MS).await;
    finished_job(backend, quick.id, JobKind::Register, 200).await;
    // Its last cleaning says more about a cleaning than its registration.
    finished_job(backend, slow.id, JobKind::Clean, 1_500).await;
    finished_job(backend, slow.id, JobKind::Register, 100).await;

    let now = now_ms();
    let queue = |server_id: i64, at: i64| enqueue_clean_at(backend, server_id, at);
    let old_job = queue(old.id, now - MOST_EXPECTED_LEAD_MS - 1_000).await;
    let recent_job = queue(recent.id, now - MOST_EXPECTED_LEAD_MS + 1_000).await;
    let new_job = queue(new.id, now).await;
    let quick_job = queue(quick.id, now).await;
    let slow_job = queue(slow.id, now).await;
    let huge_job = queue(huge.id, now).await;

    let order = claim_all(backend).await;
    assert_eq!(
        order,
        vec![old_job, huge_job, recent_job, slow_job, quick_job, new_job],
        "claimed: old {old_job}, huge {huge_job}, recent {recent_job}, slow {slow_job}, quick {quick_job}, new {new_job}"
    );
}

/// A job put back in the queue after a transient failure keeps its lead over the
/// jobs queued with it, counted from its new time, and its run time is measured
/// from the attempt that finished it.
#[tokio::test]
async fn a_retried_job_keeps_its_lead_and_is_timed_from_its_last_attempt() {
    use app::backend::services::runner::Claim;
    let app = spawn_app().await;
    let backend = &app.backend;
    let (slow, other) = (
        server_in_state(&app, "slow", ServerState::Cleaning).await,
        server_in_state(&app, "other", ServerState::Cleaning).await,
    );
    finished_job(backend, slow.id, JobKind::Clean, 5_000).await;
    let job = enqueue(backend, slow.id, JobKind::Clean).await;
    let claimed = backend.claim_job("runner", Duration::from_secs(60)).await.unwrap().unwrap();
    assert_eq!(claimed.id, job);
    assert!(backend.retry_job_later(Claim::from(&claimed), "BMC busy", Duration::from_millis(0)).await.unwrap());
    let (run_after, claim_at): (i64, i64) = sqlx::query_as("SELECT run_after, claim_at FROM jobs WHERE id = $1")
        .bind(job)
        .fetch_one(backend.db.pool())
        .await
        .unwrap();
    assert_eq!(run_after - claim_at, 5_000, "the lead moves with the new due time");
    // Queued after the retry, with no history: the retried job still goes first.
    let later = enqueue(backend, other.id, JobKind::Clean).await;
    let again = backend.claim_job("runner", Duration::from_secs(60)).await.unwrap().unwrap();
    assert_eq!(again.id, job, "the retried job ({job}) before the later one ({later})");
    assert!(backend.finish_job(Claim::from(&again), JobEvent::Succeed, None).await.unwrap());
    let (started, finished): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT started_at, finished_at FROM jobs WHERE id = $1")
            .bind(job)
            .fetch_one(backend.db.pool())
            .await
            .unwrap();
    let (started, finished) = (started.expect("started_at set by the claim"), finished.unwrap());
    assert!(finished >= started && finished - started < 5_000, "timed from the last attempt: {started}..{finished}");
}

/// A batch of machines boots into the live image: a job whose agent reported goes on
/// after the jobs that were due before the report (every machine of the batch is
/// booted before the first finishes) and before those queued after it, however early
/// it was queued itself.
#[tokio::test]
async fn a_job_whose_agent_reported_goes_on_in_the_order_of_its_report() {
    use app::backend::services::runner::Claim;
    let app = spawn_app().await;
    let backend = &app.backend;
    let server = |name: &'static str| server_in_state(&app, name, ServerState::Cleaning);
    let (booted, before, after) = (server("booted").await, server("before").await, server("after").await);
    let now = now_ms();
    let queue = |server_id: i64, at: i64| enqueue_clean_at(backend, server_id, at);
    let booted_job = queue(booted.id, now - 10_000).await;
    let claimed = backend.claim_job("runner", Duration::from_secs(60)).await.unwrap().unwrap();
    assert_eq!(claimed.id, booted_job);
    assert!(backend.set_agent_token(Claim::from(&claimed), "hash").await.unwrap());
    assert!(backend.park_job(Claim::from(&claimed), now + 600_000, Duration::from_secs(60)).await.unwrap());
    let before_job = queue(before.id, now - 2_000).await;
    {
        let mut conn = backend.db.conn().await.unwrap();
        assert!(store::jobs::agent_reported(&mut conn, booted_job, None, now - 1_000).await.unwrap());
    }
    let after_job = queue(after.id, now - 500).await;
    let order = claim_all(backend).await;
    assert_eq!(
        order,
        vec![before_job, booted_job, after_job],
        "before {before_job}, reported {booted_job}, after {after_job}"
    );
}

/// Two replicas claim while a third transaction holds the first queued job's row (an
/// agent's report being written, another replica's claim): on PostgreSQL neither
/// waits for that transaction, nor for each other; they take the other jobs, each
/// once, and the held job is claimed as soon as it is let go. (SQLite's writers take
/// turns: there the two claims only share the jobs out.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_pass_over_a_job_another_transaction_holds() {
    let app = spawn_app().await;
    let backend = &app.backend;
    let mut jobs = Vec::new();
    for i in 0..6 {
        let server = server_in_state(&app, &format!("s{i}"), ServerState::Cleaning).await;
        jobs.push(enqueue_clean_at(backend, server.id, now_ms() - 1000).await);
    }
    let postgres = backend.db.kind() == app::backend::db::DbKind::Postgres;
    let mut holder = None;
    if postgres {
        let mut tx = backend.db.pool().begin().await.unwrap();
        sqlx::query("SELECT id FROM jobs WHERE id = $1 FOR UPDATE").bind(jobs[0]).execute(&mut *tx).await.unwrap();
        holder = Some(tx);
    }
    let claim = |owner: &'static str| async move {
        let claimed =
            tokio::time::timeout(Duration::from_secs(5), backend.claim_jobs(owner, Duration::from_secs(60), 3))
                .await
                .expect("a claim does not wait for another transaction's job row")
                .unwrap();
        claimed.into_iter().map(|j| j.id).collect::<Vec<_>>()
    };
    let (a, b) = tokio::join!(claim("replica-a"), claim("replica-b"));
    let mut claimed: Vec<i64> = a.iter().chain(&b).copied().collect();
    claimed.sort_unstable();
    let mut once = claimed.clone();
    once.dedup();
    assert_eq!(once, claimed, "no job claimed twice: {a:?} {b:?}");
    let free = if postgres { &jobs[1..] } else { &jobs[..] };
    assert_eq!(claimed, free, "the held job was passed over, every other one taken");
    if let Some(tx) = holder {
        tx.rollback().await.unwrap();
    }
    let rest = claim_all(backend).await;
    let mut all: Vec<i64> = claimed.into_iter().chain(rest).collect();
    all.sort_unstable();
    assert_eq!(all, jobs, "every job claimed once in the end");
}

/// Ends its job itself (as a state change applying a job's outcome does), then
/// finishes its bookkeeping past a lease renewal: records whether the runner still
/// let it act on the machine by then.
struct EndsThenWrapsUp {
    wrapped_up: Arc<Mutex<Option<bool>>>,
}

#[async_trait::async_trait]
impl JobHandler for EndsThenWrapsUp {
    async fn run(&self, ctx: &JobContext) -> JobOutcome {
        let claim = app::backend::services::runner::Claim::from(&ctx.job);
        assert!(ctx.backend.finish_job(claim, JobEvent::Succeed, None).await.unwrap());
        // Past the renewer's next tick (lease / 3), well inside the lease.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        ctx.log("wrapped up").await;
        *self.wrapped_up.lock().unwrap() = Some(ctx.lease.held());
        JobOutcome::Recorded
    }
}

/// A registration ends its job with the server's move, then queues the BMC password
/// rotation it was asked for; the lease renewal due meanwhile finds the job no
/// longer running. That is this runner's own doing, not a takeover: the work is not
/// cut short (the rotation is not lost, no "lease is gone" is logged), but no
/// further BMC action is allowed under the ended claim.
#[tokio::test]
async fn a_job_its_runner_ended_is_not_cut_short_by_the_next_renewal() {
    let app = spawn_app().await;
    let s = server_in_state(&app, "s", ServerState::Registering).await;
    let id = enqueue(&app.backend, s.id, JobKind::Register).await;
    let wrapped_up = Arc::new(Mutex::new(None));
    let (stop, rx) = watch::channel(false);
    let runner = Runner::new(app.backend.clone(), "r", 1)
        .with_poll(Duration::from_millis(10))
        .with_lease(Duration::from_secs(3))
        .handle(JobKind::Register, EndsThenWrapsUp { wrapped_up: wrapped_up.clone() });
    let task = tokio::spawn(runner.run(rx));
    for _ in 0..100 {
        if wrapped_up.lock().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    task.await.unwrap();
    assert_eq!(*wrapped_up.lock().unwrap(), Some(false), "wrapped up, with no BMC action allowed any more");
    assert_eq!(status(&app.backend, id).await.status, JobStatus::Succeeded);
    let mut conn = app.backend.db.conn().await.unwrap();
    let steps = store::jobs::steps(&mut conn, id).await.unwrap();
    assert!(steps.iter().any(|(_, m)| m == "wrapped up"), "{steps:?}");
}

/// An admin releases a large fleet and thousands of cleanings wait in the queue: each
/// claim takes the next few in claim order, one per server, and the statement finds
/// the rows it updates by their ids instead of walking the queue (SQLite's planner,
/// without statistics, drove the update from the status indexes and read every due
/// job at each claim: the claims alone took a third of the writer in a 10,000-server
/// cleaning).
#[tokio::test]
async fn a_claim_in_a_long_queue_updates_its_jobs_by_id() {
    let app = spawn_app().await;
    let mut servers = Vec::new();
    for i in 0..20 {
        servers.push(server_in_state(&app, &format!("s{i}"), ServerState::Cleaning).await.id);
    }
    let mut queued = Vec::new();
    for n in 0..2_000 {
        queued.push(enqueue_clean_at(&app.backend, servers[n % servers.len()], 1_000 + n as i64).await);
    }
    let kind = app.backend.db.kind();
    let explain = match kind {
        app::backend::DbKind::Sqlite => "EXPLAIN QUERY PLAN ",
        app::backend::DbKind::Postgres => "EXPLAIN ",
    };
    let sql = format!("{explain}{}", store::jobs::claim_statement(kind));
    let mut conn = app.backend.db.conn().await.unwrap();
    let plan: Vec<String> = match kind {
        app::backend::DbKind::Sqlite => {
            let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&sql)
                .bind("r")
                .bind(0_i64)
                .bind(now_ms())
                .bind(8_i64)
                .fetch_all(&mut *conn)
                .await
                .unwrap();
            rows.into_iter().map(|r| r.3).collect()
        }
        app::backend::DbKind::Postgres => sqlx::query_scalar(&sql)
            .bind("r")
            .bind(0_i64)
            .bind(now_ms())
            .bind(8_i64)
            .fetch_all(&mut *conn)
            .await
            .unwrap(),
    };
    drop(conn);
    // The plan's first line is how the updated rows are found.
    let found_by = &plan[0..2.min(plan.len())].join(" | ");
    match kind {
        app::backend::DbKind::Sqlite => assert!(found_by.contains("INTEGER PRIMARY KEY"), "{plan:#?}"),
        app::backend::DbKind::Postgres => assert!(!found_by.contains("Seq Scan"), "{plan:#?}"),
    }
    let claimed = app.backend.claim_jobs("runner", Duration::from_secs(60), 8).await.unwrap();
    let got: Vec<i64> = claimed.iter().map(|j| j.id).collect();
    assert_eq!(got, queued[..8].to_vec(), "the eight oldest, one per server");
}
