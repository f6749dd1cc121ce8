//! Webhooks and the event stream, applied: admins add, change and remove webhooks
//! (audited; URLs under the BMC address policy), see the delivery log and redeliver;
//! senders claim and record attempts; a stream reads the audit as its caller may see
//! it.

use super::identity::ensure_host_allowed;
use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::secrets::SecretString;
use crate::backend::store::webhooks::{Attempt, Cursor};
use crate::backend::store::{self, events::NewEvent, now_ms};
use crate::domain::bmc_address::redact as redact_bmc;
use crate::domain::webhooks::{self as rules, DeliveryStatus, Topics};
use crate::domain::{EventKind, Permission};
use crate::model::{NewWebhook, StreamEvent, UserView, Webhook, WebhookDelivery};

/// What an admin asks for when adding a webhook.
#[derive(Clone, Debug, Default)]
pub struct WebhookRequest {
    pub url: String,
    pub topics: Topics,
    pub description: String,
    /// Empty: Rackstate makes one (shown once).
    pub secret: String,
}

/// The binding a webhook's secret is sealed for: it opens only for the URL it was
/// entered with.
fn secret_binding(url: &str) -> String {
    format!("webhook|{url}")
}

fn may_manage(caller: &UserView) -> Result<(), ServiceError> {
    if caller.role.can(Permission::ManageWebhooks) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden { message: format!("your role ({}) may not manage webhooks", caller.role) })
    }
}

fn not_found(id: i64) -> ServiceError {
    ServiceError::NotFound { what: format!("webhook {id}") }
}

fn check_description(description: &str) -> Result<String, ServiceError> {
    let d = description.trim();
    if d.chars().count() > rules::MAX_DESCRIPTION || d.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "description",
            format!("at most {} characters, no control characters", rules::MAX_DESCRIPTION),
        ));
    }
    Ok(d.to_string())
}

fn check_topics(topics: Topics) -> Result<Topics, ServiceError> {
    if topics.is_empty() {
        return Err(ServiceError::invalid("topics", "choose at least one topic"));
    }
    Ok(topics.intersect(Topics::all()))
}

/// A random signing secret: 32 letters and digits.
fn random_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let bytes = crate::backend::secrets::random_bytes::<32>();
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

impl Backend {
    pub async fn webhooks(&self, caller: &UserView) -> Result<Vec<Webhook>, ServiceError> {
        may_manage(caller)?;
        Ok(store::webhooks::list(&mut *self.db.conn().await?).await?)
    }

    pub async fn webhook(&self, caller: &UserView, id: i64) -> Result<Webhook, ServiceError> {
        may_manage(caller)?;
        store::webhooks::get(&mut *self.db.conn().await?, id).await?.ok_or_else(|| not_found(id))
    }

    /// Adds a webhook (audited). Every wrong field is named; the URL's host must be
    /// where `RACKSTATE_BMC_NETWORKS` lets Rackstate send (checked again at every
    /// delivery). The secret comes back this once.
    pub async fn add_webhook(&self, caller: &UserView, req: &WebhookRequest) -> Result<NewWebhook, ServiceError> {
        may_manage(caller)?;
        let url = req.url.trim().to_string();
        let mut errors = Vec::new();
        let host = match rules::check_url(&url) {
            Ok((_, host, port)) => Some((host, port)),
            Err(m) => {
                errors.push(("url", m));
                None
            }
        };
        let topics = check_topics(req.topics);
        if let Err(ServiceError::Invalid { field, message }) = &topics {
            errors.push((field, message.clone()));
        }
        let description = check_description(&req.description);
        if let Err(ServiceError::Invalid { field, message }) = &description {
            errors.push((field, message.clone()));
        }
        let secret = match req.secret.trim() {
            "" => random_secret(),
            given => {
                if let Err(m) = rules::check_secret(given) {
                    errors.push(("secret", m));
                }
                given.to_string()
            }
        };
        ServiceError::check_fields(errors)?;
        let (topics, description) = (topics?, description?);
        if let Some((host, port)) = host {
            ensure_host_allowed(&self.bmc_reach, "url", &host, port).await?;
        }
        let sealed = self.secrets.seal_for(&SecretString::new(secret.clone()), &secret_binding(&url));
        let now = now_ms();
        let who = Actor::user(caller.username.clone()).audit_name();
        let webhook = self
            .write(move |tx| {
                Box::pin(async move {
                    let row = store::webhooks::NewRow {
                        url: &url,
                        topics,
                        description: &description,
                        sealed_secret: &sealed,
                        created_by: &who,
                    };
                    let id = store::webhooks::insert(tx, &row, now).await?;
                    let details =
                        serde_json::json!({ "webhook_id": id, "url": url, "topics": topics.list() }).to_string();
                    let event = NewEvent {
                        to_value: Some(&url),
                        details: Some(&details),
                        ..NewEvent::fleet(&who, EventKind::WebhookAdded)
                    };
                    store::events::append(tx, &event, now).await?;
                    store::webhooks::get(tx, id).await?.ok_or_else(|| not_found(id))
                })
            })
            .await?;
        tracing::info!(webhook = webhook.id, url = webhook.url, "webhook added");
        Ok(NewWebhook { webhook, secret })
    }

    /// Enables or disables a webhook, or changes its topics or description (audited).
    /// Disabling cancels what was still pending.
    pub async fn change_webhook(
        &self,
        caller: &UserView,
        id: i64,
        enabled: Option<bool>,
        topics: Option<Topics>,
        description: Option<String>,
    ) -> Result<Webhook, ServiceError> {
        may_manage(caller)?;
        let topics = topics.map(check_topics).transpose()?;
        let description = description.as_deref().map(check_description).transpose()?;
        let now = now_ms();
        let who = Actor::user(caller.username.clone()).audit_name();
        self.write(move |tx| {
            Box::pin(async move {
                let before = store::webhooks::get(tx, id).await?.ok_or_else(|| not_found(id))?;
                let enabled = enabled.unwrap_or(before.enabled);
                let topics = topics.unwrap_or(Topics::of(&before.topics));
                let description = description.unwrap_or(before.description.clone());
                store::webhooks::update(tx, id, enabled, topics, &description, now).await?;
                if !enabled {
                    store::webhooks::cancel_pending(tx, id, now).await?;
                }
                let details = serde_json::json!({
                    "webhook_id": id, "enabled": enabled, "topics": topics.list(), "description": description
                })
                .to_string();
                let event = NewEvent {
                    to_value: Some(&before.url),
                    details: Some(&details),
                    ..NewEvent::fleet(&who, EventKind::WebhookChanged)
                };
                store::events::append(tx, &event, now).await?;
                store::webhooks::get(tx, id).await?.ok_or_else(|| not_found(id))
            })
        })
        .await
    }

    /// Removes a webhook (audited); its pending deliveries are cancelled, its log kept.
    pub async fn remove_webhook(&self, caller: &UserView, id: i64) -> Result<(), ServiceError> {
        may_manage(caller)?;
        let now = now_ms();
        let who = Actor::user(caller.username.clone()).audit_name();
        self.write(move |tx| {
            Box::pin(async move {
                let before = store::webhooks::get(tx, id).await?.ok_or_else(|| not_found(id))?;
                store::webhooks::remove(tx, id, now).await?;
                store::webhooks::cancel_pending(tx, id, now).await?;
                let details = serde_json::json!({ "webhook_id": id }).to_string();
                let event = NewEvent {
                    to_value: Some(&before.url),
                    details: Some(&details),
                    ..NewEvent::fleet(&who, EventKind::WebhookRemoved)
                };
                store::events::append(tx, &event, now).await?;
                Ok(())
            })
        })
        .await
    }

    /// A webhook's delivery log, newest first (of one status; before a delivery id).
    pub async fn webhook_deliveries(
        &self,
        caller: &UserView,
        id: i64,
        status: Option<DeliveryStatus>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>, ServiceError> {
        may_manage(caller)?;
        let mut conn = self.db.conn().await?;
        store::webhooks::get(&mut conn, id).await?.ok_or_else(|| not_found(id))?;
        Ok(store::webhooks::deliveries(&mut conn, id, status, before, limit.clamp(1, 500)).await?)
    }

    /// Sends a delivery's event again, now, as a new delivery with a day of retries
    /// (the webhook must be enabled; a pending delivery is left as it is: 409).
    pub async fn redeliver(
        &self,
        caller: &UserView,
        webhook_id: i64,
        delivery_id: i64,
    ) -> Result<WebhookDelivery, ServiceError> {
        may_manage(caller)?;
        let now = now_ms();
        let delivery = self
            .write(move |tx| {
                Box::pin(async move {
                    let webhook = store::webhooks::get(tx, webhook_id).await?.ok_or_else(|| not_found(webhook_id))?;
                    let missing = || ServiceError::NotFound { what: format!("delivery {delivery_id}") };
                    let delivery = store::webhooks::delivery(tx, delivery_id).await?.ok_or_else(missing)?;
                    if delivery.webhook_id != webhook_id {
                        return Err(missing());
                    }
                    if !webhook.enabled {
                        return Err(ServiceError::Conflict {
                            message: format!("webhook {webhook_id} is disabled; enable it to redeliver"),
                        });
                    }
                    if delivery.status == DeliveryStatus::Pending {
                        return Err(ServiceError::Conflict {
                            message: format!("delivery {delivery_id} is pending already"),
                        });
                    }
                    let again = store::webhooks::redeliver(tx, &delivery, now).await?;
                    store::webhooks::delivery(tx, again).await?.ok_or_else(missing)
                })
            })
            .await?;
        tracing::info!(webhook = webhook_id, delivery = delivery_id, by = caller.username, "redelivery queued");
        Ok(delivery)
    }

    /// Deliveries by status, over every webhook (for metrics).
    pub async fn delivery_counts(&self) -> Result<Vec<(String, i64)>, ServiceError> {
        Ok(store::webhooks::status_counts(&mut *self.db.conn().await?).await?)
    }

    /// Drops finished deliveries older than `keep` from the log.
    pub async fn prune_deliveries(&self, keep: std::time::Duration) -> Result<u64, ServiceError> {
        let before = now_ms() - keep.as_millis() as i64;
        Ok(self.db.write_one(move |c| Box::pin(store::webhooks::prune(c, before))).await?)
    }

    /// Up to `limit` deliveries due now: (id, the next-attempt time to claim with).
    pub async fn due_deliveries(&self, limit: i64) -> Result<Vec<(i64, i64)>, ServiceError> {
        Ok(store::webhooks::due(&mut *self.db.conn().await?, now_ms(), limit).await?)
    }

    /// Claims a due delivery for one attempt (until `lease_until`) and reads what the
    /// attempt needs, the secret opened; None when another sender took it first or
    /// the webhook was disabled meanwhile.
    pub async fn claim_delivery(
        &self,
        id: i64,
        seen: i64,
        lease_until: i64,
    ) -> Result<Option<(Attempt, SecretString)>, ServiceError> {
        let claimed = self
            .db
            .write_one(move |c| {
                Box::pin(async move {
                    if !store::webhooks::claim(c, id, seen, lease_until).await? {
                        return Ok(None);
                    }
                    store::webhooks::attempt(c, id).await
                })
            })
            .await?;
        let Some(attempt) = claimed else { return Ok(None) };
        match self.secrets.open_for(&attempt.secret, &secret_binding(&attempt.url)) {
            Ok(secret) => Ok(Some((attempt, secret))),
            Err(e) => {
                // A secret that does not open for this URL is never used to sign for it.
                let error = format!("the webhook's secret does not open for its URL ({e}); re-add the webhook");
                self.db
                    .write_one(move |c| {
                        Box::pin(async move {
                            let now = now_ms();
                            store::webhooks::record(c, id, DeliveryStatus::Failed, None, Some(&error), now, now).await
                        })
                    })
                    .await?;
                Ok(None)
            }
        }
    }

    /// Records an attempt: delivered (2xx), or failed and retried with backoff until a
    /// day after it was queued, then given up.
    pub async fn record_delivery(
        &self,
        attempt: &Attempt,
        http_status: Option<u16>,
        error: Option<&str>,
        first_backoff_ms: i64,
    ) -> Result<DeliveryStatus, ServiceError> {
        let now = now_ms();
        let (status, next) = if error.is_none() {
            (DeliveryStatus::Delivered, now)
        } else {
            match rules::next_attempt(attempt.created_at, attempt.attempts + 1, now, first_backoff_ms) {
                Some(at) => (DeliveryStatus::Pending, at),
                None => (DeliveryStatus::Failed, now),
            }
        };
        let error = error.map(|e| e.chars().take(500).collect::<String>());
        let (id, code) = (attempt.id, http_status.map(i64::from));
        self.db
            .write_one(move |c| {
                Box::pin(async move { store::webhooks::record(c, id, status, code, error.as_deref(), next, now).await })
            })
            .await?;
        Ok(status)
    }

    /// Where a stream starts: after event `last_event_id` (422 when there is none such),
    /// or after everything written so far.
    pub async fn stream_cursor(&self, last_event_id: Option<i64>) -> Result<Cursor, ServiceError> {
        let mut conn = self.db.conn().await?;
        match last_event_id {
            Some(id) => store::webhooks::cursor_at(&mut conn, id)
                .await?
                .ok_or_else(|| ServiceError::invalid("Last-Event-ID", format!("no audit event {id}"))),
            None => Ok(store::webhooks::cursor_now(&mut conn).await?),
        }
    }

    /// The next events after `cursor` that `caller` may see, of `topics`, and where
    /// the stream is then. Those who see the fleet and its audit get every event;
    /// others (tenants) only their servers' state changes, job outcomes and
    /// allocations from when they came to hold them, without BMC addresses or staff
    /// names.
    pub async fn stream_events(
        &self,
        caller: &UserView,
        cursor: Cursor,
        topics: Topics,
        limit: i64,
    ) -> Result<(Vec<StreamEvent>, Cursor), ServiceError> {
        let staff = caller.role.can(Permission::ViewFleet) && caller.role.can(Permission::ViewAudit);
        let topics = if staff { topics } else { topics.intersect(rules::tenant_topics()) };
        let tenant = (!staff).then_some(caller.username.as_str());
        let rows = store::webhooks::events_after(&mut *self.db.conn().await?, cursor, tenant, limit).await?;
        let next = rows.last().map(|r| Cursor { txid: r.txid, id: r.id }).unwrap_or(cursor);
        let mut out = Vec::new();
        for row in rows {
            let event_topics = Topics(row.topics).intersect(topics);
            if event_topics.is_empty() || (!staff && row.held == 0) {
                continue;
            }
            let Ok(kind) = EventKind::try_from(row.kind) else { continue };
            let mut event = stream_event(
                row.id,
                row.at,
                kind,
                event_topics,
                (row.server_id, row.server_name),
                row.actor,
                (row.from_value, row.to_value),
                row.reason,
                row.details,
            );
            if !staff {
                let address = row.bmc_address.unwrap_or_default();
                let redact =
                    |s: Option<String>| s.map(|s| if address.is_empty() { s } else { redact_bmc(&s, &address) });
                event.reason = redact(event.reason);
                event.details = None;
                if event.actor != caller.username && event.actor != format!("system: {}", caller.username) {
                    event.actor = "rackstate".into();
                }
            }
            out.push(event);
        }
        Ok((out, next))
    }
}

/// An audit row as webhooks and the stream carry it (details parsed when JSON).
#[allow(clippy::too_many_arguments)]
pub fn stream_event(
    id: i64,
    at: i64,
    kind: EventKind,
    topics: Topics,
    (server_id, server_name): (Option<i64>, Option<String>),
    actor: String,
    (from, to): (Option<String>, Option<String>),
    reason: Option<String>,
    details: Option<String>,
) -> StreamEvent {
    let details = details.map(|d| serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d)));
    StreamEvent { id, at, kind, topics: topics.list(), server_id, server_name, actor, from, to, reason, details }
}

/// The JSON body of a delivery.
pub fn delivery_body(attempt: &Attempt) -> String {
    let kind = EventKind::try_from(attempt.kind.clone()).ok();
    let event = kind.map(|kind| {
        stream_event(
            attempt.event_id,
            attempt.event_at,
            kind,
            rules::topics_of(
                kind,
                attempt.from_value.as_deref(),
                attempt.to_value.as_deref(),
                attempt.details.as_deref(),
            ),
            (attempt.server_id, attempt.server_name.clone()),
            attempt.actor.clone(),
            (attempt.from_value.clone(), attempt.to_value.clone()),
            attempt.reason.clone(),
            attempt.details.clone(),
        )
    });
    serde_json::json!({ "delivery_id": attempt.id, "webhook_id": attempt.webhook_id, "event": event }).to_string()
}
