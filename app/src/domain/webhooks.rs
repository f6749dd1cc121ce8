//! What webhooks and the event stream carry: the topics an audit event belongs to
//! (one table), who may follow which, the URLs deliveries may go to, and how long a
//! failing delivery is retried.

use super::{EventKind, ServerState};
use serde::{Deserialize, Serialize};

words! {
    /// A group of audit events a webhook or a stream subscribes to. Its bit in the
    /// database is its place in this list: add new topics at the end.
    Topic, "topic" {
        /// A server was added or moved through the lifecycle.
        StateChanges => "state_changes",
        /// A job (registration, cleaning, decommissioning, power, deploy, rotation)
        /// ended, was aborted or retried.
        JobOutcomes => "job_outcomes",
        /// A registration found changed hardware, the type changed, or someone
        /// acknowledged the changes.
        HardwareChanges => "hardware_changes",
        /// The BMC was not the recorded machine, showed another certificate, or its
        /// address or credentials changed or were revealed.
        BmcWarnings => "bmc_warnings",
        /// A server was reserved, allocated, released, or left a subscription.
        Allocations => "allocations",
    }
}

impl Topic {
    /// The topic's bit in `events.topics` and `webhooks.topics`.
    pub fn bit(self) -> i64 {
        1 << Topic::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    /// What the page shows beside the topic's checkbox.
    pub fn label(self) -> &'static str {
        match self {
            Topic::StateChanges => "State changes",
            Topic::JobOutcomes => "Job outcomes",
            Topic::HardwareChanges => "Hardware changes",
            Topic::BmcWarnings => "BMC warnings",
            Topic::Allocations => "Subscriptions and allocations",
        }
    }
}

/// A set of topics, stored as bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topics(pub i64);

impl Topics {
    pub const NONE: Topics = Topics(0);

    pub fn all() -> Topics {
        Topics(Topic::ALL.iter().fold(0, |bits, t| bits | t.bit()))
    }

    pub fn of(topics: &[Topic]) -> Topics {
        Topics(topics.iter().fold(0, |bits, t| bits | t.bit()))
    }

    pub fn contains(self, t: Topic) -> bool {
        self.0 & t.bit() != 0
    }

    pub fn intersect(self, other: Topics) -> Topics {
        Topics(self.0 & other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 & Topics::all().0 == 0
    }

    /// The topics in the table's order.
    pub fn list(self) -> Vec<Topic> {
        Topic::ALL.iter().copied().filter(|t| self.contains(*t)).collect()
    }

    /// Topic words (as a form or a query gives them, comma-separated or repeated);
    /// Err names the first unknown word.
    pub fn parse<'a>(words: impl IntoIterator<Item = &'a str>) -> Result<Topics, String> {
        let mut bits = 0;
        for word in words.into_iter().flat_map(|w| w.split(',')).map(str::trim).filter(|w| !w.is_empty()) {
            let t = Topic::parse(word).ok_or_else(|| {
                let known: Vec<&str> = Topic::ALL.iter().map(|t| t.as_str()).collect();
                format!("unknown topic {word:?} (known: {})", known.join(", "))
            })?;
            bits |= t.bit();
        }
        Ok(Topics(bits))
    }
}

/// States that belong to a tenant's hold: entering or leaving one is an allocation.
const HELD: [ServerState; 3] = [ServerState::AvailableReserved, ServerState::Used, ServerState::UsedRegistering];

/// The topics of an audit event, decided when it is written. `details` matters only
/// to an inventory (a registration that found no changes is no hardware change).
pub fn topics_of(kind: EventKind, from: Option<&str>, to: Option<&str>, details: Option<&str>) -> Topics {
    use EventKind as K;
    let mut topics = Vec::new();
    match kind {
        K::Added => topics.push(Topic::StateChanges),
        K::StateChanged => {
            topics.push(Topic::StateChanges);
            let held = |s: Option<&str>| s.and_then(ServerState::parse).is_some_and(|s| HELD.contains(&s));
            if held(from) != held(to) {
                topics.push(Topic::Allocations);
            }
        }
        K::JobFinished | K::JobAborted | K::JobRetried => topics.push(Topic::JobOutcomes),
        K::Inventory => {
            let changed = details.map(str::trim).is_some_and(|d| !d.is_empty() && d != "[]" && d != "null");
            if changed {
                topics.push(Topic::HardwareChanges);
            }
        }
        K::TypeChanged | K::HardwareAcknowledged => topics.push(Topic::HardwareChanges),
        K::IdentityMismatch
        | K::BmcCertificateChanged
        | K::BmcCertificateAccepted
        | K::BmcChanged
        | K::BmcPasswordRotated
        | K::CredentialsRevealed
        | K::CredentialsForgotten => topics.push(Topic::BmcWarnings),
        K::ReservationEnded | K::DeployRequested => topics.push(Topic::Allocations),
        _ => {}
    }
    Topics::of(&topics)
}

/// What a tenant's stream may carry about the servers they hold: never the hardware
/// or BMC topics (they name the management network and other tenants' history).
pub fn tenant_topics() -> Topics {
    Topics::of(&[Topic::StateChanges, Topic::JobOutcomes, Topic::Allocations])
}

words! {
    /// Where a delivery is.
    DeliveryStatus, "delivery status" {
        /// Waiting for its first or next attempt.
        Pending => "pending",
        /// The receiver answered 2xx.
        Delivered => "delivered",
        /// Every attempt for a day failed; redeliver to try again.
        Failed => "failed",
        /// The webhook was disabled or removed before it was delivered.
        Cancelled => "cancelled",
    }
}

/// The longest webhook URL accepted.
pub const MAX_URL: usize = 2000;

/// Checks a webhook URL: `http://` or `https://`, a host (checked against the BMC
/// address policy like a BMC's), an optional port, path and query; no credentials or
/// fragment. Returns (https, host, port).
pub fn check_url(url: &str) -> Result<(bool, String, u16), String> {
    let url = url.trim();
    if url.len() > MAX_URL {
        return Err(format!("at most {MAX_URL} characters"));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err("must start with http:// or https://".into());
    }
    if url.chars().any(|c| !c.is_ascii_graphic()) || url.contains('#') {
        return Err("printable ASCII without spaces or '#' (percent-encode the rest)".into());
    }
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    if query.is_some_and(|q| q.contains('?')) {
        return Err("one '?' at most".into());
    }
    // The scheme, host, port and path follow the BMC address rules (no '@', no '..').
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end).unwrap_or(base.len());
    if base[scheme_end..path_start].contains('%') {
        return Err("the host may not be percent-encoded".into());
    }
    let parsed = super::bmc_address::parse(&base.replace('%', "-"))?;
    Ok((parsed.https, parsed.host, parsed.port))
}

/// The first retry waits this long; each next one twice as long, up to [`MAX_BACKOFF_MS`].
pub const FIRST_BACKOFF_MS: i64 = 30_000;
/// The longest wait between two attempts.
pub const MAX_BACKOFF_MS: i64 = 3_600_000;
/// A delivery is given up this long after it was queued (redelivering starts again).
pub const GIVE_UP_AFTER_MS: i64 = 24 * 3_600_000;

/// When the attempt after `attempts` failed ones may run (None: give up), for a
/// delivery queued at `created_at`; `first` is the first wait ([`FIRST_BACKOFF_MS`]
/// unless configured shorter for a lab).
pub fn next_attempt(created_at: i64, attempts: i64, now: i64, first: i64) -> Option<i64> {
    let doublings = (attempts.max(1) - 1).min(20) as u32;
    let wait = first.saturating_mul(1 << doublings).min(MAX_BACKOFF_MS);
    let at = now + wait;
    (at <= created_at + GIVE_UP_AFTER_MS).then_some(at)
}

/// The longest description kept with a webhook.
pub const MAX_DESCRIPTION: usize = 200;

/// A signing secret: 16 to 200 printable ASCII characters.
pub fn check_secret(secret: &str) -> Result<(), String> {
    let n = secret.chars().count();
    if !(16..=200).contains(&n) || secret.chars().any(|c| !c.is_ascii_graphic()) {
        return Err("16 to 200 printable ASCII characters without spaces (leave empty to have one made)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An allocation is a state change into or out of a tenant's hold; moves inside
    /// the hold or outside it are state changes only.
    #[test]
    fn allocations_are_moves_across_the_hold() {
        let t = |from, to| topics_of(EventKind::StateChanged, Some(from), Some(to), None);
        assert!(t("available", "used").contains(Topic::Allocations));
        assert!(t("used", "cleaning").contains(Topic::Allocations));
        assert!(t("available", "available_reserved").contains(Topic::Allocations));
        assert!(!t("used", "used_registering").contains(Topic::Allocations));
        assert!(!t("cleaning", "available").contains(Topic::Allocations));
        assert!(t("cleaning", "available").contains(Topic::StateChanges));
    }

    /// A registration that found nothing changed is not a hardware change; one that
    /// found a removed disk is.
    #[test]
    fn inventories_count_only_with_changes() {
        assert!(topics_of(EventKind::Inventory, None, None, Some("[]")).is_empty());
        assert!(topics_of(EventKind::Inventory, None, None, None).is_empty());
        let changed = topics_of(EventKind::Inventory, None, None, Some(r#"[{"component":"disk"}]"#));
        assert_eq!(changed.list(), vec![Topic::HardwareChanges]);
        assert!(topics_of(EventKind::UserCreated, None, None, None).is_empty());
    }

    /// Topic words parse from a form or a query; a typo is named.
    #[test]
    fn topic_words() {
        assert_eq!(Topics::parse(["state_changes,job_outcomes"]).unwrap().list().len(), 2);
        assert!(Topics::parse(["state_change"]).unwrap_err().contains("state_change"));
        assert!(Topics::parse([""]).unwrap().is_empty());
    }

    /// Webhook URLs: http(s) with a path and a query; credentials, fragments, other
    /// schemes and junk are refused.
    #[test]
    fn urls() {
        assert_eq!(check_url("https://hooks.example.com/rackstate?team=dc").unwrap().2, 443);
        assert_eq!(check_url("http://127.0.0.1:9000/in").unwrap().1, "127.0.0.1");
        for bad in [
            "ftp://x/y",
            "hooks.example.com/x",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "https://exa mple.com/",
            "https://example.com/a/../b",
            "https://%31%32%37.0.0.1/",
            "http://[::1/",
        ] {
            assert!(check_url(bad).is_err(), "{bad:?} accepted");
        }
    }

    /// Retries double from the first wait to an hour and stop a day after queueing.
    #[test]
    fn backoff() {
        assert_eq!(next_attempt(0, 1, 0, FIRST_BACKOFF_MS), Some(30_000));
        assert_eq!(next_attempt(0, 2, 0, FIRST_BACKOFF_MS), Some(60_000));
        assert_eq!(next_attempt(0, 30, 0, FIRST_BACKOFF_MS), Some(MAX_BACKOFF_MS));
        assert_eq!(next_attempt(0, 30, GIVE_UP_AFTER_MS - 1000, FIRST_BACKOFF_MS), None);
    }
}
