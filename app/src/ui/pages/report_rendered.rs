//! The home page's report rendered to HTML on the server: the location filter, the
//! utilization table (each number links to its servers), the stacked bar chart, the
//! lifecycle diagram, and the admins' usage by tenant. The page shows it as it comes
//! (`components::ServerHtml`): all of it is display, links and a GET form, so none of
//! its views need to be in the wasm.

use crate::domain::ServerState;
use crate::model::{TenantUsage, Utilization, UtilizationRow};
use crate::ui::components::rendered_html;
use leptos::prelude::*;

/// The report at a location (`at`: datacenter and rack, empty for all), or what to do
/// when there is nothing to report.
pub(crate) fn report(u: Utilization, at: (String, String)) -> String {
    rendered_html(|| view! { <ReportBody u at/> })
}

/// Reserved and used servers per tenant.
pub(crate) fn tenant_usage(rows: Vec<TenantUsage>) -> String {
    rendered_html(|| view! { <TenantUsageTable rows/> })
}

#[component]
fn ReportBody(u: Utilization, at: (String, String)) -> impl IntoView {
    if u.rows.is_empty() && u.locations.is_empty() {
        return view! {
            <p class="empty" data-testid="utilization">"No servers yet. " <a href="/servers">"Add the first one"</a>"."</p>
        }
        .into_any();
    }
    if u.rows.is_empty() {
        return view! {
            <LocationFilter locations=u.locations.clone() chosen=at.clone()/>
            <p class="empty" data-testid="utilization">"No servers at this location."</p>
        }
        .into_any();
    }
    view! {
        <LocationFilter locations=u.locations.clone() chosen=at.clone()/>
        <div class="table-wrap" tabindex="0">
        <table class="report" data-testid="utilization">
            <thead><tr>
                <th scope="col">"Server type"</th>
                {ServerState::ALL.iter().map(|s| view! {
                    <th scope="col" class="state-col" aria-label=s.label()>
                        <span class=format!("swatch state-{}", s.as_str()) aria-hidden="true"></span>
                        <span aria-hidden="true">{breakable(s.label())}</span>
                    </th>
                }).collect_view()}
                <th scope="col">"Total"</th>
                <th scope="col" aria-label="Utilization"><span aria-hidden="true">{breakable("Utilization")}</span></th>
            </tr></thead>
            <tbody>
            {u.rows.iter().map(|row| view! {
                <tr>
                    <th scope="row"><a href=list_href(Some(row), None, &at)>{type_name(row)}</a></th>
                    {ServerState::ALL.iter().zip(row.counts).map(|(s, n)| view! {
                        <td class="num">{if n == 0 { view! { <span class="zero">"0"</span> }.into_any() } else {
                            view! { <a href=list_href(Some(row), Some(*s), &at)>{n}</a> }.into_any()
                        }}</td>
                    }).collect_view()}
                    <td class="num"><a href=list_href(Some(row), None, &at)>{row.total}</a></td>
                    <td class="num">{format!("{:.0}%", row.utilization * 100.0)}</td>
                </tr>
            }).collect_view()}
            </tbody>
            <tfoot><tr>
                <th scope="row">"All types"</th>
                {ServerState::ALL.iter().zip(u.totals.counts).map(|(s, n)| view! {
                    <td class="num"><a href=list_href(None, Some(*s), &at)>{n}</a></td>
                }).collect_view()}
                <td class="num" data-testid="total-servers"><a href=list_href(None, None, &at)>{u.totals.total}</a></td>
                <td class="num">{format!("{:.0}%", u.totals.utilization * 100.0)}</td>
            </tr></tfoot>
        </table>
        </div>
        <section class="card">
            <h2>"Servers per type, by state"</h2>
            <Chart rows=u.rows.clone()/>
        </section>
        <section class="card">
            <h2>"Lifecycle"</h2>
            <LifecycleDiagram counts=u.totals.counts at=at.clone()/>
        </section>
    }
    .into_any()
}

#[component]
fn TenantUsageTable(rows: Vec<TenantUsage>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="muted">"No tenant holds servers."</p> }.into_any();
    }
    view! {
        <div class="table-wrap" tabindex="0"><table data-testid="tenant-usage">
            <thead><tr>
                <th scope="col">"Tenant"</th><th scope="col">"Reserved"</th><th scope="col">"Used"</th>
                <th scope="col">"Cleaning"</th><th scope="col">"Subscriptions short"</th>
            </tr></thead>
            <tbody>
            {rows.into_iter().map(|t| view! {
                <tr>
                    <th scope="row">{t.username.clone()}</th>
                    <td class="num">{t.reserved}</td>
                    <td class="num">{t.used}</td>
                    <td class="num">{t.cleaning}</td>
                    <td class={if t.short > 0 { "num warn" } else { "num" }}>{t.short}</td>
                </tr>
            }).collect_view()}
            </tbody>
        </table></div>
    }
    .into_any()
}

/// The list of servers behind one number of the report (at the report's location).
fn list_href(row: Option<&UtilizationRow>, state: Option<ServerState>, at: &(String, String)) -> String {
    use crate::ui::components::query_value;
    let mut q = Vec::new();
    if let Some(s) = state {
        q.push(format!("state={}", s.as_str()));
    }
    if let Some(r) = row {
        q.push(format!("type={}", query_value(r.server_type.as_deref().unwrap_or_default())));
    }
    if !at.0.is_empty() {
        q.push(format!("datacenter={}", query_value(&at.0)));
    }
    if !at.1.is_empty() {
        q.push(format!("rack={}", query_value(&at.1)));
    }
    if q.is_empty() { "/servers".into() } else { format!("/servers?{}", q.join("&")) }
}

/// A column header that may break inside its long words (a soft hyphen where a line
/// may end), so the report's thirteen columns fit 1024 px; the header's accessible
/// name is the plain label.
fn breakable(label: &str) -> String {
    const BREAKS: &[(&str, &str)] = &[
        ("Registering", "Regis\u{ad}tering"),
        ("Unavailable", "Un\u{ad}available"),
        ("Available", "Avail\u{ad}able"),
        ("Decommissioned", "Decom\u{ad}missioned"),
        ("Utilization", "Utili\u{ad}zation"),
        ("registering", "regis\u{ad}tering"),
    ];
    label
        .split(' ')
        .map(|word| {
            let word_core = word.trim_matches(|c: char| !c.is_alphanumeric());
            match BREAKS.iter().find(|(w, _)| *w == word_core) {
                Some((w, soft)) => word.replacen(w, soft, 1),
                None => word.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn type_name(row: &UtilizationRow) -> String {
    row.server_type.clone().unwrap_or_else(|| "(not typed yet)".into())
}

#[component]
fn Chart(rows: Vec<UtilizationRow>) -> impl IntoView {
    const BAR_H: f64 = 22.0;
    const GAP: f64 = 10.0;
    const LABEL_W: f64 = 150.0;
    const WIDTH: f64 = 900.0;
    let max = rows.iter().map(|r| r.total).max().unwrap_or(0).max(1) as f64;
    let height = rows.len() as f64 * (BAR_H + GAP) + GAP;
    view! {
        <svg class="chart" viewBox=format!("0 0 {WIDTH} {height}") role="img" aria-label="Servers per type, stacked by state">
            {rows.iter().enumerate().map(|(i, row)| {
                let y = GAP + i as f64 * (BAR_H + GAP);
                let mut x = LABEL_W;
                let segments = ServerState::ALL.iter().zip(row.counts).filter(|(_, n)| *n > 0).map(|(s, n)| {
                    let w = n as f64 / max * (WIDTH - LABEL_W - 60.0);
                    let seg = view! {
                        <rect class=format!("seg state-{}", s.as_str()) x=x y=y width=w height=BAR_H>
                            <title>{format!("{}: {n} {}", type_name(row), s.label())}</title>
                        </rect>
                    };
                    x += w;
                    seg
                }).collect_view();
                view! {
                    <g>
                        <text class="chart-label" x=LABEL_W - 8.0 y=y + BAR_H * 0.7 text-anchor="end">{type_name(row)}</text>
                        {segments}
                        <text class="chart-total" x=x + 6.0 y=y + BAR_H * 0.7>{row.total}</text>
                    </g>
                }
            }).collect_view()}
        </svg>
    }
}

/// The lifecycle diagram, generated from the transition table, with the number of
/// servers in each state (each box links to the list of them). SVG drawn on the
/// server, readable without JavaScript.
#[component]
fn LifecycleDiagram(counts: [i64; 10], at: (String, String)) -> impl IntoView {
    use crate::domain::diagram::{NODE_H, NODE_W, edges, nodes, size};
    let nodes = nodes();
    let edges = edges(&nodes);
    let (w, h) = size(&nodes);
    view! {
        // A group, not an image: its boxes are links (an image's children are hidden
        // from assistive technology, so links inside one are unreachable).
        <svg class="lifecycle" viewBox=format!("0 0 {w} {h}") role="group" data-testid="lifecycle"
            aria-label="Server lifecycle: states with their server counts and the moves between them">
            {edges.into_iter().map(|e| {
                let class = if e.by_system { "edge system" } else { "edge user" };
                let title = format!("{} → {}: {}{}", e.from.label(), e.to.label(), e.actions,
                    if e.by_system { " (by the system)" } else { " (by a user)" });
                view! {
                    <g class=class>
                        <title>{title}</title>
                        <path class="line" d=e.path/>
                        <path class="head" d=e.head/>
                    </g>
                }
            }).collect_view()}
            {nodes.into_iter().map(|n| {
                let i = ServerState::ALL.iter().position(|s| *s == n.state).unwrap_or(0);
                let count = counts.get(i).copied().unwrap_or(0);
                let href = list_href(None, Some(n.state), &at);
                view! {
                    <a href=href class="node">
                        <title>{format!("{}: {count} server(s)", n.state.label())}</title>
                        <rect class=format!("seg state-{}", n.state.as_str()) x=n.x y=n.y width=NODE_W height=NODE_H rx="8"/>
                        <text class="node-label" x=n.x + NODE_W / 2.0 y=n.y + 20.0 text-anchor="middle">{n.state.label()}</text>
                        <text class="node-count" x=n.x + NODE_W / 2.0 y=n.y + 42.0 text-anchor="middle">{count}</text>
                    </a>
                }
            }).collect_view()}
        </svg>
        <p class="muted legend">"Solid arrows: moves a user makes; dashed: moves the system makes (jobs, allocation). Hover an arrow for its actions."</p>
    }
}

/// The report's filters (a GET form: a filtered report is a link) and its CSV export.
#[component]
fn LocationFilter(locations: Vec<(String, String)>, chosen: (String, String)) -> impl IntoView {
    let (dc, rack) = chosen;
    let csv = format!(
        "/reports/utilization.csv?datacenter={}&rack={}",
        crate::ui::components::query_value(&dc),
        crate::ui::components::query_value(&rack)
    );
    view! {
        <form method="get" action="/" class="filters" data-testid="report-filter">
            <crate::ui::components::LocationSelects locations datacenter=dc rack=rack/>
            <button type="submit">"Filter"</button>
            <a href=csv download="utilization.csv">"Download CSV"</a>
        </form>
    }
}
