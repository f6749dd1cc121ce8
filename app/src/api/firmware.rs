//! Firmware drift's server functions: the drift of every type (and the servers behind
//! one number) for those who see the fleet; admins set a type's baseline by hand or
//! adopt the most common versions.

use super::ActionError;
use crate::domain::firmware::{ServerComponent, TypeFirmware};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the firmware page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FirmwarePage {
    pub types: Vec<TypeFirmware>,
    /// The servers behind the number asked for (type, component, drift), if one was.
    pub servers: Option<Vec<ServerComponent>>,
    pub can_set_baseline: bool,
}

#[server(endpoint = "firmware_drift", output = crate::api::codec::Json)]
pub async fn load_firmware(
    #[server(default)] server_type: Option<String>,
    #[server(default)] component: Option<String>,
    #[server(default)] drift: Option<String>,
) -> Result<FirmwarePage, ActionError> {
    use crate::backend::services::ServiceError;
    use crate::domain::{Permission, firmware::Drift};
    let (backend, user, _) = super::ssr::require(Some(Permission::ViewFleet)).await?;
    let types = backend.firmware_drift(None).await.map_err(super::ssr::service_error)?;
    let servers = match server_type.filter(|t| !t.is_empty()) {
        Some(t) => {
            let only = match drift.filter(|d| !d.is_empty()) {
                Some(d) => Some(Drift::parse(&d).ok_or_else(|| {
                    super::ssr::service_error(ServiceError::invalid(
                        "drift",
                        "must be on, behind, ahead or no_baseline",
                    ))
                })?),
                None => None,
            };
            let component = component.filter(|c| !c.is_empty());
            Some(backend.firmware_servers(&t, component.as_deref(), only).await.map_err(super::ssr::service_error)?)
        }
        None => None,
    };
    Ok(FirmwarePage { types, servers, can_set_baseline: user.role.can(Permission::ManageFirmwareBaselines) })
}

/// Replaces a type's baseline: `component[i]` runs `version[i]` (an empty version
/// leaves the component without one).
#[server(endpoint = "set_firmware_baseline", output = crate::api::codec::Json)]
pub async fn set_firmware_baseline(
    server_type: String,
    #[server(default)] component: Vec<String>,
    #[server(default)] version: Vec<String>,
) -> Result<TypeFirmware, ActionError> {
    let (backend, user, _) = super::ssr::require(Some(crate::domain::Permission::ManageFirmwareBaselines)).await?;
    if component.len() != version.len() {
        let e = crate::backend::services::ServiceError::invalid("version", "one version per component");
        return Err(super::ssr::service_error(e));
    }
    let entries = component.into_iter().zip(version).collect();
    backend.set_firmware_baseline(&user, &server_type, entries).await.map_err(super::ssr::service_error)
}

/// Sets a type's baseline to the versions most of its servers run.
#[server(endpoint = "adopt_common_firmware", output = crate::api::codec::Json)]
pub async fn adopt_common_firmware(server_type: String) -> Result<TypeFirmware, ActionError> {
    let (backend, user, _) = super::ssr::require(Some(crate::domain::Permission::ManageFirmwareBaselines)).await?;
    backend.adopt_common_firmware(&user, &server_type).await.map_err(super::ssr::service_error)
}
