//! Server notes: Markdown, every version kept with who and when. Saving names the
//! version the editor started from; if someone saved in between, the save is refused
//! with their change shown, and nothing is lost (the editor still holds its text).

use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::store::{self, events::NewEvent, now_ms};
use crate::model::Notes;

/// The largest notes text.
pub const MAX_NOTES: usize = 64 * 1024;

impl Backend {
    pub async fn notes(&self, server_id: i64) -> Result<Notes, ServiceError> {
        let mut conn = self.db.conn().await?;
        store::servers::get(&mut conn, server_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound { what: format!("server {server_id}") })?;
        let history = store::notes::history(&mut conn, server_id).await?;
        let (text, version) = history.first().map(|n| (n.text.clone(), n.version)).unwrap_or_default();
        Ok(Notes { text, version, history })
    }

    /// Saves a new version on top of `base_version` (the one the editor loaded).
    pub async fn save_notes(
        &self,
        actor: &Actor,
        server_id: i64,
        text: &str,
        base_version: i64,
    ) -> Result<Notes, ServiceError> {
        if text.len() > MAX_NOTES {
            return Err(ServiceError::invalid("text", format!("at most {} KiB", MAX_NOTES / 1024)));
        }
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        store::servers::get(&mut tx, server_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound { what: format!("server {server_id}") })?;
        let current = store::notes::current_version(&mut tx, server_id).await?;
        if current != base_version {
            let theirs = store::notes::history(&mut tx, server_id).await?.into_iter().next();
            let message = match theirs {
                Some(t) => format!(
                    "{} saved version {} while you edited version {base_version}; your text is kept in the editor. \
                     Their version:\n{}",
                    t.author, t.version, t.text
                ),
                None => format!("the notes are at version {current}, not {base_version}; reload"),
            };
            return Err(ServiceError::Conflict { message });
        }
        let version = current + 1;
        let author = actor.audit_name();
        if !store::notes::insert(&mut tx, server_id, version, text, &author, now).await? {
            return Err(ServiceError::Conflict {
                message: format!("someone saved version {version} at the same moment; reload to see it"),
            });
        }
        let event = NewEvent {
            server_id: Some(server_id),
            actor: &author,
            kind: "notes_edited",
            from_value: Some(&current.to_string()),
            to_value: Some(&version.to_string()),
            reason: None,
            details: None,
        };
        store::events::append(&mut tx, &event, now).await?;
        tx.commit().await.map_err(|e| ServiceError::Internal(crate::backend::DbError::query("committing", e)))?;
        self.notes(server_id).await
    }
}
