//! `rackstate`: serves the web app, the API and the workers from one process.

use rackstate_server::cli::{self, Cli, Command};
use rackstate_server::{Application, Settings};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc commits every arena it reserves at once where Linux overcommits, and gives
/// freed pages back only lazily: after a burst (a thousand registrations) the process
/// keeps its peak. Committing on demand lets purged pages leave the resident set (the
/// 1,000-server cycle bench: peak RSS 107-126 -> 89-91 MiB at the same speed). The
/// option must be set before the first arena is reserved, i.e. before Rust's runtime
/// allocates anything: hence a constructor, not a line in `main`.
/// MIMALLOC_ARENA_EAGER_COMMIT, when set, still decides.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static COMMIT_MEMORY_ON_DEMAND: extern "C" fn() = commit_memory_on_demand;

#[cfg(target_os = "linux")]
extern "C" fn commit_memory_on_demand() {
    // `mi_option_arena_eager_commit` in the mimalloc.h that libmimalloc-sys 0.1.49
    // bundles (its Rust bindings leave this option out).
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    unsafe extern "C" {
        // libc's: std's `env::var_os` would allocate, i.e. reserve the arena first.
        fn getenv(name: *const std::ffi::c_char) -> *const std::ffi::c_char;
    }
    // SAFETY: getenv reads the environment the process started with (nothing else
    // runs yet); mi_option_set stores one option's value.
    unsafe {
        if getenv(c"MIMALLOC_ARENA_EAGER_COMMIT".as_ptr()).is_null() {
            libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter = EnvFilter::try_from_env("RACKSTATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    match std::env::var("RACKSTATE_LOG_FORMAT").as_deref() {
        Ok("json") => tracing_subscriber::fmt().json().with_current_span(true).with_env_filter(filter).init(),
        Ok("") | Ok("text") | Err(_) => tracing_subscriber::fmt().with_env_filter(filter).init(),
        Ok(other) => {
            eprintln!("rackstate: bad configuration: RACKSTATE_LOG_FORMAT: {other:?} is not text or json");
            return std::process::ExitCode::from(2);
        }
    }
    // Help, versions and wrong flags end here (exit 0 or 2), before any setting is read.
    let cli = <Cli as clap::Parser>::parse();
    match &cli.command {
        Some(Command::Agent(args)) => return std::process::ExitCode::from(cli::agent(args).await),
        Some(Command::Lab(args)) => return std::process::ExitCode::from(cli::lab(args).await),
        Some(Command::Serve | Command::User { .. }) | None => {}
    }
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rackstate: bad configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(Command::User { command }) = &cli.command {
        return std::process::ExitCode::from(cli::user(&settings, command).await);
    }
    let app = match Application::build(&settings).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("rackstate: cannot start: {}", app::backend::error_chain(&e));
            return std::process::ExitCode::from(1);
        }
    };
    if !settings.site_root.join("pkg").is_dir() {
        tracing::warn!(site_root = %settings.site_root.display(),
            "no compiled assets under RACKSTATE_SITE_ROOT/pkg: pages will render without styles or interactivity (build with `cargo leptos build --release`)");
    }
    tracing::info!("Rackstate listening on http://{}", app.local_addr());
    if let Err(e) = app.serve(shutdown_signal()).await {
        eprintln!("rackstate: server error: {e}");
        return std::process::ExitCode::from(1);
    }
    std::process::ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
