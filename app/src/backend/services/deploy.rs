//! Deploying an operating system: allocation (or a re-deploy) queues one deploy job
//! per server with the image as the catalog describes it; the job boots the live
//! image, whose agent writes and verifies the image (`write_image`), then boots the
//! server from its disk. The server stays its tenant's (`used`) whatever happens.

use super::lifecycle::{JobParams, held_for_change, not_found, queue_job};
use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::store::{self, events::NewEvent, now_ms};
use crate::domain::EventKind;
use crate::domain::agent::{ConfigDrive, WriteImage};
use crate::domain::bmc_address::redact as redact_bmc;
use crate::domain::images::redeploy_refusal;
use crate::domain::{JobKind, Permission};
use crate::model::{DeployView, Image, UserView};

/// What a server's config drive carries besides its host name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OsConfig {
    pub ssh_keys: Vec<String>,
    pub user_data: Option<String>,
}

/// Queues the deploy job of `image` on a server, in the caller's transaction, and
/// audits it.
pub(crate) async fn queue_deploy(
    tx: &mut sqlx::AnyConnection,
    actor: &Actor,
    server: &crate::model::Server,
    image: &Image,
    os: &OsConfig,
    now: i64,
) -> Result<i64, ServiceError> {
    let server_id = server.id;
    let write_image = WriteImage {
        url: image.url.clone(),
        sha256: image.sha256.clone(),
        format: image.format,
        min_disk_bytes: image.min_disk_bytes,
        root_disk_serial: store::servers::root_disk_serial(&mut *tx, server_id).await?,
        // A new instance id per deployment: cloud-init runs its first boot again.
        config_drive: Some(ConfigDrive {
            instance_id: format!("rackstate-{server_id}-{now}"),
            hostname: crate::domain::images::hostname(&server.name, server_id),
            ssh_keys: os.ssh_keys.clone(),
            user_data: os.user_data.clone(),
        }),
    };
    let params = JobParams { write_image: Some(write_image), image: Some(image.name.clone()), ..JobParams::default() };
    let job = queue_job(&mut *tx, server_id, JobKind::Deploy, &params, now).await?;
    let who = actor.audit_name();
    let details = format!("deploy job #{job}");
    let event = NewEvent {
        to_value: Some(&image.name),
        details: Some(&details),
        ..NewEvent::about(server_id, &who, EventKind::DeployRequested)
    };
    store::events::append(&mut *tx, &event, now).await?;
    Ok(job)
}

impl Backend {
    /// Writes `image` to a used server again (its disk is overwritten); refused while
    /// a job runs, for servers that are not the caller's (tenants), or not used.
    pub async fn redeploy(&self, caller: &UserView, id: i64, image: &str) -> Result<i64, ServiceError> {
        let now = now_ms();
        let (caller, image) = (caller.clone(), image.to_string());
        self.write_runnable(move |tx| {
            Box::pin(async move {
                let (server, active_job, own) = held_for_change(tx, &caller, id).await?;
                if let Some(why) = redeploy_refusal(caller.role, server.state, own, active_job) {
                    return Err(if why.starts_with("your role") {
                        ServiceError::Forbidden { message: why }
                    } else {
                        ServiceError::Conflict { message: format!("cannot deploy to {}: {why}", server.name) }
                    });
                }
                let image = Backend::image_for_deploy(tx, &image).await?;
                let actor = Actor::user(caller.username.clone());
                let (ssh_keys, user_data) = store::deployments::os_config_of_server(tx, id).await?;
                let job = queue_deploy(tx, &actor, &server, &image, &OsConfig { ssh_keys, user_data }, now).await?;
                Ok(job)
            })
        })
        .await
    }

    /// Sets which disk images are written to (a serial of the server's last
    /// inventory), or clears it (None: the smallest disk that fits). Audited.
    pub async fn set_root_disk(&self, caller: &UserView, id: i64, serial: Option<&str>) -> Result<(), ServiceError> {
        if !caller.role.can(Permission::DeployAnyServer) {
            return Err(ServiceError::Forbidden {
                message: format!("your role ({}) may not choose root disks", caller.role),
            });
        }
        let serial = serial.map(str::trim).filter(|s| !s.is_empty());
        let now = now_ms();
        let (caller, serial) = (caller.clone(), serial.map(str::to_string));
        self.write(move |tx| {
            Box::pin(async move {
                let serial = serial.as_deref();
                store::servers::get(tx, id).await?.ok_or_else(|| not_found(id))?;
                if let Some(serial) = serial {
                    let inventory = store::inventories::latest(tx, id, 1).await?.into_iter().next();
                    let disks: Vec<String> =
                        inventory.map(|i| i.disks.into_iter().map(|d| d.serial).collect()).unwrap_or_default();
                    if !disks.iter().any(|d| d == serial) {
                        return Err(ServiceError::invalid(
                            "serial",
                            format!(
                                "no disk with serial {serial} in the server's inventory (its disks: {})",
                                if disks.is_empty() { "none recorded".to_string() } else { disks.join(", ") }
                            ),
                        ));
                    }
                }
                store::servers::set_root_disk_serial(tx, id, serial, now).await?;
                let who = Actor::user(caller.username.clone()).audit_name();
                let event = NewEvent {
                    to_value: Some(serial.unwrap_or("automatic")),
                    ..NewEvent::about(id, &who, EventKind::RootDiskSet)
                };
                store::events::append(tx, &event, now).await?;
                Ok(())
            })
        })
        .await
    }

    /// The root-disk choice for a caller who may set it: the current hint and the
    /// server's disks (serial, description).
    pub async fn root_disk_choice(
        &self,
        caller: &UserView,
        id: i64,
    ) -> Result<Option<crate::model::RootDiskChoice>, ServiceError> {
        if !caller.role.can(Permission::DeployAnyServer) {
            return Ok(None);
        }
        let mut conn = self.db.conn().await?;
        let current = store::servers::root_disk_serial(&mut conn, id).await?;
        let inventory = store::inventories::latest(&mut conn, id, 1).await?.into_iter().next();
        let disks = inventory
            .map(|i| {
                i.disks
                    .into_iter()
                    .map(|d| {
                        let label =
                            format!("{} {} ({})", d.serial, d.model, crate::domain::inventory::size_text(d.size_bytes));
                        (d.serial, label)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(crate::model::RootDiskChoice { current, disks }))
    }

    /// The server's latest deployment of an image as the caller may see it: which
    /// image, how far, and why it failed (for a tenant without the BMC's address).
    pub async fn deploy_status(&self, caller: &UserView, id: i64) -> Result<Option<DeployView>, ServiceError> {
        let server = self.server_for(caller, id).await?;
        let mut conn = self.db.conn().await?;
        let Some((job, updated_at)) = store::jobs::latest_of_kind(&mut conn, id, JobKind::Deploy).await? else {
            return Ok(None);
        };
        let params: JobParams = serde_json::from_str(&job.params).unwrap_or_default();
        let image = params.image;
        let mut steps: Vec<String> =
            store::jobs::steps(&mut conn, job.id).await?.into_iter().map(|(_, message)| message).collect();
        let mut error = job.last_error;
        if !caller.role.can(Permission::ViewFleet) {
            let address =
                store::servers::bmc_credentials(&mut conn, id).await?.map(|c| c.bmc_address).unwrap_or_default();
            error = error.map(|e| redact_bmc(&e, &address));
            steps = steps.into_iter().map(|m| redact_bmc(&m, &address)).collect();
        }
        let own = server.reserved_for.as_deref() == Some(caller.username.as_str());
        let active = job.status.is_active();
        Ok(Some(DeployView {
            job_id: job.id,
            image,
            status: job.status,
            error,
            steps,
            updated_at,
            redeploy_refusal: redeploy_refusal(caller.role, server.state, own, active),
        }))
    }
}
