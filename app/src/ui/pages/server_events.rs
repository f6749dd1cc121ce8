//! The server page's Events card: the server's audit, with the hardware differences
//! an inventory event found. Rendered on the server only (`server_rendered.rs`).

use crate::domain::EventKind;
use crate::model::Event;
use crate::ui::components::utc;
use leptos::prelude::*;

/// The server's audit, oldest first.
#[component]
pub(super) fn EventsCard(events: Vec<Event>) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Events"</h2>
            <ol class="timeline" data-testid="events">
            {events.into_iter().rev().map(|e| view! {
                <li>
                    <time class="when">{utc(e.at)}</time>" "
                    <span class="kind">{e.kind.as_str()}</span>" "
                    {e.from_value.map(|f| format!("{f} → "))}{e.to_value}
                    " by " <strong>{e.actor}</strong>
                    {e.reason.map(|r| view! { " " <q>{r}</q> })}
                    {matches!(e.kind, EventKind::Added | EventKind::BmcChanged).then(|| e.details.clone()).flatten()
                        .map(|d| view! { " " <span class="muted">{format!("({d})")}</span> })}
                    {hardware_changes(e.kind, e.details.as_deref())}
                </li>
            }).collect_view()}
            </ol>
        </section>
    }
}

/// An inventory event's differences from the previous registration, or the changes an
/// acknowledgement accepted, as a list.
fn hardware_changes(kind: EventKind, details: Option<&str>) -> Option<impl IntoView + use<>> {
    if !matches!(kind, EventKind::Inventory | EventKind::HardwareAcknowledged) {
        return None;
    }
    let changes: Vec<crate::domain::inventory::Change> = serde_json::from_str(details?).ok()?;
    (!changes.is_empty()).then(|| {
        view! {
            <ul class="diff" data-testid="hardware-diff">
            {changes.into_iter().map(|c| {
                let class = format!("diff-{}", c.kind());
                let text = match (c.before, c.after) {
                    (None, Some(a)) => format!("added {} {}: {a}", c.component, c.key),
                    (Some(b), None) => format!("removed {} {}: {b}", c.component, c.key),
                    (Some(b), Some(a)) => format!("changed {} {}: {b} → {a}", c.component, c.key),
                    (None, None) => format!("{} {}", c.component, c.key),
                };
                view! { <li class=class>{text}</li> }
            }).collect_view()}
            </ul>
        }
    })
}
