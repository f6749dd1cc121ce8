//! Subscriptions (admins): reserve servers of a type for a tenant; resize, end; how
//! full each one is.

use crate::api::allocation::{CreateSubscription, EndSubscription, ResizeSubscription, load_subscriptions};
use crate::model::Subscription;
use crate::ui::components::{ActionError, error_text, utc};
use crate::ui::form_action::FormAction;
use leptos::prelude::*;

fn fill_text(s: &Subscription) -> String {
    if !s.is_active() {
        return "ended".into();
    }
    if s.short > 0 {
        format!("{} of {} — short {}", s.filled, s.count, s.short)
    } else {
        format!("{} of {}", s.filled, s.count)
    }
}

#[component]
pub fn SubscriptionsPage() -> impl IntoView {
    let create = FormAction::<CreateSubscription>::new();
    let resize = FormAction::<ResizeSubscription>::new();
    let end = FormAction::<EndSubscription>::new();
    let data = Resource::new(
        move || (create.version().get(), resize.version().get(), end.version().get()),
        |_| load_subscriptions(),
    );
    view! {
        <h1>"Subscriptions"</h1>
        <p class="hint">
            "A subscription keeps servers of a type reserved for a tenant (available_reserved). "
            "A reserved server that leaves (defective, unavailable) is replaced; ending or shrinking returns reserved servers to available. "
            "Servers the tenant uses stay in use until released."
        </p>
        <ActionError result=Signal::derive(move || resize.result())/>
        <ActionError result=Signal::derive(move || end.result())/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || data.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                Ok(d) => {
                    let tenants = d.tenants.clone();
                    let types = d.server_types.clone();
                    view! {
                        <div class="table-wrap" tabindex="0"><table data-testid="subscriptions">
                            <thead><tr>
                                <th>"#"</th><th>"Tenant"</th><th>"Server type"</th><th>"Filled"</th>
                                <th>"Reserved now"</th><th>"Ends"</th><th>"Created"</th><th>"Actions"</th>
                            </tr></thead>
                            <tbody>
                            {d.subscriptions.into_iter().map(|s| {
                                let id = s.id;
                                let short = s.short > 0 && s.is_active();
                                let active = s.is_active();
                                let pinned = !s.servers.is_empty();
                                view! {
                                    <tr class:muted=!active>
                                        <td>{id}</td>
                                        <td>{s.username.clone()}</td>
                                        <td>
                                            {s.server_type.clone()}
                                            {pinned.then(|| view! { <div class="hint">{format!("servers: {}", s.servers.join(", "))}</div> })}
                                        </td>
                                        <td class:warn=short data-testid="fill">{fill_text(&s)}</td>
                                        <td>{s.reserved}</td>
                                        <td>{s.ended_at.map(|t| format!("ended {}", utc(t))).or(s.ends_at.map(utc)).unwrap_or_else(|| "—".into())}</td>
                                        <td>{utc(s.created_at)}" by "{s.created_by.clone()}</td>
                                        <td>
                                            {(active && !pinned).then(|| view! {
                                                <form action=resize.url() method="post" class="inline" on:submit=resize.on_submit()>
                                                    <input type="hidden" name="id" value=id/>
                                                    <input name="count" type="number" min="1" max="1000" required value=s.count
                                                        aria-label=format!("New size of subscription {id}") class="narrow"/>
                                                    <button type="submit">"Resize"</button>
                                                </form>
                                            })}
                                            {active.then(|| view! {
                                                <form action=end.url() method="post" class="inline" on:submit=end.on_submit()>
                                                    <input type="hidden" name="id" value=id/>
                                                    <button type="submit" class="danger">"End"</button>
                                                </form>
                                            })}
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                            </tbody>
                        </table></div>
                        <section class="card">
                            <h2>"New subscription"</h2>
                            <form action=create.url() method="post" class="grid-form" on:submit=create.on_submit()>
                                <label>"Tenant"
                                    <select name="username" required>
                                        {tenants.into_iter().map(|t| view! { <option value=t.clone()>{t.clone()}</option> }).collect_view()}
                                    </select>
                                </label>
                                <label>"Server type"
                                    <select name="server_type">
                                        {types.into_iter().map(|t| view! { <option value=t.clone()>{t.clone()}</option> }).collect_view()}
                                    </select>
                                </label>
                                <label>"Servers"<input name="count" type="number" min="1" max="1000" value="1"/></label>
                                <label>"Or these servers (names)"<input name="servers" placeholder="rack1-07, rack1-08"/></label>
                                <label>"Ends (optional)"<input name="ends_at" type="date"/></label>
                                <button type="submit" class="primary">"Create subscription"</button>
                            </form>
                            <ActionError result=Signal::derive(move || create.result())/>
                            {move || create.result().and_then(|r| r.ok()).map(|s| view! {
                                <p class="ok" role="status">{format!("Subscription {} for {}: {}", s.id, s.username, fill_text(&s))}</p>
                            })}
                        </section>
                    }.into_any()
                }
            })}
        </Suspense>
    }
}
