//! Server notes: Markdown, every version kept with who and when. Saving names the
//! version the editor started from; if someone saved in between, the save is refused
//! with their change shown, and nothing is lost (the editor still holds its text).

use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::store::{self, events::NewEvent, now_ms};
use crate::domain::EventKind;
use crate::model::Notes;

/// The largest notes text.
pub const MAX_NOTES: usize = 64 * 1024;

/// Versions in one page of the history (a read never returns every version: a
/// server's notes may have thousands, each up to 64 KiB).
pub const NOTES_PAGE: i64 = 20;
/// The most versions one read may ask for.
pub const MAX_NOTES_PAGE: i64 = 100;

impl Backend {
    /// The current notes and the newest page of their history.
    pub async fn notes(&self, server_id: i64) -> Result<Notes, ServiceError> {
        self.notes_page(server_id, None, NOTES_PAGE).await
    }

    /// The current notes and up to `limit` versions older than `before` (the
    /// `next_before` of the previous page), newest first.
    pub async fn notes_page(&self, server_id: i64, before: Option<i64>, limit: i64) -> Result<Notes, ServiceError> {
        if !(1..=MAX_NOTES_PAGE).contains(&limit) {
            return Err(ServiceError::invalid("limit", format!("must be from 1 to {MAX_NOTES_PAGE}")));
        }
        if before.is_some_and(|b| b < 1) {
            return Err(ServiceError::invalid("before", "must be a version number (1 or more)"));
        }
        let mut conn = self.db.conn().await?;
        store::servers::get(&mut conn, server_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound { what: format!("server {server_id}") })?;
        let (text, version) =
            store::notes::latest(&mut conn, server_id).await?.map(|n| (n.text, n.version)).unwrap_or_default();
        // One more than asked for says whether an older page exists.
        let mut history = store::notes::history(&mut conn, server_id, before, limit + 1).await?;
        let next_before = (history.len() as i64 > limit).then(|| {
            history.truncate(limit as usize);
            history.last().map(|v| v.version).unwrap_or_default()
        });
        let html = crate::domain::markdown::render(&text);
        Ok(Notes { text, html, version, history, next_before })
    }

    /// The editor's preview: `text` rendered as it would be once saved.
    pub fn preview_notes(&self, text: &str) -> Result<String, ServiceError> {
        check_size(text)?;
        Ok(crate::domain::markdown::render(text))
    }

    /// Saves a new version on top of `base_version` (the one the editor loaded).
    pub async fn save_notes(
        &self,
        actor: &Actor,
        server_id: i64,
        text: &str,
        base_version: i64,
    ) -> Result<Notes, ServiceError> {
        check_size(text)?;
        let now = now_ms();
        let (actor, text) = (actor.clone(), text.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                let text = text.as_str();
                store::servers::get(tx, server_id)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound { what: format!("server {server_id}") })?;
                let current = store::notes::current_version(tx, server_id).await?;
                if current != base_version {
                    let theirs = store::notes::latest(tx, server_id).await?;
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
                if !store::notes::insert(tx, server_id, version, text, &author, now).await? {
                    return Err(ServiceError::Conflict {
                        message: format!("someone saved version {version} at the same moment; reload to see it"),
                    });
                }
                let event = NewEvent {
                    from_value: Some(&current.to_string()),
                    to_value: Some(&version.to_string()),
                    ..NewEvent::about(server_id, &author, EventKind::NotesEdited)
                };
                store::events::append(tx, &event, now).await?;
                Ok(())
            })
        })
        .await?;
        self.notes(server_id).await
    }
}

fn check_size(text: &str) -> Result<(), ServiceError> {
    if text.len() > MAX_NOTES {
        return Err(ServiceError::invalid("text", format!("at most {} KiB", MAX_NOTES / 1024)));
    }
    Ok(())
}
