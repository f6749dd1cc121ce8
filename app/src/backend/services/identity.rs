//! Which machine a server is, applied: one BMC address and one serial per live
//! server, secrets sealed for the BMC they were entered for, and the check every
//! destructive job makes before it touches power, boot or media (recording the
//! identity at first registration, refusing and auditing a mismatch afterwards).

use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::store::{self, events::NewEvent, now_ms};
use crate::domain::EventKind;
use crate::domain::identity::{self, MachineIdentity};
use sqlx::AnyConnection;

/// What a BMC password is sealed for: the normalised address and the TLS setting. A
/// secret sealed for one binding cannot be opened for another (AEAD associated data),
/// so it is never sent to an address it was not entered for.
pub fn bmc_binding(address: &str, verify_tls: bool) -> String {
    format!("{}|tls={}", identity::bmc_key(address), u8::from(verify_tls))
}

/// Refuses a BMC address whose host is (or resolves to) an address credentials may
/// not go to (`RACKSTATE_BMC_NETWORKS`); 422 on `bmc_address`. A name that does not
/// resolve yet is accepted here: every connection checks again.
pub(crate) async fn ensure_reachable(reach: &crate::backend::BmcReach, address: &str) -> Result<(), ServiceError> {
    let url = crate::domain::bmc_address::parse(address).map_err(|m| ServiceError::invalid("bmc_address", m))?;
    ensure_host_allowed(reach, "bmc_address", &url.host, url.port).await
}

/// Refuses a host that is (or resolves to) an address outside `RACKSTATE_BMC_NETWORKS`
/// (422 on `field`); a name that does not resolve yet is accepted.
pub(crate) async fn ensure_host_allowed(
    reach: &crate::backend::BmcReach,
    field: &'static str,
    host: &str,
    port: u16,
) -> Result<(), ServiceError> {
    let addrs: Vec<std::net::SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![std::net::SocketAddr::new(ip, port)],
        Err(_) => {
            let lookup = tokio::net::lookup_host((host, port));
            match tokio::time::timeout(std::time::Duration::from_secs(3), lookup).await {
                Ok(Ok(found)) => found.collect(),
                _ => Vec::new(),
            }
        }
    };
    for a in addrs {
        reach.networks.allows(a).map_err(|why| ServiceError::invalid(field, format!("not allowed: {why}")))?;
    }
    Ok(())
}

/// Refuses a BMC address another live server holds (409 naming it). Call after
/// [`store::identity::lock`] on the address in the transaction that writes it.
pub(crate) async fn ensure_bmc_free(conn: &mut AnyConnection, address: &str, except: i64) -> Result<(), ServiceError> {
    let key = identity::bmc_key(address);
    match store::identity::holder_of_bmc(conn, &key, except).await? {
        Some((id, name)) => Err(ServiceError::Conflict {
            message: format!(
                "bmc_address: server {name} (#{id}) already has the BMC at {address}; two servers cannot share one \
                 machine (decommission or remove that one first)"
            ),
        }),
        None => Ok(()),
    }
}

/// Refuses a serial another live server holds (409 naming it). Call after
/// [`store::identity::lock`] on the serial in the transaction that records it.
pub(crate) async fn ensure_serial_free(
    conn: &mut AnyConnection,
    serial: &str,
    except: i64,
) -> Result<(), ServiceError> {
    match store::identity::holder_of_serial(conn, serial, except).await? {
        Some((id, name)) => Err(ServiceError::Conflict {
            message: format!(
                "serial {}: server {name} (#{id}) has this serial already; one machine cannot be two servers",
                serial.trim()
            ),
        }),
        None => Ok(()),
    }
}

impl Backend {
    /// The gate of every job that powers, boots, or ejects: compares what the BMC
    /// says the machine is (`seen`) with what was recorded. With nothing recorded yet
    /// (first registration), records it, unless another live server holds that
    /// serial. A mismatch is audited (`identity_mismatch`) and returned as
    /// [`ServiceError::IdentityMismatch`]; the job then stops before any action.
    pub async fn check_identity(
        &self,
        actor: &Actor,
        server_id: i64,
        seen: &MachineIdentity,
    ) -> Result<(), ServiceError> {
        let recorded = store::identity::recorded(&mut *self.db.conn().await?, server_id).await?;
        self.check_identity_against(actor, server_id, recorded.as_ref(), seen).await
    }

    /// `check_identity` with what was recorded as the job read it moments ago (with
    /// the BMC's credentials, `bmc_access`): the common case, everything recorded and
    /// the same machine, then costs no statement. Anything else is decided in the
    /// write transaction, on what is recorded then.
    pub async fn check_identity_against(
        &self,
        actor: &Actor,
        server_id: i64,
        recorded: Option<&MachineIdentity>,
        seen: &MachineIdentity,
    ) -> Result<(), ServiceError> {
        if let Some(recorded) = recorded
            && !recorded.is_empty()
            && (!recorded.manager_uuid.is_empty() || seen.manager_uuid.is_empty())
            && identity::compare(recorded, seen).is_ok()
        {
            return Ok(());
        }
        let now = now_ms();
        let (actor, seen) = (actor.clone(), seen.clone());
        // A mismatch is committed (its audit event) and then returned.
        self.write(move |tx| {
            Box::pin(async move {
                store::identity::lock(tx, store::identity::Claim::Serial(&seen.serial)).await?;
                let recorded = store::identity::recorded(tx, server_id)
                    .await?
                    .ok_or_else(|| super::lifecycle::not_found(server_id))?;
                let verdict = if recorded.is_empty() {
                    ensure_serial_free(tx, &seen.serial, server_id).await.map_err(|e| ServiceError::IdentityMismatch {
                        message: format!("identity_mismatch: {e}; nothing was powered, booted or erased"),
                    })
                } else {
                    identity::compare(&recorded, &seen)
                        .map_err(|m| ServiceError::IdentityMismatch { message: m.to_string() })
                };
                match &verdict {
                    Ok(()) => store::identity::record(tx, server_id, &seen).await?,
                    Err(e) => {
                        let details = serde_json::json!({ "recorded": recorded, "seen": seen }).to_string();
                        let who = actor.audit_name();
                        let event = NewEvent {
                            reason: Some(&e.to_string()),
                            details: Some(&details),
                            ..NewEvent::about(server_id, &who, EventKind::IdentityMismatch)
                        };
                        store::events::append(tx, &event, now).await?;
                    }
                }
                Ok(verdict)
            })
        })
        .await?
    }

    /// What was recorded of a server's machine (the server page, tests).
    pub async fn recorded_identity(&self, server_id: i64) -> Result<MachineIdentity, ServiceError> {
        let mut conn = self.db.conn().await?;
        store::identity::recorded(&mut conn, server_id).await?.ok_or_else(|| super::lifecycle::not_found(server_id))
    }
}
