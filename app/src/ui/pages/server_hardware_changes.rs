//! The server page's "hardware changes need a look" card: what the registrations found
//! changed since someone last accepted the hardware, and for admins and operators the
//! acknowledgement (with a comment) that lets the server be set available again.
//! Rendered on the server (`server_rendered.rs`).

use crate::ui::rendered_forms::{Answered, error_view};
use leptos::prelude::*;

#[component]
pub(super) fn HardwareChangesCard(
    server: crate::model::Server,
    can_acknowledge: bool,
    acknowledge: Answered<crate::api::servers::AcknowledgeHardware>,
) -> impl IntoView {
    let count = server.hardware_changes.len();
    view! {
        <section class="card attention" aria-labelledby="hwc-h" data-testid="hardware-changes">
            <h2 id="hwc-h">{format!("Hardware changes need a look ({count})")}</h2>
            <p>"Its registration found hardware that differs from what was last accepted. It cannot be set \
                available (and a cleaning ends in unavailable) until someone checks the machine and acknowledges \
                the changes."</p>
            <div class="table-wrap" tabindex="0"><table class="compact">
                <caption>"Changes since the hardware was last accepted"</caption>
                <thead><tr><th>"Component"</th><th>"Identity"</th><th>"Change"</th><th>"Before"</th><th>"After"</th></tr></thead>
                <tbody>{server.hardware_changes.iter().map(|c| view! {
                    <tr>
                        <td>{c.component.clone()}</td>
                        <td class="mono">{c.key.clone()}</td>
                        <td>{c.kind()}</td>
                        <td>{c.before.clone().unwrap_or_else(|| "—".into())}</td>
                        <td>{c.after.clone().unwrap_or_else(|| "—".into())}</td>
                    </tr>
                }).collect_view()}</tbody>
            </table></div>
            {if can_acknowledge {
                view! {
                    <form action=acknowledge.url() method="post" class="grid-form">
                        <input type="hidden" name="id" value=server.id/>
                        <input type="hidden" name="generation" value=server.generation/>
                        <div class="field"><label>"What did you check? (kept in the audit)"
                            <textarea name="comment" rows="2" required maxlength="2000"
                                aria-describedby="hwc-error"></textarea></label></div>
                        <button type="submit" class="primary">"Acknowledge these changes"</button>
                    </form>
                    <div id="hwc-error">{error_view(acknowledge.error())}</div>
                }.into_any()
            } else {
                view! { <p class="muted">"An admin or operator acknowledges them."</p> }.into_any()
            }}
        </section>
    }
}
