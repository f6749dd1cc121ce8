//! The server page's notes card: the current notes rendered (sanitized Markdown), the
//! history a page at a time, and for editors a form with a live preview.

use crate::ui::components::error_text;
use crate::ui::form_action::FormAction;
use leptos::prelude::*;

/// The notes card: the current notes rendered (sanitized Markdown), the history, and
/// for editors a form with a live preview. A refused save keeps the editor's text.
#[component]
pub(super) fn NotesCard(
    server_id: i64,
    notes: crate::model::Notes,
    can_edit: bool,
    /// The editor's unsaved text, kept by the page when this card is drawn again.
    draft: RwSignal<Option<String>>,
) -> impl IntoView {
    use crate::api::servers::{SaveNotes, preview_notes};
    let save = FormAction::<SaveNotes>::new();
    let (current, set_current) = signal(notes.clone());
    Effect::new(move |_| {
        if let Some(Ok(saved)) = save.result() {
            set_current.set(saved);
            draft.set(None);
        }
    });
    let kept = draft.get_untracked();
    let editing = kept.is_some();
    let start_text = kept.unwrap_or_else(|| notes.text.clone());
    // The preview is rendered by the server (the same code as the saved notes), asked
    // for once typing pauses; until the first keystroke it shows the saved rendering.
    let (preview, set_preview) = signal(draft.get_untracked());
    let preview_html = Resource::new(
        move || preview.get(),
        |text| async move {
            match text {
                Some(t) => preview_notes(t).await.ok(),
                None => None,
            }
        },
    );
    let mut typed = leptos::prelude::debounce(std::time::Duration::from_millis(300), move |text: String| {
        set_preview.set(Some(text))
    });
    view! {
        <section class="card" aria-labelledby="notes-h" data-testid="notes">
            <h2 id="notes-h">"Notes"</h2>
            {move || {
                let n = current.get();
                if n.version == 0 {
                    view! { <p class="muted">"No notes yet."</p> }.into_any()
                } else {
                    view! { <div class="notes" data-testid="notes-rendered" inner_html=n.html></div> }.into_any()
                }
            }}
            {can_edit.then(|| view! {
                <details class="edit-notes" open=editing>
                    <summary>"Edit notes"</summary>
                    <form action=save.url() method="post" on:submit=save.on_submit()>
                        <input type="hidden" name="id" value=server_id/>
                        <input type="hidden" name="version" prop:value=move || current.get().version/>
                        <label>"Markdown"
                            <textarea name="text" rows="8" on:input=move |ev| {
                                let text = event_target_value(&ev);
                                draft.set(Some(text.clone()));
                                typed(text);
                            }>
                                {start_text.clone()}
                            </textarea>
                        </label>
                        <p class="muted">"Preview"</p>
                        <div class="notes preview" data-testid="notes-preview" aria-live="polite"
                            inner_html=move || preview_html.get().flatten().unwrap_or_else(|| current.get().html)></div>
                        <button type="submit" class="primary">"Save notes"</button>
                    </form>
                    {move || match save.result() {
                        Some(Err(e)) => Some(view! { <pre class="error conflict" role="alert">{error_text(&e)}</pre> }.into_any()),
                        Some(Ok(n)) => Some(view! { <p class="ok">{format!("Saved version {}.", n.version)}</p> }.into_any()),
                        None => None,
                    }}
                </details>
            })}
            <NotesHistory server_id=server_id current=current/>
        </section>
    }
}

/// The notes' history, a page at a time: the newest page comes with the notes; older
/// pages are links (`?notes_before=<version>`), so they work without JavaScript too.
#[component]
fn NotesHistory(server_id: i64, current: ReadSignal<crate::model::Notes>) -> impl IntoView {
    use crate::api::servers::notes_history;
    let query = leptos_router::hooks::use_query_map();
    let before = move || query.read().get("notes_before").and_then(|v| v.parse::<i64>().ok()).filter(|v| *v > 0);
    let older = Resource::new(before, move |b| async move {
        match b {
            Some(b) => notes_history(server_id, b).await.map(Some),
            None => Ok(None),
        }
    });
    let page = move |notes: crate::model::Notes, paged: bool| {
        let total = current.get().version;
        if total == 0 {
            return None;
        }
        let newest = notes.history.first().map(|v| v.version).unwrap_or_default();
        let oldest = notes.history.last().map(|v| v.version).unwrap_or_default();
        Some(view! {
            <details open=paged>
                <summary>{format!("History ({total} versions)")}</summary>
                <p class="muted">{format!("Versions {newest} to {oldest}")}</p>
                <ol class="timeline" data-testid="notes-history">
                {notes.history.into_iter().map(|v| view! {
                    <li>
                        <time class="when">{crate::ui::components::utc(v.created_at)}</time>" "
                        {format!("version {} by ", v.version)}<strong>{v.author}</strong>
                        <details class="note-version"><summary>"Text"</summary><pre>{v.text}</pre></details>
                    </li>
                }).collect_view()}
                </ol>
                <p class="pager">
                    {paged.then(|| view! { <a href="?#notes-h">"Newest versions"</a>" " })}
                    {notes.next_before.map(|b| view! {
                        <a href=format!("?notes_before={b}#notes-h") data-testid="notes-older">"Older versions"</a>
                    })}
                </p>
            </details>
        })
    };
    view! {
        <Transition fallback=|| ()>
            {move || match (before(), older.get()) {
                (Some(_), Some(Ok(Some(notes)))) => page(notes, true).into_any(),
                (Some(_), Some(Err(e))) => view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any(),
                _ => page(current.get(), false).into_any(),
            }}
        </Transition>
    }
}
