//! Standard five-field cron expressions, evaluated in UTC: [`Cron`] parses one and answers
//! [`Cron::next_after`]; [`CronError`] says which field is wrong and why.
//!
//! Syntax (as in Vixie cron / POSIX `crontab`):
//!
//! ```text
//! ┌ minute 0-59
//! │ ┌ hour 0-23
//! │ │ ┌ day of month 1-31
//! │ │ │ ┌ month 1-12 or JAN-DEC
//! │ │ │ │ ┌ day of week 0-7 or SUN-SAT (0 and 7 are Sunday)
//! 0 6 * * MON
//! ```
//!
//! Each field is a comma-separated list of `*`, `N`, `N-M`, each optionally followed by `/STEP`
//! (`*/15`, `0-30/10`; `N/STEP` means `N-max/STEP`). Names are case-insensitive. The macros
//! `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` stand for
//! their usual expansions. As in Vixie cron, when both day of month and day of week are
//! restricted (neither field starts with `*`) a day matches if *either* does; otherwise both must.
//!
//! Seconds, `L`, `W`, `#` and `?` are not part of the standard syntax and are refused. An
//! expression that can never fire (`0 0 30 2 *`) is refused when parsed, so [`Cron::next_after`]
//! always finds a time (except past year 9999).

use std::fmt;
use std::str::FromStr;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Why a cron expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// Not five fields.
    #[error("`{expression}` has {found} fields; a cron schedule has 5: minute hour day-of-month month day-of-week")]
    FieldCount {
        /// The expression.
        expression: String,
        /// How many fields it has.
        found: usize,
    },
    /// One field does not parse.
    #[error("`{expression}`: {field} `{text}`: {problem}")]
    Field {
        /// The expression.
        expression: String,
        /// Which field (`minute`, `hour`, `day-of-month`, `month`, `day-of-week`).
        field: &'static str,
        /// The field's text.
        text: String,
        /// What is wrong.
        problem: String,
    },
    /// An `@` macro that does not exist.
    #[error("`{0}` is not a cron macro (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)")]
    UnknownMacro(String),
    /// A well-formed expression that names no existing day (`0 0 31 2 *`).
    #[error("`{0}` never fires: no month in it has that day")]
    Never(String),
}

/// One field's bounds and names (`names[i]` stands for `first_named + i`).
struct FieldSpec {
    name: &'static str,
    min: u8,
    max: u8,
    names: &'static [&'static str],
    first_named: u8,
}

const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    first_named: 0,
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    first_named: 0,
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    first_named: 0,
};
/// Month names; index + 1 is the month number.
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    first_named: 1,
};
/// Day names; the index is the day number (7 is Sunday again).
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    first_named: 0,
};

/// A parsed cron schedule: the set of matching values of each field as a bit set (bit `n` set
/// when `n` matches), and the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    /// Bits 0-6, Sunday = 0 (a 7 in the text sets bit 0).
    days_of_week: u64,
    /// Neither day field starts with `*`: a day matches if either field does.
    either_day: bool,
}

impl Cron {
    /// Parses a five-field expression or an `@` macro.
    pub fn parse(expression: &str) -> Result<Cron, CronError> {
        let text = expression.trim();
        let expanded = match text.strip_prefix('@') {
            Some(name) => match name.to_ascii_lowercase().as_str() {
                "yearly" | "annually" => "0 0 1 1 *",
                "monthly" => "0 0 1 * *",
                "weekly" => "0 0 * * 0",
                "daily" | "midnight" => "0 0 * * *",
                "hourly" => "0 * * * *",
                _ => return Err(CronError::UnknownMacro(text.to_owned())),
            },
            None => text,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(CronError::FieldCount {
                expression: text.to_owned(),
                found: fields.len(),
            });
        };
        let field = |spec: &FieldSpec, s: &str| {
            parse_field(spec, s).map_err(|problem| CronError::Field {
                expression: text.to_owned(),
                field: spec.name,
                text: s.to_owned(),
                problem,
            })
        };
        let mut days_of_week = field(&DAY_OF_WEEK, dow)?;
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week & !(1 << 7)) | 1;
        }
        let cron = Cron {
            text: text.to_owned(),
            minutes: field(&MINUTE, minute)?,
            hours: field(&HOUR, hour)?,
            days_of_month: field(&DAY_OF_MONTH, dom)?,
            months: field(&MONTH, month)?,
            days_of_week,
            either_day: !dom.starts_with('*') && !dow.starts_with('*'),
        };
        if !cron.can_fire() {
            return Err(CronError::Never(text.to_owned()));
        }
        Ok(cron)
    }

    /// Whether some day of some year matches. With "either" semantics every day of week in the
    /// set occurs in every month. Otherwise a day must match both fields, and it is enough that
    /// some month in the set has one of the days of month: over the years every date, 29
    /// February included, falls on every day of the week.
    fn can_fire(&self) -> bool {
        if self.either_day {
            return true;
        }
        (1..=12u8).any(|m| {
            let longest = match m {
                2 => 29,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            self.months & (1 << m) != 0 && (self.days_of_month & ((1u64 << (longest + 1)) - 2)) != 0
        })
    }

    /// The first time strictly after `t` (to the minute, seconds zero, UTC) that the schedule
    /// matches; `None` only if that would be after year 9999.
    pub fn next_after(&self, t: OffsetDateTime) -> Option<OffsetDateTime> {
        let t = t.checked_to_offset(UtcOffset::UTC)?;
        let mut date = t.date();
        let mut hour = t.hour();
        let mut minute = t.minute() + 1;
        // A schedule that can fire does so within 40 years: the rarest is 29 February on one
        // day of the week (every 28 years, or 40 across a century that is not a leap year).
        let give_up = date.year().saturating_add(41);
        loop {
            if date.year() > give_up {
                return None;
            }
            if minute > 59 {
                minute = 0;
                hour += 1;
            }
            if hour > 23 {
                (hour, minute) = (0, 0);
                date = date.next_day()?;
            }
            if self.months & (1 << u8::from(date.month())) == 0 {
                (hour, minute) = (0, 0);
                date = first_of_next_month(date)?;
                continue;
            }
            if !self.day_matches(date) {
                (hour, minute) = (0, 0);
                date = date.next_day()?;
                continue;
            }
            let Some(h) = next_set(self.hours, hour) else {
                hour = 24;
                continue;
            };
            if h != hour {
                (hour, minute) = (h, 0);
            }
            let Some(m) = next_set(self.minutes, minute) else {
                minute = 60;
                continue;
            };
            let time = Time::from_hms(hour, m, 0).ok()?;
            return Some(PrimitiveDateTime::new(date, time).assume_utc());
        }
    }

    fn day_matches(&self, date: Date) -> bool {
        let dom = self.days_of_month & (1 << date.day()) != 0;
        let dow = self.days_of_week & (1 << date.weekday().number_days_from_sunday()) != 0;
        if self.either_day {
            dom || dow
        } else {
            dom && dow
        }
    }

    /// The expression as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Cron {
    type Err = CronError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cron::parse(s)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The smallest set bit of `set` at `from` or above (below 64).
fn next_set(set: u64, from: u8) -> Option<u8> {
    if from > 63 {
        return None;
    }
    let above = set & (u64::MAX << from);
    (above != 0).then(|| above.trailing_zeros() as u8)
}

fn first_of_next_month(date: Date) -> Option<Date> {
    let (year, month) = match date.month() {
        Month::December => (date.year().checked_add(1)?, Month::January),
        m => (date.year(), m.next()),
    };
    Date::from_calendar_date(year, month, 1).ok()
}

/// The bit set of one field.
fn parse_field(spec: &FieldSpec, text: &str) -> Result<u64, String> {
    if text.is_empty() {
        return Err("is empty".to_owned());
    }
    let mut set = 0u64;
    for item in text.split(',') {
        set |= parse_item(spec, item)?;
    }
    Ok(set)
}

/// One list item: `*`, `N`, `N-M`, each with an optional `/STEP`.
fn parse_item(spec: &FieldSpec, item: &str) -> Result<u64, String> {
    if item.is_empty() {
        return Err("has an empty list item".to_owned());
    }
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => {
            if step.is_empty() || !step.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("step `{step}` is not a number"));
            }
            let step: u8 = step
                .parse()
                .map_err(|_| format!("step `{step}` is too large"))?;
            if step == 0 {
                return Err("a step must be at least 1".to_owned());
            }
            (range, Some(step))
        }
        None => (item, None),
    };
    let (low, high) = if range == "*" {
        (spec.min, spec.max)
    } else if let Some((a, b)) = range.split_once('-') {
        let (a, b) = (value(spec, a)?, value(spec, b)?);
        if a > b {
            return Err(format!("range `{range}` runs backwards"));
        }
        (a, b)
    } else {
        let a = value(spec, range)?;
        // `N/STEP` runs from N to the end of the field.
        (a, if step.is_some() { spec.max } else { a })
    };
    let step = step.unwrap_or(1);
    let mut set = 0u64;
    let mut v = low;
    while v <= high {
        set |= 1 << v;
        v = match v.checked_add(step) {
            Some(next) => next,
            None => break,
        };
    }
    Ok(set)
}

/// A number or name within the field's range.
fn value(spec: &FieldSpec, text: &str) -> Result<u8, String> {
    let upper = text.to_ascii_uppercase();
    if let Some(at) = spec.names.iter().position(|n| *n == upper) {
        return u8::try_from(at)
            .ok()
            .and_then(|at| at.checked_add(spec.first_named))
            .ok_or_else(|| format!("`{text}` has no number"));
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(if spec.names.is_empty() {
            format!("`{text}` is not a number")
        } else {
            format!(
                "`{text}` is neither a number nor a name ({})",
                spec.names.join(", ")
            )
        });
    }
    match text.parse::<u8>() {
        Ok(v) if (spec.min..=spec.max).contains(&v) => Ok(v),
        _ => Err(format!("`{text}` is outside {}-{}", spec.min, spec.max)),
    }
}
