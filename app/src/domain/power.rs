//! A machine's power state as its BMC reports it. A state the BMC does not report
//! (iLO 6 may omit it) or one Rackstate does not know is `Unknown`, never `Off`: no
//! power action is decided from it.

use std::fmt;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PowerState {
    On,
    Off,
    PoweringOn,
    PoweringOff,
    #[default]
    Unknown,
}

impl PowerState {
    /// From Redfish `PowerState` (absent: unknown; case as vendors spell it).
    pub fn from_redfish(v: Option<&str>) -> Self {
        match v.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            Some("on") => PowerState::On,
            Some("off") => PowerState::Off,
            Some("poweringon") => PowerState::PoweringOn,
            Some("poweringoff") => PowerState::PoweringOff,
            _ => PowerState::Unknown,
        }
    }

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::On => "On",
            PowerState::Off => "Off",
            PowerState::PoweringOn => "PoweringOn",
            PowerState::PoweringOff => "PoweringOff",
            PowerState::Unknown => "unknown",
        }
    }

    /// Known on or off, not on the way.
    pub fn is_settled(self) -> bool {
        matches!(self, PowerState::On | PowerState::Off)
    }
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A missing or strange PowerState is unknown, never off.
    #[test]
    fn missing_is_unknown_not_off() {
        assert_eq!(PowerState::from_redfish(None), PowerState::Unknown);
        assert_eq!(PowerState::from_redfish(Some("")), PowerState::Unknown);
        assert_eq!(PowerState::from_redfish(Some("Paused")), PowerState::Unknown);
        assert_eq!(PowerState::from_redfish(Some("OFF")), PowerState::Off);
        assert_eq!(PowerState::from_redfish(Some("PoweringOn")), PowerState::PoweringOn);
        assert!(!PowerState::PoweringOn.is_settled() && PowerState::On.is_settled());
    }
}
