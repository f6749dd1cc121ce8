//! The frame around every page: top bar with navigation and who is logged in.

use crate::api::auth::{Logout, whoami};
use crate::domain::Permission;
use crate::ui::form_action::FormAction;
use leptos::prelude::*;

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    // Refetched on navigation, so the bar follows a login or logout done in-page.
    let location = leptos_router::hooks::use_location();
    let me = Resource::new(move || location.pathname.get(), |_| whoami());
    let logout = FormAction::<Logout>::new();
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Rackstate"</a>
            <nav aria-label="Main">
                <Suspense fallback=|| ()>
                    {move || me.get().and_then(|r| r.ok().flatten()).map(|u| {
                        let can = |p| u.role.can(p);
                        view! {
                            {can(Permission::ViewFleet).then(|| view! { <a href="/servers">"Servers"</a><a href="/">"Utilization"</a><a href="/firmware">"Firmware"</a> })}
                            {(!can(Permission::ViewFleet)).then(|| view! { <a href="/">"My servers"</a> })}
                            {can(Permission::AllocateForTenants).then(|| view! { <a href="/deployments">"Deployments"</a> })}
                            {can(Permission::ManageSubscriptions).then(|| view! { <a href="/subscriptions">"Subscriptions"</a> })}
                            <a href="/images">"Images"</a>
                            {can(Permission::ManageUsers).then(|| view! { <a href="/users">"Users"</a> })}
                            {can(Permission::ManageWebhooks).then(|| view! { <a href="/webhooks">"Webhooks"</a> })}
                        }
                    })}
                </Suspense>
            </nav>
            <div class="whoami">
                <Suspense fallback=|| ()>
                    {move || me.get().and_then(|r| r.ok().flatten()).map(|u| view! {
                        <span data-testid="whoami">{u.username.clone()}" · "<span class="role">{u.role.as_str()}</span></span>
                        <form action=logout.url() method="post" class="inline" on:submit=logout.on_submit()>
                            <button type="submit" class="link">"Log out"</button>
                        </form>
                    })}
                </Suspense>
            </div>
        </header>
        <main class="content">{children()}</main>
    }
}

/// Marks the body (`data-hydrated`) once the page around it is hydrated. Each page
/// draws it after its own view, so on a page with its own wasm file the mark waits for
/// that file too: tests and `make bench-pages` wait for it before clicking, the panic
/// hook tells a failed page load from a failed navigation by it; users never see it.
#[component]
pub fn HydratedMark() -> impl IntoView {
    // Effects run only in the browser, after the view they belong to was hydrated.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
