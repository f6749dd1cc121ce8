//! One page per file.

mod deployments;
mod firmware;
mod home;
mod images;
#[cfg(feature = "ssr")]
pub(crate) mod list_rendered;
mod login;
mod not_found;
#[cfg(feature = "ssr")]
pub(crate) mod report_rendered;
mod server;
#[cfg(feature = "ssr")]
mod server_activity;
#[cfg(feature = "ssr")]
mod server_bmc;
#[cfg(feature = "ssr")]
mod server_deploy;
#[cfg(feature = "ssr")]
mod server_erase;
#[cfg(feature = "ssr")]
mod server_events;
#[cfg(feature = "ssr")]
mod server_hardware;
#[cfg(feature = "ssr")]
mod server_hardware_changes;
mod server_notes;
#[cfg(feature = "ssr")]
mod server_power;
#[cfg(feature = "ssr")]
pub(crate) mod server_rendered;
#[cfg(feature = "ssr")]
mod server_status;
pub(crate) mod servers;
mod subscriptions;
mod users;
mod webhooks;

pub use login::LoginPage;
pub use not_found::NotFound;

use leptos::prelude::*;
use leptos_router::{LazyRoute, lazy_route};

/// Makes each page a lazy route: `data` starts nothing (each page loads its own data
/// through resources, which the server already streamed into the HTML), `view` is
/// split into the page's own wasm file.
macro_rules! lazy_pages {
    ($($(#[$doc:meta])* $route:ident => $page:path;)*) => {$(
        $(#[$doc])*
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(this: Self) -> AnyView {
                let _ = this;
                view! { <$page/> <crate::ui::layout::HydratedMark/> }.into_any()
            }
        }
    )*};
}

lazy_pages! {
    /// `/`: the utilization report, or a tenant's own servers.
    HomeRoute => home::Home;
    /// `/servers`: the fleet list.
    ServersRoute => servers::ServersPage;
    /// `/servers/{id}`: one server.
    ServerRoute => server::ServerPage;
    /// `/users`: accounts.
    UsersRoute => users::UsersPage;
    /// `/subscriptions`: tenants' subscriptions.
    SubscriptionsRoute => subscriptions::SubscriptionsPage;
    /// `/images`: the image catalog.
    ImagesRoute => images::ImagesPage;
    /// `/deployments`: allocations.
    DeploymentsRoute => deployments::DeploymentsPage;
    /// `/firmware`: firmware drift per server type.
    FirmwareRoute => firmware::FirmwarePage;
    /// `/webhooks`: webhooks and their delivery logs.
    WebhooksRoute => webhooks::WebhooksPage;
}

/// A server for the rendered pages' tests: r1-u07, available, generation 3.
#[cfg(all(test, feature = "ssr"))]
pub(crate) fn sample_server() -> crate::model::Server {
    use crate::domain::power::{Health, PowerState};
    crate::model::Server {
        id: 7,
        name: "r1-u07".into(),
        state: crate::domain::ServerState::Available,
        server_type: None,
        serial_number: Some("S7".into()),
        bmc_address: "10.0.0.7".into(),
        bmc_verify_tls: true,
        datacenter: "dc1".into(),
        rack: "r1".into(),
        power_state: PowerState::On,
        health: Health::Ok,
        last_error: None,
        bmc_warning: None,
        reserved_for: None,
        subscription_id: None,
        deployment_id: None,
        hardware_changes: Vec::new(),
        generation: 3,
        created_at: 0,
        updated_at: 0,
    }
}
