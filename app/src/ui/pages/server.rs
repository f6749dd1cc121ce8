//! One server: summary, the Server status section with its buttons, and the audit.

use crate::api::servers::{
    AbortJob, DecommissionServer, RetryJob, SetServerState, StartRegistration, load_activity, load_server,
};
use crate::domain::inventory::{size_text, speed_text};
use crate::domain::{Action, EventKind};
use crate::ui::components::{DisabledButton, StateBadge, error_text};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn ServerPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let set_state = ServerAction::<SetServerState>::new();
    let register = ServerAction::<StartRegistration>::new();
    let decommission = ServerAction::<DecommissionServer>::new();
    let retry = ServerAction::<RetryJob>::new();
    let abort = ServerAction::<AbortJob>::new();
    let change_bmc = ServerAction::<crate::api::servers::ChangeBmc>::new();
    let accept_cert = ServerAction::<crate::api::servers::AcceptBmcCertificate>::new();
    let power = ServerAction::<crate::api::servers::RequestPower>::new();
    let redeploy = ServerAction::<crate::api::images::RedeployServer>::new();
    let set_root_disk = ServerAction::<crate::api::images::SetRootDisk>::new();
    // Bumped by the live stream when the server (state, power) or its activity (job
    // steps, audit) changed; each refetches its part of the page.
    let live_server = RwSignal::new(0u64);
    let live_activity = RwSignal::new(0u64);
    // True while the live stream is down (the browser reconnects by itself).
    let live_lost = RwSignal::new(false);
    follow_live_updates(Signal::derive(id), live_server, live_activity, live_lost);
    let actions = move || {
        set_state.version().get()
            + register.version().get()
            + decommission.version().get()
            + retry.version().get()
            + abort.version().get()
            + change_bmc.version().get()
            + accept_cert.version().get()
            + power.version().get()
            + redeploy.version().get()
            + set_root_disk.version().get()
    };
    let detail = Resource::new(move || (id(), actions(), live_server.get()), |(id, ..)| load_server(id));
    let activity = Resource::new(move || (id(), actions(), live_activity.get()), |(id, ..)| load_activity(id));
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
                    let (sid, generation) = (s.id, s.generation);
                    let buttons = d.buttons.clone();
                    let processes = d.process_buttons.clone();
                    let used = s.state == crate::domain::ServerState::Used;
                    let inventory = d.inventory.clone();
                    let can_reveal = d.can_reveal_bmc;
                    let serial = s.serial_number.clone().unwrap_or_default();
                    view! {
                        <h1>{s.name.clone()} " " <StateBadge state=s.state/></h1>
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
                        {(!buttons.is_empty()).then(move || view! {
                            <section class="card" aria-labelledby="status-h">
                                <h2 id="status-h">"Server status"</h2>
                                <div class="buttons" data-testid="status-buttons">
                                {buttons.into_iter().map(|b| {
                                    if b.action == Action::SetAvailable && b.enabled && s.state == crate::domain::ServerState::Unavailable {
                                        return view! {
                                            <AvailableConfirm server_id=sid generation inventory=inventory.clone() set_state/>
                                        }.into_any();
                                    }
                                    let needs_reason = b.action == Action::MarkDefective;
                                    let action = b.action.as_str();
                                    let enabled = b.enabled;
                                    let why = b.why_not.clone().unwrap_or_default();
                                    let label = b.label.clone();
                                    if !enabled {
                                        return view! { <DisabledButton label why/> }.into_any();
                                    }
                                    view! {
                                        <ActionForm action=set_state attr:class="inline">
                                            <input type="hidden" name="id" value=sid/>
                                            <input type="hidden" name="action" value=action/>
                                            <input type="hidden" name="generation" value=generation/>
                                            {needs_reason.then(|| view! {
                                                <input name="reason" required placeholder="What is wrong?" aria-label="What is wrong?"/>
                                            })}
                                            <button type="submit">{label.clone()}</button>
                                        </ActionForm>
                                    }.into_any()
                                }).collect_view()}
                                </div>
                                {move || match set_state.value().get() {
                                    Some(Err(e)) => Some(view! { <p class="error" role="alert">{error_text(&e)}</p> }),
                                    _ => None,
                                }}
                            </section>
                        })}
                        {(!processes.is_empty()).then(move || view! {
                            <section class="card" aria-labelledby="process-h">
                                <h2 id="process-h">"Processes"</h2>
                                <div class="buttons" data-testid="process-buttons">
                                {processes.into_iter().map(|b| {
                                    let why = b.why_not.clone().unwrap_or_default();
                                    let label = b.label.clone();
                                    if !b.enabled {
                                        return view! { <DisabledButton label why/> }.into_any();
                                    }
                                    // Each asks for confirmation first (works without JavaScript).
                                    let confirm = format!("{label}…");
                                    match b.action {
                                        Action::Decommission => view! {
                                            <details class="confirm">
                                                <summary role="button">{confirm}</summary>
                                                <p>"Decommissioning powers the server off, ejects virtual media and "
                                                   <strong>"forgets the BMC password"</strong>
                                                   ". Copy the BMC address, user, password and serial first."</p>
                                                {can_reveal.then(|| view! { <RevealCredentials server_id=sid serial=serial.clone()/> })}
                                                <ActionForm action=decommission attr:class="inline">
                                                    <input type="hidden" name="id" value=sid/>
                                                    <input type="hidden" name="generation" value=generation/>
                                                    <button type="submit" class="danger">"Decommission now"</button>
                                                </ActionForm>
                                            </details>
                                        }.into_any(),
                                        _ => view! {
                                            <details class="confirm">
                                                <summary role="button">{confirm}</summary>
                                                {if used {
                                                    view! { <p class="error">"This server is in use: re-registering reboots it into the live image. Its tenant loses it until registration ends."</p> }.into_any()
                                                } else {
                                                    view! { <p>"The server boots the live image; its hardware is discovered again and compared with the last inventory."</p> }.into_any()
                                                }}
                                                <ActionForm action=register attr:class="inline">
                                                    <input type="hidden" name="id" value=sid/>
                                                    <input type="hidden" name="generation" value=generation/>
                                                    <button type="submit">{format!("{label} now")}</button>
                                                </ActionForm>
                                            </details>
                                        }.into_any(),
                                    }
                                }).collect_view()}
                                </div>
                                {move || match (register.value().get(), decommission.value().get()) {
                                    (Some(Err(e)), _) | (_, Some(Err(e))) => Some(view! { <p class="error" role="alert">{error_text(&e)}</p> }),
                                    _ => None,
                                }}
                            </section>
                        })}
                        {super::server_power::shows(&d.power).then(|| view! {
                            <super::server_power::PowerCard server_id=sid power_state=s.power_state
                                control=d.power.clone() request=power/>
                        })}
                        {d.can_edit_bmc.then(|| view! {
                            <BmcCard server=s.clone() username=d.bmc_username.clone().unwrap_or_default() change=change_bmc
                                certificate=d.bmc_certificate.clone().unwrap_or_default() accept=accept_cert/>
                        })}
                        {d.inventory.clone().map(|inv| view! { <InventoryCard inv/> })}
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
                        {a.job.clone().map(|job| { let active = job.is_active(); let manage = a.can_manage_jobs; let (can_retry, can_abort) = (job.can_retry(), job.can_abort());
                          let abort_text = if job.kind == crate::domain::JobKind::Power {
                              "The power request stops where it is; the job fails."
                          } else {
                              "The job stops; the server is powered off and its virtual media ejected (best effort), then the job fails."
                          }; view! {
                            <section class="card" aria-labelledby="job-h" data-testid="job">
                                <h2 id="job-h">
                                    {if active { "Running job" } else { "Last job" }} ": "
                                    {job.kind.as_str()} " #" {job.id} " "
                                    <span class=format!("job-status job-{}", job.status)>{job.status.label()}</span>
                                </h2>
                                {(job.attempts > 1).then(|| view! { <p class="muted">{format!("attempt {}", job.attempts)}</p> })}
                                {job.last_error.clone().map(|e| view! { <p class="error">{e}</p> })}
                                <ol class="steps">
                                {job.steps.into_iter().map(|crate::model::JobStep { at, message }| view! {
                                    <li><time class="when">{crate::ui::components::utc(at)}</time>" " {message}</li>
                                }).collect_view()}
                                </ol>
                                {active.then(|| view! { <p class="muted live-note">"Steps appear here as they happen."</p> })}
                                {(manage && can_retry).then(|| view! {
                                    <ActionForm action=retry attr:class="inline">
                                        <input type="hidden" name="id" value=sid/>
                                        <button type="submit">"Retry"</button>
                                    </ActionForm>
                                })}
                                {(manage && can_abort).then(|| view! {
                                    <details class="confirm" open=abort_open.get_untracked()>
                                        <summary role="button" on:click=move |_| abort_open.update(|o| *o = !*o)>"Abort…"</summary>
                                        <p>{abort_text}</p>
                                        <ActionForm action=abort attr:class="inline">
                                            <input type="hidden" name="id" value=sid/>
                                            <button type="submit" class="danger">"Abort the job"</button>
                                        </ActionForm>
                                    </details>
                                })}
                                {move || match (retry.value().get(), abort.value().get()) {
                                    (Some(Err(e)), _) => Some(view! { <p class="error" role="alert">{error_text(&e)}</p> }),
                                    (_, Some(Err(e))) => Some(view! { <p class="error" role="alert">{error_text(&e)}</p> }),
                                    _ => None,
                                }}
                            </section>
                        }})}
                        {(a.deploy.is_some() || !a.deploy_images.is_empty() || a.root_disk.is_some()).then(|| view! {
                            <super::server_deploy::DeployCard server_id=sid deploy=a.deploy.clone()
                                images=a.deploy_images.clone() redeploy root_disk=a.root_disk.clone() set_root_disk/>
                        })}
                        {a.erase_certificates.clone().map(|certificates| view! {
                            <super::server_erase::EraseCertificatesCard certificates/>
                        })}
                        {a.events.clone().map(|events| view! {
                            <section class="card">
                                <h2>"Events"</h2>
                                <ol class="timeline" data-testid="events">
                                {events.into_iter().rev().map(|e| view! {
                                    <li>
                                        <time class="when">{crate::ui::components::utc(e.at)}</time>" "
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
                        })}
                    }.into_any()
                }
            })}
        </Transition>
    }
}

/// Opens the page's live stream (`/live/servers/{id}`) in the browser and bumps
/// `server` or `activity` when that part of the page changed. Without JavaScript the
/// page is static and a reload shows the news.
fn follow_live_updates(id: Signal<i64>, server: RwSignal<u64>, activity: RwSignal<u64>, lost: RwSignal<bool>) {
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
            if let Some((old_s, old_a)) = &seen {
                if old_s != s {
                    server.update(|n| *n += 1);
                }
                if old_a != a {
                    activity.update(|n| *n += 1);
                }
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
    let _ = (id, server, activity, lost);
}

/// An inventory event's differences from the previous registration, as a list.
fn hardware_changes(kind: EventKind, details: Option<&str>) -> Option<impl IntoView + use<>> {
    if kind != EventKind::Inventory {
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

/// The notes card: the current notes rendered (sanitized Markdown), the history, and
/// for editors a form with a live preview. A refused save keeps the editor's text.
#[component]
fn NotesCard(
    server_id: i64,
    notes: crate::model::Notes,
    can_edit: bool,
    /// The editor's unsaved text, kept by the page when this card is drawn again.
    draft: RwSignal<Option<String>>,
) -> impl IntoView {
    use crate::api::servers::{SaveNotes, preview_notes};
    let save = ServerAction::<SaveNotes>::new();
    let (current, set_current) = signal(notes.clone());
    Effect::new(move |_| {
        if let Some(Ok(saved)) = save.value().get() {
            set_current.set(saved);
            draft.set(None);
        }
    });
    let kept = draft.get_untracked();
    let editing = kept.is_some();
    let start_text = kept.unwrap_or_else(|| notes.text.clone());
    // The preview is rendered by the server (the same code as the saved notes), asked
    // for once typing pauses; until the first keystroke it shows the saved rendering.
    let (preview, set_preview) = signal(draft.get_untracked());
    let preview_html = Resource::new(
        move || preview.get(),
        |text| async move {
            match text {
                Some(t) => preview_notes(t).await.ok(),
                None => None,
            }
        },
    );
    let mut typed = leptos::prelude::debounce(std::time::Duration::from_millis(300), move |text: String| {
        set_preview.set(Some(text))
    });
    view! {
        <section class="card" aria-labelledby="notes-h" data-testid="notes">
            <h2 id="notes-h">"Notes"</h2>
            {move || {
                let n = current.get();
                if n.version == 0 {
                    view! { <p class="muted">"No notes yet."</p> }.into_any()
                } else {
                    view! { <div class="notes" data-testid="notes-rendered" inner_html=n.html></div> }.into_any()
                }
            }}
            {can_edit.then(|| view! {
                <details class="edit-notes" open=editing>
                    <summary>"Edit notes"</summary>
                    <ActionForm action=save>
                        <input type="hidden" name="id" value=server_id/>
                        <input type="hidden" name="version" prop:value=move || current.get().version/>
                        <label>"Markdown"
                            <textarea name="text" rows="8" on:input=move |ev| {
                                let text = event_target_value(&ev);
                                draft.set(Some(text.clone()));
                                typed(text);
                            }>
                                {start_text.clone()}
                            </textarea>
                        </label>
                        <p class="muted">"Preview"</p>
                        <div class="notes preview" data-testid="notes-preview" aria-live="polite"
                            inner_html=move || preview_html.get().flatten().unwrap_or_else(|| current.get().html)></div>
                        <button type="submit" class="primary">"Save notes"</button>
                    </ActionForm>
                    {move || match save.value().get() {
                        Some(Err(e)) => Some(view! { <pre class="error conflict" role="alert">{error_text(&e)}</pre> }.into_any()),
                        Some(Ok(n)) => Some(view! { <p class="ok">{format!("Saved version {}.", n.version)}</p> }.into_any()),
                        None => None,
                    }}
                </details>
            })}
            <NotesHistory server_id=server_id current=current/>
        </section>
    }
}

/// The notes' history, a page at a time: the newest page comes with the notes; older
/// pages are links (`?notes_before=<version>`), so they work without JavaScript too.
#[component]
fn NotesHistory(server_id: i64, current: ReadSignal<crate::model::Notes>) -> impl IntoView {
    use crate::api::servers::notes_history;
    let query = leptos_router::hooks::use_query_map();
    let before = move || query.read().get("notes_before").and_then(|v| v.parse::<i64>().ok()).filter(|v| *v > 0);
    let older = Resource::new(before, move |b| async move {
        match b {
            Some(b) => notes_history(server_id, b).await.map(Some),
            None => Ok(None),
        }
    });
    let page = move |notes: crate::model::Notes, paged: bool| {
        let total = current.get().version;
        if total == 0 {
            return None;
        }
        let newest = notes.history.first().map(|v| v.version).unwrap_or_default();
        let oldest = notes.history.last().map(|v| v.version).unwrap_or_default();
        Some(view! {
            <details open=paged>
                <summary>{format!("History ({total} versions)")}</summary>
                <p class="muted">{format!("Versions {newest} to {oldest}")}</p>
                <ol class="timeline" data-testid="notes-history">
                {notes.history.into_iter().map(|v| view! {
                    <li>
                        <time class="when">{crate::ui::components::utc(v.created_at)}</time>" "
                        {format!("version {} by ", v.version)}<strong>{v.author}</strong>
                        <details class="note-version"><summary>"Text"</summary><pre>{v.text}</pre></details>
                    </li>
                }).collect_view()}
                </ol>
                <p class="pager">
                    {paged.then(|| view! { <a href="?#notes-h">"Newest versions"</a>" " })}
                    {notes.next_before.map(|b| view! {
                        <a href=format!("?notes_before={b}#notes-h") data-testid="notes-older">"Older versions"</a>
                    })}
                </p>
            </details>
        })
    };
    view! {
        <Transition fallback=|| ()>
            {move || match (before(), older.get()) {
                (Some(_), Some(Ok(Some(notes)))) => page(notes, true).into_any(),
                (Some(_), Some(Err(e))) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                _ => page(current.get(), false).into_any(),
            }}
        </Transition>
    }
}

fn switch_text(nic: &crate::domain::inventory::Nic) -> String {
    match (&nic.switch, &nic.switch_port) {
        (Some(sw), Some(port)) => format!("{sw} port {port}"),
        (Some(sw), None) => sw.clone(),
        (None, Some(port)) => format!("port {port}"),
        (None, None) => "no LLDP neighbour seen".into(),
    }
}

/// The hardware the last registration found.
#[component]
fn InventoryCard(inv: crate::domain::Inventory) -> impl IntoView {
    let cores: u32 = inv.cpus.iter().map(|c| c.cores).sum();
    let sys = inv.system.clone();
    view! {
        <section class="card" aria-labelledby="hw-h" data-testid="inventory">
            <h2 id="hw-h">"Hardware"</h2>
            <p>{format!("{} {} · BIOS {} · {} CPU(s), {cores} cores · {} GB RAM in {} module(s)",
                sys.manufacturer, sys.model, sys.bios_version, inv.cpus.len(), inv.ram_gb(), inv.memory.len())}</p>
            <div class="table-wrap" tabindex="0"><table class="compact">
                <caption>"Disks"</caption>
                <thead><tr><th>"Model"</th><th>"Serial"</th><th>"Size"</th><th>"Kind"</th></tr></thead>
                <tbody>{inv.disks.iter().map(|d| view! {
                    <tr><td>{d.model.clone()}</td><td class="mono">{d.serial.clone()}</td><td>{size_text(d.size_bytes)}</td><td>{d.kind.as_str()}</td></tr>
                }).collect_view()}</tbody>
            </table></div>
            <div class="table-wrap" tabindex="0"><table class="compact">
                <caption>"Network interfaces"</caption>
                <thead><tr><th>"Name"</th><th>"MAC"</th><th>"Speed"</th><th>"Switch"</th></tr></thead>
                <tbody>{inv.nics.iter().map(|n| view! {
                    <tr><td>{n.name.clone()}</td><td class="mono">{n.mac.clone()}</td><td>{speed_text(n.speed_mbps)}</td><td>{switch_text(n)}</td></tr>
                }).collect_view()}</tbody>
            </table></div>
            {(!inv.gpus.is_empty()).then(|| {
                let mut models: Vec<(String, usize)> = Vec::new();
                for g in &inv.gpus {
                    match models.iter_mut().find(|(m, _)| *m == g.model) {
                        Some((_, n)) => *n += 1,
                        None => models.push((g.model.clone(), 1)),
                    }
                }
                let text = models.iter().map(|(m, n)| format!("{n} × {m}")).collect::<Vec<_>>().join(", ");
                let slots = inv.gpus.iter().map(|g| g.slot.clone()).collect::<Vec<_>>().join(", ");
                view! { <p>"GPUs: " {text} " " <span class="muted">{format!("(slots {slots})")}</span></p> }
            })}
            <details>
                <summary>"CPUs and memory modules"</summary>
                <ul class="plain">
                    {inv.cpus.iter().map(|c| view! { <li>{format!("{}: {}, {} cores / {} threads", c.socket, c.model, c.cores, c.threads)}</li> }).collect_view()}
                    {inv.memory.iter().map(|m| view! { <li>{format!("{}: {} GiB", m.slot, m.size_mib / 1024)}</li> }).collect_view()}
                </ul>
            </details>
        {(!inv.firmware.is_empty()).then(|| view! {
                <div class="table-wrap" tabindex="0"><table class="compact" data-testid="firmware">
                    <caption>"Firmware (as the BMC lists it)"</caption>
                    <thead><tr><th>"Component"</th><th>"Version"</th></tr></thead>
                    <tbody>{inv.firmware.iter().map(|f| view! {
                        <tr><td>{f.name.clone()}</td><td class="mono">{f.version.clone()}</td></tr>
                    }).collect_view()}</tbody>
                </table></div>
            })}
        </section>
    }
}

/// Opens the BMC credentials inline (admins; audited), so they can be copied before
/// the decommission forgets the password.
#[component]
fn RevealCredentials(server_id: i64, serial: String) -> impl IntoView {
    use crate::api::servers::RevealBmcCredentials;
    let reveal = ServerAction::<RevealBmcCredentials>::new();
    view! {
        <div data-testid="reveal-credentials">
            {move || match reveal.value().get() {
                Some(Ok(c)) => view! {
                    <dl class="creds">
                        <dt>"BMC address"</dt><dd>{c.address}</dd>
                        <dt>"User"</dt><dd>{c.username}</dd>
                        <dt>"Password"</dt><dd>{if c.password.is_empty() { "(none stored)".to_string() } else { c.password }}</dd>
                        <dt>"Serial"</dt><dd>{serial.clone()}</dd>
                    </dl>
                    <p class="muted">"Viewing the credentials is recorded in the audit."</p>
                }.into_any(),
                other => view! {
                    <ActionForm action=reveal attr:class="inline">
                        <input type="hidden" name="id" value=server_id/>
                        <button type="submit">"Show BMC credentials to copy"</button>
                    </ActionForm>
                    {match other {
                        Some(Err(e)) => Some(view! { <p class="error" role="alert">{error_text(&e)}</p> }),
                        _ => None,
                    }}
                }.into_any(),
            }}
        </div>
    }
}

const BMC_FIELDS: &[&str] = &["bmc_address", "bmc_username", "bmc_password"];

/// Replaces the BMC access: after a BMC board swap, or to register a decommissioned
/// server again (its password was forgotten). Refused while a job runs.
#[component]
fn BmcCard(
    server: crate::model::Server,
    username: String,
    change: ServerAction<crate::api::servers::ChangeBmc>,
    certificate: crate::model::CertificatePin,
    accept: ServerAction<crate::api::servers::AcceptBmcCertificate>,
) -> impl IntoView {
    use crate::domain::tls_pin::display;
    use crate::ui::components::{FieldError, field_errors, field_invalid};
    let result = Signal::derive(move || change.value().get());
    let invalid = move |f: &'static str| {
        move || if field_invalid(&change.value().get(), f, BMC_FIELDS) { "true" } else { "false" }
    };
    let forgotten = server.state == crate::domain::ServerState::Decommissioned;
    view! {
        <section class="card" aria-labelledby="bmc-h" data-testid="bmc-card">
            <h2 id="bmc-h">"BMC access"</h2>
            {forgotten.then(|| view! {
                <p class="hint">"Decommissioning forgot the BMC password: enter it here before registering the server again."</p>
            })}
            {certificate.pinned.clone().map(|p| view! {
                <p class="muted">"TLS certificate pinned at first use: SHA-256 "<code class="mono fingerprint">{display(&p)}</code></p>
            })}
            {certificate.offered.clone().map(|offered| view! {
                <div class="warning" role="alert" data-testid="bmc-certificate-changed">
                    <p><strong>"The BMC presented a different TLS certificate."</strong>" Jobs of this server stop before \
                        sending anything until it is accepted. Accept it only if you know why it changed (a new BMC \
                        certificate, a reset of the BMC)."</p>
                    <p>"New: SHA-256 "<code class="mono fingerprint">{display(&offered)}</code></p>
                    <ActionForm action=accept attr:class="inline">
                        <input type="hidden" name="id" value=server.id/>
                        <input type="hidden" name="fingerprint" value=offered.clone()/>
                        <button type="submit">"Accept the new certificate"</button>
                    </ActionForm>
                    {move || match accept.value().get() {
                        Some(Err(e)) => Some(view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any()),
                        Some(Ok(())) => Some(view! { <p class="ok" role="status">"Accepted: retry the job."</p> }.into_any()),
                        None => None,
                    }}
                </div>
            })}
            <details open=move || matches!(change.value().get(), Some(Err(_))) || forgotten>
                <summary>"Change BMC address or credentials…"</summary>
                <p class="hint">"A stored password follows no new address: changing the address or the TLS setting \
                    forgets it unless you enter the password again. Jobs check that the machine behind the address is \
                    the one this server was registered as (UUID and serial) before they touch it."</p>
                <ActionForm action=change attr:class="grid-form" attr:novalidate=true>
                    <input type="hidden" name="id" value=server.id/>
                    <input type="hidden" name="generation" value=server.generation/>
                    <div class="field"><label>"BMC address"<input name="bmc_address" value=server.bmc_address.clone() required
                        aria-invalid=invalid("bmc_address") aria-describedby="bmc-bmc_address-error"/></label><FieldError result form="bmc" field="bmc_address" fields=BMC_FIELDS/></div>
                    <div class="field"><label>"BMC user"<input name="bmc_username" value=username autocomplete="off"
                        aria-invalid=invalid("bmc_username") aria-describedby="bmc-bmc_username-error"/></label><FieldError result form="bmc" field="bmc_username" fields=BMC_FIELDS/></div>
                    <div class="field"><label>"New BMC password"<input name="bmc_password" type="password" autocomplete="new-password"
                        placeholder="empty: keep it (same address only)"
                        aria-invalid=invalid("bmc_password") aria-describedby="bmc-bmc_password-error"/></label><FieldError result form="bmc" field="bmc_password" fields=BMC_FIELDS/></div>
                    <label class="check"><span><input type="checkbox" name="bmc_skip_tls_verify" checked=!server.bmc_verify_tls/>
                        " Accept a self-signed BMC certificate (TLS not verified)"</span></label>
                    <button type="submit" class="primary">"Save BMC access"</button>
                </ActionForm>
                {move || match change.value().get() {
                    Some(Err(e)) => {
                        let rest: Vec<String> = field_errors(&e, BMC_FIELDS).into_iter()
                            .filter(|(f, _)| f.is_empty()).map(|(_, m)| m).collect();
                        (!rest.is_empty()).then(|| view! { <p class="error" role="alert">{rest.join("; ")}</p> }).map(IntoAny::into_any)
                    }
                    Some(Ok(_)) => Some(view! { <p class="ok" role="status">"BMC access saved."</p> }.into_any()),
                    None => None,
                }}
            </details>
        </section>
    }
}

/// Available, from unavailable: the seed asks the admin to check the disks and the
/// switch interfaces first, so the button opens them with a checkbox to confirm.
#[component]
fn AvailableConfirm(
    server_id: i64,
    generation: i64,
    inventory: Option<crate::domain::Inventory>,
    set_state: ServerAction<SetServerState>,
) -> impl IntoView {
    let (disks, nics) = inventory.map(|i| (i.disks, i.nics)).unwrap_or_default();
    view! {
        <details class="confirm" data-testid="available-confirm">
            <summary role="button">"Available…"</summary>
            <p>"Check the discovered disks and switch interfaces before the server joins the pool."</p>
            {if disks.is_empty() && nics.is_empty() {
                view! { <p class="warning">"No inventory was recorded for this server: re-register it to discover its hardware."</p> }.into_any()
            } else {
                view! {
                    <ul class="plain">
                        {disks.into_iter().map(|d| view! { <li>{format!("disk {} {} ({})", d.model, d.serial, size_text(d.size_bytes))}</li> }).collect_view()}
                        {nics.into_iter().map(|n| { let sw = switch_text(&n); view! { <li>{format!("{} {} → {sw}", n.name, n.mac)}</li> } }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <ActionForm action=set_state attr:class="inline">
                <input type="hidden" name="id" value=server_id/>
                <input type="hidden" name="action" value="set_available"/>
                <input type="hidden" name="generation" value=generation/>
                <label class="check"><input type="checkbox" name="checked" required/>" I checked the disks and switch interfaces"</label>
                <button type="submit" class="primary">"Set available"</button>
            </ActionForm>
        </details>
    }
}
