//! The server page's buttons: the Server status card (the states an admin or operator
//! may set; Available from unavailable asks to check the hardware first) and the
//! Processes card (registration, decommissioning; each asks for confirmation).
//! Rendered on the server (`server_rendered.rs`).

use crate::api::servers::{DecommissionServer, RevealBmcCredentials, SetServerState, StartRegistration};
use crate::domain::buttons::Button;
use crate::domain::{Action, ServerState};
use crate::model::Server;
use crate::ui::components::DisabledButton;
use crate::ui::rendered_forms::{Answered, error_view};
use leptos::prelude::*;

/// The Server status card: one button per state the caller may set now (greyed with
/// the reason when not).
#[component]
pub(super) fn StatusCard(
    server: Server,
    buttons: Vec<Button>,
    hardware_check: Vec<String>,
    set_state: Answered<SetServerState>,
) -> impl IntoView {
    let (sid, generation) = (server.id, server.generation);
    let url = set_state.url();
    view! {
        <section class="card" aria-labelledby="status-h">
            <h2 id="status-h">"Server status"</h2>
            <div class="buttons" data-testid="status-buttons">
            {buttons.into_iter().map(|b| {
                if b.action == Action::SetAvailable && b.enabled && server.state == ServerState::Unavailable {
                    return view! {
                        <AvailableConfirm server_id=sid generation hardware_check=hardware_check.clone() url/>
                    }.into_any();
                }
                let needs_reason = b.action == Action::MarkDefective;
                let action = b.action.as_str();
                let why = b.why_not.clone().unwrap_or_default();
                let label = b.label.clone();
                if !b.enabled {
                    return view! { <DisabledButton label why/> }.into_any();
                }
                view! {
                    <form action=url method="post" class="inline">
                        <input type="hidden" name="id" value=sid/>
                        <input type="hidden" name="action" value=action/>
                        <input type="hidden" name="generation" value=generation/>
                        {needs_reason.then(|| view! {
                            <input name="reason" required placeholder="What is wrong?" aria-label="What is wrong?"/>
                        })}
                        <button type="submit">{label.clone()}</button>
                    </form>
                }.into_any()
            }).collect_view()}
            </div>
            {error_view(set_state.error())}
        </section>
    }
}

/// The Processes card: register again or decommission, each behind a confirmation
/// (works without JavaScript); decommissioning first offers the BMC credentials.
#[component]
pub(super) fn ProcessCard(
    server: Server,
    buttons: Vec<Button>,
    can_reveal: bool,
    register: Answered<StartRegistration>,
    decommission: Answered<DecommissionServer>,
    reveal: Answered<RevealBmcCredentials>,
) -> impl IntoView {
    let refused = register.error().or(decommission.error());
    // Credentials shown (or refused) come inside the decommission confirmation: open.
    let revealed = reveal.result().is_some();
    let (sid, generation) = (server.id, server.generation);
    let used = server.state == ServerState::Used;
    let serial = server.serial_number.clone().unwrap_or_default();
    view! {
        <section class="card" aria-labelledby="process-h">
            <h2 id="process-h">"Processes"</h2>
            <div class="buttons" data-testid="process-buttons">
            {buttons.into_iter().map(|b| {
                let why = b.why_not.clone().unwrap_or_default();
                let label = b.label.clone();
                if !b.enabled {
                    return view! { <DisabledButton label why/> }.into_any();
                }
                let confirm = format!("{label}…");
                match b.action {
                    Action::Decommission => view! {
                        <details class="confirm" open=revealed>
                            <summary role="button">{confirm}</summary>
                            <p>"Decommissioning powers the server off, ejects virtual media and "
                               <strong>"forgets the BMC password"</strong>
                               ". Copy the BMC address, user, password and serial first."</p>
                            {can_reveal.then(|| view! { <RevealCredentials server_id=sid serial=serial.clone() reveal=reveal.clone()/> })}
                            <form action=decommission.url() method="post" class="inline">
                                <input type="hidden" name="id" value=sid/>
                                <input type="hidden" name="generation" value=generation/>
                                <button type="submit" class="danger">"Decommission now"</button>
                            </form>
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
                            <form action=register.url() method="post" class="inline">
                                <input type="hidden" name="id" value=sid/>
                                <input type="hidden" name="generation" value=generation/>
                                <button type="submit">{format!("{label} now")}</button>
                            </form>
                        </details>
                    }.into_any(),
                }
            }).collect_view()}
            </div>
            {error_view(refused)}
        </section>
    }
}

/// Opens the BMC credentials inline (admins; audited), so they can be copied before
/// the decommission forgets the password. Opened, the confirmation stays open when
/// the card comes again with them.
#[component]
fn RevealCredentials(server_id: i64, serial: String, reveal: Answered<RevealBmcCredentials>) -> impl IntoView {
    view! {
        <div data-testid="reveal-credentials">
            {match reveal.result() {
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
                    <form action=reveal.url() method="post" class="inline">
                        <input type="hidden" name="id" value=server_id/>
                        <button type="submit">"Show BMC credentials to copy"</button>
                    </form>
                    {error_view(other.and_then(Result::err))}
                }.into_any(),
            }}
        </div>
    }
}

/// Available, from unavailable: the seed asks the admin to check the disks and the
/// switch interfaces first, so the button opens them with a checkbox to confirm.
#[component]
fn AvailableConfirm(server_id: i64, generation: i64, hardware_check: Vec<String>, url: &'static str) -> impl IntoView {
    view! {
        <details class="confirm" data-testid="available-confirm">
            <summary role="button">"Available…"</summary>
            <p>"Check the discovered disks and switch interfaces before the server joins the pool."</p>
            {if hardware_check.is_empty() {
                view! { <p class="warning">"No inventory was recorded for this server: re-register it to discover its hardware."</p> }.into_any()
            } else {
                view! {
                    <ul class="plain">
                        {hardware_check.into_iter().map(|line| view! { <li>{line}</li> }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <form action=url method="post" class="inline">
                <input type="hidden" name="id" value=server_id/>
                <input type="hidden" name="action" value="set_available"/>
                <input type="hidden" name="generation" value=generation/>
                <label class="check"><input type="checkbox" name="checked" required/>" I checked the disks and switch interfaces"</label>
                <button type="submit" class="primary">"Set available"</button>
            </form>
        </details>
    }
}
