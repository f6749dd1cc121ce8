//! The server list: filters, search, sorting and paging on the server (the query string
//! is the state, so a filtered view is a link), bulk actions with each server's
//! outcome, and the Add server form with per-field errors.

use crate::api::auth::whoami;
use crate::api::servers::{AddServer, BULK_ACTIONS, BulkAction, list_servers};
use crate::domain::{Action, Role, ServerState};
use crate::model::{BulkOutcome, Server, ServerListPage};
use crate::ui::components::{FieldError, StateBadge, error_text, field_errors, field_invalid};
use crate::ui::form_action::FormAction;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use std::collections::BTreeSet;

/// The list's query parameters, in the order links write them.
const KEYS: [&str; 8] = ["q", "state", "type", "datacenter", "rack", "sort", "dir", "page"];

/// The current query with some keys replaced (None removes a key): the link to a
/// sorted, paged or refiltered view.
fn href_with(current: &[(String, String)], changes: &[(&str, Option<String>)]) -> String {
    let mut parts = Vec::new();
    for key in KEYS {
        let value = match changes.iter().find(|(k, _)| *k == key) {
            Some((_, v)) => v.clone(),
            None => current.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()),
        };
        // An empty type is a real filter (not typed yet); other empty values are "any".
        if let Some(v) = value.filter(|v| key == "type" || !v.is_empty()) {
            parts.push(format!("{key}={}", crate::ui::components::query_value(&v)));
        }
    }
    if parts.is_empty() { "/servers".into() } else { format!("/servers?{}", parts.join("&")) }
}

/// Which bulk actions a role may take (the server checks again).
fn bulk_actions_for(role: Role) -> Vec<(Action, &'static str)> {
    BULK_ACTIONS
        .iter()
        .copied()
        .filter(|(a, _)| crate::domain::roles::permission_for_action(*a).is_some_and(|p| role.can(p)))
        .collect()
}

const ADD_FIELDS: &[&str] = &["name", "bmc_address", "bmc_username", "bmc_password", "datacenter", "rack"];

#[component]
pub fn ServersPage() -> impl IntoView {
    let query = use_query_map();
    let add = FormAction::<AddServer>::new();
    let bulk = FormAction::<BulkAction>::new();
    let me = Resource::new(|| (), |_| whoami());
    let current = move || -> Vec<(String, String)> {
        let q = query.read();
        KEYS.iter().filter_map(|k| q.get(k).map(|v| (k.to_string(), v))).collect()
    };
    let servers = Resource::new(
        move || (current(), add.version().get(), bulk.version().get()),
        |(q, _, _)| {
            let v = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
            list_servers(
                v("state"),
                v("type"),
                v("datacenter"),
                v("rack"),
                v("q"),
                v("sort"),
                v("dir"),
                v("page").and_then(|p| p.parse().ok()),
            )
        },
    );
    let selected = RwSignal::new(BTreeSet::<i64>::new());
    // A finished bulk action clears the selection (the list is loaded again).
    Effect::new(move |_| {
        if let Some(Ok(_)) = bulk.result() {
            selected.set(BTreeSet::new());
        }
    });
    view! {
        <h1>"Servers"</h1>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || servers.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                Ok(page) => {
                    let role = me.get().and_then(|r| r.ok().flatten()).map(|u| u.role);
                    let actions = role.map(bulk_actions_for).unwrap_or_default();
                    view! {
                        <Filters page=page.clone() current=current()/>
                        <ListTable page actions current=current() selected bulk/>
                    }.into_any()
                }
            })}
        </Transition>
        <BulkResults bulk/>
        <AddServerForm add/>
    }
}

#[component]
fn Filters(page: ServerListPage, current: Vec<(String, String)>) -> impl IntoView {
    let value = |k: &str| current.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let get = |k: &str| value(k).unwrap_or_default();
    // An empty type is a filter of its own (not typed yet); absent means any type.
    let server_type = value("type");
    let (dc, rack, q) = (get("datacenter"), get("rack"), get("q"));
    let state_now = get("state");
    let sort = get("sort");
    let dir = get("dir");
    view! {
        <form method="get" action="/servers" class="filters wrap" role="search" data-testid="server-filters">
            <label>"Search"
                <input type="search" name="q" value=q placeholder="name, serial, BMC, MAC" maxlength="200"/>
            </label>
            <label>"State"
                <select name="state">
                    <option value="">"All in the rack"</option>
                    {ServerState::ALL.iter().map(|s| {
                        let v = s.as_str();
                        view! { <option value=v selected=state_now == v>{s.label()}</option> }
                    }).collect_view()}
                </select>
            </label>
            <crate::ui::components::LocationSelects locations=page.locations datacenter=dc rack=rack/>
            {server_type.map(|t| view! {
                <input type="hidden" name="type" value=t.clone()/>
                <span class="chip">"Type: " {if t.is_empty() { "not typed yet".to_string() } else { t }}</span>
            })}
            {(!sort.is_empty()).then(|| view! { <input type="hidden" name="sort" value=sort.clone()/> })}
            {(!dir.is_empty()).then(|| view! { <input type="hidden" name="dir" value=dir.clone()/> })}
            <button type="submit">"Filter"</button>
            <a href="/servers">"Clear"</a>
        </form>
    }
}

/// A sortable column header: a link to the list sorted by it (again: the other way).
fn sort_header(current: &[(String, String)], key: &'static str, label: &'static str) -> impl IntoView + use<> {
    let now = current.iter().find(|(k, _)| k == "sort").map(|(_, v)| v.as_str()).unwrap_or("name");
    let desc = current.iter().any(|(k, v)| k == "dir" && v == "desc");
    let active = now == key;
    let next_dir = if active && !desc { Some("desc".to_string()) } else { None };
    let href = href_with(current, &[("sort", Some(key.to_string())), ("dir", next_dir), ("page", None)]);
    let aria = if active { if desc { "descending" } else { "ascending" } } else { "none" };
    let arrow = if active { if desc { " ▼" } else { " ▲" } } else { "" };
    view! { <th scope="col" aria-sort=aria><a href=href>{label}{arrow}</a></th> }
}

#[component]
fn ListTable(
    page: ServerListPage,
    actions: Vec<(Action, &'static str)>,
    current: Vec<(String, String)>,
    selected: RwSignal<BTreeSet<i64>>,
    bulk: FormAction<BulkAction>,
) -> impl IntoView {
    let ServerListPage { items, total, page: number, per_page, .. } = page;
    let pages = ((total + per_page - 1) / per_page).max(1);
    let first = if total == 0 { 0 } else { (number - 1) * per_page + 1 };
    let last = ((number - 1) * per_page + items.len() as i64).min(total);
    let hidden_note = !current.iter().any(|(k, _)| k == "state");
    let summary =
        if total == 0 { "No servers match.".to_string() } else { format!("Showing {first}–{last} of {total}") };
    let can_bulk = !actions.is_empty();
    let ids: Vec<i64> = items.iter().map(|s| s.id).collect();
    let page_ids = ids.clone();
    let all_checked = move || !page_ids.is_empty() && selected.with(|sel| page_ids.iter().all(|id| sel.contains(id)));
    let toggle_all = move |on: bool| {
        selected.update(|sel| {
            for id in &ids {
                if on {
                    sel.insert(*id);
                } else {
                    sel.remove(id);
                }
            }
        })
    };
    let prev = (number > 1).then(|| href_with(&current, &[("page", Some((number - 1).to_string()))]));
    let next = (number < pages).then(|| href_with(&current, &[("page", Some((number + 1).to_string()))]));
    let rows = items.into_iter().map(|s| view! { <ServerRow s can_bulk selected/> }).collect_view();
    let table = view! {
        <div class="table-wrap" tabindex="0"><table data-testid="server-list">
            <thead><tr>
                {can_bulk.then(|| view! {
                    <th scope="col" class="select">
                        <input type="checkbox" aria-label="Select all servers on this page"
                            prop:checked=all_checked on:change=move |ev| toggle_all(event_target_checked(&ev))/>
                    </th>
                })}
                {sort_header(&current, "name", "Name")}
                {sort_header(&current, "state", "State")}
                {sort_header(&current, "type", "Type")}
                {sort_header(&current, "serial", "Serial")}
                {sort_header(&current, "bmc", "BMC")}
                {sort_header(&current, "location", "Location")}
                {sort_header(&current, "updated", "Changed")}
            </tr></thead>
            <tbody>{rows}</tbody>
        </table></div>
    };
    view! {
        <p class="muted" data-testid="list-summary">{summary}
            {hidden_note.then_some(" · servers removed from the rack are hidden; choose that state to see them")}
        </p>
        {if can_bulk {
            view! {
                <form action=bulk.url() method="post" class="bulk" on:submit=bulk.on_submit()>
                    {table}
                    <BulkBar actions selected/>
                </form>
            }.into_any()
        } else {
            table.into_any()
        }}
        <nav class="pager" aria-label="Pages">
            {match prev {
                Some(h) => view! { <a href=h rel="prev">"← Previous"</a> }.into_any(),
                None => view! { <span class="muted">"← Previous"</span> }.into_any(),
            }}
            <span>{format!("Page {number} of {pages}")}</span>
            {match next {
                Some(h) => view! { <a href=h rel="next">"Next →"</a> }.into_any(),
                None => view! { <span class="muted">"Next →"</span> }.into_any(),
            }}
        </nav>
    }
}

#[component]
fn ServerRow(s: Server, can_bulk: bool, selected: RwSignal<BTreeSet<i64>>) -> impl IntoView {
    let id = s.id;
    let target = format!("{}:{}", s.id, s.generation);
    let label = format!("Select {}", s.name);
    view! {
        <tr>
            {can_bulk.then(|| view! {
                <td class="select">
                    <input type="checkbox" name="targets[]" value=target aria-label=label
                        prop:checked=move || selected.with(|sel| sel.contains(&id))
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            selected.update(|sel| { if on { sel.insert(id); } else { sel.remove(&id); } });
                        }/>
                </td>
            })}
            <td><a href=format!("/servers/{}", s.id)>{s.name.clone()}</a></td>
            <td><StateBadge state=s.state/>
                {(!s.hardware_changes.is_empty()).then(|| view! {
                    " " <span class="flag" title="hardware changes need a look">"hardware changed"</span>
                })}
            </td>
            <td>{s.server_type.clone().unwrap_or_default()}</td>
            <td class="mono">{s.serial_number.clone().unwrap_or_default()}</td>
            <td class="mono">{s.bmc_address.clone()}</td>
            <td>{format!("{} {}", s.datacenter, s.rack)}</td>
            <td class="when">{crate::ui::components::utc(s.updated_at)}</td>
        </tr>
    }
}

/// The action bar under the table: the role's actions, a reason (Defective needs one)
/// and the hardware check (Available from unavailable needs it).
#[component]
fn BulkBar(actions: Vec<(Action, &'static str)>, selected: RwSignal<BTreeSet<i64>>) -> impl IntoView {
    let chosen = RwSignal::new(String::new());
    let count = move || selected.with(BTreeSet::len);
    view! {
        <div class="bulk-bar" data-testid="bulk-bar">
            <span class="muted" aria-live="polite">{move || format!("{} selected", count())}</span>
            <label>"Action"
                <select name="action" required on:change=move |ev| chosen.set(event_target_value(&ev))>
                    <option value="">"Choose…"</option>
                    {actions.into_iter().map(|(a, label)| view! { <option value=a.as_str()>{label}</option> }).collect_view()}
                </select>
            </label>
            <label>"Reason"
                <input name="reason" maxlength="2000" placeholder="Defective: what is wrong?"
                    required=move || chosen.get() == "mark_defective"/>
            </label>
            <label class="check"><span><input type="checkbox" name="checked"/>
                " I checked the disks and switch interfaces (Available)"</span></label>
            <button type="submit" class="primary">"Apply to selected"</button>
            {move || {
                let warning = match chosen.get().as_str() {
                    "re_register" => Some("Used servers among them reboot into the live image: their tenants lose them until registration ends."),
                    "decommission" => Some("Decommissioning forgets each server's BMC password: copy the credentials first (server page)."),
                    "remove_from_rack" => Some("Servers removed from the rack leave the list and the pool; their audit stays."),
                    _ => None,
                };
                warning.map(|w| view! { <p class="warning" role="status">{w}</p> })
            }}
        </div>
    }
}

/// Each server's outcome of the last bulk action.
#[component]
fn BulkResults(bulk: FormAction<BulkAction>) -> impl IntoView {
    move || {
        bulk.result().map(|r| match r {
            Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
            Ok(outcomes) => {
                let done = outcomes.iter().filter(|o| o.error.is_none()).count();
                let refused = outcomes.len() - done;
                view! {
                    <section class="card" aria-labelledby="bulk-h" data-testid="bulk-results">
                        <h2 id="bulk-h">{format!("Bulk action: {done} done, {refused} refused")}</h2>
                        <div class="table-wrap" tabindex="0"><table class="compact">
                            <thead><tr><th>"Server"</th><th>"Outcome"</th></tr></thead>
                            <tbody>
                            {outcomes.into_iter().map(|BulkOutcome { id, name, state, error }| view! {
                                <tr>
                                    <td><a href=format!("/servers/{id}")>{name}</a></td>
                                    <td>{match (state, error) {
                                        (Some(s), _) => view! { <StateBadge state=s/> }.into_any(),
                                        (None, e) => view! { <span class="error">{e.unwrap_or_default()}</span> }.into_any(),
                                    }}</td>
                                </tr>
                            }).collect_view()}
                            </tbody>
                        </table></div>
                    </section>
                }.into_any()
            }
        })
    }
}

/// Adds a server; every invalid field is named under the field, the rest stays typed.
#[component]
fn AddServerForm(add: FormAction<AddServer>) -> impl IntoView {
    let result = Signal::derive(move || add.result());
    let invalid =
        move |f: &'static str| move || if field_invalid(&add.result(), f, ADD_FIELDS) { "true" } else { "false" };
    let other_errors = move || match add.result() {
        Some(Err(e)) => {
            let rest: Vec<String> =
                field_errors(&e, ADD_FIELDS).into_iter().filter(|(f, _)| f.is_empty()).map(|(_, m)| m).collect();
            (!rest.is_empty()).then(|| view! { <p class="error" role="alert">{rest.join("; ")}</p> })
        }
        _ => None,
    };
    let field = move |name: &'static str| view! { <FieldError result form="add" field=name fields=ADD_FIELDS/> };
    view! {
        <details class="card" open=move || add.result().is_some()>
            <summary>"Add a server"</summary>
            <form action=add.url() method="post" class="grid-form" novalidate=true on:submit=add.on_submit()>
                <div class="field"><label>"Name"<input name="name" required placeholder="r12-u07" maxlength="63"
                    aria-invalid=invalid("name") aria-describedby="add-name-error"/></label>{field("name")}</div>
                <div class="field"><label>"BMC address"<input name="bmc_address" required placeholder="10.0.12.7"
                    aria-invalid=invalid("bmc_address") aria-describedby="add-bmc_address-error"/></label>{field("bmc_address")}</div>
                <div class="field"><label>"BMC user"<input name="bmc_username" autocomplete="off"
                    aria-invalid=invalid("bmc_username") aria-describedby="add-bmc_username-error"/></label>{field("bmc_username")}</div>
                <div class="field"><label>"BMC password"<input name="bmc_password" type="password" autocomplete="new-password"
                    aria-invalid=invalid("bmc_password") aria-describedby="add-bmc_password-error"/></label>{field("bmc_password")}</div>
                <div class="field"><label>"Datacenter"<input name="datacenter"
                    aria-invalid=invalid("datacenter") aria-describedby="add-datacenter-error"/></label>{field("datacenter")}</div>
                <div class="field"><label>"Rack"<input name="rack"
                    aria-invalid=invalid("rack") aria-describedby="add-rack-error"/></label>{field("rack")}</div>
                <label class="check"><span><input type="checkbox" name="bmc_skip_tls_verify"/>
                    " Accept a self-signed BMC certificate (TLS not verified)"</span></label>
                <label class="check"><span><input type="checkbox" name="random_bmc_password"/>
                    " Once registered, set a random BMC password (only admins can reveal it)"</span></label>
                <button type="submit" class="primary">"Add server"</button>
            </form>
            {other_errors}
            {move || match add.result() {
                Some(Ok(s)) => Some(view! { <p class="ok" role="status">"Added " <a href=format!("/servers/{}", s.id)>{s.name}</a>" (registering)."</p> }),
                _ => None,
            }}
        </details>
    }
}
