//! Server functions. Each one reads the backend from context, checks permission,
//! calls one service function and maps the error.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the home page shows about the fleet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetOverview {
    pub servers: i64,
    pub database: String,
}

#[server(endpoint = "fleet_summary")]
pub async fn fleet_summary() -> Result<FleetOverview, ServerFnError> {
    let backend = crate::backend::use_backend()?;
    let servers = backend.servers_total().await.map_err(crate::backend::to_server_fn_error)?;
    Ok(FleetOverview { servers, database: backend.db.kind().to_string() })
}
