//! Secrets at rest: BMC passwords are sealed with XChaCha20-Poly1305 under a 256-bit
//! key from `RACKSTATE_SECRET_KEY` (64 hex digits) or a key file created on first
//! start (mode 0600). The sealed form is `version || nonce || ciphertext`; version 2
//! binds the secret to what it was entered for (a BMC's normalised address and TLS
//! setting) as associated data, so it opens for that BMC only.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use std::fmt;

const VERSION: u8 = 1;
/// Sealed with a binding (associated data): opens only with the same binding.
const VERSION_BOUND: u8 = 2;
const NONCE_LEN: usize = 24;

/// A plaintext secret: never `Serialize`, and `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        SecretString(s.into())
    }
    /// The secret itself; call sites are where it deliberately leaves this type.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("the secret key must be 64 hex digits (32 bytes)")]
    BadKey,
    #[error("a stored secret cannot be opened with this key (was RACKSTATE_SECRET_KEY changed?)")]
    CannotOpen,
    #[error("reading or creating the key file {path}: {message}")]
    KeyFile { path: String, message: String },
}

/// Seals and opens secrets with the installation's key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(<key redacted>)")
    }
}

impl SecretBox {
    pub fn from_hex(hex: &str) -> Result<Self, SecretError> {
        let hex = hex.trim();
        if hex.len() != 64 {
            return Err(SecretError::BadKey);
        }
        let mut key = [0u8; 32];
        for (i, b) in key.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).map_err(|_| SecretError::BadKey)?;
        }
        Ok(Self { cipher: XChaCha20Poly1305::new(Key::from_slice(&key)) })
    }

    /// The key from `env_key` when given, else from `<data_dir>/secret.key`, which
    /// is created (mode 0600) with a random key when absent.
    pub fn load(env_key: Option<&str>, data_dir: &std::path::Path) -> Result<Self, SecretError> {
        if let Some(k) = env_key {
            return Self::from_hex(k);
        }
        let path = data_dir.join("secret.key");
        let file_err =
            |e: std::io::Error| SecretError::KeyFile { path: path.display().to_string(), message: e.to_string() };
        match std::fs::read_to_string(&path) {
            Ok(hex) => Self::from_hex(&hex),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                let hex = hex(&key);
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                use std::io::Write;
                opts.open(&path).and_then(|mut f| f.write_all(format!("{hex}\n").as_bytes())).map_err(file_err)?;
                Self::from_hex(&hex)
            }
            Err(e) => Err(file_err(e)),
        }
    }

    pub fn seal(&self, secret: &SecretString) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct =
            self.cipher.encrypt(&nonce, secret.expose().as_bytes()).expect("encryption of bytes in memory cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Seals `secret` for `binding` (e.g. the BMC it was entered for): [`open_for`]
    /// with another binding cannot open it.
    ///
    /// [`open_for`]: SecretBox::open_for
    pub fn seal_for(&self, secret: &SecretString, binding: &str) -> Vec<u8> {
        use chacha20poly1305::aead::Payload;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload { msg: secret.expose().as_bytes(), aad: binding.as_bytes() };
        let ct = self.cipher.encrypt(&nonce, payload).expect("encryption of bytes in memory cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION_BOUND);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens a secret sealed for `binding`; one sealed before bindings existed
    /// (version 1) opens as it always did.
    pub fn open_for(&self, sealed: &[u8], binding: &str) -> Result<SecretString, SecretError> {
        use chacha20poly1305::aead::Payload;
        if sealed.first() != Some(&VERSION_BOUND) {
            return self.open(sealed);
        }
        if sealed.len() < 1 + NONCE_LEN {
            return Err(SecretError::CannotOpen);
        }
        let nonce = XNonce::from_slice(&sealed[1..1 + NONCE_LEN]);
        let payload = Payload { msg: &sealed[1 + NONCE_LEN..], aad: binding.as_bytes() };
        let plain = self.cipher.decrypt(nonce, payload).map_err(|_| SecretError::CannotOpen)?;
        String::from_utf8(plain).map(SecretString).map_err(|_| SecretError::CannotOpen)
    }

    pub fn open(&self, sealed: &[u8]) -> Result<SecretString, SecretError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(SecretError::CannotOpen);
        }
        let nonce = XNonce::from_slice(&sealed[1..1 + NONCE_LEN]);
        let plain = self.cipher.decrypt(nonce, &sealed[1 + NONCE_LEN..]).map_err(|_| SecretError::CannotOpen)?;
        String::from_utf8(plain).map(SecretString).map_err(|_| SecretError::CannotOpen)
    }
}

/// A fresh random bearer token: 32 bytes from the OS, as 64 hex digits.
/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use chacha20poly1305::aead::rand_core::RngCore;
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

pub fn random_token() -> String {
    use chacha20poly1305::aead::rand_core::RngCore;
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

/// How tokens are stored: BLAKE2b-256 of the token, hex. Tokens are 256 random bits,
/// so a fast hash is enough (nothing to brute-force, unlike passwords).
pub fn token_hash(token: &str) -> String {
    use blake2::Digest;
    let digest = blake2::Blake2b::<blake2::digest::consts::U32>::digest(token.as_bytes());
    hex(&digest)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens are 64 hex digits and differ each time; their hash is stable.
    #[test]
    fn tokens() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(token_hash(&a).len(), 64);
    }

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    /// Sealed secrets open with the same key, never with another, and do not
    /// contain the plaintext.
    #[test]
    fn seal_and_open() {
        let b = SecretBox::from_hex(KEY).unwrap();
        let sealed = b.seal(&SecretString::new("calvin"));
        assert!(!sealed.windows(6).any(|w| w == b"calvin"));
        assert_eq!(b.open(&sealed).unwrap().expose(), "calvin");
        let other = SecretBox::from_hex(&KEY.replace("00", "ff")).unwrap();
        assert_eq!(other.open(&sealed), Err(SecretError::CannotOpen));
        assert_eq!(b.open(&sealed[..10]), Err(SecretError::CannotOpen));
    }

    /// A BMC password sealed for one address does not open for another: a changed
    /// address can never carry the stored secret along.
    #[test]
    fn bound_secrets_open_only_for_their_binding() {
        let b = SecretBox::from_hex(KEY).unwrap();
        let sealed = b.seal_for(&SecretString::new("calvin"), "https://10.0.0.5:443|tls=1");
        assert_eq!(b.open_for(&sealed, "https://10.0.0.5:443|tls=1").unwrap().expose(), "calvin");
        assert_eq!(b.open_for(&sealed, "https://10.6.6.6:443|tls=1"), Err(SecretError::CannotOpen));
        assert_eq!(b.open_for(&sealed, "https://10.0.0.5:443|tls=0"), Err(SecretError::CannotOpen));
        let legacy = b.seal(&SecretString::new("old"));
        assert_eq!(b.open_for(&legacy, "anything").unwrap().expose(), "old");
    }

    /// Bad keys are refused; secrets never show in Debug.
    #[test]
    fn bad_keys_and_redaction() {
        assert_eq!(SecretBox::from_hex("abc").unwrap_err(), SecretError::BadKey);
        assert_eq!(SecretBox::from_hex(&"zz".repeat(32)).unwrap_err(), SecretError::BadKey);
        assert!(!format!("{:?}", SecretString::new("calvin")).contains("calvin"));
    }

    /// Without a key variable, a key file is created once (0600) and reused.
    #[test]
    fn key_file() {
        let dir = std::env::temp_dir().join(format!("rackstate-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = SecretBox::load(None, &dir).unwrap();
        let sealed = a.seal(&SecretString::new("x"));
        let b = SecretBox::load(None, &dir).unwrap();
        assert_eq!(b.open(&sealed).unwrap().expose(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("secret.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
