//! The connection pool for SQLite or PostgreSQL, chosen by URL at start-up.
//!
//! Queries are written once, in the SQL both databases accept (`$1` placeholders,
//! `RETURNING`, BIGINT ids and unix-millisecond timestamps), and run through sqlx's
//! `Any` driver. Where the dialects differ, code asks `Db::kind()`.

use sqlx::AnyPool;
use sqlx::Executor;
use sqlx::any::AnyPoolOptions;
use std::fmt;
use std::time::Duration;

/// How long a request waits for a free connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a PostgreSQL connection may have been idle and still be handed out
/// without a ping (a busy process hands out connections given back moments ago,
/// after a use that left nothing on them; see `Conns`).
const UNCHECKED_IDLE: Duration = Duration::from_secs(1);
/// How long SQLite waits on a locked database before reporting busy.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl fmt::Display for DbKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DbKind::Sqlite => "SQLite",
            DbKind::Postgres => "PostgreSQL",
        })
    }
}

impl DbKind {
    /// The kind a database URL selects, or None when the scheme is neither.
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(DbKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(DbKind::Postgres)
        } else {
            None
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL scheme (expected sqlite: or postgres://)")]
    UnsupportedUrl,
    #[error("connecting to the {kind} database")]
    Connect {
        kind: DbKind,
        #[source]
        source: sqlx::Error,
    },
    #[error("applying migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("database error while {what}")]
    Query {
        what: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("{what}: unexpected value {value:?} in the database")]
    Corrupt { what: &'static str, value: String },
    #[error("encoding {what}: {message}")]
    Encode { what: &'static str, message: String },
    #[error("{what}: too much contention, try again")]
    Contended { what: &'static str },
    #[error("the database writer thread stopped a write: {0}")]
    Writer(String),
    /// A write made together with others' failed (the cause, as text, for each).
    #[error("a shared write failed: {0}")]
    Batch(String),
}

impl DbError {
    /// The database could not be reached or was too busy (no connection, a connection
    /// cut, contention): the same request may well succeed in a moment.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Connect { .. } | DbError::Contended { .. } => true,
            DbError::Query { source, .. } => {
                may_break_connection(source) || matches!(source, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
            }
            _ => false,
        }
    }

    pub fn query(what: &'static str, source: sqlx::Error) -> Self {
        if may_break_connection(&source) {
            SUSPECT_FAILURES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        DbError::Query { what, source }
    }
}

/// The statement [`Db::write_one`] runs (`Box::pin(store::...(conn, ...))`).
pub type WriteOne<'c, T> = TxWork<'c, T, DbError>;

/// The work of one [`Db::transaction`] (`Box::pin(async move { ... })`), given the
/// transaction's connection.
pub type TxWork<'c, T, E> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, E>> + Send + 'c>>;

/// The writer connection while it is this caller's.
type WriterGuard = tokio::sync::OwnedMappedMutexGuard<Option<sqlx::AnyConnection>, sqlx::AnyConnection>;

/// The connections Rackstate hands out itself, without sqlx's pool: SQLite's reading
/// connections, and every PostgreSQL connection that reads or writes. Opened on first
/// need, at most `permits` at once, the most recently given back handed out first.
/// sqlx's pool tests each connection given back with a ping (a round trip to the
/// connection's SQLite worker thread, or to PostgreSQL: a third of the round trips of
/// a state change there). Here a connection goes straight back when nothing can be
/// left on it: sqlx's SQLite worker finishes or abandons a dropped statement before
/// its next command, and a PostgreSQL connection reads what a dropped query left
/// unread before its next one. What a ping is still for, it gets (`DbConn`'s drop):
/// a write that did not end in a commit (an open transaction's ROLLBACK, queued but
/// not yet sent, would hold its locks until the connection's next use), and any use
/// during which a query failed in a way that may have broken its connection.
struct Conns {
    /// Each with when it was given back and `SUSPECT_FAILURES` then.
    idle: std::sync::Mutex<Vec<(sqlx::AnyConnection, std::time::Instant, u64)>>,
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    url: String,
    kind: DbKind,
}

/// How many queries, in this process, have failed in a way that may have broken
/// their connection (see `may_break_connection`). A connection in use while this
/// moved is pinged before it is used again: rare, and a needless ping is harmless.
static SUSPECT_FAILURES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn suspect_failures() -> u64 {
    SUSPECT_FAILURES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether a failed query may have left its connection unusable: the socket or the
/// SQLite worker failed, or PostgreSQL reported a connection exception (08) or an
/// operator intervention (57P: the server shutting down). A constraint violation,
/// a serialisation failure or a decoding error leaves the connection as good as
/// before.
fn may_break_connection(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// A connection of [`Conns`] while it is a caller's (`Db::conn`; PostgreSQL's writes),
/// back among the idle ones when dropped (after a ping where one is due, see there).
pub struct DbConn {
    conn: Option<sqlx::AnyConnection>,
    conns: std::sync::Arc<Conns>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// `SUSPECT_FAILURES` when it was handed out.
    failures_at: u64,
    /// A write not (yet) finished with a commit: pinged before it is used again.
    unfinished: bool,
}

impl Drop for DbConn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let permit = self.permit.take();
        if !self.unfinished && suspect_failures() == self.failures_at {
            self.conns.give_back(conn);
            return;
        }
        // SQLite: a connection that saw a failure is closed (another is opened when
        // needed; a file handle costs nothing to reopen). PostgreSQL: the ping sends
        // what is queued (a dropped transaction's ROLLBACK) and tells a live
        // connection from a dead one, which is dropped. Without a runtime, dropped.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        if self.conns.kind == DbKind::Sqlite {
            return;
        }
        let conns = self.conns.clone();
        runtime.spawn(async move {
            let mut conn = conn;
            if sqlx::Connection::ping(&mut conn).await.is_ok() {
                conns.give_back(conn);
            }
            drop(permit);
        });
    }
}

impl std::ops::Deref for DbConn {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        self.conn.as_ref().expect("a DbConn holds its connection until dropped")
    }
}

impl std::ops::DerefMut for DbConn {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.conn.as_mut().expect("a DbConn holds its connection until dropped")
    }
}

impl Conns {
    /// PostgreSQL: runs a write (a transaction, or one statement) on a connection of
    /// its own. Only a write that succeeded (committed) gives it straight back.
    async fn write<T, E, F>(self: &std::sync::Arc<Self>, work: F) -> Result<T, E>
    where
        E: From<DbError>,
        F: for<'c> FnOnce(&'c mut sqlx::AnyConnection) -> TxWork<'c, T, E>,
    {
        let mut conn = self.take(true).await?;
        let out = work(&mut conn).await;
        if out.is_ok() {
            conn.unfinished = false;
        }
        out
    }

    fn give_back(&self, conn: sqlx::AnyConnection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push((conn, std::time::Instant::now(), suspect_failures()));
        }
    }

    /// A connection once one of the `permits` is free: an idle one, else a new one.
    /// On PostgreSQL an idle one is pinged first, and dropped if the database no
    /// longer answers it, when it has been idle longer than `UNCHECKED_IDLE` or a
    /// query failed in a way that may break connections since it was given back (a
    /// restarted database cut them all: one request sees the failure, the next ones
    /// get live connections).
    async fn take(self: &std::sync::Arc<Self>, for_write: bool) -> Result<DbConn, DbError> {
        let waiting = |e| DbError::query("getting a database connection", e);
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| waiting(sqlx::Error::PoolTimedOut))?
            .map_err(|_| waiting(sqlx::Error::PoolClosed))?;
        let mut conn = None;
        while conn.is_none() {
            let Some((mut idle, since, failures)) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) else {
                break;
            };
            if self.kind == DbKind::Sqlite
                || (since.elapsed() <= UNCHECKED_IDLE && failures == suspect_failures())
                || sqlx::Connection::ping(&mut idle).await.is_ok()
            {
                conn = Some(idle);
            }
        }
        let conn = match conn {
            Some(conn) => conn,
            None => {
                let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&self.url)
                    .await
                    .map_err(|source| DbError::Connect { kind: self.kind, source })?;
                if self.kind == DbKind::Sqlite {
                    sqlite_pragmas(&mut conn).await.map_err(waiting)?;
                }
                conn
            }
        };
        Ok(DbConn {
            conn: Some(conn),
            conns: self.clone(),
            permit: Some(permit),
            failures_at: suspect_failures(),
            unfinished: for_write,
        })
    }

    async fn close(&self) {
        self.permits.close();
        let idle = self.idle.lock().map(|mut idle| std::mem::take(&mut *idle)).unwrap_or_default();
        for (conn, ..) in idle {
            let _ = sqlx::Connection::close(conn).await;
        }
    }
}

/// Runs `work` between `begin` and COMMIT on `conn`; an Err rolls back.
async fn in_transaction<T, E, F>(conn: &mut sqlx::AnyConnection, begin: &'static str, work: F) -> Result<T, E>
where
    E: From<DbError>,
    F: for<'c> FnOnce(&'c mut sqlx::AnyConnection) -> TxWork<'c, T, E>,
{
    let mut tx =
        sqlx::Connection::begin_with(conn, begin).await.map_err(|e| DbError::query("starting a transaction", e))?;
    match work(&mut tx).await {
        Ok(out) => {
            tx.commit().await.map_err(|e| DbError::query("committing", e))?;
            Ok(out)
        }
        Err(e) => {
            // Dropped uncommitted (a panic), the transaction would roll back as well.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    /// SQLite: one connection that every write takes in turn. SQLite runs one writer
    /// at a time anyway; queueing on this lock (first come, first served) instead of
    /// on SQLite's busy handler (which sleeps 1 to 100 ms between tries) keeps writes
    /// back to back under load. Not a pool of one: sqlx tests a pooled connection
    /// each time it is given back (a ping, a round trip to the connection's worker
    /// thread), which was a second hand-off for every write. PostgreSQL writes use
    /// the pool.
    writer: Option<std::sync::Arc<tokio::sync::Mutex<Option<sqlx::AnyConnection>>>>,
    /// SQLite: the thread that runs write transactions (see `Db::write`).
    writer_thread: Option<std::sync::Arc<WriterThread>>,
    /// The connections reads take (SQLite's reading connections) and, on PostgreSQL,
    /// writes as well; handed out without sqlx's pool (see [`Conns`]). sqlx's `pool`
    /// serves the migrations, readiness and what tests and benchmarks read.
    conns: std::sync::Arc<Conns>,
    kind: DbKind,
    /// SQLite: the database file (the start-up lock sits beside it).
    sqlite_path: Option<std::path::PathBuf>,
}

/// Held while one process prepares a database (migrations, the first admin, the key
/// file): a replica starting at the same time waits for it instead of failing.
pub enum StartupLock {
    /// SQLite: an exclusive lock on `<database>.startup-lock` (SQLite is shared only
    /// by processes on one machine).
    File(std::fs::File),
    /// PostgreSQL: a session advisory lock on a connection of its own; closing the
    /// connection (even by a crash) releases it.
    Postgres(sqlx::AnyConnection),
    None,
}

/// The advisory lock key of Rackstate's start-up ("rackstat" in ASCII).
const STARTUP_LOCK_KEY: i64 = 0x7261_636b_7374_6174;

impl StartupLock {
    /// Lets the next process in.
    pub async fn release(self) {
        match self {
            StartupLock::File(f) => drop(f),
            StartupLock::Postgres(mut conn) => {
                let unlocked =
                    sqlx::query("SELECT pg_advisory_unlock($1)").bind(STARTUP_LOCK_KEY).execute(&mut conn).await;
                if unlocked.is_err() {
                    // Closing the connection releases the lock as well.
                    tracing::debug!("start-up lock: closing its connection instead");
                }
                let _ = sqlx::Connection::close(conn).await;
            }
            StartupLock::None => {}
        }
    }
}

/// A thread of its own with a one-thread runtime, for the tasks that hold the SQLite
/// writer connection, pinned to one CPU together with that connection's worker
/// thread (sqlx runs each SQLite connection on a thread of its own, which inherits
/// the CPU mask of the thread that opens it, so the writer connection is opened
/// here). Each statement of a transaction is a hand-off to that worker and back.
/// Measured with the load benchmark (2 cores, 3,000 changes/s): on the shared runtime
/// the task waited behind the requests in the queue after every hand-off while it
/// held the write lock; on a thread of its own, unpinned, a hand-off still cost
/// about 50 µs of wake-up from one CPU to the other, and the write lock was held
/// 200-250 µs per change (p99 200-300 ms). Pinned, it is held about 120 µs and p99
/// is 7-8 ms.
struct WriterThread {
    handle: tokio::runtime::Handle,
    id: std::thread::ThreadId,
    /// Dropped with the last `Db`: the thread's runtime ends.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl WriterThread {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("rackstate-writer".into()).spawn(move || {
            // The last CPU this process may use; without one (or if refused), unpinned.
            match core_affinity::get_core_ids().and_then(|ids| ids.into_iter().max_by_key(|c| c.id)) {
                Some(core) if core_affinity::set_for_current(core) => {
                    tracing::debug!(cpu = core.id, "SQLite writer thread pinned")
                }
                _ => tracing::debug!("SQLite writer thread not pinned"),
            }
            let _ = runtime.block_on(stopped);
        })?;
        Ok(Self { handle, id: thread.thread().id(), _stop: stop })
    }

    /// Runs a future on the writer thread (where it is, if already there).
    async fn run<F, T>(&self, work: F) -> Result<T, DbError>
    where
        F: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        if std::thread::current().id() == self.id {
            return Ok(work.await);
        }
        // The task keeps the request's span and correlation id (audit events carry it).
        let work = tracing::Instrument::instrument(work, tracing::Span::current());
        let task = match super::correlation_id() {
            Some(id) => self.handle.spawn(super::CORRELATION_ID.scope(id, work)),
            None => self.handle.spawn(work),
        };
        task.await.map_err(|e| DbError::Writer(e.to_string()))
    }
}

/// Every SQLite connection's settings. WAL lets readers run beside the one writer;
/// the busy timeout makes writers queue instead of failing at once. The WAL is
/// checkpointed at SQLite's default of 1000 pages: with the pinned writer thread that
/// measured p99 7-8 ms at 3,000 changes/s, 10,000 pages 29-36 ms (each checkpoint
/// stalls the writer longer).
async fn sqlite_pragmas(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute(
        format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
             PRAGMA foreign_keys=ON; PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS};"
        )
        .as_str(),
    )
    .await
    .map(|_| ())
}

/// Creates a new SQLite database file readable by its owner only (0600): it holds
/// password hashes, sealed secrets and the audit. SQLite gives its WAL and shared
/// memory files the database file's permissions. An existing file is left as it is.
fn create_private(url: &str) -> std::io::Result<()> {
    let Some(path) = sqlite_file(url) else { return Ok(()) };
    if path.exists() {
        return Ok(());
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The file a SQLite URL names (none for an in-memory database).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| std::path::PathBuf::from(path))
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db").field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl Db {
    /// Connects to the database the URL names. SQLite files are created when absent.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let kind = DbKind::from_url(url).ok_or(DbError::UnsupportedUrl)?;
        if kind == DbKind::Sqlite {
            create_private(url).map_err(|e| DbError::Connect { kind, source: sqlx::Error::Io(e) })?;
        }
        let url = match kind {
            DbKind::Sqlite if !url.contains("mode=") && !url.contains(":memory:") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        let options = |max: u32| {
            // No ping on every checkout (sqlx's default, a round trip each time). A
            // SQLite connection is a local file handle that cannot drop. A PostgreSQL
            // connection is pinged by sqlx when it is given back (which also sends the
            // rollback of a transaction dropped half-way), so one given back moments
            // ago is known to work; one idle longer is pinged before use, and dropped
            // (another is taken) if the database no longer answers it.
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false)
                .before_acquire(move |conn, meta| {
                    Box::pin(async move {
                        if kind == DbKind::Postgres && meta.idle_for > UNCHECKED_IDLE {
                            return Ok(sqlx::Connection::ping(conn).await.is_ok());
                        }
                        Ok(true)
                    })
                })
                .after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        if kind == DbKind::Sqlite {
                            sqlite_pragmas(conn).await?;
                        }
                        Ok(())
                    })
                })
        };
        let pool = options(max_connections).connect(&url).await.map_err(|source| DbError::Connect { kind, source })?;
        let (writer, writer_thread) = match kind {
            DbKind::Sqlite => {
                let thread =
                    WriterThread::start().map_err(|e| DbError::Connect { kind, source: sqlx::Error::Io(e) })?;
                // Opened on the writer thread (its worker thread shares the CPU).
                let url = url.clone();
                let writer = thread
                    .run(async move {
                        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url).await?;
                        sqlite_pragmas(&mut conn).await?;
                        Ok::<_, sqlx::Error>(conn)
                    })
                    .await?
                    .map_err(|source| DbError::Connect { kind, source })?;
                (Some(std::sync::Arc::new(tokio::sync::Mutex::new(Some(writer)))), Some(std::sync::Arc::new(thread)))
            }
            DbKind::Postgres => (None, None),
        };
        let sqlite_path = (kind == DbKind::Sqlite).then(|| sqlite_file(&url)).flatten();
        let conns = std::sync::Arc::new(Conns {
            idle: std::sync::Mutex::new(Vec::new()),
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(max_connections.max(1) as usize)),
            url: url.clone(),
            kind,
        });
        Ok(Self { pool, writer, writer_thread, conns, kind, sqlite_path })
    }

    /// Applies the migrations of this database's dialect.
    fn migrator(&self) -> sqlx::migrate::Migrator {
        match self.kind {
            DbKind::Sqlite => sqlx::migrate!("../migrations/sqlite"),
            DbKind::Postgres => sqlx::migrate!("../migrations/postgres"),
        }
    }

    /// Waits until no other process is preparing this database, and holds it until
    /// `release` (see [`StartupLock`]).
    pub async fn startup_lock(&self) -> Result<StartupLock, DbError> {
        match (self.kind, &self.sqlite_path) {
            (DbKind::Sqlite, Some(db)) => {
                let mut name = db.as_os_str().to_owned();
                name.push(".startup-lock");
                let path = std::path::PathBuf::from(name);
                let file = tokio::task::spawn_blocking(move || {
                    let mut opts = std::fs::OpenOptions::new();
                    opts.read(true).write(true).create(true).truncate(false);
                    #[cfg(unix)]
                    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                    let file = opts.open(&path)?;
                    file.lock()?;
                    Ok::<_, std::io::Error>(file)
                })
                .await
                .map_err(|e| DbError::Writer(e.to_string()))?
                .map_err(|e| DbError::Connect { kind: DbKind::Sqlite, source: sqlx::Error::Io(e) })?;
                Ok(StartupLock::File(file))
            }
            (DbKind::Sqlite, None) => Ok(StartupLock::None),
            (DbKind::Postgres, _) => {
                let mut conn = self.pool.acquire().await.map_err(|e| DbError::query("connecting", e))?.detach();
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(STARTUP_LOCK_KEY)
                    .execute(&mut conn)
                    .await
                    .map_err(|e| DbError::query("waiting for another replica's start-up", e))?;
                Ok(StartupLock::Postgres(conn))
            }
        }
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        self.migrator().run(&self.pool).await.map_err(DbError::Migrate)?;
        // Derived columns a migration's SQL cannot compute (normalised BMC addresses).
        let mut conn = self.pool.acquire().await.map_err(|e| DbError::query("connecting", e))?;
        super::store::identity::backfill_bmc_keys(&mut conn).await.map(|_| ())
    }

    /// Readiness: the database answers and every migration this build knows is
    /// applied (a replica of an older build sharing a newer database still is; one of
    /// a newer build before its migrations ran is not). Err says what is missing.
    pub async fn ready(&self) -> Result<(), String> {
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| format!("database unavailable: {e}"))?;
        let missing: Vec<i64> = self.migrator().iter().map(|m| m.version).filter(|v| !applied.contains(v)).collect();
        if missing.is_empty() { Ok(()) } else { Err(format!("migrations not applied: {missing:?}")) }
    }

    /// Runs `work` in one write transaction, where writes run best (see [`Db::write`]):
    /// committed when it returns Ok, rolled back when it returns Err (or panics). On
    /// SQLite it takes the write lock at once (`BEGIN IMMEDIATE`) on the one writer
    /// connection, so writers queue in order instead of one failing when it upgrades a
    /// read snapshot; on PostgreSQL any pooled connection.
    pub async fn transaction<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: for<'c> FnOnce(&'c mut sqlx::AnyConnection) -> TxWork<'c, T, E> + Send + 'static,
    {
        let db = self.clone();
        self.write(async move {
            match db.writer_conn().await? {
                Some(mut conn) => in_transaction(&mut conn, "BEGIN IMMEDIATE", work).await,
                None => db.conns.write(|conn| Box::pin(in_transaction(conn, "BEGIN", work))).await,
            }
        })
        .await?
    }

    /// Runs a future that writes (through `transaction` or `write_one`) where writes run best: on
    /// SQLite, on the writer thread, so the transaction's statements follow each other
    /// without waiting behind other requests; on PostgreSQL, right here. The future
    /// runs to its end even if the caller stops waiting.
    pub async fn write<F, T>(&self, work: F) -> Result<T, DbError>
    where
        F: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        match &self.writer_thread {
            Some(thread) => thread.run(work).await,
            None => Ok(work.await),
        }
    }

    /// A connection for reads (writes: `transaction`, `write_one`).
    pub async fn conn(&self) -> Result<DbConn, DbError> {
        self.conns.take(false).await
    }

    /// SQLite: the one writer connection, once it is this caller's turn (writes from
    /// reading connections would fight the writer for SQLite's lock through the busy
    /// handler, which sleeps up to 100 ms per try; measured: 1,000 registrations spent
    /// most of their time there). None on PostgreSQL: any pooled connection writes.
    async fn writer_conn(&self) -> Result<Option<WriterGuard>, DbError> {
        let Some(writer) = &self.writer else { return Ok(None) };
        // A write nested in another on the writer thread would wait for itself: it
        // fails after the pool's acquire timeout instead, as a pool of one did.
        let turn = tokio::time::timeout(ACQUIRE_TIMEOUT, writer.clone().lock_owned())
            .await
            .map_err(|_| DbError::query("getting the database's writer connection", sqlx::Error::PoolTimedOut))?;
        tokio::sync::OwnedMutexGuard::try_map(turn, Option::as_mut)
            .map(Some)
            .map_err(|_| DbError::query("getting the database's writer connection", sqlx::Error::PoolClosed))
    }

    /// Runs a write outside a transaction (one statement: a claim, a lease, a job's
    /// log lines, a power reading) on the writer connection, where writes run best:
    /// on SQLite on the writer thread, so the connection is back in its queue as soon
    /// as the statement is done, not when the caller's task is next scheduled
    /// (measured: from a busy runtime the connection sat idle but held between the
    /// statement's end and the caller's wake-up, and every other write waited).
    pub async fn write_one<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut sqlx::AnyConnection) -> WriteOne<'c, T> + Send + 'static,
    {
        let db = self.clone();
        self.write(async move {
            match db.writer_conn().await? {
                Some(mut conn) => work(&mut conn).await,
                None => db.conns.write(work).await,
            }
        })
        .await?
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    pub async fn close(&self) {
        if let Some(writer) = &self.writer
            && let Some(conn) = writer.lock().await.take()
        {
            let _ = sqlx::Connection::close(conn).await;
        }
        self.conns.close().await;
        self.pool.close().await;
    }
}
