//! The server list's display rendered to HTML on the server: the filter form (GET: a
//! filtered view is a link), the "Showing" line, the table with its sort links and,
//! for a role with bulk actions, a checkbox per row, and the pager. The page shows
//! them as they come (`ServerListView`) and keeps in the wasm only what acts: the
//! bulk bar, its results and the Add server form.

use super::servers::KEYS;
use crate::domain::ServerState;
use crate::model::{Server, ServerListPage};
use crate::ui::components::{StateBadge, rendered_html};
use leptos::prelude::*;

/// One page of the list as HTML: (filters and summary, table, pager). `current`: the
/// query as the page has it (key, value), for the links; `can_bulk`: a checkbox per
/// row, named as the bulk form posts it.
pub(crate) fn server_list(
    page: ServerListPage,
    current: Vec<(String, String)>,
    can_bulk: bool,
) -> (String, String, String) {
    let ServerListPage { items, total, page: number, per_page, locations } = page;
    let pages = ((total + per_page - 1) / per_page).max(1);
    let first = if total == 0 { 0 } else { (number - 1) * per_page + 1 };
    let last = ((number - 1) * per_page + items.len() as i64).min(total);
    let summary =
        if total == 0 { "No servers match.".to_string() } else { format!("Showing {first}–{last} of {total}") };
    let hidden_note = !current.iter().any(|(k, _)| k == "state");
    let head = {
        let current = current.clone();
        rendered_html(move || {
            view! {
                <Filters locations current/>
                <p class="muted" data-testid="list-summary">{summary}
                    {hidden_note.then_some(" · servers removed from the rack are hidden; choose that state to see them")}
                </p>
            }
        })
    };
    let table = {
        let current = current.clone();
        rendered_html(move || view! { <ListTable items current can_bulk/> })
    };
    let prev = (number > 1).then(|| href_with(&current, &[("page", Some((number - 1).to_string()))]));
    let next = (number < pages).then(|| href_with(&current, &[("page", Some((number + 1).to_string()))]));
    let pager = rendered_html(move || view! { <Pager prev next number pages/> });
    (head, table, pager)
}

/// The current query with some keys replaced (None removes a key): the link to a
/// sorted, paged or refiltered view.
fn href_with(current: &[(String, String)], changes: &[(&str, Option<String>)]) -> String {
    let mut parts = Vec::new();
    for key in KEYS {
        let value = match changes.iter().find(|(k, _)| *k == key) {
            Some((_, v)) => v.clone(),
            None => current.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()),
        };
        // An empty type is a real filter (not typed yet); other empty values are "any".
        if let Some(v) = value.filter(|v| key == "type" || !v.is_empty()) {
            parts.push(format!("{key}={}", crate::ui::components::query_value(&v)));
        }
    }
    if parts.is_empty() { "/servers".into() } else { format!("/servers?{}", parts.join("&")) }
}

#[component]
fn Filters(locations: Vec<(String, String)>, current: Vec<(String, String)>) -> impl IntoView {
    let value = |k: &str| current.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let get = |k: &str| value(k).unwrap_or_default();
    // An empty type is a filter of its own (not typed yet); absent means any type.
    let server_type = value("type");
    let (dc, rack, q) = (get("datacenter"), get("rack"), get("q"));
    let state_now = get("state");
    let sort = get("sort");
    let dir = get("dir");
    view! {
        <form method="get" action="/servers" class="filters wrap" role="search" data-testid="server-filters">
            <label>"Search"
                <input type="search" name="q" value=q placeholder="name, serial, BMC, MAC" maxlength="200"/>
            </label>
            <label>"State"
                <select name="state">
                    <option value="">"All in the rack"</option>
                    {ServerState::ALL.iter().map(|s| {
                        let v = s.as_str();
                        view! { <option value=v selected=state_now == v>{s.label()}</option> }
                    }).collect_view()}
                </select>
            </label>
            <crate::ui::components::LocationSelects locations datacenter=dc rack=rack/>
            {server_type.map(|t| view! {
                <input type="hidden" name="type" value=t.clone()/>
                <span class="chip">"Type: " {if t.is_empty() { "not typed yet".to_string() } else { t }}</span>
            })}
            {(!sort.is_empty()).then(|| view! { <input type="hidden" name="sort" value=sort.clone()/> })}
            {(!dir.is_empty()).then(|| view! { <input type="hidden" name="dir" value=dir.clone()/> })}
            <button type="submit">"Filter"</button>
            <a href="/servers">"Clear"</a>
        </form>
    }
}

/// A sortable column header: a link to the list sorted by it (again: the other way).
fn sort_header(current: &[(String, String)], key: &'static str, label: &'static str) -> impl IntoView + use<> {
    let now = current.iter().find(|(k, _)| k == "sort").map(|(_, v)| v.as_str()).unwrap_or("name");
    let desc = current.iter().any(|(k, v)| k == "dir" && v == "desc");
    let active = now == key;
    let next_dir = if active && !desc { Some("desc".to_string()) } else { None };
    let href = href_with(current, &[("sort", Some(key.to_string())), ("dir", next_dir), ("page", None)]);
    let aria = if active { if desc { "descending" } else { "ascending" } } else { "none" };
    let arrow = if active { if desc { " ▼" } else { " ▲" } } else { "" };
    view! { <th scope="col" aria-sort=aria><a href=href>{label}{arrow}</a></th> }
}

/// The table. The boxes are plain inputs of the page's bulk form: the page counts and
/// selects them (`servers.rs`); without JavaScript the form posts the checked ones.
#[component]
fn ListTable(items: Vec<Server>, current: Vec<(String, String)>, can_bulk: bool) -> impl IntoView {
    view! {
        <div class="table-wrap" tabindex="0"><table data-testid="server-list">
            <thead><tr>
                {can_bulk.then(|| view! {
                    <th scope="col" class="select">
                        <input type="checkbox" data-select-all="" aria-label="Select all servers on this page"/>
                    </th>
                })}
                {sort_header(&current, "name", "Name")}
                {sort_header(&current, "state", "State")}
                {sort_header(&current, "type", "Type")}
                {sort_header(&current, "serial", "Serial")}
                {sort_header(&current, "bmc", "BMC")}
                {sort_header(&current, "location", "Location")}
                {sort_header(&current, "updated", "Changed")}
            </tr></thead>
            <tbody>{items.into_iter().map(|s| view! { <ServerRow s can_bulk/> }).collect_view()}</tbody>
        </table></div>
    }
}

#[component]
fn ServerRow(s: Server, can_bulk: bool) -> impl IntoView {
    let target = format!("{}:{}", s.id, s.generation);
    let label = format!("Select {}", s.name);
    view! {
        <tr>
            {can_bulk.then(|| view! {
                <td class="select"><input type="checkbox" name="targets[]" value=target aria-label=label/></td>
            })}
            <td><a href=format!("/servers/{}", s.id)>{s.name.clone()}</a></td>
            <td><StateBadge state=s.state/>
                {(!s.hardware_changes.is_empty()).then(|| view! {
                    " " <span class="flag" title="hardware changes need a look">"hardware changed"</span>
                })}
            </td>
            <td>{s.server_type.clone().unwrap_or_default()}</td>
            <td class="mono">{s.serial_number.clone().unwrap_or_default()}</td>
            <td class="mono">{s.bmc_address.clone()}</td>
            <td>{format!("{} {}", s.datacenter, s.rack)}</td>
            <td class="when">{crate::ui::components::utc(s.updated_at)}</td>
        </tr>
    }
}

#[component]
fn Pager(prev: Option<String>, next: Option<String>, number: i64, pages: i64) -> impl IntoView {
    view! {
        <nav class="pager" aria-label="Pages">
            {match prev {
                Some(h) => view! { <a href=h rel="prev">"← Previous"</a> }.into_any(),
                None => view! { <span class="muted">"← Previous"</span> }.into_any(),
            }}
            <span>{format!("Page {number} of {pages}")}</span>
            {match next {
                Some(h) => view! { <a href=h rel="next">"Next →"</a> }.into_any(),
                None => view! { <span class="muted">"Next →"</span> }.into_any(),
            }}
        </nav>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A machine reports a serial that is markup and someone typed markup as a rack: the
    /// list, rendered on the server and shown as it comes, carries both as text, and
    /// the row's box posts the id and generation the list showed.
    #[test]
    fn markup_from_a_machine_or_a_user_is_shown_as_text_in_the_list() {
        let attack = "<img src=x onerror=alert(1)>";
        let server =
            Server { serial_number: Some(attack.into()), rack: attack.into(), ..super::super::sample_server() };
        let page = ServerListPage {
            items: vec![server],
            total: 1,
            page: 1,
            per_page: 50,
            locations: vec![("dc1".into(), attack.into())],
        };
        let current = vec![("rack".to_string(), attack.to_string())];
        let (head, table, pager) = server_list(page, current, true);
        for html in [&head, &table, &pager] {
            assert!(!html.contains("<img"), "markup got through: {html}");
        }
        assert!(table.contains("&lt;img src=x onerror=alert(1)&gt;"), "the serial is missing: {table}");
        assert!(table.contains(r#"name="targets[]" value="7:3""#), "the row's box: {table}");
        assert!(head.contains("Showing 1–1 of 1"), "{head}");
    }
}
