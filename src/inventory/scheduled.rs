//! Reports kept in the ledger, and the schedules that make them (`docs/reports.md`).
//!
//! - [`generate`] renders a [`Report`] as JSON and HTML, keeps both in the blob store (the
//!   attestation store, content-addressed) and appends a `report` record naming their digests,
//!   in one append: once the record is in the Merkle tree, the bytes shown to an auditor can be
//!   proven unaltered. It answers a [`StoredReport`].
//! - [`list`] reads the `report` records back; [`get`] returns a kept report's bytes in one
//!   [`StoredFormat`], re-checked against the digest its record names.
//! - [`ReportSchedule`] is one `[[reports]]` entry of the workspace config (a name, a [`Cron`]
//!   schedule, report options); [`due_reports`] says which entries have come due between two
//!   instants, so the server's loop is a pure computation plus a sleep.
//!
//! The JSON kept is `serde_json`'s pretty form (two-space indent, no trailing newline), exactly
//! what `modelgate inventory report --format json` prints; the HTML is [`render::html`]. The
//! digests are over exactly those bytes. Nothing here reads the wall clock: callers pass the
//! record time.

pub mod cron;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use self::cron::{Cron, CronError};
use super::fold::FoldError;
use super::{render, InventoryError, Report, ReportOptions};
use crate::clock::rfc3339;
use crate::digest::sha256_prefixed;
use crate::ledger::{append_one, parse_record, AppendRequest, RecordDraft, RecordKind, Store};

/// Longest report name, in characters.
pub const MAX_NAME_CHARS: usize = 128;

/// The body of a `report` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    /// The report's name (a `[[reports]]` entry, or what the caller chose).
    pub name: String,
    /// The report's `as_of`.
    pub as_of: String,
    /// `sha256:<hex>` of the JSON bytes.
    pub json: String,
    /// `sha256:<hex>` of the HTML bytes.
    pub html: String,
    /// The report's population.
    pub population: u64,
}

/// A kept report, as its `report` record describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredReport {
    /// The ledger index of its `report` record.
    pub id: u64,
    /// The report's name.
    pub name: String,
    /// The report's `as_of`.
    pub as_of: String,
    /// When it was generated (the record's time).
    pub generated_at: String,
    /// The report's population.
    pub population: u64,
    /// `sha256:<hex>` of the JSON bytes.
    pub json_digest: String,
    /// `sha256:<hex>` of the HTML bytes.
    pub html_digest: String,
}

/// The forms a report is kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredFormat {
    /// The JSON contract (`docs/inventory.md`).
    Json,
    /// The self-contained HTML page.
    Html,
}

impl StoredFormat {
    /// `json` or `html`.
    pub fn parse(s: &str) -> Option<StoredFormat> {
        match s {
            "json" => Some(StoredFormat::Json),
            "html" => Some(StoredFormat::Html),
            _ => None,
        }
    }

    /// The HTTP media type of the bytes.
    pub fn media_type(self) -> &'static str {
        match self {
            StoredFormat::Json => "application/json",
            StoredFormat::Html => "text/html; charset=utf-8",
        }
    }
}

/// The longest window or horizon a report takes, in days (100 years).
pub const MAX_DAYS: u64 = 36_500;

/// Refuses report options whose windows are 0 (`window_days`) or over [`MAX_DAYS`], or reach
/// outside the years a time can be written in, before a report is computed with them.
pub fn check_options(options: &ReportOptions) -> Result<(), String> {
    for (name, days) in [
        ("window_days", options.window_days),
        ("failure_days", options.failure_days),
        ("expiring_days", options.expiring_days),
    ] {
        if days > MAX_DAYS {
            return Err(format!("`{name}` must be at most {MAX_DAYS}"));
        }
    }
    if options.window_days == 0 {
        return Err("`window_days` must be at least 1".to_owned());
    }
    let days = |d: u64| time::Duration::days(i64::try_from(d).unwrap_or(0));
    let reach = [
        options.as_of.checked_sub(days(options.window_days)),
        options
            .as_of
            .checked_add(days(options.failure_days.max(options.expiring_days))),
    ];
    if reach
        .iter()
        .any(|t| t.is_none_or(|t| !(1..=9999).contains(&t.year())))
    {
        return Err(format!(
            "`as_of` `{}` with these windows reaches outside years 0001-9999",
            rfc3339(options.as_of)
        ));
    }
    Ok(())
}

/// Refuses an empty name, one with control characters, or one over [`MAX_NAME_CHARS`].
pub fn check_name(name: &str) -> Result<(), String> {
    if !super::usable_name(name) {
        return Err(format!(
            "report name `{}` must be non-empty and without control characters",
            name.escape_debug()
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "report name `{name}` is over {MAX_NAME_CHARS} characters"
        ));
    }
    Ok(())
}

/// Renders `report` as JSON and HTML, keeps both bytes by digest and appends a `report` record
/// at `time` naming them, all in one durable append.
pub fn generate(
    store: &mut dyn Store,
    name: &str,
    report: &Report,
    time: OffsetDateTime,
) -> Result<StoredReport, InventoryError> {
    check_name(name).map_err(InventoryError::Invalid)?;
    let json = serde_json::to_vec_pretty(report)
        .map_err(|e| InventoryError::Invalid(format!("the report does not serialise: {e}")))?;
    let html = render::html(report).into_bytes();
    let body = ReportBody {
        name: name.to_owned(),
        as_of: report.as_of.clone(),
        json: sha256_prefixed(&json),
        html: sha256_prefixed(&html),
        population: report.population,
    };
    let draft = RecordDraft {
        kind: RecordKind::Report,
        time,
        body: serde_json::to_value(&body).map_err(|e| InventoryError::Invalid(e.to_string()))?,
    };
    let request = AppendRequest {
        guard: None,
        attestations: vec![(body.json.clone(), json), (body.html.clone(), html)],
        drafts: vec![draft],
    };
    let sealed = append_one(store, request)?
        .into_iter()
        .next()
        .ok_or_else(|| InventoryError::Invalid("the ledger did not return the record".into()))?;
    Ok(StoredReport {
        id: sealed.index,
        name: body.name,
        as_of: body.as_of,
        generated_at: rfc3339(time),
        population: body.population,
        json_digest: body.json,
        html_digest: body.html,
    })
}

/// Reads one stored record as a [`StoredReport`].
fn read(index: u64, bytes: &[u8]) -> Result<StoredReport, InventoryError> {
    let bad = |problem: String| InventoryError::Fold(FoldError { index, problem });
    let record = parse_record(bytes)?;
    if record.kind != RecordKind::Report {
        return Err(bad(format!("is a `{}` record, not a report", record.kind)));
    }
    let body: ReportBody = serde_json::from_value(record.body)
        .map_err(|e| bad(format!("is not a v1 report record: {e}")))?;
    Ok(StoredReport {
        id: index,
        name: body.name,
        as_of: body.as_of,
        generated_at: record.time,
        population: body.population,
        json_digest: body.json,
        html_digest: body.html,
    })
}

/// Every kept report, oldest first.
pub fn list(store: &dyn Store) -> Result<Vec<StoredReport>, InventoryError> {
    store
        .records_of_kind(RecordKind::Report)?
        .iter()
        .map(|r| read(r.index, &r.bytes))
        .collect()
}

/// The kept report whose record is at ledger index `id`; `None` when there is no record there
/// or it is not a `report` record.
pub fn find(store: &dyn Store, id: u64) -> Result<Option<StoredReport>, InventoryError> {
    match store.record(id)? {
        Some(r) if r.kind == RecordKind::Report => read(r.index, &r.bytes).map(Some),
        _ => Ok(None),
    }
}

/// The bytes of report `id` in `format` (`None` when [`find`] finds no report there), checked
/// against the digest the record names: missing or altered bytes are an error, never served.
pub fn get(
    store: &dyn Store,
    id: u64,
    format: StoredFormat,
) -> Result<Option<Vec<u8>>, InventoryError> {
    let Some(entry) = find(store, id)? else {
        return Ok(None);
    };
    let digest = match format {
        StoredFormat::Json => &entry.json_digest,
        StoredFormat::Html => &entry.html_digest,
    };
    let bad = |problem: String| InventoryError::Fold(FoldError { index: id, problem });
    let bytes = store.attestation(digest)?.ok_or_else(|| {
        bad(format!(
            "names `{digest}`, which the blob store does not hold"
        ))
    })?;
    if sha256_prefixed(&bytes) != *digest {
        return Err(bad(format!(
            "the bytes kept for `{digest}` do not match it"
        )));
    }
    Ok(Some(bytes))
}

/// One `[[reports]]` entry of the workspace config: what to generate and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ScheduleEntry", into = "ScheduleEntry")]
pub struct ReportSchedule {
    /// The name the kept reports carry.
    pub name: String,
    /// When (`schedule`, five-field cron, UTC).
    pub cron: Cron,
    /// Delivery KPI window, days (default 28).
    pub window_days: Option<u64>,
    /// List what expires within this many days (default 30).
    pub expiring_days: Option<u64>,
}

/// `[[reports]]` as written in `modelgate.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleEntry {
    name: String,
    schedule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window_days: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expiring_days: Option<u64>,
}

impl TryFrom<ScheduleEntry> for ReportSchedule {
    type Error = String;

    fn try_from(e: ScheduleEntry) -> Result<Self, Self::Error> {
        check_name(&e.name).map_err(|m| format!("[[reports]]: {m}"))?;
        let cron = Cron::parse(&e.schedule)
            .map_err(|err| format!("[[reports]] `{}`: schedule {err}", e.name))?;
        if e.window_days == Some(0) {
            return Err(format!(
                "[[reports]] `{}`: `window_days` must be at least 1",
                e.name
            ));
        }
        for (key, days) in [
            ("window_days", e.window_days),
            ("expiring_days", e.expiring_days),
        ] {
            if days.is_some_and(|d| d > MAX_DAYS) {
                return Err(format!(
                    "[[reports]] `{}`: `{key}` must be at most {MAX_DAYS}",
                    e.name
                ));
            }
        }
        Ok(ReportSchedule {
            name: e.name,
            cron,
            window_days: e.window_days,
            expiring_days: e.expiring_days,
        })
    }
}

impl From<ReportSchedule> for ScheduleEntry {
    fn from(s: ReportSchedule) -> Self {
        ScheduleEntry {
            name: s.name,
            schedule: s.cron.as_str().to_owned(),
            window_days: s.window_days,
            expiring_days: s.expiring_days,
        }
    }
}

impl ReportSchedule {
    /// The report options of a run as of `as_of` over the `production` environments.
    pub fn options(&self, as_of: OffsetDateTime, production: BTreeSet<String>) -> ReportOptions {
        let mut options = ReportOptions::new(as_of, production);
        if let Some(days) = self.window_days {
            options.window_days = days;
        }
        if let Some(days) = self.expiring_days {
            options.expiring_days = days;
        }
        options
    }
}

/// Refuses two `[[reports]]` entries with one name (their kept reports could not be told
/// apart).
pub fn check_schedules(schedules: &[ReportSchedule]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for s in schedules {
        if !seen.insert(s.name.as_str()) {
            return Err(format!("[[reports]] `{}` is defined twice", s.name));
        }
    }
    Ok(())
}

/// A scheduled report whose time has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due<'a> {
    /// The entry.
    pub schedule: &'a ReportSchedule,
    /// The report's `as_of`: the latest fire time in `(last_run, now]`.
    pub as_of: OffsetDateTime,
}

/// Most fire times stepped over to find the latest one that has passed.
const MAX_MISSED: usize = 10_000;

/// The entries of `schedules` with a fire time in `(last_run, now]`, each once, as of its
/// latest such fire time: fire times missed while the process was not running them (a
/// suspended machine, a run longer than the period) come to one report, not a burst.
pub fn due_reports(
    schedules: &[ReportSchedule],
    last_run: OffsetDateTime,
    now: OffsetDateTime,
) -> Vec<Due<'_>> {
    let mut due = Vec::new();
    for schedule in schedules {
        let Some(mut at) = schedule.cron.next_after(last_run).filter(|t| *t <= now) else {
            continue;
        };
        for _ in 0..MAX_MISSED {
            match schedule.cron.next_after(at) {
                Some(next) if next <= now => at = next,
                _ => break,
            }
        }
        due.push(Due {
            schedule,
            as_of: at,
        });
    }
    due
}

/// The earliest fire time after `after` among `schedules` (`None` without schedules).
pub fn next_fire(schedules: &[ReportSchedule], after: OffsetDateTime) -> Option<OffsetDateTime> {
    schedules
        .iter()
        .filter_map(|s| s.cron.next_after(after))
        .min()
}
