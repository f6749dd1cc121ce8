//! Which status buttons a user sees on a server page, and why a disabled one is
//! disabled. Derived from the transition table and the permission table, so the page
//! offers exactly what the server will accept.

use super::ServerState;
use super::roles::{Role, permission_for_action};
use super::transitions::{Action, Context, Trigger, request_transition};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub action: Action,
    pub label: String,
    pub enabled: bool,
    /// Why it is disabled, for the tooltip.
    pub why_not: Option<String>,
}

/// The manual status buttons of the seed ("Server status" section).
pub const STATUS_BUTTONS: [(Action, &str); 4] = [
    (Action::SetAvailable, "Available"),
    (Action::SetUnavailable, "Unavailable"),
    (Action::MarkDefective, "Defective"),
    (Action::RemoveFromRack, "Removed from rack"),
];

/// The status buttons for `role` on a server in `state`. A role without the
/// permission sees none (a viewer sees no state buttons at all).
pub fn status_buttons(state: ServerState, role: Role, active_job: bool) -> Vec<Button> {
    buttons(state, role, active_job, &STATUS_BUTTONS)
}

/// The process buttons: Register (a decommissioned server) or Re-register, and
/// Decommission, for the roles that may start them.
pub fn process_buttons(state: ServerState, role: Role, active_job: bool) -> Vec<Button> {
    let register = if state == ServerState::Decommissioned {
        (Action::Register, "Register")
    } else {
        (Action::ReRegister, "Re-register")
    };
    buttons(state, role, active_job, &[register, (Action::Decommission, "Decommission")])
}

fn buttons(state: ServerState, role: Role, active_job: bool, which: &[(Action, &str)]) -> Vec<Button> {
    which
        .iter()
        .filter(|(a, _)| permission_for_action(*a).is_some_and(|p| role.can(p)))
        .map(|(action, label)| {
            let ctx = Context { active_job, ..Context::default() };
            let why_not = request_transition(state, *action, Trigger::User, ctx).err().map(|e| {
                let mut r = e.reason;
                if let Some(first) = r.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                r
            });
            Button { action: *action, label: label.to_string(), enabled: why_not.is_none(), why_not }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Viewers and operators see no manual buttons; admins see all four.
    #[test]
    fn only_admins_see_status_buttons() {
        assert!(status_buttons(ServerState::Available, Role::Viewer, false).is_empty());
        assert!(status_buttons(ServerState::Available, Role::Operator, false).is_empty());
        assert!(status_buttons(ServerState::Available, Role::Tenant, false).is_empty());
        assert_eq!(status_buttons(ServerState::Available, Role::Admin, false).len(), 4);
    }

    /// On a used server every manual button is disabled with the seed's reason.
    #[test]
    fn used_server_buttons_explain() {
        let b = status_buttons(ServerState::Used, Role::Admin, false);
        assert!(b.iter().all(|b| !b.enabled));
        let defective = b.iter().find(|b| b.action == Action::MarkDefective).unwrap();
        assert!(defective.why_not.as_deref().unwrap().contains("release it first"));
    }

    /// Process buttons: operators may re-register but not decommission; a
    /// decommissioned server offers Register; a running job disables them.
    #[test]
    fn process_buttons_by_role_and_state() {
        let op = process_buttons(ServerState::Unavailable, Role::Operator, false);
        assert_eq!(op.iter().map(|b| (b.action, b.enabled)).collect::<Vec<_>>(), vec![(Action::ReRegister, true)]);
        let admin = process_buttons(ServerState::Decommissioned, Role::Admin, false);
        assert_eq!(admin[0].action, Action::Register);
        assert!(admin[0].enabled && !admin[1].enabled);
        assert!(process_buttons(ServerState::Unavailable, Role::Admin, true).iter().all(|b| !b.enabled));
        assert!(process_buttons(ServerState::Unavailable, Role::Viewer, false).is_empty());
    }

    /// Unavailable: Available, Defective and Removed from rack are enabled.
    #[test]
    fn unavailable_buttons() {
        let enabled: Vec<_> = status_buttons(ServerState::Unavailable, Role::Admin, false)
            .into_iter()
            .filter(|b| b.enabled)
            .map(|b| b.action)
            .collect();
        assert_eq!(enabled, vec![Action::SetAvailable, Action::MarkDefective, Action::RemoveFromRack]);
    }
}
