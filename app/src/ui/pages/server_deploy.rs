//! The server page's operating system card: the latest deployment of an image (its
//! progress step by step, the outcome, why it failed) and, for those who may, writing
//! an image again (with a confirmation that the disk is overwritten). Rendered on the
//! server (`server_rendered.rs`).

use crate::api::images::{RedeployServer, SetRootDisk};
use crate::domain::JobStatus;
use crate::model::{DeployView, RootDiskChoice};
use crate::ui::components::utc;
use crate::ui::rendered_forms::{Answered, error_view};
use leptos::prelude::*;

fn status_text(d: &DeployView) -> String {
    let image = d.image.clone().unwrap_or_else(|| "an image".into());
    match d.status {
        JobStatus::Queued => format!("{image}: queued"),
        JobStatus::Running | JobStatus::WaitingForAgent => format!("{image}: deploying…"),
        JobStatus::Succeeded => format!("{image}: deployed"),
        other => format!("{image}: {}", other.label()),
    }
}

#[component]
pub fn DeployCard(
    server_id: i64,
    deploy: Option<DeployView>,
    images: Vec<String>,
    redeploy: Answered<RedeployServer>,
    root_disk: Option<RootDiskChoice>,
    set_root_disk: Answered<SetRootDisk>,
) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="os-h" data-testid="deploy">
            <h2 id="os-h">"Operating system"</h2>
            {match deploy {
                None => view! { <p class="muted">"No image was deployed to this server."</p> }.into_any(),
                Some(d) => {
                    let active = d.status.is_active();
                    view! {
                        <p>
                            <strong data-testid="deploy-status" class=format!("job-status job-{}", d.status)>{status_text(&d)}</strong>
                            " " <time class="when">{utc(d.updated_at)}</time>
                        </p>
                        {d.error.clone().map(|e| view! { <p class="error">{e}</p> })}
                        <details open=active>
                            <summary>{format!("Steps ({})", d.steps.len())}</summary>
                            <ol class="steps" data-testid="deploy-steps">
                                {d.steps.into_iter().map(|m| view! { <li>{m}</li> }).collect_view()}
                            </ol>
                        </details>
                    }.into_any()
                }
            }}
            {(!images.is_empty()).then(|| view! {
                <details class="confirm">
                    <summary role="button">"Deploy an image…"</summary>
                    <form action=redeploy.url() method="post" class="grid-form">
                        <input type="hidden" name="id" value=server_id/>
                        <label>"Image"
                            <select name="image">
                                {images.into_iter().map(|i| view! { <option value=i.clone()>{i.clone()}</option> }).collect_view()}
                            </select>
                        </label>
                        <label class="check"><input type="checkbox" name="overwrite" required/>
                            " Overwrite this server's disk: everything on it is lost"</label>
                        <button type="submit" class="danger">"Deploy now"</button>
                    </form>
                </details>
            })}
            {error_view(redeploy.error())}
            {root_disk.map(|choice| {
                let current = choice.current.clone().unwrap_or_default();
                view! {
                    <form action=set_root_disk.url() method="post" class="inline">
                        <input type="hidden" name="id" value=server_id/>
                        <label>"Root disk "
                            <select name="serial">
                                <option value="" selected=current.is_empty()>"Automatic: the smallest that fits"</option>
                                {choice.disks.into_iter().map(|(serial, label)| {
                                    let selected = serial == current;
                                    view! { <option value=serial selected=selected>{label}</option> }
                                }).collect_view()}
                            </select>
                        </label>
                        " " <button type="submit">"Save"</button>
                    </form>
                    {error_view(set_root_disk.error())}
                }
            })}
        </section>
    }
}
