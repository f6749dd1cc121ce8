//! The home page: a fleet summary read from the database through a server function.

use crate::api::fleet_summary;
use leptos::prelude::*;

#[component]
pub fn Home() -> impl IntoView {
    let checks = RwSignal::new(0u32);
    let summary = Resource::new(move || checks.get(), |_| fleet_summary());
    view! {
        <h1>"Fleet"</h1>
        <section class="card">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || summary.get().map(|result| match result {
                    Ok(s) => view! {
                        <p>"Servers known: " <strong data-testid="server-count">{s.servers}</strong>
                           " (" {s.database} ")"</p>
                    }.into_any(),
                    Err(e) => view! { <p class="error">"Could not read the fleet: " {e.to_string()}</p> }.into_any(),
                })}
            </Suspense>
            <button type="button" on:click=move |_| checks.update(|n| *n += 1)>"Check again"</button>
            <p data-testid="checks">{move || format!("Checked {} time(s) since the page loaded", checks.get())}</p>
        </section>
    }
}
