//! What earlier connections learned about each BMC address: how it wants to be logged in to,
//! and where its system and its CD slot are. A job connects twice (before its machine
//! boots the live image and after the agent reported) and each connection used to walk
//! the service again: the service root, the Systems collection, the virtual media
//! collections and their members, five or more requests that a real BMC answers in a
//! tenth of a second to seconds each. A hint is only where to look: what is there is
//! always read afresh (the system's identity, power, slots). A hint that no longer
//! holds (a 404 at the hinted path, a 401 for the hinted login) is forgotten and the
//! walk is done again at once, so a BMC whose firmware moved things costs one walk.

use std::collections::HashMap;
use std::sync::Mutex;

/// How a BMC took a login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Login {
    /// HTTP Basic: the service offers no sessions, or refused to create one.
    Basic,
    /// A Redfish session, created at this path (`Links.Sessions` of the root).
    Session { sessions: String },
}

/// What is known of one BMC (for one user name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Learned {
    pub login: Option<Login>,
    pub system_path: Option<String>,
    pub media_path: Option<String>,
}

/// The hints of every BMC this process reached, by base URL and user name.
#[derive(Default)]
pub struct Hints {
    known: Mutex<HashMap<String, Learned>>,
}

/// More BMCs than any fleet has: past it the hints start over (a bound on memory).
const MOST: usize = 200_000;

impl Hints {
    /// The key of a BMC's hints: its address as entered (with the system's path when
    /// it names one) and who logs in.
    pub fn key(address: &str, username: &str) -> String {
        format!("{address}\n{username}")
    }

    /// What is known under `key` (nothing, the first time).
    pub fn get(&self, key: &str) -> Learned {
        self.known.lock().ok().and_then(|k| k.get(key).cloned()).unwrap_or_default()
    }

    /// Records what a connection just found out.
    pub fn learn(&self, key: &str, learn: impl FnOnce(&mut Learned)) {
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= MOST && !known.contains_key(key) {
                known.clear();
            }
            learn(known.entry(key.to_string()).or_default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BMC's hints are its own: another address or another user learns nothing from
    /// them, and unlearning one of them leaves the others alone.
    #[test]
    fn hints_are_kept_per_bmc_and_user() {
        let hints = Hints::default();
        let a = Hints::key("https://10.0.0.1", "root");
        hints.learn(&a, |l| l.system_path = Some("/redfish/v1/Systems/1".into()));
        hints.learn(&a, |l| l.login = Some(Login::Basic));
        assert_eq!(hints.get(&a).system_path.as_deref(), Some("/redfish/v1/Systems/1"));
        assert_eq!(hints.get(&a).login, Some(Login::Basic));
        assert_eq!(hints.get(&Hints::key("https://10.0.0.2", "root")), Learned::default());
        assert_eq!(hints.get(&Hints::key("https://10.0.0.1", "admin")), Learned::default());
        let b = Hints::key("https://10.0.0.2", "root");
        hints.learn(&b, |l| l.media_path = Some("/redfish/v1/Managers/1/VirtualMedia/2".into()));
        hints.learn(&a, |l| l.system_path = None);
        assert_eq!(hints.get(&a).system_path, None);
        assert_eq!(hints.get(&a).login, Some(Login::Basic));
        assert!(hints.get(&b).media_path.is_some());
    }
}
