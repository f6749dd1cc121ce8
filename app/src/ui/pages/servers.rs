//! The server list, with a state filter and the Add server form.

use crate::api::servers::{AddServer, list_servers};
use crate::domain::ServerState;
use crate::ui::components::{StateBadge, error_text};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn ServersPage() -> impl IntoView {
    let query = use_query_map();
    let add = ServerAction::<AddServer>::new();
    let state = move || query.read().get("state");
    let server_type = move || query.read().get("type");
    let servers = Resource::new(move || (state(), server_type(), add.version().get()), |(s, t, _)| list_servers(s, t));
    view! {
        <h1>"Servers"</h1>
        <form method="get" class="filters">
            <label>"State "
                <select name="state">
                    <option value="">"All in the rack"</option>
                    {ServerState::ALL.iter().map(|s| {
                        let v = s.as_str();
                        view! { <option value=v selected=move || state().as_deref() == Some(v)>{s.label()}</option> }
                    }).collect_view()}
                </select>
            </label>
            {move || server_type().map(|t| view! {
                <input type="hidden" name="type" value=t.clone()/>
                <span class="chip">"Type: " {if t.is_empty() { "not typed yet".to_string() } else { t }} " " <a href="/servers">"clear"</a></span>
            })}
            <button type="submit">"Filter"</button>
        </form>
        {move || state().is_none().then(|| view! {
            <p class="muted">"Servers removed from the rack are hidden; choose that state to see them."</p>
        })}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || servers.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p class="empty">"No servers match."</p> }.into_any(),
                Ok(list) => view! {
                    <div class="table-wrap"><table data-testid="server-list">
                        <thead><tr><th>"Name"</th><th>"State"</th><th>"Type"</th><th>"Serial"</th><th>"BMC"</th><th>"Location"</th></tr></thead>
                        <tbody>
                        {list.into_iter().map(|s| view! {
                            <tr>
                                <td><a href=format!("/servers/{}", s.id)>{s.name.clone()}</a></td>
                                <td><StateBadge state=s.state/></td>
                                <td>{s.server_type.clone().unwrap_or_default()}</td>
                                <td>{s.serial_number.clone().unwrap_or_default()}</td>
                                <td class="mono">{s.bmc_address.clone()}</td>
                                <td>{format!("{} {}", s.datacenter, s.rack)}</td>
                            </tr>
                        }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any(),
            })}
        </Suspense>
        <details class="card">
            <summary>"Add a server"</summary>
            <ActionForm action=add attr:class="grid-form">
                <label>"Name"<input name="name" required placeholder="r12-u07"/></label>
                <label>"BMC address"<input name="bmc_address" required placeholder="10.0.12.7"/></label>
                <label>"BMC user"<input name="bmc_username" autocomplete="off"/></label>
                <label>"BMC password"<input name="bmc_password" type="password" autocomplete="new-password"/></label>
                <label>"Datacenter"<input name="datacenter"/></label>
                <label>"Rack"<input name="rack"/></label>
                <label class="check"><span><input type="checkbox" name="bmc_skip_tls_verify"/>
                    " Accept a self-signed BMC certificate (TLS not verified)"</span></label>
                <button type="submit" class="primary">"Add server"</button>
            </ActionForm>
            {move || match add.value().get() {
                Some(Err(e)) => Some(view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any()),
                Some(Ok(s)) => Some(view! { <p class="ok">"Added " <a href=format!("/servers/{}", s.id)>{s.name}</a>" (registering)."</p> }.into_any()),
                None => None,
            }}
        </details>
    }
}
