//! Small pieces shared by pages.

use crate::domain::ServerState;
use leptos::prelude::*;
use server_fn::ServerFnError;

/// The message of a server function error, without the framework's prefix.
pub fn error_text(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// A server state as a coloured badge (the same colours everywhere).
#[component]
pub fn StateBadge(state: ServerState) -> impl IntoView {
    view! { <span class=format!("badge state-{}", state.as_str())>{state.label()}</span> }
}

/// An error message from an action's last result, if it failed.
#[component]
pub fn ActionError<T: Clone + Send + Sync + 'static>(result: Signal<Option<Result<T, ServerFnError>>>) -> impl IntoView {
    move || match result.get() {
        Some(Err(e)) => Some(view! { <p class="error" role="alert">{error_text(&e)}</p> }),
        _ => None,
    }
}
