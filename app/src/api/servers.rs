//! Servers: the utilization report, the list, one server's page, add, status buttons.

use super::ActionError;
#[cfg(feature = "ssr")]
use crate::domain::{Action, Permission};
use crate::model::Server;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The server page above and below its notes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerDetail {
    pub id: i64,
    /// The cards above the notes (summary, hardware changes, status, processes, power,
    /// BMC access, hardware), rendered on the server (`ui/pages/server_rendered.rs`)
    /// with the page's last form answer in its card.
    pub html: String,
    /// The notes, for those who see the fleet; `can_edit_notes` says who may save.
    pub notes: Option<crate::model::Notes>,
    pub can_edit_notes: bool,
    /// The live stream's fingerprint of this part, read before the data: the page
    /// compares the stream's first message with it (a change between this read and the
    /// stream's start is news).
    #[serde(default)]
    pub live: String,
}

/// The utilization report at a location (empty or absent: all), as the home page shows
/// it: HTML rendered here (`ui/pages/report_rendered.rs`). Automation reads the numbers
/// from `GET /reports/utilization`.
#[server(endpoint = "utilization", output = crate::api::codec::Json)]
pub async fn load_utilization(
    #[server(default)] datacenter: Option<String>,
    #[server(default)] rack: Option<String>,
) -> Result<String, ActionError> {
    let (backend, _, _) = super::ssr::require(Some(Permission::ViewFleet)).await?;
    let datacenter = datacenter.unwrap_or_default();
    let rack = rack.unwrap_or_default();
    let (dc, r) = (Some(datacenter.as_str()).filter(|v| !v.is_empty()), Some(rack.as_str()).filter(|v| !v.is_empty()));
    let u = backend.utilization_at(dc, r).await.map_err(super::ssr::service_error)?;
    Ok(crate::ui::pages::report_rendered::report(u, (datacenter, rack)))
}

/// One page of the server list as the page shows it (`ui/pages/list_rendered.rs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerListView {
    /// The filter form and the "Showing" line.
    pub head: String,
    /// The table; a checkbox per row when `bulk_actions` has any.
    pub table: String,
    /// Previous and next.
    pub pager: String,
    /// The bulk actions the caller's role may take, in the bar's order.
    pub bulk_actions: Vec<crate::domain::Action>,
}

/// One page of the server list; every parameter as the page's query string has it
/// (absent: any; an empty type is "not typed yet"), so a filtered, sorted page is a
/// link. Rendered here: automation reads `GET /api/v1/servers`.
#[server(endpoint = "list_servers", output = crate::api::codec::Json)]
#[allow(clippy::too_many_arguments)]
pub async fn list_servers(
    #[server(default)] state: Option<String>,
    #[server(default)] server_type: Option<String>,
    #[server(default)] datacenter: Option<String>,
    #[server(default)] rack: Option<String>,
    #[server(default)] q: Option<String>,
    #[server(default)] sort: Option<String>,
    #[server(default)] dir: Option<String>,
    #[server(default)] page: Option<i64>,
) -> Result<ServerListView, ActionError> {
    let (backend, user, _) = super::ssr::require(Some(Permission::ViewFleet)).await?;
    // The query as the page has it, in the order its links write it (the page's keys).
    let values = [&q, &state, &server_type, &datacenter, &rack, &sort, &dir, &page.map(|p| p.to_string())];
    let current: Vec<(String, String)> = crate::ui::pages::servers::KEYS
        .iter()
        .zip(values)
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
        .collect();
    let params = crate::backend::services::servers::ListParams {
        state,
        server_type,
        datacenter,
        rack,
        q,
        sort,
        dir,
        page,
        per_page: None,
    };
    let list = backend.server_list_page(&params, true).await.map_err(super::ssr::service_error)?;
    let bulk_actions: Vec<_> = BULK_ACTIONS
        .iter()
        .map(|(a, _)| *a)
        .filter(|a| crate::domain::roles::permission_for_action(*a).is_some_and(|p| user.role.can(p)))
        .collect();
    let (head, table, pager) = crate::ui::pages::list_rendered::server_list(list, current, !bulk_actions.is_empty());
    Ok(ServerListView { head, table, pager, bulk_actions })
}

/// What the list's bulk bar can do, for whom.
pub const BULK_ACTIONS: [(crate::domain::Action, &str); 6] = [
    (crate::domain::Action::SetAvailable, "Available"),
    (crate::domain::Action::SetUnavailable, "Unavailable"),
    (crate::domain::Action::MarkDefective, "Defective"),
    (crate::domain::Action::RemoveFromRack, "Removed from rack"),
    (crate::domain::Action::ReRegister, "Register / Re-register"),
    (crate::domain::Action::Decommission, "Decommission"),
];

/// Applies one action to the selected servers (`targets`: "id:generation" as the list
/// showed them); each server's outcome is reported.
#[server(endpoint = "bulk_action", output = crate::api::codec::Json)]
pub async fn bulk_action(
    action: String,
    #[server(default)] targets: Vec<String>,
    #[server(default)] reason: Option<String>,
    /// A checkbox: the disks and switch interfaces were checked (Available).
    #[server(default)]
    checked: Option<String>,
) -> Result<Vec<crate::model::BulkOutcome>, ActionError> {
    let (backend, user, actor) = super::ssr::require_access(super::BULK).await?;
    let Some(action) = Action::parse(&action).filter(|a| BULK_ACTIONS.iter().any(|(b, _)| b == a)) else {
        return super::ssr::fail(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "action: must be set_available, set_unavailable, mark_defective, remove_from_rack, re_register or decommission",
        );
    };
    if let Some(p) = crate::domain::roles::permission_for_action(action)
        && !user.role.can(p)
    {
        return super::ssr::fail(
            http::StatusCode::FORBIDDEN,
            format!("your role ({}) may not {}", user.role, p.as_str().replace('_', " ")),
        );
    }
    if targets.is_empty() {
        return super::ssr::fail(http::StatusCode::UNPROCESSABLE_ENTITY, "targets: select at least one server");
    }
    let max = crate::backend::services::servers::MAX_PER_PAGE;
    if targets.len() as i64 > max {
        return super::ssr::fail(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            format!("targets: at most {max} servers at once"),
        );
    }
    let mut parsed = Vec::with_capacity(targets.len());
    for t in &targets {
        let pair =
            t.split_once(':').and_then(|(i, g)| Some((i.trim().parse::<i64>().ok()?, g.trim().parse::<i64>().ok()?)));
        match pair {
            Some(p) => parsed.push(p),
            None => {
                return Err(super::ssr::service_error(crate::backend::services::ServiceError::invalid(
                    "targets",
                    format!("{t:?} is not id:generation"),
                )));
            }
        }
    }
    Ok(backend.change_many(&actor, action, &parsed, reason.as_deref(), checked.is_some()).await)
}

/// The server page's cards above the notes. `answer_*` are the page's last form
/// answer (`ui::rendered_forms::FormAnswer::args`, empty for none), shown in its card.
#[server(endpoint = "server_detail", output = crate::api::codec::Json)]
pub async fn load_server(
    id: i64,
    #[server(default)] answer_path: String,
    #[server(default)] answer_ok: String,
    #[server(default)] answer_error: String,
) -> Result<ServerDetail, ActionError> {
    use crate::ui::pages::server_rendered::{DetailCards, detail_cards};
    let (backend, user, _) = super::ssr::require(Some(Permission::ViewOwnServers)).await?;
    let live = backend.page_fingerprint(id).await.map(|(server, _)| server).unwrap_or_default();
    let (server, inventory, active_job) =
        backend.server_page_view(&user, id).await.map_err(super::ssr::service_error)?;
    let notes = if user.role.can(Permission::ViewFleet) {
        Some(backend.notes(id).await.map_err(super::ssr::service_error)?)
    } else {
        None
    };
    let bmc = if user.role.can(Permission::EditBmc) {
        Some((
            backend.bmc_username(id).await.map_err(super::ssr::service_error)?,
            backend.bmc_certificate(id).await.map_err(super::ssr::service_error)?,
        ))
    } else {
        None
    };
    let firmware = if user.role.can(Permission::ViewFleet) {
        backend.server_firmware(id, server.server_type.as_deref()).await.map_err(super::ssr::service_error)?
    } else {
        Vec::new()
    };
    let cards = DetailCards {
        buttons: crate::domain::buttons::status_buttons(server.state, user.role, active_job),
        process_buttons: crate::domain::buttons::process_buttons(server.state, user.role, active_job),
        power: backend.power_control(&user, id).await.map_err(super::ssr::service_error)?,
        server,
        inventory,
        firmware,
        can_reveal_bmc: user.role.can(Permission::RevealBmcCredentials),
        can_acknowledge_hardware: user.role.can(Permission::AcknowledgeHardware),
        bmc,
    };
    let answer = crate::ui::rendered_forms::FormAnswer::from_args(answer_path, answer_ok, answer_error);
    Ok(ServerDetail {
        id,
        html: detail_cards(cards, answer),
        notes,
        can_edit_notes: user.role.can(Permission::EditNotes),
        live,
    })
}

/// The parts of the server page that change while a job runs: the latest job with its
/// steps, the operating system, erase certificates and the audit, as the caller may
/// see them, rendered on the server (`ui/pages/server_rendered.rs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerActivity {
    pub html: String,
    /// The live stream's fingerprint of this part, read before the data (see
    /// `ServerDetail::live`).
    #[serde(default)]
    pub live: String,
}

/// The server page's cards below the notes. `answer_*` as for `load_server`;
/// `abort_open` keeps an open Abort confirmation open.
#[server(endpoint = "server_activity", output = crate::api::codec::Json)]
pub async fn load_activity(
    id: i64,
    #[server(default)] answer_path: String,
    #[server(default)] answer_ok: String,
    #[server(default)] answer_error: String,
    #[server(default)] abort_open: bool,
) -> Result<ServerActivity, ActionError> {
    use crate::ui::pages::server_rendered::{ActivityCards, activity_cards};
    let (backend, user, _) = super::ssr::require(Some(Permission::ViewOwnServers)).await?;
    let live = backend.page_fingerprint(id).await.map(|(_, activity)| activity).unwrap_or_default();
    let server = backend.server_for(&user, id).await.map_err(super::ssr::service_error)?;
    let (events, erase_certificates) = if user.role.can(Permission::ViewAudit) {
        (
            Some(backend.server_events(id).await.map_err(super::ssr::service_error)?),
            Some(backend.erase_certificates(id).await.map_err(super::ssr::service_error)?),
        )
    } else {
        (None, None)
    };
    let job = if user.role.can(Permission::ViewFleet) {
        backend.latest_job(id).await.map_err(super::ssr::service_error)?
    } else {
        None
    };
    let deploy = backend.deploy_status(&user, id).await.map_err(super::ssr::service_error)?;
    let active = backend.has_active_job(id).await.map_err(super::ssr::service_error)?;
    let own = server.reserved_for.as_deref() == Some(user.username.as_str());
    let deploy_images = if crate::domain::images::redeploy_refusal(user.role, server.state, own, active).is_none() {
        backend.images(false).await.map_err(super::ssr::service_error)?.into_iter().map(|i| i.name).collect()
    } else {
        Vec::new()
    };
    let cards = ActivityCards {
        server_id: id,
        job,
        can_manage_jobs: user.role.can(Permission::RetryAbortJobs),
        deploy,
        deploy_images,
        root_disk: backend.root_disk_choice(&user, id).await.map_err(super::ssr::service_error)?,
        erase_certificates,
        events,
    };
    let answer = crate::ui::rendered_forms::FormAnswer::from_args(answer_path, answer_ok, answer_error);
    Ok(ServerActivity { html: activity_cards(cards, answer, abort_open), live })
}

#[server(endpoint = "add_server", output = crate::api::codec::Json)]
pub async fn add_server(
    name: String,
    bmc_address: String,
    bmc_username: String,
    bmc_password: String,
    datacenter: String,
    rack: String,
    /// A checkbox: present ("on") to accept a self-signed BMC certificate.
    #[server(default)]
    bmc_skip_tls_verify: Option<String>,
    /// A checkbox: once registered, give the BMC a random password.
    #[server(default)]
    random_bmc_password: Option<String>,
) -> Result<Server, ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(Permission::AddServer)).await?;
    let new = crate::backend::services::NewServer {
        name,
        bmc_address,
        bmc_username,
        bmc_password: Some(crate::backend::secrets::SecretString::new(bmc_password)),
        bmc_verify_tls: bmc_skip_tls_verify.is_none(),
        datacenter,
        rack,
        set_random_bmc_password: random_bmc_password.is_some(),
    };
    backend.add_server(&actor, &new).await.map_err(super::ssr::service_error)
}

/// Registers a decommissioned server again, or re-registers an unavailable or used
/// one (a used server reboots into the live image).
#[server(endpoint = "start_registration", output = crate::api::codec::Json)]
pub async fn start_registration(id: i64, generation: i64) -> Result<Server, ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(Permission::StartRegistration)).await?;
    let server = backend.server(id).await.map_err(super::ssr::service_error)?;
    let action = Action::registration_from(server.state);
    let change = crate::backend::services::StateChange::new(action).at_generation(generation);
    backend.change_state(&actor, id, &change).await.map_err(super::ssr::service_error)
}

/// Starts decommissioning: power off, eject media, forget the BMC credentials.
#[server(endpoint = "decommission_server", output = crate::api::codec::Json)]
pub async fn decommission_server(id: i64, generation: i64) -> Result<Server, ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(Permission::Decommission)).await?;
    let change = crate::backend::services::StateChange::new(Action::Decommission).at_generation(generation);
    backend.change_state(&actor, id, &change).await.map_err(super::ssr::service_error)
}

/// Runs the server's failed or aborted process again.
#[server(endpoint = "retry_job", output = crate::api::codec::Json)]
pub async fn retry_job(id: i64) -> Result<Server, ActionError> {
    let (backend, user, _) = super::ssr::require(Some(Permission::RetryAbortJobs)).await?;
    backend.retry_job_for(&user, id).await.map_err(super::ssr::service_error)
}

/// Asks for a power action (on, off, reset) on a server; it runs as a job.
#[server(endpoint = "request_power", output = crate::api::codec::Json)]
pub async fn request_power(id: i64, request: String) -> Result<(), ActionError> {
    let (backend, user, _) = super::ssr::require_access(super::POWER).await?;
    let Some(request) = crate::domain::power::PowerRequest::parse(&request) else {
        return super::ssr::fail(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            format!("request: {request:?} is not on, off or reset"),
        );
    };
    backend.request_power(&user, id, request).await.map(|_| ()).map_err(super::ssr::service_error)
}

/// Aborts the server's running job (it powers the server off and ejects the media).
#[server(endpoint = "abort_job", output = crate::api::codec::Json)]
pub async fn abort_job(id: i64) -> Result<(), ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(Permission::RetryAbortJobs)).await?;
    backend.abort_job(&actor, id).await.map_err(super::ssr::service_error)
}

/// Saves the server's notes on top of `version` (the one the editor loaded); refused
/// with the other's change when someone saved in between.
#[server(endpoint = "save_notes", output = crate::api::codec::Json)]
pub async fn save_notes(id: i64, text: String, version: i64) -> Result<crate::model::Notes, ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(Permission::EditNotes)).await?;
    backend.save_notes(&actor, id, &text, version).await.map_err(super::ssr::service_error)
}

/// The notes editor's preview: the text rendered as it would be saved. Rendered here so
/// the Markdown parser is not part of every page's wasm.
#[server(endpoint = "preview_notes", output = crate::api::codec::Json)]
pub async fn preview_notes(text: String) -> Result<String, ActionError> {
    let (backend, _, _) = super::ssr::require(Some(Permission::EditNotes)).await?;
    backend.preview_notes(&text).map_err(super::ssr::service_error)
}

/// Trusts the certificate the server's BMC presented instead of the pinned one.
#[server(endpoint = "accept_bmc_certificate", output = crate::api::codec::Json)]
pub async fn accept_bmc_certificate(id: i64, fingerprint: String) -> Result<(), ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(Permission::EditBmc)).await?;
    backend.accept_bmc_certificate(&actor, id, &fingerprint).await.map_err(super::ssr::service_error)
}

/// A page of the notes' history: versions older than `before`.
#[server(endpoint = "notes_history", output = crate::api::codec::Json)]
pub async fn notes_history(id: i64, before: i64) -> Result<crate::model::Notes, ActionError> {
    let (backend, _, _) = super::ssr::require(Some(Permission::ViewFleet)).await?;
    let limit = crate::backend::services::notes::NOTES_PAGE;
    backend.notes_page(id, Some(before), limit).await.map_err(super::ssr::service_error)
}

/// Rotates the server's BMC password (a job: set on the BMC, checked by logging in
/// with it, then stored).
#[server(endpoint = "rotate_bmc_password", output = crate::api::codec::Json)]
pub async fn rotate_bmc_password(id: i64) -> Result<i64, ActionError> {
    let (backend, user, _) = super::ssr::require(Some(Permission::EditBmc)).await?;
    backend.request_bmc_rotation(&user, id).await.map_err(super::ssr::service_error)
}

/// Acknowledges the hardware changes the server's registrations found, as the caller
/// saw them at `generation`, with a comment (audited).
#[server(endpoint = "acknowledge_hardware", output = crate::api::codec::Json)]
pub async fn acknowledge_hardware(id: i64, generation: i64, comment: String) -> Result<Server, ActionError> {
    let (backend, user, _) = super::ssr::require(Some(Permission::AcknowledgeHardware)).await?;
    backend.acknowledge_hardware(&user, id, generation, &comment).await.map_err(super::ssr::service_error)
}

/// Presses a status button (Available, Unavailable, Defective, Removed from rack).
#[server(endpoint = "set_server_state", output = crate::api::codec::Json)]
pub async fn set_server_state(
    id: i64,
    action: String,
    generation: i64,
    reason: Option<String>,
    /// A checkbox: the admin checked the disks and switch interfaces (Available from
    /// unavailable needs it).
    #[server(default)]
    checked: Option<String>,
) -> Result<Server, ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(Permission::SetManualState)).await?;
    let Some(action) = Action::parse(&action).filter(|a| a.manual_target().is_some()) else {
        return super::ssr::fail(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "action: must be set_available, set_unavailable, mark_defective or remove_from_rack",
        );
    };
    // The seed: an admin sets an unavailable server available once its disks and
    // switch interfaces were checked. The page shows them and asks.
    let mut change = crate::backend::services::StateChange::new(action)
        .at_generation(generation)
        .hardware_checked(checked.is_some());
    change.reason = reason;
    backend.change_state(&actor, id, &change).await.map_err(super::ssr::service_error)
}

/// Replaces a server's BMC access (an empty password keeps the stored one).
#[server(endpoint = "change_bmc", output = crate::api::codec::Json)]
pub async fn change_bmc(
    id: i64,
    generation: i64,
    bmc_address: String,
    #[server(default)] bmc_username: String,
    #[server(default)] bmc_password: String,
    /// A checkbox: present ("on") to accept a self-signed BMC certificate.
    #[server(default)]
    bmc_skip_tls_verify: Option<String>,
) -> Result<Server, ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(Permission::EditBmc)).await?;
    let change = crate::backend::services::servers::BmcChange {
        address: bmc_address,
        username: bmc_username,
        password: Some(crate::backend::secrets::SecretString::new(bmc_password)),
        verify_tls: bmc_skip_tls_verify.is_none(),
        generation,
    };
    backend.change_bmc(&actor, id, &change).await.map_err(super::ssr::service_error)
}

/// A server's BMC credentials, for an admin to copy (audited).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealedCredentials {
    pub address: String,
    pub username: String,
    pub password: String,
}

#[server(endpoint = "reveal_bmc_credentials", output = crate::api::codec::Json)]
pub async fn reveal_bmc_credentials(id: i64) -> Result<RevealedCredentials, ActionError> {
    let (backend, _, actor) = super::ssr::require(Some(Permission::RevealBmcCredentials)).await?;
    let c = backend.reveal_bmc_credentials(&actor, id).await.map_err(super::ssr::service_error)?;
    Ok(RevealedCredentials {
        address: c.address,
        username: c.username,
        // Deliberately leaves the secret type: this is the one place it is shown.
        password: c.password.map(|p| p.expose().to_string()).unwrap_or_default(),
    })
}
