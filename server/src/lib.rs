//! The `rackstate` server: settings, start-up, routes, and the adapters to the outside
//! world (workers, BMC drivers, REST API).

pub mod agent;
pub mod agent_api;
pub mod api_error;
pub mod assets;
pub mod bmc;
pub mod cli;
pub mod guard;
pub mod jobs;
pub mod lab;
pub mod live_image;
pub mod live_updates;
pub mod metrics;
pub mod rest;
pub mod settings;
pub mod startup;
pub mod sweep;
pub mod webhooks;

pub use settings::Settings;
pub use startup::{Application, StartupError};
