//! BMC password rotation: who may ask (those who edit BMC access), the job that
//! carries it out, and the pending password it keeps from the moment it is generated
//! until the BMC took it and a login with it worked. Nothing replaces the stored
//! password before that; a rotation that stopped in between finds the pending one.

use super::lifecycle::{JobParams, not_found, queue_job};
use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::secrets::SecretString;
use crate::backend::store::{self, events::NewEvent, now_ms};
use crate::domain::{EventKind, JobKind, Permission, ServerState};
use crate::model::UserView;

/// The length of a generated BMC password: within what common BMCs accept (iDRAC
/// and Supermicro take at most 20 characters).
const PASSWORD_LEN: usize = 16;

/// A random BMC password: letters and digits, at least one upper-case letter, one
/// lower-case letter and one digit (what BMC password policies ask for).
pub fn random_bmc_password() -> SecretString {
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const DIGITS: &[u8] = b"23456789";
    let all: Vec<u8> = [UPPER, LOWER, DIGITS].concat();
    loop {
        let bytes = crate::backend::secrets::random_bytes::<PASSWORD_LEN>();
        let p: String = bytes.iter().map(|b| all[*b as usize % all.len()] as char).collect();
        let has = |set: &[u8]| p.bytes().any(|c| set.contains(&c));
        if has(UPPER) && has(LOWER) && has(DIGITS) {
            return SecretString::new(p);
        }
    }
}

impl Backend {
    /// Queues a rotation of server `id`'s BMC password; audited. Refused while a job
    /// runs, without a stored password, or for a decommissioned server.
    pub async fn request_bmc_rotation(&self, caller: &UserView, id: i64) -> Result<i64, ServiceError> {
        if !caller.role.can(Permission::EditBmc) {
            return Err(ServiceError::Forbidden {
                message: format!("your role ({}) may not change BMC credentials", caller.role),
            });
        }
        self.queue_bmc_rotation(&Actor::user(caller.username.clone()), id).await
    }

    /// Queues a rotation as `actor` (a person, or a registration that was asked to set
    /// a random password), with the same refusals.
    pub async fn queue_bmc_rotation(&self, actor: &Actor, id: i64) -> Result<i64, ServiceError> {
        let now = now_ms();
        let who = actor.audit_name();
        self.write_runnable(move |tx| {
            Box::pin(async move {
                let server = store::servers::get(tx, id).await?.ok_or_else(|| not_found(id))?;
                let refuse = |why: &str| {
                    Err(ServiceError::Conflict {
                        message: format!("cannot rotate {}'s BMC password: {why}", server.name),
                    })
                };
                if server.state == ServerState::Decommissioned {
                    return refuse("it is decommissioned (its password was forgotten)");
                }
                if store::jobs::has_active(tx, id).await? {
                    return refuse("a job is running on it; wait for it or abort it first");
                }
                let row = store::servers::bmc_credentials(tx, id).await?.ok_or_else(|| not_found(id))?;
                if row.bmc_secret.is_none() {
                    return refuse("no BMC password is stored; enter it in the BMC access card first");
                }
                let job = queue_job(tx, id, JobKind::RotateBmcPassword, &JobParams::default(), now).await?;
                let details = format!("job #{job}");
                let event =
                    NewEvent { details: Some(&details), ..NewEvent::about(id, &who, EventKind::BmcRotationRequested) };
                store::events::append(tx, &event, now).await?;
                Ok(job)
            })
        })
        .await
    }

    /// Keeps `password` as the server's pending BMC password (sealed, bound to the
    /// BMC address as the stored one is), before the BMC is asked to take it.
    pub async fn bmc_rotation_begin(&self, id: i64, password: &SecretString) -> Result<(), ServiceError> {
        let mut conn = self.db.conn().await?;
        let row = store::servers::bmc_credentials(&mut conn, id).await?.ok_or_else(|| not_found(id))?;
        let binding = super::identity::bmc_binding(&row.bmc_address, row.bmc_verify_tls != 0);
        let sealed = self.secrets.seal_for(password, &binding);
        drop(conn);
        Ok(self
            .db
            .write_one(move |c| {
                Box::pin(async move { store::servers::set_bmc_secret_pending(c, id, Some(&sealed)).await })
            })
            .await?)
    }

    /// The pending BMC password, if a rotation left one.
    pub async fn bmc_rotation_pending(&self, id: i64) -> Result<Option<SecretString>, ServiceError> {
        let mut conn = self.db.conn().await?;
        let row = store::servers::bmc_credentials(&mut conn, id).await?.ok_or_else(|| not_found(id))?;
        let Some(sealed) = store::servers::bmc_secret_pending(&mut conn, id).await? else { return Ok(None) };
        let binding = super::identity::bmc_binding(&row.bmc_address, row.bmc_verify_tls != 0);
        self.secrets
            .open_for(&sealed, &binding)
            .map(Some)
            .map_err(|e| ServiceError::Conflict { message: e.to_string() })
    }

    /// The pending password worked: it becomes the stored one (the old is gone);
    /// audited without either.
    pub async fn bmc_rotation_commit(&self, id: i64, job: i64) -> Result<(), ServiceError> {
        let now = now_ms();
        self.write(move |tx| {
            Box::pin(async move {
                if !store::servers::promote_bmc_secret_pending(tx, id, now).await? {
                    return Err(ServiceError::Conflict { message: format!("server {id} has no pending BMC password") });
                }
                let who = Actor::system(format!("rotate_bmc_password job {job}")).audit_name();
                let event = NewEvent::about(id, &who, EventKind::BmcPasswordRotated);
                store::events::append(tx, &event, now).await?;
                Ok(())
            })
        })
        .await
    }

    /// The rotation stopped and the stored password is still the BMC's: the pending
    /// one is dropped.
    pub async fn bmc_rotation_abandon(&self, id: i64) -> Result<(), ServiceError> {
        Ok(self.db.write_one(move |c| Box::pin(store::servers::set_bmc_secret_pending(c, id, None))).await?)
    }
}
