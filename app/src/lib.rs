#![recursion_limit = "256"]
//! Rackstate's Leptos application: everything the browser and the server share.
//!
//! - `domain`: pure rules (no I/O), compiled to wasm too.
//! - `api`: `#[server]` functions, thin wrappers over the backend services.
//! - `ui`: pages and components.
//! - `backend` (ssr only): database access and the service layer every change goes through.

pub mod api;
pub mod domain;
pub mod model;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod backend;

pub use ui::{App, shell};
