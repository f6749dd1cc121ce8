//! The server page's display-only cards rendered to HTML on the server (summary,
//! hardware, erase certificates, events) and the lines its Available confirmation
//! lists. The page shows them as they come (`components::ServerHtml`), so their views
//! and data types stay out of the wasm: the server's page is the heaviest, and these
//! cards change only when its data is read again.

use crate::domain::Inventory;
use crate::domain::erase::EraseCertificate;
use crate::domain::firmware::ComponentVersion;
use crate::domain::inventory::size_text;
use crate::model::{Event, Server};
use crate::ui::components::rendered_html as html;
use leptos::prelude::*;

/// The server's name, state and what it is.
pub(crate) fn summary(server: Server) -> String {
    html(|| view! { <super::server::Summary server/> })
}

/// The hardware the last registration found, with its firmware against the type's
/// baseline when `firmware` has it.
pub(crate) fn hardware(inv: Inventory, firmware: Vec<ComponentVersion>) -> String {
    html(|| view! { <super::server_hardware::InventoryCard inv firmware/> })
}

/// The cleanings' erase certificates, newest first.
pub(crate) fn erase_certificates(certificates: Vec<EraseCertificate>) -> String {
    html(|| view! { <super::server_erase::EraseCertificatesCard certificates/> })
}

/// The server's audit.
pub(crate) fn events(events: Vec<Event>) -> String {
    html(|| view! { <super::server_events::EventsCard events/> })
}

/// What "Available" from unavailable asks to check: each disk and each switch
/// interface, one line each (empty without an inventory).
pub(crate) fn hardware_check(inv: Option<&Inventory>) -> Vec<String> {
    let Some(inv) = inv else { return Vec::new() };
    let disks = inv.disks.iter().map(|d| format!("disk {} {} ({})", d.model, d.serial, size_text(d.size_bytes)));
    let nics = inv.nics.iter().map(|n| format!("{} {} → {}", n.name, n.mac, super::server_hardware::switch_text(n)));
    disks.chain(nics).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A machine's live image reports a disk model that is markup, and someone with the
    /// right to mark servers defective gives markup as the reason: the server page's
    /// cards, shown as the server rendered them, carry both as text, never as markup.
    #[test]
    fn markup_from_a_machine_or_a_user_is_shown_as_text() {
        let attack = "<img src=x onerror=alert(1)>";
        let mut inv = Inventory::default();
        inv.disks.push(crate::domain::inventory::Disk {
            model: attack.into(),
            serial: "S1".into(),
            size_bytes: 2_000_000_000,
            kind: crate::domain::inventory::DiskKind::Ssd,
        });
        let event = Event {
            id: 1,
            server_id: Some(1),
            at: 0,
            actor: "admin".into(),
            kind: crate::domain::EventKind::StateChanged,
            from_value: Some("available".into()),
            to_value: Some("defective".into()),
            reason: Some(attack.into()),
            details: None,
            correlation_id: None,
        };
        let rendered = [hardware(inv.clone(), Vec::new()), events(vec![event])];
        for html in &rendered {
            assert!(!html.contains("<img"), "markup got through: {html}");
            assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "the text is missing: {html}");
        }
        assert_eq!(hardware_check(Some(&inv)), vec![format!("disk {attack} S1 (2.0 GB)")]);
    }
}
