//! Server states, exactly as they appear in the API and the database.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum ServerState {
    Registering,
    Unavailable,
    Available,
    AvailableReserved,
    Used,
    UsedRegistering,
    Cleaning,
    Defective,
    Decommissioned,
    RemovedFromRack,
}

impl ServerState {
    /// Every state, in lifecycle order (the order reports and diagrams use).
    pub const ALL: [ServerState; 10] = [
        ServerState::Registering,
        ServerState::Unavailable,
        ServerState::Available,
        ServerState::AvailableReserved,
        ServerState::Used,
        ServerState::UsedRegistering,
        ServerState::Cleaning,
        ServerState::Defective,
        ServerState::Decommissioned,
        ServerState::RemovedFromRack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServerState::Registering => "registering",
            ServerState::Unavailable => "unavailable",
            ServerState::Available => "available",
            ServerState::AvailableReserved => "available_reserved",
            ServerState::Used => "used",
            ServerState::UsedRegistering => "used_registering",
            ServerState::Cleaning => "cleaning",
            ServerState::Defective => "defective",
            ServerState::Decommissioned => "decommissioned",
            ServerState::RemovedFromRack => "removed_from_rack",
        }
    }

    /// Human label for pages.
    pub fn label(self) -> &'static str {
        match self {
            ServerState::Registering => "Registering",
            ServerState::Unavailable => "Unavailable",
            ServerState::Available => "Available",
            ServerState::AvailableReserved => "Available (reserved)",
            ServerState::Used => "Used",
            ServerState::UsedRegistering => "Used (registering)",
            ServerState::Cleaning => "Cleaning",
            ServerState::Defective => "Defective",
            ServerState::Decommissioned => "Decommissioned",
            ServerState::RemovedFromRack => "Removed from rack",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// States only the system sets (seed: "This is an automatically set state").
    pub fn is_system_set(self) -> bool {
        match self {
            ServerState::Registering
            | ServerState::AvailableReserved
            | ServerState::Used
            | ServerState::UsedRegistering
            | ServerState::Cleaning
            | ServerState::Decommissioned => true,
            ServerState::Unavailable
            | ServerState::Available
            | ServerState::Defective
            | ServerState::RemovedFromRack => false,
        }
    }

    /// A server in this state still counts toward the subscription that reserved it:
    /// reserved, in use by the tenant, re-registering while used, or being cleaned to
    /// come back. In any other state it has left the subscription.
    pub fn held_by_subscription(self) -> bool {
        use ServerState::*;
        matches!(self, AvailableReserved | Used | UsedRegistering | Cleaning)
    }

    /// Counted in the utilization denominator (the fleet that still exists).
    pub fn in_fleet(self) -> bool {
        !matches!(self, ServerState::Decommissioned | ServerState::RemovedFromRack)
    }
}

impl fmt::Display for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names round-trip through text and serde exactly as the API spells them.
    #[test]
    fn names_round_trip() {
        for s in ServerState::ALL {
            assert_eq!(ServerState::parse(s.as_str()), Some(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(ServerState::parse("Used"), None);
    }
}
