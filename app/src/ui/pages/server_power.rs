//! The server page's power card: the BMC's last word on power, the buttons the caller
//! may press (Off and Reset ask for confirmation, without JavaScript too) and how the
//! latest request went. Rendered on the server (`server_rendered.rs`).

use crate::api::servers::RequestPower;
use crate::domain::JobStatus;
use crate::domain::power::PowerButton;
use crate::model::{PowerControl, PowerJob};
use crate::ui::components::{DisabledButton, utc};
use crate::ui::rendered_forms::{Answered, error_view};
use leptos::prelude::*;

fn last_text(job: &PowerJob) -> String {
    let what = job.request.label().to_lowercase();
    match job.status {
        status if status.is_active() => format!("{what}: in progress…"),
        JobStatus::Succeeded => format!("{what}: done"),
        other => format!("{what}: {}", other.label()),
    }
}

#[component]
pub fn PowerCard(
    server_id: i64,
    power_state: crate::domain::power::PowerState,
    control: PowerControl,
    request: Answered<RequestPower>,
) -> impl IntoView {
    let PowerControl { buttons, last } = control;
    let url = request.url();
    let button = move |b: PowerButton| {
        let label = b.request.label().to_string();
        if !b.enabled {
            return view! { <DisabledButton label why=b.why_not.unwrap_or_default()/> }.into_any();
        }
        let form = move |class: &'static str, text: String| {
            view! {
                <form action=url method="post" class="inline">
                    <input type="hidden" name="id" value=server_id/>
                    <input type="hidden" name="request" value=b.request.as_str()/>
                    <button type="submit" class=class>{text}</button>
                </form>
            }
        };
        match b.request.consequence() {
            None => form("", label).into_any(),
            Some(consequence) => view! {
                <details class="confirm">
                    <summary role="button">{format!("{label}…")}</summary>
                    <p>{consequence}</p>
                    {form("danger", format!("{label} now"))}
                </details>
            }
            .into_any(),
        }
    };
    view! {
        <section class="card" aria-labelledby="power-h" data-testid="power">
            <h2 id="power-h">"Power"</h2>
            <p>
                "The BMC reports: " <strong data-testid="power-state">{power_state.as_str()}</strong>
                {last.as_ref().map(|j| view! {
                    " · " <span data-testid="power-last" class=format!("job-status job-{}", j.status)>{last_text(j)}</span>
                    " " <time class="when">{utc(j.updated_at)}</time>
                })}
            </p>
            {last.as_ref().and_then(|j| j.error.clone()).map(|e| view! { <p class="error">{e}</p> })}
            <div class="buttons" data-testid="power-buttons">
                {buttons.into_iter().map(button).collect_view()}
            </div>
            {error_view(request.error())}
        </section>
    }
}

/// Whether the card has anything to show: buttons, or a request to report.
pub fn shows(control: &PowerControl) -> bool {
    !control.buttons.is_empty() || control.last.is_some()
}
