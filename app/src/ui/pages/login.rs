//! The login page.

use crate::api::auth::Login;
use crate::ui::components::error_text;
use crate::ui::form_action::FormAction;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = FormAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    view! {
        <section class="card narrow">
            <h1>"Log in"</h1>
            <form action=login.url() method="post" on:submit=login.on_submit()>
                <input type="hidden" name="next" prop:value=next/>
                <label>"Username"<input name="username" autocomplete="username" required autofocus/></label>
                <label>"Password"<input name="password" type="password" autocomplete="current-password" required/></label>
                <button type="submit" class="primary">"Log in"</button>
            </form>
            {move || match login.result() {
                Some(Err(e)) => Some(view! { <p class="error" role="alert" data-testid="login-error">{error_text(&e)}</p> }),
                _ => None,
            }}
        </section>
        <crate::ui::layout::HydratedMark/>
    }
}
