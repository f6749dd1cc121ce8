//! How a delivery is signed, and how a receiver checks it: `Rackstate-Signature:
//! t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the webhook's secret>`.
//! The timestamp is inside the signed text, so a receiver that refuses old `t` (and
//! delivery ids it has seen, `Rackstate-Delivery`) refuses replays.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const HEADER: &str = "Rackstate-Signature";

/// How far a receiver should let `t` be from its clock.
pub const TOLERANCE_SECONDS: i64 = 300;

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// The header value for `body` sent at unix time `t`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex(&mac(secret, t, body).finalize().into_bytes()))
}

/// Why a receiver refused a delivery.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no or malformed {HEADER} header")]
    Malformed,
    #[error("the signature is {0} s away from now (a replay, or a clock off)")]
    Stale(i64),
    #[error("the signature does not match the body")]
    Mismatch,
}

/// A receiver's check: the header parses, `t` is within `tolerance` seconds of `now`,
/// and one of its `v1` signatures matches (compared in constant time).
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance: i64) -> Result<(), Refused> {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',').map(str::trim) {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(unhex(v)),
            _ => {}
        }
    }
    let t = t.ok_or(Refused::Malformed)?;
    if signatures.is_empty() {
        return Err(Refused::Malformed);
    }
    if (now - t).abs() > tolerance {
        return Err(Refused::Stale(now - t));
    }
    let expected = mac(secret, t, body);
    if signatures.iter().any(|s| expected.clone().verify_slice(s).is_ok()) { Ok(()) } else { Err(Refused::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receiver accepts what was signed with its secret, now; not another body,
    /// another secret, or the same request replayed ten minutes later.
    #[test]
    fn signed_and_checked() {
        let body = br#"{"event":{"id":7}}"#;
        let header = sign("s3cret-s3cret-s3cret", 1_000_000, body);
        assert!(header.starts_with("t=1000000,v1="));
        assert_eq!(verify("s3cret-s3cret-s3cret", &header, body, 1_000_010, TOLERANCE_SECONDS), Ok(()));
        assert_eq!(
            verify("s3cret-s3cret-s3cret", &header, br#"{"event":{"id":8}}"#, 1_000_010, 300),
            Err(Refused::Mismatch)
        );
        assert_eq!(verify("another-secret-xx", &header, body, 1_000_010, 300), Err(Refused::Mismatch));
        assert_eq!(verify("s3cret-s3cret-s3cret", &header, body, 1_000_600, 300), Err(Refused::Stale(600)));
        assert_eq!(verify("s3cret-s3cret-s3cret", "v1=00", body, 1_000_000, 300), Err(Refused::Malformed));
    }
}
