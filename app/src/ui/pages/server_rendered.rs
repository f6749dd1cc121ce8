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
use leptos::prelude::*;

/// A view as HTML, rendered in a reactive owner of its own.
fn html<V: IntoView + 'static>(view: impl FnOnce() -> V) -> String {
    Owner::new().with(|| view().to_html())
}

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
