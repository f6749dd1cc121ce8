//! Hardware changes need a look: someone who may acknowledges the changes a
//! registration found (with a comment, audited with the changes they saw), so the
//! server may be set available again.

use super::lifecycle::{MAX_REASON, not_found, stale};
use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::store::{self, events::NewEvent, now_ms};
use crate::domain::{EventKind, Permission};
use crate::model::{Server, UserView};

impl Backend {
    /// Accepts the server's hardware as its last registration found it. `generation`
    /// is the one the caller saw: changes found since are not acknowledged unseen.
    pub async fn acknowledge_hardware(
        &self,
        caller: &UserView,
        id: i64,
        generation: i64,
        comment: &str,
    ) -> Result<Server, ServiceError> {
        if !caller.role.can(Permission::AcknowledgeHardware) {
            return Err(ServiceError::Forbidden {
                message: format!("your role ({}) may not acknowledge hardware changes", caller.role),
            });
        }
        let comment = comment.trim();
        if comment.is_empty() {
            return Err(ServiceError::invalid("comment", "say what you checked (e.g. the ticket of the repair)"));
        }
        if comment.chars().count() > MAX_REASON {
            return Err(ServiceError::invalid("comment", format!("at most {MAX_REASON} characters")));
        }
        if comment.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err(ServiceError::invalid("comment", "control characters are not allowed"));
        }
        let now = now_ms();
        let (who, comment) = (Actor::user(caller.username.clone()).audit_name(), comment.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                let server = store::servers::get(tx, id).await?.ok_or_else(|| not_found(id))?;
                if server.generation != generation {
                    return Err(stale(&server));
                }
                if server.hardware_changes.is_empty() {
                    return Err(ServiceError::Conflict {
                        message: format!("server {} has no hardware changes to acknowledge", server.name),
                    });
                }
                if !store::servers::acknowledge_hardware(tx, id, generation, now).await? {
                    let current = store::servers::get(tx, id).await?.ok_or_else(|| not_found(id))?;
                    return Err(stale(&current));
                }
                let seen = serde_json::to_string(&server.hardware_changes).expect("changes serialize");
                let summary = format!("{} change(s)", server.hardware_changes.len());
                let event = NewEvent {
                    reason: Some(&comment),
                    to_value: Some(&summary),
                    details: Some(&seen),
                    ..NewEvent::about(id, &who, EventKind::HardwareAcknowledged)
                };
                store::events::append(tx, &event, now).await?;
                Ok(store::servers::get(tx, id).await?.ok_or_else(|| not_found(id))?)
            })
        })
        .await
    }
}
