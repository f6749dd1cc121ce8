//! Small pieces shared by pages.

pub use crate::api::ActionError;
use crate::domain::ServerState;
use leptos::prelude::*;

/// The message of a server function error for a person (the service's own words, or
/// a framework failure said in words: `ActionError` decides).
pub fn error_text(e: &ActionError) -> String {
    e.message.clone()
}

/// A refused form's errors by field. Fields the form does not have, and a refusal
/// that names no field, come back under "" (shown at the form's top).
pub fn field_errors(e: &ActionError, fields: &[&str]) -> Vec<(String, String)> {
    if e.fields.is_empty() {
        return vec![(String::new(), e.message.clone())];
    }
    e.fields
        .iter()
        .map(|f| {
            if fields.contains(&f.field.as_str()) {
                (f.field.clone(), f.message.clone())
            } else {
                (String::new(), format!("{}: {}", f.field, f.message))
            }
        })
        .collect()
}

/// The error of one field of a form whose last submission is `result`, shown under
/// the field (its id is `{form}-{field}-error`, for `aria-describedby`).
#[component]
pub fn FieldError<T: Clone + Send + Sync + 'static>(
    result: Signal<Option<Result<T, ActionError>>>,
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
pub fn field_invalid<T>(result: &Option<Result<T, ActionError>>, field: &str, fields: &[&str]) -> bool {
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
pub fn ActionError<T: Clone + Send + Sync + 'static>(result: Signal<Option<Result<T, ActionError>>>) -> impl IntoView {
    move || match result.get() {
        Some(Err(e)) => Some(view! { <p class="error" role="alert">{error_text(&e)}</p> }),
        _ => None,
    }
}

// Dates are pure rules (the API parses them too): they live in the domain.
pub use crate::domain::dates::{parse_date, utc};

/// A view as HTML, rendered on the server in a reactive owner of its own: what a
/// page shows with [`ServerHtml`].
#[cfg(feature = "ssr")]
pub(crate) fn rendered_html<V: IntoView + 'static>(view: impl FnOnce() -> V) -> String {
    Owner::new().with(|| view().to_html())
}

/// HTML the server rendered (`rendered_html`: `pages/server_rendered.rs`,
/// `pages/report_rendered.rs`), shown as it is: the wrapper
/// takes no room in the layout (`display: contents`), so the page looks as if the card
/// were rendered in place.
#[component]
pub fn ServerHtml(html: String) -> impl IntoView {
    view! { <div class="server-html" inner_html=html></div> }
}
