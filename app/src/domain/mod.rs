//! Pure types and rules. No I/O: this module compiles to wasm so the browser shows
//! exactly what the server will accept.

pub mod buttons;
pub mod diagram;
pub mod inventory;
pub mod roles;
pub mod server_type;
pub mod state;
pub mod transitions;

pub use inventory::Inventory;
pub use roles::{Permission, Role, Username};
pub use server_type::TypeSpec;
pub use state::ServerState;
pub use transitions::{Action, Context, Guard, JobKind, Transition, TransitionError, Trigger, TRANSITIONS};
