//! How each demo lab BMC speaks Redfish: one documented vendor behaviour set per
//! machine, so that the driver meets in the lab what it meets in a datacenter. Each
//! profile follows vendor documentation and the public payloads PyPI `sushy` ships
//! (`sushy/tests/unit/json_samples/`) and the anchors' issue trackers; the source is
//! named on each.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Vendor {
    /// The DMTF schema as written: virtual media under the system with InsertMedia
    /// and EjectMedia actions, Basic authentication, ETags shown but not required
    /// (DMTF Redfish schema VirtualMedia v1.6; sushy-emulator's layout).
    Dmtf,
    /// Lenovo XCC-like: virtual media under the Manager in slots `EXT1`..., with no
    /// actions: `Image`, `Inserted` and `WriteProtected` are PATCHed (Lenovo XClarity
    /// Controller Redfish guide, "Mount/unmount remote media"; sushy falls back to
    /// PATCH for it: `virtual_media.py`, `_get_insert_media_uri`).
    Xcc,
    /// Dell iDRAC-like: `Systems/System.Embedded.1`, virtual media under
    /// `Managers/iDRAC.Embedded.1/VirtualMedia/CD` with actions, boot override with
    /// `BootSourceOverrideMode` UEFI and its allowable targets (iDRAC Redfish API
    /// guide; Metal3/Ironic's idrac-redfish-virtual-media driver).
    Idrac,
    /// HPE iLO-like: virtual media under `Managers/1/VirtualMedia`, slot `1` a floppy/
    /// USB stick and slot `2` the CD/DVD, with actions; `PowerState` is left out of
    /// the system while power changes (iLO 6 omits it in transitions: Ironic bug
    /// 2038394 and sushy's "power state unknown" handling).
    Ilo,
    /// A service that takes only sessions (`SessionService`, `X-Auth-Token`; Basic
    /// answers 401) and requires `If-Match` on PATCH (428 without, 412 when stale),
    /// as newer firmware does (DMTF DSP0266 13.2.5 and 9.5; sushy's session and ETag
    /// handling: `connector.py`, `resources/base.py` `_get_etag`).
    SessionEtag,
    /// Supermicro-like: virtual media `Managers/1/VirtualMedia/CD1` with actions that
    /// refuse `Inserted`/`WriteProtected` parameters and an insert over a mounted
    /// image; eject leaves `Image` set with `Inserted: false` (sushy's SuperMicro X11
    /// note in `virtual_media.py`; Ironic bug 2032590).
    Supermicro,
}

impl Vendor {
    pub const ALL: [Vendor; 6] =
        [Vendor::Dmtf, Vendor::Xcc, Vendor::Idrac, Vendor::Ilo, Vendor::SessionEtag, Vendor::Supermicro];

    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::Dmtf => "dmtf",
            Vendor::Xcc => "xcc",
            Vendor::Idrac => "idrac",
            Vendor::Ilo => "ilo",
            Vendor::SessionEtag => "session-etag",
            Vendor::Supermicro => "supermicro",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s.trim())
    }

    /// The profile of the lab's `index`-th machine (1-based) when none is chosen.
    pub fn for_index(index: usize) -> Self {
        Self::ALL[index.saturating_sub(1) % Self::ALL.len()]
    }

    /// The ComputerSystem's path.
    pub fn system(self) -> &'static str {
        match self {
            Vendor::Idrac => "/redfish/v1/Systems/System.Embedded.1",
            _ => "/redfish/v1/Systems/1",
        }
    }

    /// The Manager's path.
    pub fn manager(self) -> &'static str {
        match self {
            Vendor::Idrac => "/redfish/v1/Managers/iDRAC.Embedded.1",
            _ => "/redfish/v1/Managers/1",
        }
    }

    /// The VirtualMedia collection's path (under the system or the manager).
    pub fn media_collection(self) -> String {
        match self {
            Vendor::Dmtf | Vendor::SessionEtag => format!("{}/VirtualMedia", self.system()),
            _ => format!("{}/VirtualMedia", self.manager()),
        }
    }

    /// The CD/DVD slot's id in that collection.
    pub fn cd_slot(self) -> &'static str {
        match self {
            Vendor::Dmtf | Vendor::SessionEtag => "Cd",
            Vendor::Xcc => "EXT1",
            Vendor::Idrac => "CD",
            Vendor::Ilo => "2",
            Vendor::Supermicro => "CD1",
        }
    }

    /// Another slot listed before the CD one (not a CD: the driver must pick by
    /// `MediaTypes`).
    pub fn other_slot(self) -> Option<&'static str> {
        match self {
            Vendor::Ilo => Some("1"),
            Vendor::Idrac => Some("RemovableDisk"),
            _ => None,
        }
    }

    /// Virtual media has InsertMedia/EjectMedia actions.
    pub fn media_actions(self) -> bool {
        self != Vendor::Xcc
    }

    /// Only sessions authenticate; Basic gets 401.
    pub fn sessions_only(self) -> bool {
        self == Vendor::SessionEtag
    }

    /// The service root offers `Links.Sessions`.
    pub fn offers_sessions(self) -> bool {
        matches!(self, Vendor::SessionEtag | Vendor::Idrac | Vendor::Ilo | Vendor::Xcc)
    }

    /// The system resource summarises its processors and memory (`ProcessorSummary`,
    /// `MemorySummary`), as real BMCs do; the generic session/ETag one does not, so a
    /// client must walk the collections.
    pub fn summarises_hardware(self) -> bool {
        self != Vendor::SessionEtag
    }

    /// PATCH without `If-Match` is refused (428).
    pub fn requires_if_match(self) -> bool {
        self == Vendor::SessionEtag
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
