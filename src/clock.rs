//! Time as an injected side effect.
//!
//! Everything that compares against "now" (approval expiry, key validity windows, record
//! timestamps) asks a [`Clock`]. Production code uses [`SystemClock`]; tests and replays use
//! [`FixedClock`] so that a decision can be reproduced exactly.

use time::OffsetDateTime;

/// A source of the current time, in UTC.
pub trait Clock: Send + Sync {
    /// The current instant, UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock of the machine.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that always answers the same instant (tests, replay, the demo).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub OffsetDateTime);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

/// Formats an instant as RFC 3339 in UTC with second precision (`2026-11-27T10:49:24Z`),
/// the one timestamp form used in records and outputs.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses an RFC 3339 timestamp (any offset) into an instant.
pub fn parse_rfc3339(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_in_utc() {
        let t = parse_rfc3339("2026-11-27T11:49:24+01:00").unwrap();
        assert_eq!(rfc3339(t), "2026-11-27T10:49:24Z");
    }
}
