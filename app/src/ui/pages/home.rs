//! The home page: the server type utilization report (all servers in all states) for
//! those who see the fleet, a tenant's own servers for tenants. The report comes
//! rendered by the server (`report_rendered.rs`): a table whose numbers link to the
//! filtered server list, a stacked bar chart and the lifecycle diagram in SVG.

use crate::api::allocation::load_tenant_usage;
use crate::api::auth::whoami;
use crate::api::servers::load_utilization;
use crate::domain::Permission;
use crate::ui::components::{ServerHtml, error_text};
use leptos::prelude::*;

/// `/`: the utilization report for those who see the fleet; a tenant's own servers
/// for tenants.
#[component]
pub fn Home() -> impl IntoView {
    let me = Resource::new(|| (), |_| whoami());
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || me.get().map(|r| match r.ok().flatten() {
                Some(u) if !u.role.can(Permission::ViewFleet) => view! { <super::deployments::DeploymentsPage/> }.into_any(),
                u => {
                    let admin = u.is_some_and(|u| u.role.can(Permission::ManageSubscriptions));
                    view! { <Report admin/> }.into_any()
                }
            })}
        </Suspense>
    }
}

/// Reserved and used servers per tenant (admins), as the server rendered it.
#[component]
fn TenantUsage() -> impl IntoView {
    let usage = Resource::new(|| (), |_| load_tenant_usage());
    view! {
        <Suspense fallback=|| ()>
            {move || usage.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                Ok(html) => view! { <ServerHtml html/> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn Report(admin: bool) -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let location = move || {
        let q = query.read();
        (q.get("datacenter").unwrap_or_default(), q.get("rack").unwrap_or_default())
    };
    let report = Resource::new(location, |(dc, rack)| load_utilization(Some(dc), Some(rack)));
    view! {
        <h1>"Server type utilization"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || report.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                Ok(html) => view! { <ServerHtml html/> }.into_any(),
            })}
        </Suspense>
        {admin.then(|| view! {
            <section class="card">
                <h2>"By tenant"</h2>
                <TenantUsage/>
            </section>
        })}
    }
}
