//! The server page's erase certificates card: each cleaning's evidence, newest first,
//! with the mode that cleaned the server and, per disk, what was done and how it was
//! verified (NIST SP 800-88's fields).

use crate::domain::erase::{EraseCertificate, EraseMode};
use crate::ui::components::utc;
use leptos::prelude::*;

fn mode_text(mode: EraseMode) -> &'static str {
    match mode {
        EraseMode::Secure => "secure (device sanitize or secure erase, else full overwrite; verified)",
        EraseMode::Full => "full overwrite (verified)",
        EraseMode::Metadata => "metadata only (first and last MiB): data may remain",
    }
}

fn seconds(from: i64, to: i64) -> String {
    format!("{:.1} s", (to - from).max(0) as f64 / 1000.0)
}

#[component]
pub fn EraseCertificatesCard(certificates: Vec<EraseCertificate>) -> impl IntoView {
    let mut all = certificates.into_iter();
    let latest = all.next();
    let older: Vec<EraseCertificate> = all.collect();
    view! {
        <section class="card" aria-labelledby="erase-h" data-testid="erase-certificates">
            <h2 id="erase-h">"Erase certificates"</h2>
            {match latest {
                None => view! { <p class="muted">"No cleaning has erased this server yet."</p> }.into_any(),
                Some(c) => view! {
                    <p>
                        <strong>{format!("Certificate {}", c.id)}</strong>
                        {format!(" · cleaned by job {} · {}", c.job_id, mode_text(c.mode))}
                    </p>
                    <p class="muted">
                        "Issued " <time>{utc(c.issued_at)}</time> {format!(" · performed by {}", c.performed_by)}
                        {(!c.location.is_empty()).then(|| format!(" · {}", c.location))}
                        {format!(" · {}", c.media_destination)}
                    </p>
                    <div class="table-wrap" tabindex="0"><table class="compact">
                        <caption>"Media sanitized"</caption>
                        <thead><tr>
                            <th>"Serial"</th><th>"Model"</th><th>"Type"</th><th>"Method"</th>
                            <th>"Tool"</th><th>"Verification"</th><th>"Took"</th>
                        </tr></thead>
                        <tbody>{c.disks.into_iter().map(|d| view! {
                            <tr>
                                <td class="mono">{d.serial}</td>
                                <td>{d.model}</td>
                                <td>{d.media_type}</td>
                                <td>{format!("{}: {}", d.method_type, d.method_used)}</td>
                                <td>{d.tool_used}</td>
                                <td>{d.verification_result}</td>
                                <td>{seconds(d.started_at, d.finished_at)}</td>
                            </tr>
                        }).collect_view()}</tbody>
                    </table></div>
                }.into_any(),
            }}
            {(!older.is_empty()).then(|| view! {
                <details>
                    <summary>{format!("{} earlier certificate(s)", older.len())}</summary>
                    <ul>{older.into_iter().map(|c| view! {
                        <li>{format!("Certificate {} · job {} · {} disk(s) · {} mode · ", c.id, c.job_id, c.disks.len(), c.mode.as_str())}<time>{utc(c.issued_at)}</time></li>
                    }).collect_view()}</ul>
                </details>
            })}
        </section>
    }
}
