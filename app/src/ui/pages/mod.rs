//! One page per file.

mod deployments;
mod home;
mod images;
mod login;
mod not_found;
mod server;
mod server_deploy;
mod server_erase;
mod server_power;
mod servers;
mod subscriptions;
mod users;

pub use deployments::DeploymentsPage;
pub use home::Home;
pub use images::ImagesPage;
pub use login::LoginPage;
pub use not_found::NotFound;
pub use server::ServerPage;
pub use servers::ServersPage;
pub use subscriptions::SubscriptionsPage;
pub use users::UsersPage;
