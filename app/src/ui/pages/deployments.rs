//! Deployments: a tenant's "My servers" (reserved and allocated, with Allocate and
//! Release), or, for operators and admins, every tenant's deployments with
//! allocation on a tenant's behalf.

use crate::api::allocation::{Allocate, DeploymentsData, ReleaseDeployment, load_deployments};
use crate::domain::ServerState;
use crate::model::Deployment;
use crate::ui::components::{ActionError, StateBadge, error_text, utc};
use crate::ui::form_action::FormAction;
use leptos::prelude::*;

#[component]
pub fn DeploymentsPage() -> impl IntoView {
    let allocate = FormAction::<Allocate>::new();
    let release = FormAction::<ReleaseDeployment>::new();
    let data = Resource::new(move || (allocate.version().get(), release.version().get()), |_| load_deployments());
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || data.get().map(|r| match r {
                Err(e) => view! { <h1>"Deployments"</h1><p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                Ok(d) => view! { <Deployments data=d allocate release/> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn Deployments(
    data: DeploymentsData,
    allocate: FormAction<Allocate>,
    release: FormAction<ReleaseDeployment>,
) -> impl IntoView {
    let for_tenants = data.for_tenants;
    let title = if for_tenants { "Deployments" } else { "My servers" };
    let tenants = data.tenants.clone();
    let types = data.server_types.clone();
    let images = data.images.clone();
    view! {
        <h1>{title}</h1>
        <section class="card">
            <h2>"Allocate servers"</h2>
            <p class="hint">
                {if for_tenants {
                    "For a tenant: its reserved servers of the type first, then available ones. All or none."
                } else {
                    "Your reserved servers of the type first, then available ones. All or none: if there are not enough, nothing is allocated."
                }}
            </p>
            <form action=allocate.url() method="post" class="grid-form" on:submit=allocate.on_submit()>
                {for_tenants.then(|| view! {
                    <label>"Tenant"
                        <select name="username" required>
                            {tenants.into_iter().map(|t| view! { <option value=t.clone()>{t.clone()}</option> }).collect_view()}
                        </select>
                    </label>
                })}
                <label>"Server type"
                    <select name="server_type" required>
                        {types.into_iter().map(|t| view! { <option value=t.clone()>{t.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <label>"How many"<input name="count" type="number" min="1" max="1000" value="1" required/></label>
                <label>"Operating system"
                    <select name="image">
                        <option value="">"None: as they are"</option>
                        {images.into_iter().map(|i| view! { <option value=i.clone()>{i.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <label class="wide">"SSH public keys (one per line; with an image)"
                    <textarea name="ssh_keys" rows="2" placeholder="ssh-ed25519 AAAA… you@laptop"></textarea>
                </label>
                <label class="wide">"cloud-init user data (optional; with an image)"
                    <textarea name="user_data" rows="3" placeholder="#cloud-config"></textarea>
                </label>
                <button type="submit" class="primary">"Allocate"</button>
            </form>
            <ActionError result=Signal::derive(move || allocate.result())/>
            {move || allocate.result().and_then(|r| r.ok()).map(|d| view! {
                <p class="ok" role="status">{format!("Deployment {}: {} server(s) allocated to {}{}.", d.id, d.servers.len(), d.username,
                    d.image.as_ref().map(|i| format!("; {i} is being written to them")).unwrap_or_default())}</p>
            })}
        </section>
        {(!for_tenants).then(|| view! { <MyServers data=data.clone()/> })}
        <section>
            <h2>"Deployments"</h2>
            <ActionError result=Signal::derive(move || release.result())/>
            {move || release.result().and_then(|r| r.ok()).map(|d| view! {
                <p class="ok" role="status">{format!("Deployment {}: released servers are cleaning.", d.id)}</p>
            })}
            {if data.deployments.is_empty() {
                view! { <p class="muted">"No deployments yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" tabindex="0"><table data-testid="deployments">
                        <thead><tr>
                            <th>"#"</th>{for_tenants.then(|| view! { <th>"Tenant"</th> })}<th>"Server type"</th>
                            <th>"Servers"</th><th>"Status"</th><th>"Created"</th><th>"Release"</th>
                        </tr></thead>
                        <tbody>
                            {data.deployments.into_iter().map(|d| view! { <DeploymentRow d for_tenants release/> }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any()
            }}
        </section>
    }
}

/// A tenant's servers and subscriptions.
#[component]
fn MyServers(data: DeploymentsData) -> impl IntoView {
    view! {
        <section>
            <h2>"Reserved and allocated"</h2>
            {if data.servers.is_empty() {
                view! { <p class="muted">"You hold no servers yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" tabindex="0"><table data-testid="my-servers">
                        <thead><tr><th>"Server"</th><th>"Type"</th><th>"State"</th><th>"Deployment"</th></tr></thead>
                        <tbody>
                        {data.servers.into_iter().map(|s| view! {
                            <tr>
                                <td><a href=format!("/servers/{}", s.id)>{s.name.clone()}</a></td>
                                <td>{s.server_type.clone().unwrap_or_default()}</td>
                                <td><StateBadge state=s.state/></td>
                                <td>{s.deployment_id.map(|d| format!("#{d}")).unwrap_or_else(|| "—".into())}</td>
                            </tr>
                        }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any()
            }}
            {(!data.subscriptions.is_empty()).then(|| view! {
                <h3>"Subscriptions"</h3>
                <ul>
                    {data.subscriptions.into_iter().filter(|s| s.is_active()).map(|s| view! {
                        <li>{format!("{} × {}: {} held{}{}", s.count, s.server_type, s.filled,
                            if s.short > 0 { format!(", {} short", s.short) } else { String::new() },
                            s.ends_at.map(|e| format!(", until {}", utc(e))).unwrap_or_default())}</li>
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
}

#[component]
fn DeploymentRow(d: Deployment, for_tenants: bool, release: FormAction<ReleaseDeployment>) -> impl IntoView {
    let id = d.id;
    let releasable = d.servers.iter().filter(|s| s.state == ServerState::Used).count();
    let active = d.status == "active";
    view! {
        <tr class:muted=!active>
            <td>{id}</td>
            {for_tenants.then(|| view! { <td>{d.username.clone()}</td> })}
            <td>{d.server_type.clone()}{d.image.clone().map(|i| view! { <br/><span class="muted">{format!("with {i}")}</span> })}</td>
            <td>
                <ul class="plain">
                {d.servers.into_iter().map(|s| {
                    let sid = s.id;
                    let used = s.state == ServerState::Used;
                    let label = format!("Release {} only", s.name);
                    view! {
                        <li>
                            <a href=format!("/servers/{sid}")>{s.name}</a>" "<StateBadge state=s.state/>
                            {used.then(|| view! {
                                <form action=release.url() method="post" class="inline" on:submit=release.on_submit()>
                                    <input type="hidden" name="id" value=id/>
                                    <input type="hidden" name="server_id" value=sid/>
                                    <button type="submit" class="link" aria-label=label>"release"</button>
                                </form>
                            })}
                        </li>
                    }
                }).collect_view()}
                {d.released.into_iter().map(|s| view! {
                    <li class="muted">{s.name}" "<StateBadge state=s.state/>" (released)"</li>
                }).collect_view()}
                </ul>
            </td>
            <td>{d.status.clone()}</td>
            <td>{utc(d.created_at)}" by "{d.created_by.clone()}</td>
            <td>
                {(active && releasable > 0).then(|| view! {
                    <details class="confirm">
                        <summary role="button">"Release…"</summary>
                        <p>{format!("The {releasable} server(s) go to cleaning: their disks are erased before anyone gets them again.")}</p>
                        <form action=release.url() method="post" class="inline" on:submit=release.on_submit()>
                            <input type="hidden" name="id" value=id/>
                            <button type="submit" class="danger">{format!("Release {releasable} server(s)")}</button>
                        </form>
                    </details>
                })}
                {d.released_at.map(|t| view! { <span class="muted">{format!("released {}", utc(t))}</span> })}
            </td>
        </tr>
    }
}
