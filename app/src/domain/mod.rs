//! Pure types and rules. No I/O: this module compiles to wasm so the browser shows
//! exactly what the server will accept.

#[macro_use]
pub mod words;

pub mod agent;
pub mod audit;
pub mod bmc_address;
pub mod buttons;
pub mod client_addr;
pub mod dates;
pub mod diagram;
pub mod erase;
pub mod firmware;
pub mod identity;
pub mod images;
pub mod inventory;
pub mod jobs;
// Only the server renders Markdown (notes come rendered, the preview is a server
// function): pulldown-cmark and its entity table would add ~40 KB to the wasm.
#[cfg(feature = "ssr")]
pub mod markdown;
pub mod power;
pub mod roles;
pub mod server_type;
pub mod state;
pub mod tls_pin;
pub mod tokens;
pub mod transitions;
pub mod webhooks;

pub use audit::EventKind;
pub use inventory::Inventory;
pub use jobs::{JobPhase, JobStatus};
pub use roles::{Permission, Role, Username};
pub use server_type::TypeSpec;
pub use state::ServerState;
pub use transitions::{Action, Context, Guard, JobKind, TRANSITIONS, Transition, TransitionError, Trigger};

/// Test helper: a generated doc under `docs/` must match what the code generates;
/// `UPDATE_DOCS=1` rewrites it.
#[cfg(test)]
pub(crate) fn assert_doc_current(name: &str, want: &str) {
    let path = format!("{}/../docs/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(have == want, "docs/{name} is stale: run `UPDATE_DOCS=1 cargo test -p app`");
}
