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
///
/// Never panics: an instant whose UTC form falls outside years 0000–9999 (which
/// [`parse_rfc3339`] refuses, so only a programming error can produce one) is written with its
/// own offset instead.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let Some(t) = t.checked_to_offset(time::UtcOffset::UTC) else {
        return t
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| format!("{t}"));
    };
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

/// A timestamp that is not RFC 3339, or names an instant outside years 0000–9999 in UTC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not an RFC 3339 time within years 0000-9999 UTC: {reason}")]
pub struct TimeError {
    /// The rejected text.
    pub input: String,
    /// Why.
    pub reason: String,
}

/// Parses an RFC 3339 timestamp (any offset) into an instant whose UTC form lies within years
/// 0000–9999, so that it can always be written back as RFC 3339 UTC.
pub fn parse_rfc3339(s: &str) -> Result<OffsetDateTime, TimeError> {
    let err = |reason: String| TimeError {
        input: s.chars().take(64).collect(),
        reason,
    };
    let t = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| err(e.to_string()))?;
    match t.checked_to_offset(time::UtcOffset::UTC) {
        Some(utc) if (0..=9999).contains(&utc.year()) => Ok(t),
        _ => Err(err("out of range in UTC".to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_in_utc() {
        let t = parse_rfc3339("2026-11-27T11:49:24+01:00").unwrap();
        assert_eq!(rfc3339(t), "2026-11-27T10:49:24Z");
    }

    #[test]
    fn instants_beyond_year_9999_in_utc_are_refused_not_a_panic() {
        // 9999-12-31T23:59:59-01:00 is year 10000 in UTC.
        assert!(parse_rfc3339("9999-12-31T23:59:59-01:00").is_err());
        assert!(parse_rfc3339("0000-01-01T00:00:00+01:00").is_err());
        assert!(parse_rfc3339("9999-12-31T23:59:59Z").is_ok());
        let edge = OffsetDateTime::parse(
            "9999-12-31T23:59:59-01:00",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert_eq!(rfc3339(edge), "9999-12-31T23:59:59-01:00");
    }
}

/// A monotonic stopwatch for measuring durations (metrics, benchmarks); never used for anything
/// that is compared against a time in a record.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    /// Starts measuring now.
    pub fn start() -> Stopwatch {
        Stopwatch(std::time::Instant::now())
    }

    /// Time since [`Stopwatch::start`].
    pub fn elapsed(&self) -> std::time::Duration {
        self.0.elapsed()
    }
}
