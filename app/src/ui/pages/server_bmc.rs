//! The server page's BMC access card: the pinned TLS certificate (and a changed one to
//! accept), and replacing the BMC address, user and password. Rendered on the server
//! (`server_rendered.rs`).

use crate::ui::rendered_forms::{Answered, error_view};
use leptos::prelude::*;

const BMC_FIELDS: &[&str] = &["bmc_address", "bmc_username", "bmc_password"];

/// Replaces the BMC access: after a BMC board swap, or to register a decommissioned
/// server again (its password was forgotten). Refused while a job runs.
#[component]
pub(super) fn BmcCard(
    server: crate::model::Server,
    username: String,
    change: Answered<crate::api::servers::ChangeBmc>,
    certificate: crate::model::CertificatePin,
    accept: Answered<crate::api::servers::AcceptBmcCertificate>,
    rotate: Answered<crate::api::servers::RotateBmcPassword>,
) -> impl IntoView {
    use crate::domain::tls_pin::display;
    use crate::ui::components::{FieldError, field_errors, field_invalid};
    let changed = change.result();
    let result = Signal::stored(changed.clone());
    let invalid = |f: &'static str| if field_invalid(&changed, f, BMC_FIELDS) { "true" } else { "false" };
    let forgotten = server.state == crate::domain::ServerState::Decommissioned;
    // A refused change comes back with its form open.
    let refused = matches!(changed, Some(Err(_))) || forgotten;
    view! {
        <section class="card" aria-labelledby="bmc-h" data-testid="bmc-card">
            <h2 id="bmc-h">"BMC access"</h2>
            {forgotten.then(|| view! {
                <p class="hint">"Decommissioning forgot the BMC password: enter it here before registering the server again."</p>
            })}
            {certificate.pinned.clone().map(|p| view! {
                <p class="muted">"TLS certificate pinned at first use: SHA-256 "<code class="mono fingerprint">{display(&p)}</code></p>
            })}
            {certificate.offered.clone().map(|offered| view! {
                <div class="warning" role="alert" data-testid="bmc-certificate-changed">
                    <p><strong>"The BMC presented a different TLS certificate."</strong>" Jobs of this server stop before \
                        sending anything until it is accepted. Accept it only if you know why it changed (a new BMC \
                        certificate, a reset of the BMC)."</p>
                    <p>"New: SHA-256 "<code class="mono fingerprint">{display(&offered)}</code></p>
                    <form action=accept.url() method="post" class="inline">
                        <input type="hidden" name="id" value=server.id/>
                        <input type="hidden" name="fingerprint" value=offered.clone()/>
                        <button type="submit">"Accept the new certificate"</button>
                    </form>
                    {error_view(accept.error())}
                </div>
            })}
            {matches!(accept.result(), Some(Ok(()))).then(|| view! {
                <p class="ok" role="status">"New certificate accepted: retry the job."</p>
            })}
            <details open=refused>
                <summary>"Change BMC address or credentials…"</summary>
                <p class="hint">"A stored password follows no new address: changing the address or the TLS setting \
                    forgets it unless you enter the password again. Jobs check that the machine behind the address is \
                    the one this server was registered as (UUID and serial) before they touch it."</p>
                <form action=change.url() method="post" class="grid-form" novalidate=true>
                    <input type="hidden" name="id" value=server.id/>
                    <input type="hidden" name="generation" value=server.generation/>
                    <div class="field"><label>"BMC address"<input name="bmc_address" value=server.bmc_address.clone() required
                        aria-invalid=invalid("bmc_address") aria-describedby="bmc-bmc_address-error"/></label><FieldError result form="bmc" field="bmc_address" fields=BMC_FIELDS/></div>
                    <div class="field"><label>"BMC user"<input name="bmc_username" value=username autocomplete="off"
                        aria-invalid=invalid("bmc_username") aria-describedby="bmc-bmc_username-error"/></label><FieldError result form="bmc" field="bmc_username" fields=BMC_FIELDS/></div>
                    <div class="field"><label>"New BMC password"<input name="bmc_password" type="password" autocomplete="new-password"
                        placeholder="empty: keep it (same address only)"
                        aria-invalid=invalid("bmc_password") aria-describedby="bmc-bmc_password-error"/></label><FieldError result form="bmc" field="bmc_password" fields=BMC_FIELDS/></div>
                    <label class="check"><span><input type="checkbox" name="bmc_skip_tls_verify" checked=!server.bmc_verify_tls/>
                        " Accept a self-signed BMC certificate (TLS not verified)"</span></label>
                    <button type="submit" class="primary">"Save BMC access"</button>
                </form>
                {match changed {
                    Some(Err(e)) => {
                        let rest: Vec<String> = field_errors(&e, BMC_FIELDS).into_iter()
                            .filter(|(f, _)| f.is_empty()).map(|(_, m)| m).collect();
                        (!rest.is_empty()).then(|| view! { <p class="error" role="alert">{rest.join("; ")}</p> }).map(IntoAny::into_any)
                    }
                    Some(Ok(_)) => Some(view! { <p class="ok" role="status">"BMC access saved."</p> }.into_any()),
                    None => None,
                }}
            </details>
            {(!forgotten).then(|| view! {
                <form action=rotate.url() method="post" class="inline">
                    <input type="hidden" name="id" value=server.id/>
                    <button type="submit">"Rotate the BMC password"</button>
                </form>
                <span class="hint">" A new random password is set on the BMC and stored only once a login with it \
                    works; if any step fails, the old one keeps working and stays stored."</span>
                {match rotate.result() {
                    Some(Err(e)) => Some(error_view(Some(e)).into_any()),
                    Some(Ok(job)) => Some(view! { <p class="ok" role="status">{format!("Rotation job #{job} queued.")}</p> }.into_any()),
                    None => None,
                }}
            })}
        </section>
    }
}
