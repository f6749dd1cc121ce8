//! Users (admins): create, change role, disable, reset password; every user's API
//! tokens, with revoke.

use crate::api::users::{
    CreateUser, ResetUserPassword, RevokeApiToken, SetUserDisabled, SetUserRole, list_api_tokens, list_users,
};
use crate::domain::Role;
use crate::ui::components::{error_text, utc};
use crate::ui::form_action::FormAction;
use leptos::prelude::*;

#[component]
pub fn UsersPage() -> impl IntoView {
    let create = FormAction::<CreateUser>::new();
    let set_role = FormAction::<SetUserRole>::new();
    let set_disabled = FormAction::<SetUserDisabled>::new();
    let reset = FormAction::<ResetUserPassword>::new();
    let revoke = FormAction::<RevokeApiToken>::new();
    let users = Resource::new(
        move || (create.version().get(), set_role.version().get(), set_disabled.version().get()),
        |_| list_users(),
    );
    // Disabling a user or resetting a password revokes their tokens too.
    let tokens = Resource::new(
        move || (revoke.version().get(), set_disabled.version().get(), reset.version().get()),
        |_| list_api_tokens(),
    );
    // Least privilege by default: a new user is a viewer unless the admin says otherwise.
    let role_options = || {
        Role::ALL
            .iter()
            .map(|r| view! { <option value=r.as_str() selected=*r == Role::Viewer>{r.as_str()}</option> })
            .collect_view()
    };
    let errors = move || {
        [
            create.result().and_then(|r| r.err()),
            set_role.result().and_then(|r| r.err()),
            set_disabled.result().and_then(|r| r.err()),
            reset.result().and_then(|r| r.err()),
            revoke.result().and_then(|r| r.err()),
        ]
        .into_iter()
        .flatten()
        .map(|e| view! { <p class="error" role="alert">{error_text(&e)}</p> })
        .collect_view()
    };
    view! {
        <h1>"Users"</h1>
        {errors}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || users.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                Ok(list) => view! {
                    <div class="table-wrap" tabindex="0"><table data-testid="users">
                        <thead><tr><th>"User"</th><th>"Role"</th><th>"Status"</th><th>"Actions"</th></tr></thead>
                        <tbody>
                        {list.into_iter().map(|u| {
                            let name = u.username.clone();
                            let (n1, n2, n3) = (name.clone(), name.clone(), name.clone());
                            let role = u.role;
                            let disabled = u.disabled;
                            view! {
                                <tr>
                                    <td>{u.username.clone()}</td>
                                    <td>
                                        <form action=set_role.url() method="post" class="inline" on:submit=set_role.on_submit()>
                                            <input type="hidden" name="username" value=n1.clone()/>
                                            <select name="role" aria-label=format!("Role of {n1}")>
                                                {Role::ALL.iter().map(|r| view! { <option value=r.as_str() selected=*r == role>{r.as_str()}</option> }).collect_view()}
                                            </select>
                                            <button type="submit">"Set role"</button>
                                        </form>
                                    </td>
                                    <td>{if u.disabled { "disabled" } else { "active" }}</td>
                                    <td>
                                        <form action=set_disabled.url() method="post" class="inline" on:submit=set_disabled.on_submit()>
                                            <input type="hidden" name="username" value=n2.clone()/>
                                            <input type="hidden" name="disabled" value=(!disabled).to_string()/>
                                            <button type="submit">{if disabled { "Enable" } else { "Disable" }}</button>
                                        </form>
                                        <form action=reset.url() method="post" class="inline" on:submit=reset.on_submit()>
                                            <input type="hidden" name="username" value=n3.clone()/>
                                            <input name="password" type="password" minlength="12" required placeholder="New password" aria-label=format!("New password for {n3}")/>
                                            <button type="submit">"Reset password"</button>
                                        </form>
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any(),
            })}
        </Suspense>
        <section class="card">
            <h2>"Create a user"</h2>
            <form action=create.url() method="post" class="grid-form" on:submit=create.on_submit()>
                <label>"Username"<input name="username" required/></label>
                <label>"Password (12+ characters)"<input name="password" type="password" minlength="12" required/></label>
                <label>"Role"<select name="role">{role_options()}</select></label>
                <button type="submit" class="primary">"Create user"</button>
            </form>
            {move || reset.result().and_then(|r| r.ok()).map(|_| view! { <p class="ok">"Password reset; that user's sessions ended and API tokens were revoked."</p> })}
        </section>
        <section class="card" aria-labelledby="tokens-h">
            <h2 id="tokens-h">"API tokens"</h2>
            <p class="muted">"Tokens of the automation API, made by each user with a login. Disabling a user or resetting a password revokes theirs."</p>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || tokens.get().map(|r| match r {
                    Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="muted">"No API tokens."</p> }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap" tabindex="0"><table data-testid="api-tokens">
                            <thead><tr><th>"User"</th><th>"Name"</th><th>"Created"</th><th>"Expires"</th><th>"Last used"</th><th>"Actions"</th></tr></thead>
                            <tbody>
                            {list.into_iter().map(|t| {
                                let label = format!("Revoke {}'s token {}", t.username, t.name);
                                view! {
                                    <tr>
                                        <td>{t.username.clone()}</td>
                                        <td>{t.name.clone()}</td>
                                        <td><time>{utc(t.created_at)}</time></td>
                                        <td><time>{utc(t.expires_at)}</time></td>
                                        <td>{t.last_used_at.map(utc).unwrap_or_else(|| "never".into())}</td>
                                        <td>
                                            <form action=revoke.url() method="post" class="inline" on:submit=revoke.on_submit()>
                                                <input type="hidden" name="id" value=t.id/>
                                                <button type="submit" aria-label=label>"Revoke"</button>
                                            </form>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any(),
                })}
            </Suspense>
        </section>
    }
}
