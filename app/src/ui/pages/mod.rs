//! One page per file.

mod home;
mod login;
mod not_found;
mod server;
mod servers;
mod users;

pub use home::Home;
pub use login::LoginPage;
pub use not_found::NotFound;
pub use server::ServerPage;
pub use servers::ServersPage;
pub use users::UsersPage;
