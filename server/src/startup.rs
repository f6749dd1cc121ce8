//! Builds the application from settings: database, migrations, routes; and serves it.

use crate::agent_api::{self, AgentApi};
use crate::bmc::BmcConnector;
use crate::bmc::redfish::RedfishConnector;
use crate::guard;
use crate::jobs::{
    Runner,
    clean::Clean,
    decommission::Decommission,
    deploy::Deploy,
    live::{LiveBoot, Timeouts},
    power::Power,
    register::Register,
};
use crate::lab::{Lab, LabConfig};
use crate::live_image::LiveImage;
use crate::settings::Settings;
use crate::sweep::PowerSweep;
use app::backend::secrets::SecretBox;
use app::backend::secrets::random_token;
use app::backend::store::sessions::DbSessionStore;
use app::backend::{Backend, Db, DbError};
use app::domain::JobKind;
use app::{App, shell};
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("creating the data directory {path}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("secret key: {0}")]
    Secrets(String),
    #[error("creating the first admin: {0}")]
    Bootstrap(String),
    #[error("{0}")]
    LiveImage(String),
    #[error("{0}")]
    Lab(String),
    #[error("binding {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A bound, ready-to-serve Rackstate.
pub struct Application {
    listener: TcpListener,
    router: Router,
    backend: Backend,
    runner: Option<Runner>,
    sweep: Option<PowerSweep>,
    webhooks: Option<crate::webhooks::Sender>,
    metrics_listener: Option<TcpListener>,
    lab: Option<Lab>,
    callback_url: String,
    /// Turns true when shutdown begins: the runner stops claiming and live streams end.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl Application {
    /// Prepares the data directory and database, and binds the listener
    /// (port 0 picks a free port, as tests do).
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|source| StartupError::DataDir { path: settings.data_dir.display().to_string(), source })?;
        let db = Db::connect(&settings.database_url, settings.db_max_connections).await?;
        // Replicas starting together: one prepares the database (and the key file and
        // the first admin) while the others wait here, then find it ready.
        let startup = db.startup_lock().await?;
        db.migrate().await?;
        let secrets = SecretBox::load(settings.secret_key.as_ref().map(|s| s.0.as_str()), &settings.data_dir)
            .map_err(|e| StartupError::Secrets(e.to_string()))?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| StartupError::Bind { addr: settings.listen, source })?;
        let addr = listener.local_addr().map_err(|source| StartupError::Bind { addr: settings.listen, source })?;
        let mut networks = settings.bmc_networks.clone();
        if settings.demo_lab > 0 {
            // The lab's BMCs listen on loopback.
            networks = networks.with("127.0.0.0/8");
        }
        networks.own.push(addr);
        networks.own.extend(settings.metrics_listen);
        let reach = app::backend::BmcReach {
            networks,
            max_response_bytes: settings.bmc_max_response_bytes,
            ca_certs: settings.bmc_ca_certs.clone(),
        };
        let backend = Backend::new(db, secrets).with_bmc_reach(reach);
        let admin_password = settings.admin_password.as_ref().map(|s| s.0.as_str());
        match backend.bootstrap_admin(&settings.data_dir, admin_password).await {
            Ok(Some(path)) => tracing::warn!(
                "no users existed: created user 'admin' with a generated password, written to {}",
                path.display()
            ),
            Ok(None) => {}
            Err(e) => return Err(StartupError::Bootstrap(e.user_message())),
        }
        startup.release().await;

        let callback_url = settings
            .agent_url
            .clone()
            .or_else(|| settings.public_url.clone())
            .unwrap_or_else(|| format!("http://{addr}"));
        if settings.agent_url.is_none() && settings.public_url.is_none() && addr.ip().is_unspecified() {
            tracing::warn!(
                "listening on {addr}: BMCs and live-image agents cannot call back to an unspecified address; \
                 set RACKSTATE_AGENT_URL (or RACKSTATE_PUBLIC_URL) to the URL they reach Rackstate at"
            );
        }
        let live_image = match (&settings.live_image, settings.demo_lab) {
            (Some(path), _) => Some(LiveImage::open(path).map_err(StartupError::LiveImage)?),
            (None, 0) => None,
            (None, _) => {
                // The lab's machines boot a simulation image (they run the agent in-process).
                let path = settings.data_dir.join("lab-live-image.img");
                LiveImage::write_simulation_image(&path)
                    .map_err(|e| StartupError::LiveImage(format!("writing {}: {e}", path.display())))?;
                Some(LiveImage::open(&path).map_err(StartupError::LiveImage)?)
            }
        }
        .map(Arc::new);
        if live_image.is_none() {
            tracing::warn!("no live image configured (RACKSTATE_LIVE_IMAGE): registrations will fail until one is");
        }
        let agent = AgentApi {
            backend: backend.clone(),
            callback_url: callback_url.clone(),
            live_image: live_image.clone(),
            erase_mode: settings.erase_mode,
        };
        let stopping = tokio::sync::watch::channel(false).0;
        let router = router(settings, addr, backend.clone(), agent, stopping.subscribe());
        // Jobs and the sweep reach BMCs the same way.
        let bmcs: Arc<dyn BmcConnector> = Arc::new(RedfishConnector::new(backend.bmc_reach.clone()));
        let runner = (settings.workers > 0).then(|| {
            let owner = format!("{}-{}-{}", hostname(), std::process::id(), &random_token()[..8]);
            let timeouts = Timeouts {
                bmc_request: settings.bmc_timeout,
                power: settings.power_timeout,
                shutdown_grace: settings.shutdown_grace,
            };
            let live = Arc::new(LiveBoot {
                media_url: settings.media_url.clone().unwrap_or_else(|| callback_url.clone()),
                callback_url: callback_url.clone(),
                live_image,
                agent_timeout: settings.agent_timeout,
                timeouts,
            });
            Runner::new(backend.clone(), owner, settings.workers)
                .with_bmcs(bmcs.clone())
                .with_lease(settings.job_lease)
                .with_retry(crate::jobs::RetryPolicy { retries: settings.bmc_retries, base: settings.bmc_retry_base })
                .handle(JobKind::Register, Register { live: live.clone() })
                .handle(JobKind::Clean, Clean { live: live.clone() })
                .handle(JobKind::Deploy, Deploy { live })
                .handle(JobKind::Decommission, Decommission { timeouts })
                .handle(JobKind::Power, Power { timeouts: timeouts.clone() })
                .handle(JobKind::RotateBmcPassword, crate::jobs::rotate::Rotate { timeouts })
        });
        let lab = if settings.demo_lab > 0 {
            let config = LabConfig {
                machines: settings.demo_lab,
                boot_delay: settings.demo_lab_boot,
                disk_dir: settings.data_dir.join("lab-disks"),
                disk_bytes: crate::lab::DEFAULT_DISK_BYTES,
                bmc_delay: std::time::Duration::ZERO,
                vendor: settings.demo_lab_vendor,
            };
            Some(Lab::start(&backend, &config).await.map_err(StartupError::Lab)?)
        } else {
            None
        };
        // The sweep runs where jobs run (a replica with workers 0 leaves it to others).
        let sweep = settings.power_sync.filter(|_| settings.workers > 0).map(|interval| PowerSweep {
            backend: backend.clone(),
            interval,
            concurrency: 16,
            bmc_timeout: settings.bmc_timeout,
            warn_after: 3,
            bmcs: bmcs.clone(),
        });
        // Webhooks are sent where jobs run, like the sweep.
        let webhooks = (settings.workers > 0)
            .then(|| crate::webhooks::Sender::new(backend.clone(), settings.webhook_first_retry_ms));
        let metrics_listener = match settings.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| StartupError::Bind { addr, source })?),
            None => None,
        };
        Ok(Self { listener, router, backend, runner, sweep, webhooks, metrics_listener, lab, callback_url, stopping })
    }

    /// The base URL agents and BMCs call back.
    pub fn callback_url(&self) -> &str {
        &self.callback_url
    }

    /// The demo lab, when one runs.
    pub fn lab(&self) -> Option<&Lab> {
        self.lab.as_ref()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Serves until the future `shutdown` completes. Then, at once: the runner claims
    /// no more jobs, live streams end and new connections are refused; requests in
    /// flight finish; running jobs get their stop grace, then release their leases.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let sweeper = tokio::spawn(sweep_expired_sessions(DbSessionStore::new(self.backend.db.clone())));
        let subscriptions = tokio::spawn(reconcile_subscriptions(self.backend.clone()));
        let stopping = Arc::new(self.stopping);
        let signal = {
            let stopping = stopping.clone();
            tokio::spawn(async move {
                shutdown.await;
                let _ = stopping.send(true);
            })
        };
        let sweep = self.sweep.map(|s| tokio::spawn(s.run(stopping.subscribe())));
        let webhooks = self.webhooks.map(|w| tokio::spawn(w.run(stopping.subscribe())));
        let metrics_server = self.metrics_listener.map(|l| {
            let backend = self.backend.clone();
            let app = Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let backend = backend.clone();
                    async move { metrics_text(&backend).await }
                }),
            );
            tokio::spawn(async move {
                if let Err(e) = axum::serve(l, app).await {
                    tracing::warn!(error = %app::backend::error_chain(&e), "metrics listener stopped");
                }
            })
        });
        let runner = self.runner.map(|r| tokio::spawn(r.run(stopping.subscribe())));
        let _lab = self.lab;
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        let mut stopped = stopping.subscribe();
        let served = axum::serve(self.listener, service)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
        let _ = stopping.send(true);
        signal.abort();
        sweeper.abort();
        subscriptions.abort();
        if let Some(s) = sweep {
            s.abort();
        }
        if let Some(w) = webhooks {
            w.abort();
        }
        if let Some(m) = metrics_server {
            m.abort();
        }
        if let Some(r) = runner
            && tokio::time::timeout(RUNNER_STOP_GRACE, r).await.is_err()
        {
            tracing::warn!("jobs still running at shutdown; they resume when their leases expire");
        }
        served
    }
}

/// How long a shutdown waits for the runner (its jobs' stop grace and the release of
/// their leases fit well within it).
const RUNNER_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(8);

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "rackstate".into())
}

fn router(
    settings: &Settings,
    addr: SocketAddr,
    backend: Backend,
    agent: AgentApi,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> Router {
    // Leptos would otherwise read LEPTOS_* variables; Rackstate's own settings decide.
    let options = LeptosOptions::builder()
        .output_name("rackstate")
        .site_root(settings.site_root.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();
    let routes = generate_route_list(App);
    let health_backend = backend.clone();
    let backend_for_rest = backend.clone();
    let stopping_for_rest = stopping.clone();
    let metrics_backend = backend.clone();
    let metrics_token = settings.metrics_token.as_ref().map(|t| t.0.clone());
    let assets = crate::assets::Assets::load(&settings.site_root, "rackstate");
    let context = {
        let backend = backend.clone();
        let names = assets.names();
        move || {
            provide_context(backend.clone());
            provide_context(names.clone());
        }
    };
    let sessions = SessionManagerLayer::new(DbSessionStore::new(backend.db.clone()))
        .with_name("rackstate_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.public_url.as_deref().is_some_and(|u| u.starts_with("https://")))
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(settings.session_idle_minutes)));
    let web = Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(move || readyz(health_backend.clone())))
        .route(
            "/metrics",
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                metrics(metrics_backend.clone(), metrics_token.clone(), headers)
            }),
        )
        .route(
            "/live/servers/{id}",
            axum::routing::get({
                let backend = backend.clone();
                move |user, id| crate::live_updates::server_stream(backend.clone(), stopping.clone(), user, id)
            }),
        )
        .route(
            "/reports/utilization.csv",
            axum::routing::get({
                let backend = backend.clone();
                move |user, query| crate::live_updates::utilization_csv(backend.clone(), user, query)
            }),
        )
        .leptos_routes_with_context(&options, routes, context.clone(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context(context.clone(), shell))
        .with_state(options)
        .layer(axum::middleware::from_fn(guard::server_fn_input_errors))
        .layer(axum::middleware::from_fn_with_state(backend, guard::authorize))
        .layer(sessions)
        .layer(axum::middleware::from_fn(guard::same_origin));
    // The agent API authenticates by job token, outside the session guard; the
    // assets are public and need no session either.
    agent_api::router(agent)
        .merge(crate::rest::router(backend_for_rest, stopping_for_rest))
        .merge(assets.router())
        .merge(web)
        .layer(crate::assets::compression())
        .layer(axum::middleware::from_fn(guard::security_headers))
        .layer(axum::middleware::from_fn(guard::request_id))
        .layer(axum::middleware::from_fn_with_state(Arc::new(settings.trusted_proxies.clone()), guard::client_address))
}

/// `/metrics` on the main listener: only with RACKSTATE_METRICS_TOKEN, as a bearer token.
async fn metrics(backend: Backend, token: Option<String>, headers: axum::http::HeaderMap) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let Some(token) = token else {
        let message =
            "metrics are off here: set RACKSTATE_METRICS_TOKEN, or RACKSTATE_METRICS_LISTEN for a separate address";
        return (StatusCode::NOT_FOUND, message).into_response();
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
        return (StatusCode::UNAUTHORIZED, "send Authorization: Bearer <RACKSTATE_METRICS_TOKEN>").into_response();
    }
    metrics_text(&backend).await
}

/// Compares without stopping at the first difference (no timing hint about how much
/// of a guessed token was right); only the length shows.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn metrics_text(backend: &Backend) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = crate::metrics::render(backend).await;
    ([(axum::http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body).into_response()
}

/// Readiness: 200 when the database answers and its migrations are applied.
/// (`/healthz` is liveness: the process answers.)
async fn readyz(backend: Backend) -> (axum::http::StatusCode, String) {
    match backend.db.ready().await {
        Ok(()) => (axum::http::StatusCode::OK, "ready".into()),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check");
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, e)
        }
    }
}

/// How often subscriptions are checked for start and end dates and refilled (each
/// change that affects one reconciles it at once; this is the clock and the net).
const SUBSCRIPTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

async fn reconcile_subscriptions(backend: Backend) {
    let mut tick = tokio::time::interval(SUBSCRIPTION_INTERVAL);
    loop {
        tick.tick().await;
        if let Err(e) = backend.reconcile_subscriptions().await {
            tracing::warn!(error = %app::backend::error_chain(&e), "reconciling subscriptions");
        }
    }
}

/// How often expired sessions are deleted (they are already refused on load).
const SESSION_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

async fn sweep_expired_sessions(store: DbSessionStore) {
    let mut tick = tokio::time::interval(SESSION_SWEEP_INTERVAL);
    loop {
        tick.tick().await;
        match store.delete_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(n, "deleted expired sessions"),
            Err(e) => tracing::warn!(error = %app::backend::error_chain(&e), "deleting expired sessions"),
        }
    }
}
