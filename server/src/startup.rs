//! Builds the application from settings: database, migrations, routes; and serves it.

use crate::guard;
use crate::settings::Settings;
use app::backend::secrets::SecretBox;
use app::backend::store::sessions::DbSessionStore;
use app::backend::{Backend, Db, DbError};
use app::{App, shell};
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use std::net::SocketAddr;
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
}

impl Application {
    /// Prepares the data directory and database, and binds the listener
    /// (port 0 picks a free port, as tests do).
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|source| StartupError::DataDir { path: settings.data_dir.display().to_string(), source })?;
        let db = Db::connect(&settings.database_url, settings.db_max_connections).await?;
        db.migrate().await?;
        let secrets = SecretBox::load(settings.secret_key.as_ref().map(|s| s.0.as_str()), &settings.data_dir)
            .map_err(|e| StartupError::Secrets(e.to_string()))?;
        let backend = Backend::new(db, secrets);
        let admin_password = settings.admin_password.as_ref().map(|s| s.0.as_str());
        match backend.bootstrap_admin(&settings.data_dir, admin_password).await {
            Ok(Some(path)) => tracing::warn!(
                "no users existed: created user 'admin' with a generated password, written to {}",
                path.display()
            ),
            Ok(None) => {}
            Err(e) => return Err(StartupError::Bootstrap(e.user_message())),
        }

        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| StartupError::Bind { addr: settings.listen, source })?;
        let addr = listener.local_addr().map_err(|source| StartupError::Bind { addr: settings.listen, source })?;
        let router = router(settings, addr, backend.clone());
        Ok(Self { listener, router, backend })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Serves until the future `shutdown` completes.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let sweeper = tokio::spawn(sweep_expired_sessions(DbSessionStore::new(self.backend.db.clone())));
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, service).with_graceful_shutdown(shutdown).await;
        sweeper.abort();
        served
    }
}

fn router(settings: &Settings, addr: SocketAddr, backend: Backend) -> Router {
    // Leptos would otherwise read LEPTOS_* variables; Rackstate's own settings decide.
    let options = LeptosOptions::builder()
        .output_name("rackstate")
        .site_root(settings.site_root.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();
    let routes = generate_route_list(App);
    let health_backend = backend.clone();
    let context = {
        let backend = backend.clone();
        move || provide_context(backend.clone())
    };
    let sessions = SessionManagerLayer::new(DbSessionStore::new(backend.db.clone()))
        .with_name("rackstate_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.public_url.as_deref().is_some_and(|u| u.starts_with("https://")))
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(settings.session_idle_minutes)));
    Router::new()
        .route("/healthz", axum::routing::get(move || healthz(health_backend.clone())))
        .leptos_routes_with_context(&options, routes, context, {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(options)
        .layer(axum::middleware::from_fn_with_state(backend, guard::authorize))
        .layer(sessions)
        .layer(axum::middleware::from_fn(guard::same_origin))
        .layer(axum::middleware::from_fn(guard::security_headers))
}

/// Liveness and readiness: 200 when the database answers.
async fn healthz(backend: Backend) -> (axum::http::StatusCode, &'static str) {
    match backend.servers_total().await {
        Ok(_) => (axum::http::StatusCode::OK, "ok"),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unavailable");
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
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
            Err(e) => tracing::warn!(error = %e, "deleting expired sessions"),
        }
    }
}
