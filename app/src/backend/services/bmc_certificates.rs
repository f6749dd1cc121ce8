//! Trust on first use of self-signed BMC certificates (rules in
//! `domain::tls_pin`): jobs report the certificate they saw; the first is pinned, a
//! different one stops the server's jobs until an admin accepts it. Each step is
//! audited on the server.

use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::store::{self, events::NewEvent, now_ms};
use crate::domain::EventKind;
use crate::domain::tls_pin::{PinVerdict, display, judge, normalise};

use crate::model::CertificatePin;

impl Backend {
    /// The pin of a server's BMC certificate.
    pub async fn bmc_certificate(&self, id: i64) -> Result<CertificatePin, ServiceError> {
        let mut conn = self.db.conn().await?;
        let (pinned, offered) = store::bmc_certificates::get(&mut conn, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound { what: format!("server {id}") })?;
        Ok(CertificatePin { pinned, offered })
    }

    /// A job saw `fingerprint` at the server's BMC: pins it the first time; Err (with
    /// what to do) when it is not the pinned one.
    pub async fn check_bmc_certificate(&self, actor: &Actor, id: i64, fingerprint: &str) -> Result<(), ServiceError> {
        let now = now_ms();
        let (who, seen) = (actor.audit_name(), fingerprint.to_string());
        // None: another job pinned one at the same moment; judged again against it.
        let outcome = self
            .write(move |tx| {
                Box::pin(async move {
                    let fingerprint = seen.as_str();
                    let (pinned, _) = store::bmc_certificates::get(tx, id)
                        .await?
                        .ok_or_else(|| ServiceError::NotFound { what: format!("server {id}") })?;
                    let verdict = judge(pinned.as_deref(), fingerprint);
                    let (kind, to) = match verdict {
                        PinVerdict::Match => return Ok(Some(Ok(()))),
                        PinVerdict::Pin => {
                            if !store::bmc_certificates::pin_first(tx, id, fingerprint, now).await? {
                                return Ok(None);
                            }
                            (EventKind::BmcCertificatePinned, display(fingerprint))
                        }
                        PinVerdict::Changed => {
                            if !store::bmc_certificates::offer(tx, id, fingerprint, now).await? {
                                return Ok(Some(Err(changed(pinned.as_deref().unwrap_or_default(), fingerprint))));
                            }
                            (EventKind::BmcCertificateChanged, display(fingerprint))
                        }
                    };
                    let from = pinned.as_deref().map(display);
                    let e = NewEvent {
                        from_value: from.as_deref(),
                        to_value: Some(&to),
                        ..NewEvent::about(id, &who, kind)
                    };
                    store::events::append(tx, &e, now).await?;
                    // A changed certificate is recorded (for an admin to accept), then refused.
                    Ok(Some(match verdict {
                        PinVerdict::Changed => Err(changed(pinned.as_deref().unwrap_or_default(), fingerprint)),
                        _ => Ok(()),
                    }))
                })
            })
            .await?;
        match outcome {
            Some(done) => done,
            None => Box::pin(self.check_bmc_certificate(actor, id, fingerprint)).await,
        }
    }

    /// An admin trusts the certificate a job reported as changed (`fingerprint`, as
    /// shown on the page): it becomes the pin.
    pub async fn accept_bmc_certificate(&self, actor: &Actor, id: i64, fingerprint: &str) -> Result<(), ServiceError> {
        let fp = normalise(fingerprint)
            .ok_or_else(|| ServiceError::invalid("fingerprint", "must be a SHA-256 fingerprint (64 hex digits)"))?;
        let now = now_ms();
        let actor = actor.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let (pinned, offered) = store::bmc_certificates::get(tx, id)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound { what: format!("server {id}") })?;
                if offered.as_deref() != Some(fp.as_str()) || !store::bmc_certificates::accept(tx, id, &fp, now).await?
                {
                    return Err(ServiceError::Conflict {
                        message: "that is not the certificate the BMC presented last; reload the page".into(),
                    });
                }
                let from = pinned.as_deref().map(display);
                let who = actor.audit_name();
                let e = NewEvent {
                    from_value: from.as_deref(),
                    to_value: Some(&display(&fp)),
                    ..NewEvent::about(id, &who, EventKind::BmcCertificateAccepted)
                };
                store::events::append(tx, &e, now).await?;
                Ok(())
            })
        })
        .await
    }
}

fn changed(pinned: &str, seen: &str) -> ServiceError {
    ServiceError::Conflict {
        message: format!(
            "the BMC presented a different TLS certificate (SHA-256 {}) than the one pinned at first use ({}): \
             nothing was sent. If the change is expected (a new BMC certificate or a reset), an admin accepts \
             it in the server's BMC access card, then retry",
            display(seen),
            display(pinned)
        ),
    }
}
