//! Firmware: per server type, each component's baseline and how many servers run it,
//! run older or newer firmware (each number a link to those servers); admins set the
//! baseline by hand or adopt the most common versions.

use crate::api::firmware::{AdoptCommonFirmware, FirmwarePage, SetFirmwareBaseline, load_firmware};
use crate::domain::firmware::{ComponentDrift, Drift, ServerComponent, TypeFirmware};
use crate::ui::components::{ActionError, error_text, query_value};
use crate::ui::form_action::FormAction;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn FirmwarePage() -> impl IntoView {
    let query = use_query_map();
    let set = FormAction::<SetFirmwareBaseline>::new();
    let adopt = FormAction::<AdoptCommonFirmware>::new();
    let args = move || {
        let q = query.read();
        (q.get("server_type"), q.get("component"), q.get("drift"))
    };
    let data = Resource::new(
        move || (args(), set.version().get(), adopt.version().get()),
        |((t, c, d), ..)| load_firmware(t, c, d),
    );
    view! {
        <h1>"Firmware"</h1>
        <p class="hint">"The firmware versions each server's registration found (from its BMC, and from the live \
            image where the BMC lists nothing), per server type against the type's baseline. Each number lists \
            its servers. Re-register a server to read its versions again."</p>
        <ActionError result=Signal::derive(move || set.result())/>
        <ActionError result=Signal::derive(move || adopt.result())/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || data.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                Ok(page) => view! { <Drift page set adopt/> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn Drift(
    page: FirmwarePage,
    set: FormAction<SetFirmwareBaseline>,
    adopt: FormAction<AdoptCommonFirmware>,
) -> impl IntoView {
    let FirmwarePage { types, servers, can_set_baseline } = page;
    view! {
        {servers.map(|list| view! { <ServersBehind list/> })}
        {types.is_empty().then(|| view! {
            <p class="muted">"No firmware versions recorded yet: they are read when servers register."</p>
        })}
        {types.into_iter().map(|t| view! { <TypeCard t can_set=can_set_baseline set adopt/> }).collect_view()}
    }
}

/// The link to the servers of `t` whose `component` is `drift`, with their count.
fn count_link(t: &str, c: &str, drift: Drift, n: i64) -> AnyView {
    if n == 0 {
        return view! { <span class="muted">"0"</span> }.into_any();
    }
    let href = format!(
        "/firmware?server_type={}&component={}&drift={}#servers",
        query_value(t),
        query_value(c),
        drift.as_str()
    );
    let label = format!("{n} {t} server(s) {} for {c}", drift.as_str().replace('_', " "));
    view! { <a href=href aria-label=label>{n}</a> }.into_any()
}

#[component]
fn TypeCard(
    t: TypeFirmware,
    can_set: bool,
    set: FormAction<SetFirmwareBaseline>,
    adopt: FormAction<AdoptCommonFirmware>,
) -> impl IntoView {
    let label = t.server_type.clone();
    let id = format!("fw-{}", label.replace(|c: char| !c.is_ascii_alphanumeric(), "-"));
    let has_baseline = t.components.iter().any(|c| c.baseline.is_some());
    let rows = t
        .components
        .iter()
        .map(|c| {
            let ComponentDrift { component, name, baseline, on, behind, ahead, no_baseline, versions } = c.clone();
            let seen = versions.iter().map(|v| format!("{} ×{}", v.version, v.servers)).collect::<Vec<_>>().join(", ");
            view! {
                <tr>
                    <th scope="row">{name.clone()}<br/><span class="muted mono">{component.clone()}</span></th>
                    <td class="mono">{baseline.clone().unwrap_or_else(|| "—".into())}</td>
                    <td class="num">{count_link(&label, &component, Drift::On, on)}</td>
                    <td class="num">{count_link(&label, &component, Drift::Behind, behind)}</td>
                    <td class="num">{count_link(&label, &component, Drift::Ahead, ahead)}</td>
                    <td class="num">{count_link(&label, &component, Drift::NoBaseline, no_baseline)}</td>
                    <td class="mono">{seen}</td>
                </tr>
            }
        })
        .collect_view();
    let form_rows = t
        .components
        .iter()
        .map(|c| {
            let input_label = format!("Baseline of {} ({})", c.name, c.component);
            view! {
                <div class="field"><label>{input_label.clone()}
                    <input type="hidden" name="component[]" value=c.component.clone()/>
                    <input name="version[]" value=c.baseline.clone().unwrap_or_default() placeholder="no baseline"/>
                </label></div>
            }
        })
        .collect_view();
    let (heading_id, caption) = (id.clone(), format!("Firmware of {label} against its baseline"));
    let (adopt_type, set_type, adopt_text) =
        (label.clone(), label.clone(), format!("Adopt the most common versions for {label}"));
    view! {
        <section class="card" aria-labelledby=id data-testid="firmware-type">
            <h2 id=heading_id>{label.clone()}</h2>
            {(!has_baseline).then(|| view! { <p class="muted">"No baseline yet: every server counts as “no baseline”."</p> })}
            <div class="table-wrap" tabindex="0"><table class="compact">
                <caption>{caption}</caption>
                <thead><tr>
                    <th scope="col">"Component"</th><th scope="col">"Baseline"</th><th scope="col">"On"</th>
                    <th scope="col">"Behind"</th><th scope="col">"Ahead"</th><th scope="col">"No baseline"</th>
                    <th scope="col">"Versions seen (servers)"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table></div>
            {can_set.then(move || view! {
                <form action=adopt.url() method="post" class="inline" on:submit=adopt.on_submit()>
                    <input type="hidden" name="server_type" value=adopt_type/>
                    <button type="submit">{adopt_text}</button>
                </form>
                <details>
                    <summary>"Set the baseline by hand…"</summary>
                    <form action=set.url() method="post" class="grid-form" on:submit=set.on_submit()>
                        <input type="hidden" name="server_type" value=set_type/>
                        {form_rows}
                        <button type="submit" class="primary">"Save baseline"</button>
                    </form>
                </details>
            })}
        </section>
    }
}

/// The servers behind one number.
#[component]
fn ServersBehind(list: Vec<ServerComponent>) -> impl IntoView {
    view! {
        <section class="card" id="servers" aria-labelledby="fw-servers-h" data-testid="firmware-servers">
            <h2 id="fw-servers-h">{format!("{} server(s)", list.len())}</h2>
            <div class="table-wrap" tabindex="0"><table class="compact">
                <thead><tr><th>"Server"</th><th>"Component"</th><th>"Version"</th><th>"Baseline"</th><th>"Drift"</th></tr></thead>
                <tbody>{list.into_iter().map(|s| view! {
                    <tr>
                        <td><a href=format!("/servers/{}", s.server_id)>{s.server}</a></td>
                        <td class="mono">{s.component}</td>
                        <td class="mono">{s.version}</td>
                        <td class="mono">{s.baseline.unwrap_or_else(|| "—".into())}</td>
                        <td>{s.drift.as_str().replace('_', " ")}</td>
                    </tr>
                }).collect_view()}</tbody>
            </table></div>
        </section>
    }
}
