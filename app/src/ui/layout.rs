//! The frame around every page: top bar and navigation.

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
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Rackstate"</a>
            <nav aria-label="Main">
                <a href="/servers">"Servers"</a>
                <a href="/">"Utilization"</a>
                <a href="/users">"Users"</a>
            </nav>
        </header>
        <main class="content">{children()}</main>
    }
}
