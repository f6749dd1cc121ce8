//! Small pieces shared by pages.

use crate::domain::ServerState;
use leptos::prelude::*;
use server_fn::ServerFnError;

/// The message of a server function error for a person: the service's own message,
/// or what went wrong in words (a lost connection, an answer the page cannot read),
/// never the framework's internals.
pub fn error_text(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) => m.clone(),
        ServerFnError::Request(_) | ServerFnError::Response(_) => {
            "Rackstate could not be reached: the connection was lost or the server is restarting. \
             Reload the page to see whether the action was applied."
                .into()
        }
        ServerFnError::Deserialization(_) | ServerFnError::Serialization(_) => {
            "Rackstate's answer could not be read (the server may be restarting or newer than this page). \
             Reload the page and try again."
                .into()
        }
        ServerFnError::Args(m) | ServerFnError::MissingArg(m) => format!("the form was incomplete: {m}"),
        _ => "Rackstate could not run this action; reload the page and try again.".into(),
    }
}

/// A refused form's errors by field: the service answers one "field: message" line
/// per invalid field. Lines that name no field of `fields` come back under "".
pub fn field_errors(e: &ServerFnError, fields: &[&str]) -> Vec<(String, String)> {
    error_text(e)
        .lines()
        .map(|line| match line.split_once(": ") {
            Some((f, m)) if fields.contains(&f) => (f.to_string(), m.to_string()),
            _ => (String::new(), line.to_string()),
        })
        .collect()
}

/// The error of one field of a form whose last submission is `result`, shown under
/// the field (its id is `{form}-{field}-error`, for `aria-describedby`).
#[component]
pub fn FieldError<T: Clone + Send + Sync + 'static>(
    result: Signal<Option<Result<T, ServerFnError>>>,
    form: &'static str,
    field: &'static str,
    fields: &'static [&'static str],
) -> impl IntoView {
    let message = move || match result.get() {
        Some(Err(e)) => field_errors(&e, fields).into_iter().find(|(f, _)| f == field).map(|(_, m)| m),
        _ => None,
    };
    view! {
        <span class="field-error" id=format!("{form}-{field}-error") role="alert">{message}</span>
    }
}

/// Whether a field of the last submission was refused (for `aria-invalid`).
pub fn field_invalid<T>(result: &Option<Result<T, ServerFnError>>, field: &str, fields: &[&str]) -> bool {
    matches!(result, Some(Err(e)) if field_errors(e, fields).iter().any(|(f, _)| f == field))
}

/// Percent-encodes a query parameter value.
pub fn query_value(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The Datacenter and Rack selects of a GET filter form, from the (datacenter, rack)
/// pairs that have servers; racks of the chosen datacenter only.
#[component]
pub fn LocationSelects(locations: Vec<(String, String)>, datacenter: String, rack: String) -> impl IntoView {
    let mut datacenters: Vec<String> = locations.iter().map(|(d, _)| d.clone()).filter(|d| !d.is_empty()).collect();
    datacenters.dedup();
    let mut racks: Vec<String> = locations
        .iter()
        .filter(|(d, r)| (datacenter.is_empty() || *d == datacenter) && !r.is_empty())
        .map(|(_, r)| r.clone())
        .collect();
    racks.sort();
    racks.dedup();
    let options = move |values: Vec<String>, chosen: String| {
        view! {
            <option value="" selected=chosen.is_empty()>"All"</option>
            {values.into_iter().map(|v| view! { <option value=v.clone() selected=v == chosen>{v.clone()}</option> }).collect_view()}
        }
    };
    view! {
        <label>"Datacenter"<select name="datacenter">{options(datacenters, datacenter.clone())}</select></label>
        <label>"Rack"<select name="rack">{options(racks, rack.clone())}</select></label>
    }
}

/// A button the lifecycle does not allow now: it stays focusable (keyboard and
/// screen-reader users reach it), does nothing, and says why on hover and on focus.
#[component]
pub fn DisabledButton(label: String, why: String) -> impl IntoView {
    let slug: String =
        label.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let id = format!("why-{slug}");
    view! {
        <span class="why-wrap">
            <button type="button" class="is-disabled" aria-disabled="true" aria-describedby=id.clone() title=why.clone()>
                {label}
            </button>
            <span role="tooltip" id=id class="why">{why}</span>
        </span>
    }
}

/// A server state as a coloured badge (the same colours everywhere).
#[component]
pub fn StateBadge(state: ServerState) -> impl IntoView {
    view! { <span class=format!("badge state-{}", state.as_str())>{state.label()}</span> }
}

/// An error message from an action's last result, if it failed.
#[component]
pub fn ActionError<T: Clone + Send + Sync + 'static>(
    result: Signal<Option<Result<T, ServerFnError>>>,
) -> impl IntoView {
    move || match result.get() {
        Some(Err(e)) => Some(view! { <p class="error" role="alert">{error_text(&e)}</p> }),
        _ => None,
    }
}

// Dates are pure rules (the API parses them too): they live in the domain.
pub use crate::domain::dates::{parse_date, utc};
