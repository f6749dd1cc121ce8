//! Trust on first use for BMCs with self-signed certificates: the certificate seen at
//! the first successful connection is pinned; a different one later stops the jobs
//! of that server until an admin accepts it. Fingerprints are SHA-256 of the
//! certificate (DER), lower-case hex.

/// What a certificate seen at a BMC means for its server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinVerdict {
    /// Nothing pinned yet: pin this one.
    Pin,
    /// The pinned certificate: go on.
    Match,
    /// Another certificate than the pinned one: stop.
    Changed,
}

pub fn judge(pinned: Option<&str>, seen: &str) -> PinVerdict {
    match pinned {
        None => PinVerdict::Pin,
        Some(p) if p.eq_ignore_ascii_case(seen) => PinVerdict::Match,
        Some(_) => PinVerdict::Changed,
    }
}

/// A fingerprint as people compare them: colon-separated upper-case byte pairs.
pub fn display(fingerprint: &str) -> String {
    let upper = fingerprint.to_ascii_uppercase();
    let pairs: Vec<&str> = upper.as_bytes().chunks(2).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    pairs.join(":")
}

/// Whether `s` is a SHA-256 fingerprint (64 hex digits; colons allowed).
pub fn normalise(s: &str) -> Option<String> {
    let hex: String = s.trim().chars().filter(|c| *c != ':').collect::<String>().to_ascii_lowercase();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// First sight pins, the same certificate passes, another one stops.
    #[test]
    fn first_use_then_match_or_changed() {
        let a = "ab".repeat(32);
        assert_eq!(judge(None, &a), PinVerdict::Pin);
        assert_eq!(judge(Some(&a), &a.to_uppercase()), PinVerdict::Match);
        assert_eq!(judge(Some(&a), &"cd".repeat(32)), PinVerdict::Changed);
        assert!(display(&a).starts_with("AB:AB:"));
        assert_eq!(normalise(&display(&a)), Some(a));
        assert_eq!(normalise("abc"), None);
    }
}
