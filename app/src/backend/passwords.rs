//! Password hashes (argon2id), below the services so the store can carry them.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};

/// An argon2id PHC string. Deliberately neither `Serialize` nor `Display`, and its
/// `Debug` is redacted, so it cannot reach a browser or a log by accident.
#[derive(Clone)]
pub struct PasswordHash(String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

impl PasswordHash {
    pub(crate) fn from_stored(s: String) -> Self {
        PasswordHash(s)
    }
    pub(crate) fn stored(&self) -> &str {
        &self.0
    }

    /// Hashes on a blocking thread: argon2 takes tens of milliseconds of CPU. Err says
    /// why (for the `password` field).
    pub async fn new(password: &str) -> Result<Self, String> {
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| PasswordHash(h.to_string()))
                .map_err(|e| format!("cannot be hashed: {e}"))
        })
        .await
        .map_err(|_| "hashing was interrupted".to_string())?
    }

    /// Verifies on a blocking thread. A malformed stored hash verifies nothing.
    pub async fn verify(&self, password: &str) -> bool {
        let (hash, password) = (self.0.clone(), password.to_owned());
        tokio::task::spawn_blocking(move || {
            argon2::password_hash::PasswordHash::new(&hash)
                .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }
}
