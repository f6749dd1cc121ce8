//! Accounts: password hashing, login with throttling, users and their sessions.

use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::store::{self, events::NewEvent, now_ms};
use crate::domain::EventKind;
use crate::domain::roles::check_password;
use crate::domain::{Role, Username};
use crate::model::UserView;
use argon2::password_hash::rand_core::OsRng;
use std::sync::OnceLock;

/// Failed logins allowed per client address within the window; past it the client is
/// refused. Past it for a username, attempts on that account are slowed down (from any
/// client), never refused: a stranger cannot lock someone out.
pub const MAX_FAILURES: i64 = 5;
/// The longest slow-down of an attempt on an account under attack.
pub const MAX_ACCOUNT_DELAY: std::time::Duration = std::time::Duration::from_secs(8);
/// The throttling window.
pub const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;

pub use crate::backend::passwords::PasswordHash;

/// A hash to verify against when the user does not exist, so unknown users cost
/// the same time as wrong passwords.
async fn dummy_hash() -> PasswordHash {
    static DUMMY: OnceLock<PasswordHash> = OnceLock::new();
    if let Some(h) = DUMMY.get() {
        return h.clone();
    }
    let h = PasswordHash::new("rackstate-dummy-password-for-timing").await.expect("hashing a constant");
    DUMMY.get_or_init(|| h).clone()
}

/// Why a login failed. Unknown user, wrong password and disabled account share one
/// message on purpose.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong username or password")]
    BadCredentials,
    #[error("too many failed logins; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: i64 },
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// A random password of 20 characters from an unambiguous alphabet.
pub fn random_password() -> String {
    use argon2::password_hash::rand_core::RngCore;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

impl Backend {
    /// Checks a login. Each attempt is counted before the password is checked (so
    /// concurrent attempts cannot test more passwords than the limit); a client past
    /// the limit is refused; an account past it is slowed down (growing delay), not
    /// locked, so the right password from a client that has not failed still works.
    pub async fn authenticate(&self, username: &str, password: &str, client: &str) -> Result<UserView, LoginError> {
        let now = now_ms();
        let since = now - FAILURE_WINDOW_MS;
        let name = username.trim().to_ascii_lowercase();
        let (client_key, user_key) = (format!("ip:{client}"), format!("user:{name}"));
        // The attempt is counted and the counts read in one write on the writer
        // connection (a write from a reading one would fight it for SQLite's lock);
        // the password is checked outside it.
        let (ck, uk) = (client_key.clone(), user_key.clone());
        let (reserved, (n_client, oldest), (n_user, _)) = self
            .db
            .write_one(move |c| {
                Box::pin(async move {
                    let reserved = [
                        store::login_failures::reserve(c, &ck, now).await?,
                        store::login_failures::reserve(c, &uk, now).await?,
                    ];
                    let client = store::login_failures::recent(c, &ck, since).await?;
                    let user = store::login_failures::recent(c, &uk, since).await?;
                    Ok((reserved, client, user))
                })
            })
            .await
            .map_err(ServiceError::from)?;
        let release = |reserved: [i64; 2]| {
            self.db.write_one(move |c| Box::pin(async move { store::login_failures::release(c, &reserved).await }))
        };
        if n_client > MAX_FAILURES {
            // Refused unchecked: not a failure of its own (the lockout does not grow).
            release(reserved).await.map_err(ServiceError::from)?;
            let until = oldest.unwrap_or(now) + FAILURE_WINDOW_MS;
            return Err(LoginError::Throttled { retry_after_secs: ((until - now) / 1000).max(1) });
        }
        if let Some(excess) = n_user.checked_sub(MAX_FAILURES + 1).filter(|e| *e >= 0) {
            let delay = std::time::Duration::from_millis(250u64 << excess.min(10) as u64).min(MAX_ACCOUNT_DELAY);
            tokio::time::sleep(delay).await;
        }
        let mut conn = self.db.conn().await.map_err(ServiceError::from)?;
        let user = store::users::by_username(&mut conn, &name).await.map_err(ServiceError::from)?;
        drop(conn);
        let ok = match &user {
            Some(u) => u.password_hash.verify(password).await && !u.view.disabled,
            None => {
                dummy_hash().await.verify(password).await;
                false
            }
        };
        match user {
            Some(u) if ok => {
                release(reserved).await.map_err(ServiceError::from)?;
                Ok(u.view)
            }
            _ => {
                self.db
                    .write_one(move |c| Box::pin(store::login_failures::prune(c, since)))
                    .await
                    .map_err(ServiceError::from)?;
                Err(LoginError::BadCredentials)
            }
        }
    }

    /// An enabled user by id (sessions hold the id).
    pub async fn active_user(&self, id: i64) -> Result<Option<UserView>, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::users::by_id(&mut conn, id).await?.map(|u| u.view).filter(|u| !u.disabled))
    }

    pub async fn list_users(&self) -> Result<Vec<UserView>, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::users::list(&mut conn).await?)
    }

    pub async fn user_count(&self) -> Result<i64, ServiceError> {
        let mut conn = self.db.conn().await?;
        Ok(store::users::count(&mut conn).await?)
    }

    pub async fn create_user(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<UserView, ServiceError> {
        let username = Username::parse(username).map_err(|m| ServiceError::invalid("username", m))?;
        check_password(password).map_err(|m| ServiceError::invalid("password", m))?;
        let hash = PasswordHash::new(password).await.map_err(|m| ServiceError::invalid("password", m))?;
        let now = now_ms();
        let actor = actor.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let Some(id) = store::users::insert(tx, username.as_str(), &hash, role, now).await? else {
                    return Err(ServiceError::invalid("username", format!("{username} exists already")));
                };
                let what = format!("{username} ({role})");
                audit_user(tx, &actor, EventKind::UserCreated, None, Some(&what), now).await?;
                Ok(UserView { id, username: username.as_str().into(), role, disabled: false })
            })
        })
        .await
    }

    /// Sets a password, ends the user's other sessions (all but `keep_session`) and
    /// revokes their API tokens: a password changed because it leaked must not leave
    /// a token made with it working.
    pub async fn set_password(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
        keep_session: Option<&str>,
    ) -> Result<(), ServiceError> {
        check_password(password).map_err(|m| ServiceError::invalid("password", m))?;
        let hash = PasswordHash::new(password).await.map_err(|m| ServiceError::invalid("password", m))?;
        let now = now_ms();
        let (actor, username, keep_session) = (actor.clone(), username.to_string(), keep_session.map(str::to_string));
        self.write(move |tx| {
            Box::pin(async move {
                let user = find_user(tx, &username).await?;
                store::users::set_password(tx, user.id, &hash, now).await?;
                store::sessions::delete_for_user(tx, user.id, keep_session.as_deref()).await?;
                let tokens = store::api_tokens::delete_for_user(tx, user.id).await?;
                audit_user(tx, &actor, EventKind::PasswordChanged, None, Some(&user.username), now).await?;
                if tokens > 0 {
                    let what = format!("{}: {tokens} token(s), at the password change", user.username);
                    audit_user(tx, &actor, EventKind::ApiTokensRevoked, None, Some(&what), now).await?;
                }
                Ok(())
            })
        })
        .await
    }

    pub async fn set_role(&self, actor: &Actor, username: &str, role: Role) -> Result<UserView, ServiceError> {
        let now = now_ms();
        let (actor, username) = (actor.clone(), username.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                let user = find_user(tx, &username).await?;
                if user.role == Role::Admin
                    && role != Role::Admin
                    && store::users::other_active_admins(tx, user.id).await? == 0
                {
                    return Err(ServiceError::invalid("role", "the last active admin cannot lose the admin role"));
                }
                store::users::set_role(tx, user.id, role, now).await?;
                let what = format!("{} ({role})", user.username);
                audit_user(tx, &actor, EventKind::RoleChanged, Some(user.role.as_str()), Some(&what), now).await?;
                Ok(UserView { role, ..user })
            })
        })
        .await
    }

    /// Disables (ending all sessions and revoking every API token) or re-enables a
    /// user (revoked tokens stay revoked).
    pub async fn set_disabled(&self, actor: &Actor, username: &str, disabled: bool) -> Result<UserView, ServiceError> {
        let now = now_ms();
        let (actor, username) = (actor.clone(), username.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                let user = find_user(tx, &username).await?;
                if disabled && user.role == Role::Admin && store::users::other_active_admins(tx, user.id).await? == 0 {
                    return Err(ServiceError::invalid("username", "the last active admin cannot be disabled"));
                }
                store::users::set_disabled(tx, user.id, disabled, now).await?;
                let mut tokens = 0;
                if disabled {
                    store::sessions::delete_for_user(tx, user.id, None).await?;
                    tokens = store::api_tokens::delete_for_user(tx, user.id).await?;
                }
                let kind = if disabled { EventKind::UserDisabled } else { EventKind::UserEnabled };
                audit_user(tx, &actor, kind, None, Some(&user.username), now).await?;
                if tokens > 0 {
                    let what = format!("{}: {tokens} token(s), at disabling", user.username);
                    audit_user(tx, &actor, EventKind::ApiTokensRevoked, None, Some(&what), now).await?;
                }
                Ok(UserView { disabled, ..user })
            })
        })
        .await
    }

    /// On a start with no users: creates `admin` with `password`, or with a random
    /// password written once to `<data_dir>/initial-admin-password` (mode 0600).
    /// Returns where the password went, when one was generated.
    pub async fn bootstrap_admin(
        &self,
        data_dir: &std::path::Path,
        password: Option<&str>,
    ) -> Result<Option<std::path::PathBuf>, ServiceError> {
        if self.user_count().await? > 0 {
            return Ok(None);
        }
        let system = Actor::system("first start");
        if let Some(p) = password {
            self.create_user(&system, "admin", p, Role::Admin).await?;
            return Ok(None);
        }
        let generated = random_password();
        let path = data_dir.join("initial-admin-password");
        write_secret_file(&path, &format!("{generated}\n"))
            .map_err(|e| ServiceError::invalid("data_dir", format!("cannot write {}: {e}", path.display())))?;
        self.create_user(&system, "admin", &generated, Role::Admin).await?;
        Ok(Some(path))
    }
}

fn write_secret_file(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())
}

async fn find_user(conn: &mut sqlx::AnyConnection, username: &str) -> Result<UserView, ServiceError> {
    let name = username.trim().to_ascii_lowercase();
    store::users::by_username(conn, &name)
        .await?
        .map(|u| u.view)
        .ok_or_else(|| ServiceError::NotFound { what: format!("user {name}") })
}

pub(super) async fn audit_user(
    conn: &mut sqlx::AnyConnection,
    actor: &Actor,
    kind: EventKind,
    from: Option<&str>,
    to: Option<&str>,
    now: i64,
) -> Result<(), ServiceError> {
    let e = NewEvent {
        server_id: None,
        actor: &actor.audit_name(),
        kind,
        from_value: from,
        to_value: to,
        reason: None,
        details: None,
    };
    store::events::append(conn, &e, now).await?;
    Ok(())
}
