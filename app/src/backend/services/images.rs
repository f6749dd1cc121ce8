//! The image catalog: admins add and retire images (audited); everyone logged in
//! lists the current ones (tenants choose from them when they allocate).

use super::identity::ensure_host_allowed;
use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::store::{self, events::NewEvent, now_ms};
use crate::domain::EventKind;
use crate::domain::images::{NewImage, url_host};
use crate::model::Image;

impl Backend {
    /// Adds an image to the catalog; every wrong field is named (422), a taken name
    /// is a conflict. The URL's host must be in `RACKSTATE_BMC_NETWORKS`.
    pub async fn add_image(&self, actor: &Actor, new: &NewImage) -> Result<Image, ServiceError> {
        let image = new.check().map_err(|errors| match ServiceError::check_fields(errors) {
            Err(e) => e,
            Ok(()) => ServiceError::invalid("image", "invalid"),
        })?;
        let (host, port) = url_host(&image.url).ok_or_else(|| ServiceError::invalid("url", "no host"))?;
        ensure_host_allowed(&self.bmc_reach, "url", &host, port).await?;
        let now = now_ms();
        let actor = actor.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let Some(id) = store::images::insert(tx, &image, &actor.audit_name(), now).await? else {
                    return Err(ServiceError::Conflict {
                        message: format!("name: an image named {} exists already", image.name),
                    });
                };
                let who = actor.audit_name();
                let details = format!("{} {} sha256 {}", image.format, image.url, image.sha256);
                let event = NewEvent {
                    to_value: Some(&image.name),
                    details: Some(&details),
                    ..NewEvent::fleet(&who, EventKind::ImageAdded)
                };
                store::events::append(tx, &event, now).await?;
                let added = store::images::get(tx, id).await?.ok_or_else(|| not_found(id))?;
                Ok(added)
            })
        })
        .await
    }

    /// Retires an image: deployments that used it keep it; no new one may choose it.
    pub async fn retire_image(&self, actor: &Actor, id: i64) -> Result<Image, ServiceError> {
        let now = now_ms();
        let actor = actor.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let image = store::images::get(tx, id).await?.ok_or_else(|| not_found(id))?;
                if !store::images::retire(tx, id, now).await? {
                    return Err(ServiceError::Conflict { message: format!("image {} is retired already", image.name) });
                }
                let who = actor.audit_name();
                let event = NewEvent { to_value: Some(&image.name), ..NewEvent::fleet(&who, EventKind::ImageRetired) };
                store::events::append(tx, &event, now).await?;
                Ok(Image { retired_at: Some(now), ..image })
            })
        })
        .await
    }

    /// The catalog by name (retired images only when asked).
    pub async fn images(&self, with_retired: bool) -> Result<Vec<Image>, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::images::list(&mut conn, with_retired).await?)
    }

    /// A current image by name, for a deployment; a retired or unknown one is refused
    /// on `field`.
    pub(crate) async fn image_for_deploy(conn: &mut sqlx::AnyConnection, name: &str) -> Result<Image, ServiceError> {
        match store::images::by_name(conn, name).await? {
            Some(i) if i.retired_at.is_none() => Ok(i),
            Some(i) => Err(ServiceError::invalid("image", format!("{} is retired; choose a current image", i.name))),
            None => Err(ServiceError::invalid("image", format!("no image named {:?} in the catalog", name.trim()))),
        }
    }
}

fn not_found(id: i64) -> ServiceError {
    ServiceError::NotFound { what: format!("image {id}") }
}
