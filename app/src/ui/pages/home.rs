//! The home page: the server type utilization report (all servers in all states).

use crate::api::servers::load_utilization;
use crate::domain::ServerState;
use leptos::prelude::*;

#[component]
pub fn Home() -> impl IntoView {
    let report = Resource::new(|| (), |_| load_utilization());
    view! {
        <h1>"Server type utilization"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || report.get().map(|r| match r {
                Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                Ok(u) => view! {
                    <div class="table-wrap">
                    <table class="report" data-testid="utilization">
                        <thead><tr>
                            <th scope="col">"Server type"</th>
                            {ServerState::ALL.iter().map(|s| view! {
                                <th scope="col"><span class=format!("badge state-{}", s.as_str())>{s.label()}</span></th>
                            }).collect_view()}
                            <th scope="col">"Total"</th><th scope="col">"Utilization"</th>
                        </tr></thead>
                        <tbody>
                        {u.rows.iter().map(|row| view! {
                            <tr>
                                <th scope="row">{row.server_type.clone().unwrap_or_else(|| "(not typed yet)".into())}</th>
                                {row.counts.iter().map(|n| view! { <td class="num">{*n}</td> }).collect_view()}
                                <td class="num">{row.total}</td>
                                <td class="num">{format!("{:.0}%", row.utilization * 100.0)}</td>
                            </tr>
                        }).collect_view()}
                        </tbody>
                        <tfoot><tr>
                            <th scope="row">"All types"</th>
                            {u.totals.counts.iter().map(|n| view! { <td class="num">{*n}</td> }).collect_view()}
                            <td class="num" data-testid="total-servers">{u.totals.total}</td>
                            <td class="num">{format!("{:.0}%", u.totals.utilization * 100.0)}</td>
                        </tr></tfoot>
                    </table>
                    </div>
                }.into_any(),
            })}
        </Suspense>
    }
}
