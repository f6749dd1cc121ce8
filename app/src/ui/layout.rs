//! The frame around every page: top bar with navigation and who is logged in.

use crate::api::auth::{Logout, whoami};
use leptos::form::ActionForm;
use leptos::prelude::*;

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    // Effects run only in the browser, after hydration: tests wait for this marker
    // before clicking, and users never see it.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    // Refetched on navigation, so the bar follows a login or logout done in-page.
    let location = leptos_router::hooks::use_location();
    let me = Resource::new(move || location.pathname.get(), |_| whoami());
    let logout = ServerAction::<Logout>::new();
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Rackstate"</a>
            <nav aria-label="Main">
                <a href="/servers">"Servers"</a>
                <a href="/">"Utilization"</a>
                <a href="/users">"Users"</a>
            </nav>
            <div class="whoami">
                <Suspense fallback=|| ()>
                    {move || me.get().and_then(|r| r.ok().flatten()).map(|u| view! {
                        <span data-testid="whoami">{u.username.clone()}" · "<span class="role">{u.role.as_str()}</span></span>
                        <ActionForm action=logout attr:class="inline">
                            <button type="submit" class="link">"Log out"</button>
                        </ActionForm>
                    })}
                </Suspense>
            </div>
        </header>
        <main class="content">{children()}</main>
    }
}
