//! The image catalog's server functions: everyone logged in lists the current images
//! (admins also the retired ones); admins add and retire.

use super::ActionError;
use crate::model::Image;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the images page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImagesData {
    pub images: Vec<Image>,
    pub can_manage: bool,
}

#[server(endpoint = "images_data", output = crate::api::codec::Json)]
pub async fn load_images() -> Result<ImagesData, ActionError> {
    let (backend, user, _) = super::ssr::require(None).await?;
    let can_manage = user.role.can(crate::domain::Permission::ManageImages);
    let images = backend.images(can_manage).await.map_err(super::ssr::service_error)?;
    Ok(ImagesData { images, can_manage })
}

/// Adds an image to the catalog; every wrong field is named.
#[server(endpoint = "add_image", output = crate::api::codec::Json)]
pub async fn add_image(
    name: String,
    url: String,
    sha256: String,
    format: String,
    #[server(default)] min_disk_gib: Option<String>,
) -> Result<Image, ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(crate::domain::Permission::ManageImages)).await?;
    let min_disk_gib = match min_disk_gib.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return super::ssr::fail(
                    http::StatusCode::UNPROCESSABLE_ENTITY,
                    format!("min_disk_gib: {s:?} is not a whole number of GiB"),
                );
            }
        },
    };
    let new = crate::domain::images::NewImage { name, url, sha256, format, min_disk_gib };
    backend.add_image(&actor, &new).await.map_err(super::ssr::service_error)
}

/// Retires an image: no new deployment may choose it.
#[server(endpoint = "retire_image", output = crate::api::codec::Json)]
pub async fn retire_image(id: i64) -> Result<Image, ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(crate::domain::Permission::ManageImages)).await?;
    backend.retire_image(&actor, id).await.map_err(super::ssr::service_error)
}

/// Writes a catalog image to a used server again; `overwrite` (a checkbox) confirms
/// that its disk is overwritten.
#[server(endpoint = "redeploy_server", output = crate::api::codec::Json)]
pub async fn redeploy_server(
    id: i64,
    image: String,
    #[server(default)] overwrite: Option<String>,
) -> Result<(), ActionError> {
    let (backend, user, _) = super::ssr::require_access(super::DEPLOY).await?;
    if overwrite.is_none() {
        return super::ssr::fail(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "overwrite: confirm that the server's disk is overwritten",
        );
    }
    backend.redeploy(&user, id, &image).await.map(|_| ()).map_err(super::ssr::service_error)
}

/// Sets the disk images are written to on a server (empty: the smallest that fits).
#[server(endpoint = "set_root_disk", output = crate::api::codec::Json)]
pub async fn set_root_disk(id: i64, #[server(default)] serial: Option<String>) -> Result<(), ActionError> {
    let (backend, user, _) = super::ssr::require(Some(crate::domain::Permission::DeployAnyServer)).await?;
    backend.set_root_disk(&user, id, serial.as_deref()).await.map_err(super::ssr::service_error)
}
