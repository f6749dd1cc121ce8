//! One server: the page's data and live updates. Its cards come rendered by the server
//! (`server_rendered.rs`, each card in its own `server_*` file) except the notes
//! (`server_notes.rs`), which edit and preview as one types; the forms in the
//! rendered cards post through one handler (`ui::rendered_forms`).

use super::server_notes::NotesCard;
use crate::api::servers::{load_activity, load_server};
use crate::ui::components::error_text;
use crate::ui::rendered_forms::Answers;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn ServerPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let answers = Answers::new();
    // Bumped by the live stream when the server (state, power) or its activity (job
    // steps, audit) changed; each refetches its part of the page.
    let live_server = RwSignal::new(0u64);
    let live_activity = RwSignal::new(0u64);
    // True while the live stream is down (the browser reconnects by itself).
    let live_lost = RwSignal::new(false);
    // Kept across re-renders: an open Abort confirmation and a notes draft.
    let abort_open = RwSignal::new(false);
    let notes_draft = RwSignal::new(None::<String>);
    let detail = Resource::new(
        move || (id(), answers.count(), live_server.get()),
        move |(id, ..)| {
            let (path, ok, error) = answers.last();
            load_server(id, path, ok, error)
        },
    );
    let activity = Resource::new(
        move || (id(), answers.count(), live_activity.get()),
        move |(id, ..)| {
            let (path, ok, error) = answers.last();
            load_activity(id, path, ok, error, abort_open.get_untracked())
        },
    );
    // What the shown data was read at, for the stream's first message.
    let rendered = move || {
        let server = detail.with_untracked(|d| d.as_ref().and_then(|r| r.as_ref().ok()).map(|d| d.live.clone()));
        let act = activity.with_untracked(|a| a.as_ref().and_then(|r| r.as_ref().ok()).map(|a| a.live.clone()));
        (server.filter(|l| !l.is_empty()), act.filter(|l| !l.is_empty()))
    };
    follow_live_updates(Signal::derive(id), live_server, live_activity, live_lost, rendered);
    view! {
        {move || live_lost.get().then(|| view! {
            <p class="warning" role="status" data-testid="live-lost">
                "Live updates are interrupted (connection to Rackstate lost); reconnecting… What you see may be out of date."
            </p>
        })}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || detail.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                Ok(d) => view! {
                    <div class="server-html" on:submit=answers.on_submit() inner_html=d.html></div>
                    {d.notes.map(|notes| view! { <NotesCard server_id=d.id notes can_edit=d.can_edit_notes draft=notes_draft/> })}
                }.into_any(),
            })}
        </Suspense>
        <Transition fallback=|| ()>
            {move || activity.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                Ok(a) => view! {
                    <div class="server-html" on:submit=answers.on_submit() on:click=keep_abort_open(abort_open)
                        inner_html=a.html></div>
                }.into_any(),
            })}
        </Transition>
    }
}

/// Follows the Abort confirmation (`data-keep-open`) in the job card as it is opened
/// and closed, so it comes back open when the card is drawn again with new steps.
fn keep_abort_open(open: RwSignal<bool>) -> impl Fn(leptos::ev::MouseEvent) + Clone + 'static {
    move |ev: leptos::ev::MouseEvent| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let details = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .and_then(|t| t.closest("details[data-keep-open] > summary").ok().flatten())
                .and_then(|summary| summary.parent_element());
            if let Some(details) = details {
                // The click comes before the toggle: it opens a closed one.
                open.set(!details.has_attribute("open"));
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, open);
    }
}

/// The server's name and state, and what it is: type, serial, BMC (and whether its
/// certificate is verified), location, power, health; its last error and BMC warning.
/// Rendered on the server only (`server_rendered.rs`).
#[cfg(feature = "ssr")]
#[component]
pub(super) fn Summary(server: crate::model::Server) -> impl IntoView {
    let s = server;
    view! {
        <h1>{s.name.clone()} " " <crate::ui::components::StateBadge state=s.state/></h1>
        <section class="card">
            <dl class="summary">
                <dt>"Type"</dt><dd>{s.server_type.clone().unwrap_or_else(|| "not typed yet".into())}</dd>
                <dt>"Serial"</dt><dd>{s.serial_number.clone().unwrap_or_default()}</dd>
                <dt>"BMC"</dt><dd><span class="mono">{s.bmc_address.clone()}</span>
                    {(!s.bmc_address.is_empty()).then(|| if s.bmc_verify_tls {
                        view! { " " <span class="muted">"(TLS certificate verified)"</span> }.into_any()
                    } else {
                        view! { " " <span class="error">"(TLS certificate NOT verified: self-signed accepted)"</span> }.into_any()
                    })}
                </dd>
                <dt>"Location"</dt><dd>{format!("{} {}", s.datacenter, s.rack)}</dd>
                <dt>"Power"</dt><dd>{s.power_state.as_str()}</dd>
                <dt>"Health"</dt><dd>{s.health.as_str()}</dd>
                <dt>"Generation"</dt><dd>{s.generation}</dd>
            </dl>
            {s.last_error.clone().map(|e| view! { <p class="error">"Last error: " {e}</p> })}
            {s.bmc_warning.clone().map(|w| view! { <p class="warning" role="status">"BMC warning: " {w}</p> })}
        </section>
    }
}

/// Opens the page's live stream (`/live/servers/{id}`) in the browser and bumps
/// `server` or `activity` when that part of the page changed: the first message
/// against the fingerprints the shown data was read at (`rendered`; a job that ended
/// between the page's render and the stream's start is news), each next one against
/// the one before. Without JavaScript the page is static and a reload shows the news.
fn follow_live_updates(
    id: Signal<i64>,
    server: RwSignal<u64>,
    activity: RwSignal<u64>,
    lost: RwSignal<bool>,
    rendered: impl Fn() -> (Option<String>, Option<String>) + Copy + 'static,
) {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use wasm_bindgen::JsCast;
        use wasm_bindgen::closure::Closure;
        let Ok(source) = web_sys::EventSource::new(&format!("/live/servers/{}", id.get())) else {
            return;
        };
        let mut seen: Option<(String, String)> = None;
        let on_change = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let data = ev.data().as_string().unwrap_or_default();
            let (s, a) = data.split_once('|').unwrap_or((data.as_str(), ""));
            let (old_s, old_a) = match &seen {
                Some((old_s, old_a)) => (Some(old_s.clone()), Some(old_a.clone())),
                None => rendered(),
            };
            if old_s.is_some_and(|old| old != s) {
                server.update(|n| *n += 1);
            }
            if old_a.is_some_and(|old| old != a) {
                activity.update(|n| *n += 1);
            }
            seen = Some((s.to_string(), a.to_string()));
            lost.set(false);
        });
        // The browser retries a dropped stream on its own; say so meanwhile, and
        // refetch both parts once it is back (changes may have been missed).
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| lost.set(true));
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            if lost.get_untracked() {
                lost.set(false);
                server.update(|n| *n += 1);
                activity.update(|n| *n += 1);
            }
        });
        let _ = source.add_event_listener_with_callback("change", on_change.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback("error", on_error.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback("open", on_open.as_ref().unchecked_ref());
        let handle = StoredValue::new_local(Some((source, on_change, on_error, on_open)));
        on_cleanup(move || {
            if let Some((source, ..)) = handle.try_update_value(|h| h.take()).flatten() {
                source.close();
            }
        });
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (id, server, activity, lost, rendered);
}
