//! The server page's job card: the running (or last) job with its steps, Retry and
//! Abort. Rendered on the server (`server_rendered.rs`); the page keeps an open Abort
//! confirmation open when the card comes again (`data-keep-open`).

use crate::api::servers::{AbortJob, RetryJob};
use crate::model::JobView;
use crate::ui::components::utc;
use crate::ui::rendered_forms::{Answered, error_view};
use leptos::prelude::*;

/// The job card: its steps as they happen, Retry and Abort for those who manage jobs.
#[component]
pub(super) fn JobCard(
    server_id: i64,
    job: JobView,
    can_manage: bool,
    retry: Answered<RetryJob>,
    abort: Answered<AbortJob>,
    /// An open Abort confirmation, kept when the card is drawn again.
    abort_open: bool,
) -> impl IntoView {
    let active = job.is_active();
    let (can_retry, can_abort) = (job.can_retry(), job.can_abort());
    let abort_text = if job.kind == crate::domain::JobKind::Power {
        "The power request stops where it is; the job fails."
    } else {
        "The job stops; the server is powered off and its virtual media ejected (best effort), then the job fails."
    };
    view! {
        <section class="card" aria-labelledby="job-h" data-testid="job">
            <h2 id="job-h">
                {if active { "Running job" } else { "Last job" }} ": "
                {job.kind.as_str()} " #" {job.id} " "
                <span class=format!("job-status job-{}", job.status)>{job.status.label()}</span>
            </h2>
            {(job.attempts > 1).then(|| view! { <p class="muted">{format!("attempt {}", job.attempts)}</p> })}
            {job.last_error.clone().map(|e| view! { <p class="error">{e}</p> })}
            <ol class="steps">
            {job.steps.into_iter().map(|crate::model::JobStep { at, message }| view! {
                <li><time class="when">{utc(at)}</time>" " {message}</li>
            }).collect_view()}
            </ol>
            {active.then(|| view! { <p class="muted live-note">"Steps appear here as they happen."</p> })}
            {(can_manage && can_retry).then(|| view! {
                <form action=retry.url() method="post" class="inline">
                    <input type="hidden" name="id" value=server_id/>
                    <button type="submit">"Retry"</button>
                </form>
            })}
            {(can_manage && can_abort).then(|| view! {
                <details class="confirm" open=abort_open data-keep-open="abort">
                    <summary role="button">"Abort…"</summary>
                    <p>{abort_text}</p>
                    <form action=abort.url() method="post" class="inline">
                        <input type="hidden" name="id" value=server_id/>
                        <button type="submit" class="danger">"Abort the job"</button>
                    </form>
                </details>
            })}
            {error_view(retry.error().or(abort.error()))}
        </section>
    }
}
