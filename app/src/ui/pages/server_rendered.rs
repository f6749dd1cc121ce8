//! The server page's cards rendered to HTML on the server: all but the notes. The
//! page shows them as they come (`components::ServerHtml`), so their views and data
//! types stay out of the wasm (the server's page is the heaviest); their forms post
//! as plain forms, and with JavaScript through `ui::rendered_forms`, whose answer comes
//! back here to be shown in its card.

use crate::domain::Inventory;
use crate::domain::erase::EraseCertificate;
use crate::domain::firmware::ComponentVersion;
use crate::domain::inventory::size_text;
use crate::model::{Event, Server};
use crate::ui::components::rendered_html as html;
use crate::ui::rendered_forms::{Answered, FormAnswer};
use leptos::prelude::*;

/// What the cards above the notes show, as the caller may see it.
pub(crate) struct DetailCards {
    pub server: Server,
    pub inventory: Option<Inventory>,
    pub firmware: Vec<ComponentVersion>,
    pub buttons: Vec<crate::domain::buttons::Button>,
    pub process_buttons: Vec<crate::domain::buttons::Button>,
    pub can_reveal_bmc: bool,
    pub can_acknowledge_hardware: bool,
    /// The BMC user and certificate pin, for those who may edit BMC access.
    pub bmc: Option<(String, crate::model::CertificatePin)>,
    pub power: crate::model::PowerControl,
}

/// The cards above the notes: summary, hardware changes, status, processes, power,
/// BMC access, hardware; `answer` is the page's last form answer.
pub(crate) fn detail_cards(d: DetailCards, answer: Option<FormAnswer>) -> String {
    use super::server_status::{ProcessCard, StatusCard};
    let a = answer.as_ref();
    let s = d.server;
    let hardware_check = hardware_check(d.inventory.as_ref());
    let shows_power = super::server_power::shows(&d.power);
    html(move || {
        view! {
            <super::server::Summary server=s.clone()/>
            {(!s.hardware_changes.is_empty()).then(|| view! {
                <super::server_hardware_changes::HardwareChangesCard server=s.clone()
                    can_acknowledge=d.can_acknowledge_hardware acknowledge=Answered::new(a)/>
            })}
            {(!d.buttons.is_empty()).then(|| view! {
                <StatusCard server=s.clone() buttons=d.buttons hardware_check set_state=Answered::new(a)/>
            })}
            {(!d.process_buttons.is_empty()).then(|| view! {
                <ProcessCard server=s.clone() buttons=d.process_buttons can_reveal=d.can_reveal_bmc
                    register=Answered::new(a) decommission=Answered::new(a) reveal=Answered::new(a)/>
            })}
            {shows_power.then(|| view! {
                <super::server_power::PowerCard server_id=s.id power_state=s.power_state
                    control=d.power request=Answered::new(a)/>
            })}
            {d.bmc.map(|(username, certificate)| view! {
                <super::server_bmc::BmcCard server=s.clone() username change=Answered::new(a)
                    certificate accept=Answered::new(a) rotate=Answered::new(a)/>
            })}
            {d.inventory.map(|inv| view! { <super::server_hardware::InventoryCard inv firmware=d.firmware/> })}
        }
    })
}

/// What the cards below the notes show, as the caller may see it.
pub(crate) struct ActivityCards {
    pub server_id: i64,
    pub job: Option<crate::model::JobView>,
    pub can_manage_jobs: bool,
    pub deploy: Option<crate::model::DeployView>,
    pub deploy_images: Vec<String>,
    pub root_disk: Option<crate::model::RootDiskChoice>,
    /// None when the caller may not read the audit.
    pub erase_certificates: Option<Vec<EraseCertificate>>,
    pub events: Option<Vec<Event>>,
}

/// The cards below the notes: job, operating system, erase certificates, events;
/// `abort_open` keeps an open Abort confirmation open.
pub(crate) fn activity_cards(a: ActivityCards, answer: Option<FormAnswer>, abort_open: bool) -> String {
    let ans = answer.as_ref();
    let sid = a.server_id;
    html(move || {
        view! {
            {a.job.map(|job| view! {
                <super::server_activity::JobCard server_id=sid job can_manage=a.can_manage_jobs
                    retry=Answered::new(ans) abort=Answered::new(ans) abort_open/>
            })}
            {(a.deploy.is_some() || !a.deploy_images.is_empty() || a.root_disk.is_some()).then(|| view! {
                <super::server_deploy::DeployCard server_id=sid deploy=a.deploy images=a.deploy_images
                    redeploy=Answered::new(ans) root_disk=a.root_disk set_root_disk=Answered::new(ans)/>
            })}
            {a.erase_certificates.map(|certificates| view! {
                <super::server_erase::EraseCertificatesCard certificates/>
            })}
            {a.events.map(|events| view! { <super::server_events::EventsCard events/> })}
        }
    })
}

/// What "Available" from unavailable asks to check: each disk and each switch
/// interface, one line each (empty without an inventory).
fn hardware_check(inv: Option<&Inventory>) -> Vec<String> {
    let Some(inv) = inv else { return Vec::new() };
    let disks = inv.disks.iter().map(|d| format!("disk {} {} ({})", d.model, d.serial, size_text(d.size_bytes)));
    let nics = inv.nics.iter().map(|n| format!("{} {} → {}", n.name, n.mac, super::server_hardware::switch_text(n)));
    disks.chain(nics).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::servers::{ChangeBmc, RevealBmcCredentials};
    use crate::domain::{Role, ServerState};
    use server_fn::ServerFn;

    fn server(name: &str, state: ServerState) -> Server {
        Server { name: name.into(), state, ..super::super::sample_server() }
    }

    fn admin_cards(server: Server, inventory: Option<Inventory>) -> DetailCards {
        DetailCards {
            buttons: crate::domain::buttons::status_buttons(server.state, Role::Admin, false),
            process_buttons: crate::domain::buttons::process_buttons(server.state, Role::Admin, false),
            server,
            inventory,
            firmware: Vec::new(),
            can_reveal_bmc: true,
            can_acknowledge_hardware: true,
            bmc: Some(("admin".into(), crate::model::CertificatePin::default())),
            power: crate::model::PowerControl::default(),
        }
    }

    /// A machine's live image reports a disk model that is markup, someone named the
    /// server with markup, and someone with the right to mark servers defective gives
    /// markup as the reason: the server page's cards, shown as the server rendered
    /// them, carry all three as text, never as markup.
    #[test]
    fn markup_from_a_machine_or_a_user_is_shown_as_text() {
        let attack = "<img src=x onerror=alert(1)>";
        let mut inv = Inventory::default();
        inv.disks.push(crate::domain::inventory::Disk {
            model: attack.into(),
            serial: "S1".into(),
            size_bytes: 2_000_000_000,
            kind: crate::domain::inventory::DiskKind::Ssd,
        });
        let event = Event {
            id: 1,
            server_id: Some(1),
            at: 0,
            actor: "admin".into(),
            kind: crate::domain::EventKind::StateChanged,
            from_value: Some("available".into()),
            to_value: Some("defective".into()),
            reason: Some(attack.into()),
            details: None,
            correlation_id: None,
        };
        let detail = detail_cards(admin_cards(server(attack, ServerState::Unavailable), Some(inv.clone())), None);
        let activity = activity_cards(
            ActivityCards {
                server_id: 7,
                job: None,
                can_manage_jobs: true,
                deploy: None,
                deploy_images: Vec::new(),
                root_disk: None,
                erase_certificates: None,
                events: Some(vec![event]),
            },
            None,
            false,
        );
        for html in [&detail, &activity] {
            assert!(!html.contains("<img"), "markup got through: {html}");
            assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "the text is missing: {html}");
        }
        assert_eq!(hardware_check(Some(&inv)), vec![format!("disk {attack} S1 (2.0 GB)")]);
    }

    /// An admin saves a BMC address the service refuses: the card comes back with the
    /// form open and the refusal under the address field; the status card, whose
    /// function did not answer, shows no error.
    #[test]
    fn a_refused_form_shows_its_refusal_under_its_field_in_its_own_card() {
        let refusal = crate::api::ActionError {
            kind: crate::api::ErrorKind::Refused,
            message: "bmc_address: not a BMC address".into(),
            fields: vec![crate::api::FieldMessage { field: "bmc_address".into(), message: "not a BMC address".into() }],
        };
        let error = serde_json::to_string(&refusal).ok();
        let answer = FormAnswer { path: ChangeBmc::url().into(), ok: None, error };
        let html = detail_cards(admin_cards(server("r1-u07", ServerState::Available), None), Some(answer));
        assert!(html.contains(r#"class="field-error">not a BMC address<"#), "{html}");
        assert!(html.contains(r#"<details open"#), "the BMC form stays open: {html}");
        assert_eq!(html.matches(r#"class="error""#).count(), 0, "{html}");
    }

    /// An admin about to decommission asks for the BMC credentials: the page hands the
    /// answer back and the Processes card shows them inside the open confirmation.
    #[test]
    fn revealed_credentials_show_inside_the_open_decommission_confirmation() {
        let ok = r#"{"address":"10.0.0.7","username":"root","password":"s3cret"}"#;
        let answer = FormAnswer { path: RevealBmcCredentials::url().into(), ok: Some(ok.into()), error: None };
        let html = detail_cards(admin_cards(server("r1-u07", ServerState::Unavailable), None), Some(answer));
        let confirm = html.find("<details open").unwrap_or_else(|| panic!("the confirmation is closed: {html}"));
        let password = html.find("<dd>s3cret").unwrap_or_else(|| panic!("the password is missing: {html}"));
        assert!(confirm < password, "{html}");
    }

    /// An admin opened Abort… on a running registration and a step arrived: the job
    /// card, drawn again, keeps the confirmation open (the page says it was open), and
    /// nobody else's card is open for them.
    #[test]
    fn an_open_abort_confirmation_stays_open_when_steps_arrive() {
        let job = |open: bool| {
            activity_cards(
                ActivityCards {
                    server_id: 7,
                    job: Some(crate::model::JobView {
                        id: 9,
                        kind: crate::domain::JobKind::Register,
                        status: crate::domain::JobStatus::Running,
                        phase: crate::domain::JobPhase::Booting,
                        attempts: 1,
                        last_error: None,
                        steps: vec![crate::model::JobStep { at: 0, message: "booting the live image".into() }],
                    }),
                    can_manage_jobs: true,
                    deploy: None,
                    deploy_images: Vec::new(),
                    root_disk: None,
                    erase_certificates: None,
                    events: None,
                },
                None,
                open,
            )
        };
        assert!(job(true).contains(r#"<details open data-keep-open="abort""#), "{}", job(true));
        assert!(job(false).contains(r#"<details data-keep-open="abort""#), "{}", job(false));
    }
}
