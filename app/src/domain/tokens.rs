//! API token lifetimes: every token expires; how long it may live is decided here.

/// Days a token lives when its creator does not say.
pub const DEFAULT_DAYS: i64 = 90;
/// The longest lifetime a creator may ask for.
pub const MAX_DAYS: i64 = 365;

const DAY_MS: i64 = 86_400_000;

/// The lifetime asked for (`expires_in_days`), checked: 1 to 365 days, 90 by default.
pub fn lifetime_days(requested: Option<i64>) -> Result<i64, String> {
    match requested {
        None => Ok(DEFAULT_DAYS),
        Some(d) if (1..=MAX_DAYS).contains(&d) => Ok(d),
        Some(d) => Err(format!("{d} is not a number of days from 1 to {MAX_DAYS}")),
    }
}

/// When a token created at `created_ms` (unix ms) for `days` expires.
pub fn expires_at(created_ms: i64, days: i64) -> i64 {
    created_ms.saturating_add(days.saturating_mul(DAY_MS))
}

/// Whether a token expiring at `expires_ms` is expired at `now_ms`.
pub fn expired(expires_ms: i64, now_ms: i64) -> bool {
    expires_ms <= now_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token without an asked lifetime lives 90 days; 0, negative or over a year is refused.
    #[test]
    fn lifetimes() {
        assert_eq!(lifetime_days(None), Ok(90));
        assert_eq!(lifetime_days(Some(7)), Ok(7));
        assert_eq!(lifetime_days(Some(365)), Ok(365));
        for bad in [0, -1, 366, i64::MAX] {
            assert!(lifetime_days(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(expires_at(0, 1), 86_400_000);
        assert!(expired(10, 10) && !expired(11, 10));
    }
}
