//! One server: the page's data and live updates, and its cards in order (summary,
//! hardware changes to acknowledge, status and process buttons, power, BMC access,
//! hardware, notes, job, deployment, erase certificates, events). Each card is its own
//! component in a `server_*` file; the display-only ones (summary, hardware, erase
//! certificates, events) come rendered by the server (`server_rendered.rs`).

use super::server_activity::JobCard;
use super::server_bmc::BmcCard;
use super::server_hardware_changes::HardwareChangesCard;
use super::server_notes::NotesCard;
use super::server_status::{ProcessCard, StatusCard};
use crate::api::servers::{
    AbortJob, DecommissionServer, RetryJob, SetServerState, StartRegistration, load_activity, load_server,
};
use crate::ui::components::{ServerHtml, error_text};
use crate::ui::form_action::FormAction;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn ServerPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let set_state = FormAction::<SetServerState>::new();
    let register = FormAction::<StartRegistration>::new();
    let decommission = FormAction::<DecommissionServer>::new();
    let retry = FormAction::<RetryJob>::new();
    let abort = FormAction::<AbortJob>::new();
    let change_bmc = FormAction::<crate::api::servers::ChangeBmc>::new();
    let accept_cert = FormAction::<crate::api::servers::AcceptBmcCertificate>::new();
    let rotate = FormAction::<crate::api::servers::RotateBmcPassword>::new();
    let power = FormAction::<crate::api::servers::RequestPower>::new();
    let redeploy = FormAction::<crate::api::images::RedeployServer>::new();
    let set_root_disk = FormAction::<crate::api::images::SetRootDisk>::new();
    let acknowledge = FormAction::<crate::api::servers::AcknowledgeHardware>::new();
    // Bumped by the live stream when the server (state, power) or its activity (job
    // steps, audit) changed; each refetches its part of the page.
    let live_server = RwSignal::new(0u64);
    let live_activity = RwSignal::new(0u64);
    // True while the live stream is down (the browser reconnects by itself).
    let live_lost = RwSignal::new(false);
    let actions = move || {
        set_state.version().get()
            + register.version().get()
            + decommission.version().get()
            + retry.version().get()
            + abort.version().get()
            + change_bmc.version().get()
            + accept_cert.version().get()
            + rotate.version().get()
            + power.version().get()
            + redeploy.version().get()
            + set_root_disk.version().get()
            + acknowledge.version().get()
    };
    let detail = Resource::new(move || (id(), actions(), live_server.get()), |(id, ..)| load_server(id));
    let activity = Resource::new(move || (id(), actions(), live_activity.get()), |(id, ..)| load_activity(id));
    // What the shown data was read at, for the stream's first message.
    let rendered = move || {
        let server = detail.with_untracked(|d| d.as_ref().and_then(|r| r.as_ref().ok()).map(|d| d.live.clone()));
        let act = activity.with_untracked(|a| a.as_ref().and_then(|r| r.as_ref().ok()).map(|a| a.live.clone()));
        (server.filter(|l| !l.is_empty()), act.filter(|l| !l.is_empty()))
    };
    follow_live_updates(Signal::derive(id), live_server, live_activity, live_lost, rendered);
    // Kept across re-renders: an open Abort confirmation and a notes draft.
    let abort_open = RwSignal::new(false);
    let notes_draft = RwSignal::new(None::<String>);
    view! {
        {move || live_lost.get().then(|| view! {
            <p class="warning" role="status" data-testid="live-lost">
                "Live updates are interrupted (connection to Rackstate lost); reconnecting… What you see may be out of date."
            </p>
        })}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || detail.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                Ok(d) => {
                    let s = d.server.clone();
                    let sid = s.id;
                    view! {
                        <ServerHtml html=d.summary_html.clone()/>
                        {(!s.hardware_changes.is_empty()).then(|| view! {
                            <HardwareChangesCard server=s.clone() can_acknowledge=d.can_acknowledge_hardware acknowledge/>
                        })}
                        {(!d.buttons.is_empty()).then(|| view! {
                            <StatusCard server=s.clone() buttons=d.buttons.clone() hardware_check=d.hardware_check.clone() set_state/>
                        })}
                        {(!d.process_buttons.is_empty()).then(|| view! {
                            <ProcessCard server=s.clone() buttons=d.process_buttons.clone() can_reveal=d.can_reveal_bmc
                                register decommission/>
                        })}
                        {super::server_power::shows(&d.power).then(|| view! {
                            <super::server_power::PowerCard server_id=sid power_state=s.power_state
                                control=d.power.clone() request=power/>
                        })}
                        {d.can_edit_bmc.then(|| view! {
                            <BmcCard server=s.clone() username=d.bmc_username.clone().unwrap_or_default() change=change_bmc
                                certificate=d.bmc_certificate.clone().unwrap_or_default() accept=accept_cert rotate/>
                        })}
                        {d.hardware_html.clone().map(|html| view! { <ServerHtml html/> })}
                        {d.notes.clone().map(|notes| view! { <NotesCard server_id=sid notes=notes can_edit=d.can_edit_notes draft=notes_draft/> })}
                    }.into_any()
                }
            })}
        </Suspense>
        <Transition fallback=|| ()>
            {move || activity.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                Ok(a) => {
                    let sid = id();
                    view! {
                        {a.job.clone().map(|job| view! {
                            <JobCard server_id=sid job can_manage=a.can_manage_jobs retry abort abort_open/>
                        })}
                        {(a.deploy.is_some() || !a.deploy_images.is_empty() || a.root_disk.is_some()).then(|| view! {
                            <super::server_deploy::DeployCard server_id=sid deploy=a.deploy.clone()
                                images=a.deploy_images.clone() redeploy root_disk=a.root_disk.clone() set_root_disk/>
                        })}
                        {a.erase_html.clone().map(|html| view! { <ServerHtml html/> })}
                        {a.events_html.clone().map(|html| view! { <ServerHtml html/> })}
                    }.into_any()
                }
            })}
        </Transition>
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
