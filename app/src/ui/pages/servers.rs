//! The server list: filters, search, sorting and paging on the server (the query string
//! is the state, so a filtered view is a link), bulk actions with each server's
//! outcome, and the Add server form with per-field errors. The list itself comes
//! rendered by the server (`list_rendered.rs`); this page selects its rows.

use crate::api::servers::{AddServer, BULK_ACTIONS, BulkAction, list_servers};
use crate::domain::Action;
use crate::model::BulkOutcome;
use crate::ui::components::{FieldError, ServerHtml, StateBadge, error_text, field_errors, field_invalid};
use crate::ui::form_action::FormAction;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use std::collections::BTreeSet;

/// The list's query parameters, in the order links write them.
pub(crate) const KEYS: [&str; 8] = ["q", "state", "type", "datacenter", "rack", "sort", "dir", "page"];

const ADD_FIELDS: &[&str] = &["name", "bmc_address", "bmc_username", "bmc_password", "datacenter", "rack"];

#[component]
pub fn ServersPage() -> impl IntoView {
    let query = use_query_map();
    let add = FormAction::<AddServer>::new();
    let bulk = FormAction::<BulkAction>::new();
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
    let selection = Selection::new();
    // A finished bulk action clears the selection (the list is loaded again).
    Effect::new(move |_| {
        if let Some(Ok(_)) = bulk.result() {
            selection.clear();
        }
    });
    view! {
        <h1>"Servers"</h1>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || servers.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                Ok(list) => {
                    let actions: Vec<(Action, &'static str)> =
                        BULK_ACTIONS.iter().copied().filter(|(a, _)| list.bulk_actions.contains(a)).collect();
                    view! {
                        <ServerHtml html=list.head/>
                        {if actions.is_empty() {
                            view! { <ServerHtml html=list.table/> }.into_any()
                        } else {
                            view! {
                                <form action=bulk.url() method="post" class="bulk" on:submit=bulk.on_submit()>
                                    <div class="server-html" node_ref=selection.list inner_html=list.table
                                        on:change=move |ev| selection.changed(&ev)></div>
                                    <BulkBar actions count=selection.count/>
                                </form>
                            }.into_any()
                        }}
                        <ServerHtml html=list.pager/>
                    }.into_any()
                }
            })}
        </Transition>
        <BulkResults bulk/>
        <AddServerForm add/>
    }
}

/// The rows the bulk form is to post. The boxes come in the server's HTML; the ids
/// decide them, so a selection outlives a reload of the list (a server added) and is
/// cleared after a bulk action.
#[derive(Clone, Copy)]
struct Selection {
    ids: RwSignal<BTreeSet<i64>>,
    /// Checked boxes on the page shown.
    count: RwSignal<usize>,
    list: NodeRef<leptos::html::Div>,
}

impl Selection {
    fn new() -> Self {
        let this = Self { ids: RwSignal::new(BTreeSet::new()), count: RwSignal::new(0), list: NodeRef::new() };
        // Each time the list is shown or the ids change: check the boxes of the ids,
        // forget ids no longer shown, count, and tick "select all" when every box is.
        #[cfg(feature = "hydrate")]
        Effect::new(move |_| {
            let Some(list) = this.list.get() else { return };
            let ids = this.ids.get();
            let boxes = dom::row_boxes(&list);
            let mut shown = BTreeSet::new();
            for (id, input) in &boxes {
                input.set_checked(ids.contains(id));
                shown.insert(*id);
            }
            let n = ids.intersection(&shown).count();
            this.ids.update_untracked(|ids| ids.retain(|id| shown.contains(id)));
            if let Some(all) = dom::select_all(&list) {
                all.set_checked(!boxes.is_empty() && n == boxes.len());
            }
            this.count.set(n);
        });
        this
    }

    /// A box of the list changed: one row's, or "select all".
    fn changed(&self, ev: &leptos::ev::Event) {
        #[cfg(feature = "hydrate")]
        {
            let (Some(list), Some(input)) = (self.list.get_untracked(), dom::input_of(ev)) else { return };
            let on = input.checked();
            if input.has_attribute("data-select-all") {
                let all: Vec<i64> = dom::row_boxes(&list).into_iter().map(|(id, _)| id).collect();
                self.ids.update(|ids| {
                    all.into_iter().for_each(|id| {
                        if on {
                            ids.insert(id);
                        } else {
                            ids.remove(&id);
                        }
                    })
                });
            } else if let Some(id) = dom::row_id(&input) {
                self.ids.update(|ids| {
                    if on {
                        ids.insert(id);
                    } else {
                        ids.remove(&id);
                    }
                });
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    }

    fn clear(&self) {
        self.ids.set(BTreeSet::new());
    }
}

/// The list's boxes in the browser's document.
#[cfg(feature = "hydrate")]
mod dom {
    use wasm_bindgen::JsCast;
    use web_sys::{Element, HtmlInputElement};

    /// The input an event came from.
    pub fn input_of(ev: &web_sys::Event) -> Option<HtmlInputElement> {
        ev.target()?.dyn_into::<HtmlInputElement>().ok()
    }

    /// A row's server id (its box's value is "id:generation").
    pub fn row_id(input: &HtmlInputElement) -> Option<i64> {
        input.value().split(':').next()?.parse().ok()
    }

    /// Every row's box with its server id.
    pub fn row_boxes(list: &Element) -> Vec<(i64, HtmlInputElement)> {
        let Ok(nodes) = list.query_selector_all("input[name='targets[]']") else { return Vec::new() };
        (0..nodes.length())
            .filter_map(|i| nodes.item(i)?.dyn_into::<HtmlInputElement>().ok())
            .filter_map(|input| Some((row_id(&input)?, input)))
            .collect()
    }

    /// The header's "select all" box.
    pub fn select_all(list: &Element) -> Option<HtmlInputElement> {
        list.query_selector("input[data-select-all]").ok()??.dyn_into::<HtmlInputElement>().ok()
    }
}

/// The action bar under the table: the role's actions, a reason (Defective needs one)
/// and the hardware check (Available from unavailable needs it).
#[component]
fn BulkBar(actions: Vec<(Action, &'static str)>, count: RwSignal<usize>) -> impl IntoView {
    let chosen = RwSignal::new(String::new());
    view! {
        <div class="bulk-bar" data-testid="bulk-bar">
            <span class="muted" aria-live="polite">{move || format!("{} selected", count.get())}</span>
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
