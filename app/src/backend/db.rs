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
/// How long SQLite waits on a locked database before reporting busy.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;
/// The commit that grows the WAL past this many pages (40 MB) copies it into the
/// database (and waits for that). SQLite's default of 1000 pages stalled a busy
/// writer every fraction of a second; measured with the load benchmark at 1,500
/// changes/s: p99 90 ms at 1000 pages, 34 ms at 10,000. (A background PASSIVE
/// checkpoint every 500 ms was worse: p99 134 ms.)
const SQLITE_AUTOCHECKPOINT_PAGES: u32 = 10_000;

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
}

impl DbError {
    pub fn query(what: &'static str, source: sqlx::Error) -> Self {
        DbError::Query { what, source }
    }
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    /// SQLite: one connection that every write transaction takes in turn. SQLite runs
    /// one writer at a time anyway; queueing on the pool (first come, first served)
    /// instead of on SQLite's busy handler (which sleeps 1 to 100 ms between tries)
    /// keeps writes back to back under load. PostgreSQL writes use the pool.
    writer: Option<AnyPool>,
    /// SQLite: the thread that runs write transactions (see `Db::write`).
    writer_thread: Option<std::sync::Arc<WriterThread>>,
    kind: DbKind,
}

/// A thread of its own with a one-thread runtime, for the tasks that hold the SQLite
/// writer connection. Each statement of a transaction is a hand-off to the
/// connection's worker thread and back; on the shared runtime the task waited behind
/// every request in the queue after each hand-off, holding the write lock.
struct WriterThread {
    handle: tokio::runtime::Handle,
    /// Dropped with the last `Db`: the thread's runtime ends.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl WriterThread {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new().name("rackstate-writer".into()).spawn(move || {
            let _ = runtime.block_on(stopped);
        })?;
        Ok(Self { handle, _stop: stop })
    }
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
        let url = match kind {
            DbKind::Sqlite if !url.contains("mode=") && !url.contains(":memory:") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        let options = |max: u32| {
            // A SQLite connection is a local file handle that cannot drop: no ping on
            // every checkout (sqlx's default; with SQLite each ping is a round trip to the
            // connection's worker thread). PostgreSQL connections are checked.
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(kind == DbKind::Postgres)
                .after_connect(
                move |conn, _meta| {
                    Box::pin(async move {
                        if kind == DbKind::Sqlite {
                            // WAL lets readers run beside the one writer; the busy timeout makes
                            // writers queue instead of failing at once.
                            conn.execute(
                                format!(
                                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
                                 PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}; PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS};"
                                )
                                .as_str(),
                            )
                            .await?;
                        }
                        Ok(())
                    })
                },
            )
        };
        let pool = options(max_connections).connect(&url).await.map_err(|source| DbError::Connect { kind, source })?;
        let (writer, writer_thread) = match kind {
            DbKind::Sqlite => {
                let writer = options(1).connect(&url).await.map_err(|source| DbError::Connect { kind, source })?;
                let thread =
                    WriterThread::start().map_err(|e| DbError::Connect { kind, source: sqlx::Error::Io(e) })?;
                (Some(writer), Some(std::sync::Arc::new(thread)))
            }
            DbKind::Postgres => (None, None),
        };
        Ok(Self { pool, writer, writer_thread, kind })
    }

    /// Applies the migrations of this database's dialect.
    fn migrator(&self) -> sqlx::migrate::Migrator {
        match self.kind {
            DbKind::Sqlite => sqlx::migrate!("../migrations/sqlite"),
            DbKind::Postgres => sqlx::migrate!("../migrations/postgres"),
        }
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        self.migrator().run(&self.pool).await.map_err(DbError::Migrate)
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

    /// Starts a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout instead of one
    /// failing when it upgrades a read snapshot.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, DbError> {
        let tx = match (&self.writer, self.kind) {
            (Some(writer), _) => writer.begin_with("BEGIN IMMEDIATE").await,
            (None, DbKind::Sqlite) => self.pool.begin_with("BEGIN IMMEDIATE").await,
            (None, DbKind::Postgres) => self.pool.begin().await,
        };
        tx.map_err(|e| DbError::query("starting a transaction", e))
    }

    /// Runs a future that writes (it calls `begin_write`) where writes run best: on
    /// SQLite, on the writer thread, so the transaction's statements follow each other
    /// without waiting behind other requests; on PostgreSQL, right here. The future
    /// runs to its end even if the caller stops waiting.
    pub async fn write<F, T>(&self, work: F) -> Result<T, DbError>
    where
        F: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let Some(thread) = &self.writer_thread else { return Ok(work.await) };
        // The task keeps the request's span and correlation id (audit events carry it).
        let work = tracing::Instrument::instrument(work, tracing::Span::current());
        let task = match super::correlation_id() {
            Some(id) => thread.handle.spawn(super::CORRELATION_ID.scope(id, work)),
            None => thread.handle.spawn(work),
        };
        task.await.map_err(|e| DbError::Writer(e.to_string()))
    }

    /// A pooled connection for reads.
    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, DbError> {
        self.pool.acquire().await.map_err(|e| DbError::query("getting a database connection", e))
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        self.pool.close().await;
    }
}
