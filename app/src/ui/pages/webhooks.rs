//! Webhooks (admins): where Rackstate POSTs events, each webhook's topics and delivery
//! counts, adding one (its secret shown once), enabling, disabling, removing, and one
//! webhook's delivery log with redelivery.

use crate::api::webhooks::{
    AddWebhook, RedeliverWebhook, RemoveWebhook, SetWebhookEnabled, WebhooksPage, load_webhooks,
};
use crate::domain::webhooks::{DeliveryStatus, Topic};
use crate::model::{Webhook, WebhookDelivery};
use crate::ui::components::{ActionError, error_text, utc};
use crate::ui::form_action::FormAction;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let query = use_query_map();
    let add = FormAction::<AddWebhook>::new();
    let toggle = FormAction::<SetWebhookEnabled>::new();
    let remove = FormAction::<RemoveWebhook>::new();
    let redeliver = FormAction::<RedeliverWebhook>::new();
    let args = move || {
        let q = query.read();
        (q.get("webhook").and_then(|w| w.parse::<i64>().ok()), q.get("status"))
    };
    let data = Resource::new(
        move || {
            (args(), add.version().get(), toggle.version().get(), remove.version().get(), redeliver.version().get())
        },
        |((webhook, status), ..)| load_webhooks(webhook, status),
    );
    view! {
        <h1>"Webhooks"</h1>
        <p class="hint">"Rackstate POSTs each audit event of a webhook's topics to its URL as JSON, signed with \
            HMAC-SHA256 of the timestamp and body under the webhook's secret (header Rackstate-Signature: \
            t=…,v1=…), and retries failed attempts with backoff for a day. URLs follow the BMC address policy. \
            The same events stream from GET /api/v1/events/stream."</p>
        <ActionError result=Signal::derive(move || toggle.result())/>
        <ActionError result=Signal::derive(move || remove.result())/>
        <ActionError result=Signal::derive(move || redeliver.result())/>
        {move || redeliver.result().and_then(|r| r.ok()).map(|d| view! {
            <p class="ok" role="status">{format!("Event {} queued again as delivery {}.", d.event_id, d.id)}</p>
        })}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || data.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                Ok(page) => view! { <Hooks page toggle remove redeliver/> }.into_any(),
            })}
        </Suspense>
        <AddForm add/>
    }
}

#[component]
fn Hooks(
    page: WebhooksPage,
    toggle: FormAction<SetWebhookEnabled>,
    remove: FormAction<RemoveWebhook>,
    redeliver: FormAction<RedeliverWebhook>,
) -> impl IntoView {
    let WebhooksPage { webhooks, deliveries } = page;
    view! {
        {if webhooks.is_empty() {
            view! { <p class="muted">"No webhooks yet."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap" tabindex="0"><table class="compact" data-testid="webhooks">
                    <caption>"Webhooks"</caption>
                    <thead><tr>
                        <th scope="col">"URL"</th><th scope="col">"Topics"</th><th scope="col">"State"</th>
                        <th scope="col">"Pending"</th><th scope="col">"Failed"</th><th scope="col">"Delivered"</th>
                        <th scope="col">"Added"</th><th scope="col">"Actions"</th>
                    </tr></thead>
                    <tbody>{webhooks.into_iter().map(|w| view! { <HookRow w toggle remove/> }).collect_view()}</tbody>
                </table></div>
            }.into_any()
        }}
        {deliveries.map(|(hook, log)| view! { <Deliveries hook log redeliver/> })}
    }
}

fn topics_text(topics: &[Topic]) -> String {
    topics.iter().map(|t| t.label()).collect::<Vec<_>>().join(", ")
}

#[component]
fn HookRow(w: Webhook, toggle: FormAction<SetWebhookEnabled>, remove: FormAction<RemoveWebhook>) -> impl IntoView {
    let log_href = format!("/webhooks?webhook={}#deliveries", w.id);
    let (toggle_text, toggle_to) = if w.enabled { ("Disable", "false") } else { ("Enable", "true") };
    let toggle_label = format!("{toggle_text} the webhook to {}", w.url);
    let remove_label = format!("Remove the webhook to {}", w.url);
    let confirm_label = format!("Yes, remove the webhook to {}", w.url);
    view! {
        <tr data-testid="webhook-row">
            <td class="mono">{w.url.clone()}{(!w.description.is_empty()).then(|| view! { <br/><span class="muted">{w.description.clone()}</span> })}</td>
            <td>{topics_text(&w.topics)}</td>
            <td>{if w.enabled { "enabled" } else { "disabled" }}</td>
            <td class="num">{w.pending}</td>
            <td class="num">{w.failed}</td>
            <td class="num">{w.delivered}</td>
            <td>{utc(w.created_at)}" by "{w.created_by.clone()}</td>
            <td><div class="row-actions">
                <a href=log_href aria-label=format!("Delivery log of the webhook to {}", w.url)>"Delivery log"</a>
                <form action=toggle.url() method="post" class="inline" on:submit=toggle.on_submit()>
                    <input type="hidden" name="id" value=w.id/>
                    <input type="hidden" name="enabled" value=toggle_to/>
                    <button type="submit" aria-label=toggle_label>{toggle_text}</button>
                </form>
                <details class="confirm">
                    <summary aria-label=remove_label>"Remove…"</summary>
                    <form action=remove.url() method="post" class="inline" on:submit=remove.on_submit()>
                        <input type="hidden" name="id" value=w.id/>
                        <label><input type="checkbox" name="confirm" value="yes" required/>{confirm_label}</label>
                        <button type="submit" class="danger">"Remove"</button>
                    </form>
                </details>
            </div></td>
        </tr>
    }
}

#[component]
fn Deliveries(hook: Webhook, log: Vec<WebhookDelivery>, redeliver: FormAction<RedeliverWebhook>) -> impl IntoView {
    let filters = std::iter::once(None).chain(DeliveryStatus::ALL.iter().copied().map(Some));
    let filter_links = filters
        .map(|s| {
            let href = match s {
                Some(s) => format!("/webhooks?webhook={}&status={}#deliveries", hook.id, s.as_str()),
                None => format!("/webhooks?webhook={}#deliveries", hook.id),
            };
            view! { <a href=href>{s.map(|s| s.as_str()).unwrap_or("all")}</a>" " }
        })
        .collect_view();
    let hook_id = hook.id;
    view! {
        <section class="card" id="deliveries" aria-labelledby="deliveries-h" data-testid="deliveries">
            <h2 id="deliveries-h">{format!("Deliveries to {}", hook.url)}</h2>
            <p>"Show: "{filter_links}</p>
            {if log.is_empty() {
                view! { <p class="muted">"No deliveries."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" tabindex="0"><table class="compact">
                        <caption>"Newest first"</caption>
                        <thead><tr>
                            <th scope="col">"Delivery"</th><th scope="col">"Event"</th><th scope="col">"Status"</th>
                            <th scope="col">"Attempts"</th><th scope="col">"Last attempt"</th>
                            <th scope="col">"Answer"</th><th scope="col">"Next attempt"</th><th scope="col">"Redeliver"</th>
                        </tr></thead>
                        <tbody>{log.into_iter().map(|d| {
                            let pending = d.status == DeliveryStatus::Pending;
                            let name = d.server_name.clone().unwrap_or_default();
                            let server = d.server_id.map(|id| view! { " · "<a href=format!("/servers/{id}")>{name}</a> });
                            let answer = match (d.last_status, d.last_error.clone()) {
                                (Some(code), Some(e)) => format!("{code}: {e}"),
                                (Some(code), None) => code.to_string(),
                                (None, Some(e)) => e,
                                (None, None) => "—".into(),
                            };
                            let label = format!("Redeliver event {} (delivery {})", d.event_id, d.id);
                            view! {
                                <tr data-testid="delivery-row">
                                    <td class="num">{d.id}</td>
                                    <td>{d.event_kind.as_str()}" #"{d.event_id}{server}</td>
                                    <td class=format!("delivery-{}", d.status.as_str())>{d.status.as_str()}</td>
                                    <td class="num">{d.attempts}</td>
                                    <td>{d.last_attempt_at.map(utc).unwrap_or_else(|| "—".into())}</td>
                                    <td class="mono">{answer}</td>
                                    <td>{pending.then(|| utc(d.next_attempt_at)).unwrap_or_else(|| "—".into())}</td>
                                    <td>{(!pending).then(|| view! {
                                        <form action=redeliver.url() method="post" class="inline" on:submit=redeliver.on_submit()>
                                            <input type="hidden" name="webhook_id" value=hook_id/>
                                            <input type="hidden" name="delivery_id" value=d.id/>
                                            <button type="submit" aria-label=label>"Redeliver"</button>
                                        </form>
                                    })}</td>
                                </tr>
                            }
                        }).collect_view()}</tbody>
                    </table></div>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn AddForm(add: FormAction<AddWebhook>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="add-webhook-h">
            <h2 id="add-webhook-h">"Add a webhook"</h2>
            <form action=add.url() method="post" class="grid-form" on:submit=add.on_submit()>
                <label>"URL"<input name="url" type="url" required maxlength="2000" placeholder="https://hooks.example.com/rackstate"/></label>
                <fieldset class="topics">
                    <legend>"Topics"</legend>
                    {Topic::ALL.iter().map(|t| view! {
                        <label class="check"><input type="checkbox" name="topics[]" value=t.as_str() checked=*t == Topic::StateChanges/>{t.label()}</label>
                    }).collect_view()}
                </fieldset>
                <label>"Description (optional)"<input name="description" maxlength="200"/></label>
                <label>"Secret (optional: 16 or more characters; empty makes one)"<input name="secret" type="password" autocomplete="new-password" maxlength="200"/></label>
                <button type="submit" class="primary">"Add webhook"</button>
            </form>
            <ActionError result=Signal::derive(move || add.result())/>
            {move || add.result().and_then(|r| r.ok()).map(|n| view! {
                <div class="ok" role="status" data-testid="webhook-secret">
                    <p>{format!("Webhook to {} added. Its signing secret, shown only now:", n.webhook.url)}</p>
                    <p><code>{n.secret}</code></p>
                </div>
            })}
        </section>
    }
}
