//! Decisions: the filterable list (newest first, paged by ledger index) and one decision's page
//! (request, reasons, approvals, waivers, findings, inclusion proof, replay, the stored record).
//!
//! The list reads the model index a page at a time (`Store::decisions_for_model_before`) when a
//! model is given and otherwise walks the ledger backwards from the cursor in chunks, at most
//! [`SCAN_BUDGET`] records per request: a page on a large ledger stays fast, and one that ran out
//! of budget says so and continues from where it stopped. `since`/`until` bound the walk by
//! bisecting record times ([`TIME_SLACK`]). The decision page is in [`page`].

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use super::{blocking, model_path, page as layout, table_head, PageError, Section, Viewer};
use crate::clock::{parse_rfc3339, rfc3339};
use crate::ledger::first_at_or_after;
use crate::ledger::{parse_record, RecordKind, Store, StoredRecord};
use crate::server::state::AppState;

mod page;
pub use page::page;

/// Decisions one list page shows.
pub const PAGE_SIZE: usize = 50;
/// Most records one list request reads when no model narrows the search.
pub const SCAN_BUDGET: u64 = 5_000;
/// Records read from the store at a time while scanning.
const SCAN_CHUNK: u64 = 500;
/// Longest model name a filter accepts.
const MAX_MODEL_LEN: usize = 256;

/// The list's query, as the filter form sends it (an empty field means "any").
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    model: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    before: String,
}

/// A time bound as given and as understood.
#[derive(Debug, Clone)]
struct Bound {
    given: String,
    at: OffsetDateTime,
}

/// The list's filters, checked.
#[derive(Debug, Clone, Default)]
struct Filters {
    model: Option<String>,
    environment: Option<String>,
    outcome: Option<String>,
    since: Option<Bound>,
    until: Option<Bound>,
}

fn given(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// Reads a `since`/`until` value: `YYYY-MM-DD` (start of that day UTC; for `until` the end of
/// it) or an RFC 3339 time.
fn read_bound(field: &str, raw: &str, end_of_day: bool) -> Result<Option<Bound>, PageError> {
    let Some(given) = given(raw) else {
        return Ok(None);
    };
    let at = if let Ok(day) = Date::parse(&given, format_description!("[year]-[month]-[day]")) {
        let day = if end_of_day {
            day.next_day().ok_or_else(|| {
                PageError::invalid(format!("`{field}`: {given} is past the last day there is"))
            })?
        } else {
            day
        };
        day.midnight().assume_utc()
    } else {
        parse_rfc3339(&given).map_err(|e| {
            PageError::invalid(format!(
                "`{field}` must be a date (YYYY-MM-DD) or an RFC 3339 time, not `{given}`: {e}"
            ))
        })?
    };
    Ok(Some(Bound { given, at }))
}

impl Filters {
    /// Checks the query's filters and cursor; a bad value is a 400 naming its field.
    fn read(q: &ListQuery, environments: &[String]) -> Result<(Filters, Option<u64>), PageError> {
        let model = given(&q.model);
        if model.as_ref().is_some_and(|m| m.len() > MAX_MODEL_LEN) {
            return Err(PageError::invalid(format!(
                "`model` is longer than {MAX_MODEL_LEN} bytes"
            )));
        }
        let environment = given(&q.environment);
        if let Some(e) = &environment {
            if !environments.contains(e) {
                return Err(PageError::invalid(format!(
                    "`environment`: no environment `{e}` is configured (configured: {})",
                    environments.join(", ")
                )));
            }
        }
        let outcome = given(&q.outcome);
        if let Some(o) = &outcome {
            if o != "allow" && o != "deny" {
                return Err(PageError::invalid(format!(
                    "`outcome` must be `allow` or `deny` (or empty for any), not `{o}`"
                )));
            }
        }
        let since = read_bound("since", &q.since, false)?;
        let until = read_bound("until", &q.until, true)?;
        if let (Some(s), Some(u)) = (&since, &until) {
            if u.at <= s.at {
                return Err(PageError::invalid(format!(
                    "`until` ({}) must be after `since` ({})",
                    u.given, s.given
                )));
            }
        }
        let before = given(&q.before)
            .map(|b| {
                b.parse::<u64>().map_err(|_| {
                    PageError::invalid(format!("`before` must be a ledger index, not `{b}`"))
                })
            })
            .transpose()?;
        Ok((
            Filters {
                model,
                environment,
                outcome,
                since,
                until,
            },
            before,
        ))
    }

    /// What a matching record's bytes must contain: records are RFC 8785 canonical JSON, so
    /// a body whose `model`, `environment` or `decision` is a given string holds
    /// `"key":"value"` verbatim.
    fn needles(&self) -> Vec<String> {
        [
            ("model", &self.model),
            ("environment", &self.environment),
            ("decision", &self.outcome),
        ]
        .into_iter()
        .filter_map(|(key, want)| {
            let quoted = serde_json::to_string(want.as_ref()?).ok()?;
            Some(format!("\"{key}\":{quoted}"))
        })
        .collect()
    }

    /// A quick test on a record's bytes before parsing them: false only when the record cannot
    /// match (a needle is missing, or its time, the last `"time"` member of the canonical
    /// record, is outside the window). The full check after parsing decides; a tampered,
    /// non-canonical record is `audit verify`'s to report.
    fn may_match(&self, bytes: &[u8], needles: &[String]) -> bool {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return true;
        };
        if !needles.iter().all(|n| text.contains(n.as_str())) {
            return false;
        }
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let time = text
            .rfind(",\"time\":\"")
            .and_then(|at| text.get(at + 9..))
            .and_then(|rest| rest.split('"').next())
            .and_then(|t| parse_rfc3339(t).ok());
        time.is_none_or(|at| self.within(at))
    }

    /// Whether `at` is in the `since`/`until` window.
    fn within(&self, at: OffsetDateTime) -> bool {
        self.since.as_ref().is_none_or(|s| at >= s.at)
            && self.until.as_ref().is_none_or(|u| at < u.at)
    }

    /// The query string that repeats these filters, with `before` as the cursor.
    fn query(&self, before: Option<u64>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let mut add = |k: &'static str, v: Option<&String>| {
            if let Some(v) = v {
                pairs.push((k, v.clone()));
            }
        };
        add("model", self.model.as_ref());
        add("environment", self.environment.as_ref());
        add("outcome", self.outcome.as_ref());
        add("since", self.since.as_ref().map(|b| &b.given));
        add("until", self.until.as_ref().map(|b| &b.given));
        if let Some(b) = before {
            pairs.push(("before", b.to_string()));
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }
}

/// One decision in the list.
#[derive(Debug, Clone)]
struct Row {
    index: u64,
    time: String,
    model: String,
    version: String,
    environment: String,
    outcome: String,
}

/// The row for `r` if it is a decision matching `f`.
fn matching_row(r: &StoredRecord, f: &Filters, needles: &[String]) -> Option<Row> {
    if r.kind != RecordKind::Decision || !f.may_match(&r.bytes, needles) {
        return None;
    }
    let record = parse_record(&r.bytes).ok()?;
    if record.kind != RecordKind::Decision {
        return None;
    }
    let text = |p: &str| {
        record
            .body
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let row = Row {
        index: r.index,
        time: record.time.clone(),
        model: text("/request/model"),
        version: text("/request/version"),
        environment: text("/request/environment"),
        outcome: text("/decision"),
    };
    let fits = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    if !(fits(&f.model, &row.model)
        && fits(&f.environment, &row.environment)
        && fits(&f.outcome, &row.outcome))
    {
        return None;
    }
    if (f.since.is_some() || f.until.is_some()) && !f.within(parse_rfc3339(&record.time).ok()?) {
        return None;
    }
    Some(row)
}

/// One list page.
#[derive(Debug, Default)]
struct Listing {
    /// Matching decisions, newest first.
    rows: Vec<Row>,
    /// Where the next page starts (exclusive index), when there may be more.
    next: Option<u64>,
    /// When the scan budget ran out: the records searched, `from..to`.
    partial: Option<(u64, u64)>,
}

/// How far out of time order a record may be and still be found by a `since`/`until` search,
/// which starts and ends at the records of those times (found by bisecting record times).
pub const TIME_SLACK: time::Duration = time::Duration::minutes(10);

/// Finds up to [`PAGE_SIZE`] decisions matching `f` below index `before`, newest first.
fn search(store: &dyn Store, f: &Filters, before: Option<u64>) -> Result<Listing, PageError> {
    let size = store.size()?;
    // Without a cursor, a search with `until` starts at the first record of that time (records
    // after it are younger); with one, it continues where the last page stopped. A `since`
    // bound ends the search at the first record of that time. Both allow for records a little
    // out of time order (decided on one thread or replica, appended after another's).
    let before = match (before, &f.until) {
        (Some(b), _) => b.min(size),
        (None, Some(until)) => first_at_or_after(
            store,
            size,
            until.at.checked_add(TIME_SLACK).unwrap_or(until.at),
        )?,
        (None, None) => size,
    };
    let floor = match &f.since {
        Some(since) => first_at_or_after(
            store,
            before,
            since.at.checked_sub(TIME_SLACK).unwrap_or(since.at),
        )?,
        None => 0,
    };
    let want = PAGE_SIZE + 1;
    let needles = f.needles();
    let mut rows = Vec::new();
    let mut scanned = 0u64;
    // The lowest index searched so far (everything from it up to `before` was looked at).
    let mut at = before;
    if let Some(model) = &f.model {
        // Pages of the model's index, newest first, within the same budget.
        let mut exhausted = false;
        while rows.len() < want && scanned < SCAN_BUDGET {
            let n = SCAN_CHUNK.min(SCAN_BUDGET - scanned);
            let chunk = store.decisions_for_model_before(model, at, n)?;
            let last = chunk.len() < usize::try_from(n).unwrap_or(usize::MAX);
            for r in &chunk {
                if rows.len() == want {
                    break;
                }
                if r.index < floor {
                    exhausted = true;
                    break;
                }
                scanned += 1;
                at = r.index;
                rows.extend(matching_row(r, f, &needles));
            }
            if exhausted || (last && rows.len() < want) {
                exhausted = true;
                break;
            }
        }
        if exhausted {
            at = floor;
        }
    } else {
        while at > floor && rows.len() < want && scanned < SCAN_BUDGET {
            let n = SCAN_CHUNK.min(SCAN_BUDGET - scanned).min(at - floor);
            let from = at - n;
            let chunk = store.records(from, n)?;
            if chunk.is_empty() {
                break;
            }
            let end = at;
            for r in chunk.iter().rev().filter(|r| r.index < end) {
                if rows.len() == want {
                    break;
                }
                scanned += 1;
                at = r.index;
                rows.extend(matching_row(r, f, &needles));
            }
            if rows.len() < want {
                at = from;
            }
        }
    }
    let mut listing = Listing::default();
    if rows.len() == want {
        rows.truncate(PAGE_SIZE);
        listing.next = rows.last().map(|r| r.index);
    } else if at > floor {
        listing.next = Some(at);
        listing.partial = Some((at, before));
    }
    listing.rows = rows;
    Ok(listing)
}

fn read_query<T: serde::de::DeserializeOwned + Default>(raw: Option<&str>) -> Result<T, PageError> {
    match raw {
        None | Some("") => Ok(T::default()),
        Some(q) => serde_urlencoded::from_str(q)
            .map_err(|e| PageError::invalid(format!("The query does not read: {e}"))),
    }
}

/// `GET /console/decisions`: the decisions matching the filters, newest first, 50 a page.
pub async fn list(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Markup, PageError> {
    let q: ListQuery = read_query(raw.as_deref())?;
    let environments: Vec<String> = state.ws.config().environments.keys().cloned().collect();
    let (filters, before) = Filters::read(&q, &environments)?;
    let listing = {
        let filters = filters.clone();
        blocking(move || {
            let reader = state.readers.checkout()?;
            search(reader.store()?, &filters, before)
        })
        .await?
    };
    Ok(layout(
        &viewer,
        Section::Decisions,
        "Decisions",
        render_list(&filters, before, &environments, &listing),
    ))
}

fn render_list(
    f: &Filters,
    before: Option<u64>,
    environments: &[String],
    listing: &Listing,
) -> Markup {
    let is = |have: &Option<String>, v: &str| have.as_deref() == Some(v);
    let date_value = |b: &Option<Bound>| {
        b.as_ref()
            .map(|b| b.given.clone())
            .filter(|g| g.len() == 10)
            .unwrap_or_default()
    };
    html! {
        form.filters method="get" action="/console/decisions" {
            div.field {
                label for="filter-model" { "Model" }
                input #filter-model type="text" name="model" value=(f.model.clone().unwrap_or_default());
            }
            div.field {
                label for="filter-environment" { "Environment" }
                select #filter-environment name="environment" {
                    option value="" { "Any" }
                    @for e in environments {
                        option value=(e) selected[is(&f.environment, e)] { (e) }
                    }
                }
            }
            div.field {
                label for="filter-outcome" { "Outcome" }
                select #filter-outcome name="outcome" {
                    option value="" { "Any" }
                    @for o in ["allow", "deny"] {
                        option value=(o) selected[is(&f.outcome, o)] { (o) }
                    }
                }
            }
            div.field {
                label for="filter-since" { "Since" }
                input #filter-since type="date" name="since" value=(date_value(&f.since));
            }
            div.field {
                label for="filter-until" { "Until" }
                input #filter-until type="date" name="until" value=(date_value(&f.until));
            }
            button type="submit" { "Filter" }
        }
        @if f.since.is_some() || f.until.is_some() {
            p.decisions-window {
                "Recorded "
                @if let Some(s) = &f.since { "at or after " time datetime=(rfc3339(s.at)) { (rfc3339(s.at)) } }
                @if f.since.is_some() && f.until.is_some() { " and " }
                @if let Some(u) = &f.until { "before " time datetime=(rfc3339(u.at)) { (rfc3339(u.at)) } }
                " (UTC)."
            }
        }
        @if listing.rows.is_empty() {
            @if let Some((from, to)) = listing.partial {
                p role="status" {
                    "No decisions match among records " (from) " to " (to.saturating_sub(1))
                    ". Older records were not searched yet."
                }
            } @else {
                p role="status" { "No decisions match." }
            }
        } @else {
            table.decisions {
                (table_head("Decisions", &["Index", "Time", "Model", "Version", "Environment", "Outcome"]))
                tbody {
                    @for r in &listing.rows {
                        tr {
                            td { a href={ "/console/decisions/" (r.index) } { (r.index) } }
                            td { time datetime=(r.time) { (r.time) } }
                            td { a href=(model_path(&r.model, "")) { (r.model) } }
                            td { (r.version) }
                            td { (r.environment) }
                            td { span class=(outcome_class(&r.outcome)) { (r.outcome) } }
                        }
                    }
                }
            }
            @if let Some((from, to)) = listing.partial {
                p role="status" {
                    "Searched records " (from) " to " (to.saturating_sub(1))
                    "; older records were not searched yet."
                }
            }
        }
        @if listing.next.is_some() || before.is_some() {
            nav.pager aria-label="Decision pages" {
                @if before.is_some() {
                    a href={ "/console/decisions?" (f.query(None)) } { "Newest decisions" }
                }
                @if let Some(next) = listing.next {
                    a href={ "/console/decisions?" (f.query(Some(next))) } { "Older decisions" }
                }
            }
        }
    }
}

fn outcome_class(outcome: &str) -> &'static str {
    match outcome {
        "allow" => "outcome allow",
        "deny" => "outcome deny",
        _ => "outcome",
    }
}
