//! The time: one clock for all of nfknock, with the hook the tests use.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Tells nfknock which time it is (seconds since the epoch); only tests
/// set it, to fix a rotating door's period.
pub const FAKE_TIME_ENV: &str = "NFKNOCK_FAKE_TIME";

/// Now, or `NFKNOCK_FAKE_TIME` when set.
pub fn system_time() -> SystemTime {
    match std::env::var(FAKE_TIME_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(t) => UNIX_EPOCH + Duration::from_secs(t),
        None => SystemTime::now(),
    }
}

/// Seconds since the epoch (see [`system_time`]).
pub fn now() -> u64 {
    system_time()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// [`system_time`] as RFC 3339, to the second, UTC.
pub fn rfc3339() -> String {
    humantime::format_rfc3339_seconds(system_time()).to_string()
}
