//! Decisions: the filterable list (newest first, paged by ledger index) and one decision's page
//! (request, reasons, approvals, waivers, findings, inclusion proof, replay, the stored record).
//!
//! The list reads the model index (`Store::decisions_for_model`) when a model is given and
//! otherwise walks the ledger backwards from the cursor in chunks, at most [`SCAN_BUDGET`]
//! records per request: a page on a large ledger stays fast, and one that ran out of budget
//! says so and continues from where it stopped.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use base64::Engine as _;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use super::{blocking, page as layout, short, PageError, Section, Viewer};
use crate::clock::{parse_rfc3339, rfc3339};
use crate::engine::audit::{prove_against_latest, LatestInclusion};
use crate::engine::replay::{replay, Replay};
use crate::engine::DecisionBody;
use crate::engine::EngineError;
use crate::ledger::{first_at_or_after, LedgerError};
use crate::ledger::{leaf_hash, parse_record, Record, RecordKind, Store, StoredRecord};
use crate::policy::Reason;
use crate::server::state::AppState;

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
                caption { "Decisions" }
                thead {
                    tr {
                        th scope="col" { "Index" }
                        th scope="col" { "Time" }
                        th scope="col" { "Model" }
                        th scope="col" { "Version" }
                        th scope="col" { "Environment" }
                        th scope="col" { "Outcome" }
                    }
                }
                tbody {
                    @for r in &listing.rows {
                        tr {
                            td { a href={ "/console/decisions/" (r.index) } { (r.index) } }
                            td { time datetime=(r.time) { (r.time) } }
                            td { (r.model) }
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

/// The decision page's query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    #[serde(default)]
    replay: String,
}

/// What the decision page shows about the inclusion proof.
#[derive(Debug)]
enum Inclusion {
    /// No signed checkpoint covers the record yet.
    NotCovered,
    /// The proof against the latest checkpoint, checked here.
    Checked(Box<LatestInclusion>),
    /// The engine's verifier key could not be read.
    NoVerifier,
    /// The proof could not be built: the tree the ledger holds is damaged or shorter than the
    /// checkpoint (what `modelgate audit verify` reports in full).
    Unprovable(String),
}

/// Everything the decision page shows.
#[derive(Debug)]
struct DecisionView {
    stored: StoredRecord,
    record: Record,
    body: DecisionBody,
    inclusion: Inclusion,
    replay: Option<Result<Replay, String>>,
}

fn load_decision(
    state: &AppState,
    index: u64,
    want_replay: bool,
) -> Result<DecisionView, PageError> {
    let reader = state.readers.checkout()?;
    let store = reader.store()?;
    let missing = || PageError::not_found(format!("There is no decision at ledger index {index}."));
    let stored = store.record(index)?.ok_or_else(missing)?;
    if stored.kind != RecordKind::Decision {
        return Err(PageError::not_found(format!(
            "Ledger record {index} is a `{}` record, not a decision.",
            stored.kind
        )));
    }
    let record = parse_record(&stored.bytes)?;
    if record.kind != RecordKind::Decision {
        return Err(missing());
    }
    let body: DecisionBody = serde_json::from_value(record.body.clone()).map_err(|e| {
        PageError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("decision record {index} does not read as a v1 decision: {e}"),
        )
    })?;
    let inclusion = match state.ws.note_verifier() {
        Ok(verifier) => match prove_against_latest(store, index, &verifier) {
            Ok(Some(proof)) => Inclusion::Checked(Box::new(proof)),
            Ok(None) => Inclusion::NotCovered,
            // A damaged tree is something to show on this page, not a reason to hide it.
            Err(EngineError::Ledger(
                e @ (LedgerError::MissingNode { .. }
                | LedgerError::CorruptNode { .. }
                | LedgerError::TreeBeyondLedger { .. }),
            )) => Inclusion::Unprovable(e.to_string()),
            Err(e @ EngineError::Invalid(_)) => Inclusion::Unprovable(e.to_string()),
            Err(e) => return Err(crate::server::error::ApiError::from(e).into()),
        },
        Err(e) => {
            tracing::error!(error = %e, "the engine's checkpoint verifier key does not load");
            Inclusion::NoVerifier
        }
    };
    let replay = want_replay.then(|| replay(store, index).map_err(|e| e.to_string()));
    Ok(DecisionView {
        stored,
        record,
        body,
        inclusion,
        replay,
    })
}

/// `GET /console/decisions/{index}`: one decision, its proof of inclusion and, on request, its
/// replay.
pub async fn page(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(raw_index): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, PageError> {
    let index: u64 = raw_index
        .parse()
        .map_err(|_| PageError::not_found(format!("`{raw_index}` is not a ledger index.")))?;
    let q: PageQuery = read_query(raw.as_deref())?;
    let want_replay = match q.replay.as_str() {
        "" | "0" => false,
        "1" => true,
        other => {
            return Err(PageError::invalid(format!(
                "`replay` must be 1 to replay the decision, not `{other}`"
            )))
        }
    };
    let view = blocking(move || load_decision(&state, index, want_replay)).await?;
    Ok(layout(
        &viewer,
        Section::Decisions,
        &format!("Decision {index}"),
        render_decision(index, &view),
    ))
}

/// A digest shortened, with the full value in `title`.
fn digest(d: &str) -> Markup {
    html! { code title=(d) { (short(d)) } }
}

fn reasons_table(caption: &str, reasons: &[Reason]) -> Markup {
    html! {
        table.reasons {
            caption { (caption) }
            thead {
                tr {
                    th scope="col" { "Policy" }
                    th scope="col" { "Effect" }
                    th scope="col" { "Reason" }
                    th scope="col" { "Controls" }
                    th scope="col" { "Compared values" }
                }
            }
            tbody {
                @for r in reasons {
                    tr {
                        td { code { (r.policy_id) } }
                        td { (r.effect) }
                        td { (r.reason) }
                        td {
                            @if r.controls.is_empty() {
                                "none"
                            } @else {
                                ul.plain {
                                    @for c in &r.controls { li { (c) } }
                                }
                            }
                        }
                        td {
                            @if r.values.is_empty() {
                                "none"
                            } @else {
                                ul.plain.values {
                                    @for (name, value) in &r.values {
                                        li { code { (name) } " = " code { (value.to_string()) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn render_decision(index: u64, v: &DecisionView) -> Markup {
    let b = &v.body;
    let req = &b.request;
    let outcome = b.decision.as_str();
    html! {
        p class=(outcome_class(outcome)) { (outcome) }
        dl.facts {
            dt { "Time" } dd { time datetime=(b.time) { (b.time) } }
            dt { "Tier" }
            dd {
                @match b.tier {
                    Some(t) => { (t) },
                    None => { "none (no model metadata verified)" },
                }
            }
            dt { "Bundle digest" } dd { (digest(&b.bundle_digest)) }
            dt { "Policy input digest" } dd { (digest(&b.input_digest)) }
            @if let Some(fr) = &b.freeze {
                dt { "Freeze in force" }
                dd {
                    "record " (fr.record) ": " (fr.reason)
                    @if let Some(until) = &fr.until { " (until " (until) ")" }
                }
            }
        }

        h2 { "Request" }
        dl.facts {
            dt { "Model" } dd { (req.model) }
            dt { "Version" } dd { (req.version) }
            dt { "Environment" } dd { (req.environment) }
            dt { "Requested by" } dd { (req.requested_by) }
            dt { "Change ticket" } dd { (req.change_ticket.as_deref().unwrap_or("none")) }
            dt { "Artifact digest" } dd { (digest(&req.artifact_digest)) }
            dt { "Rollback" } dd { (if req.rollback { "yes" } else { "no" }) }
            @if req.dry_run {
                dt { "Dry run" } dd { "yes: judged and recorded, nothing deployed" }
            }
        }

        h2 { "Reasons" }
        @if b.reasons.is_empty() {
            p { "No reasons were recorded." }
        } @else {
            (reasons_table("Reasons", &b.reasons))
        }
        @if !b.warnings.is_empty() {
            h3 { "Warnings" }
            (reasons_table("Warnings (warn-mode policies; they do not decide)", &b.warnings))
        }
        @if !b.shadow.is_empty() {
            h3 { "Shadow policies" }
            (reasons_table("Shadow policies (recorded only; they do not decide)", &b.shadow))
        }

        h2 { "Approvals" }
        @if b.approvals.is_empty() {
            p { "No approval counted." }
        } @else {
            table.approvals {
                caption { "Approvals that counted" }
                thead {
                    tr {
                        th scope="col" { "Role" }
                        th scope="col" { "Approver" }
                        th scope="col" { "Expires" }
                        th scope="col" { "Attestation" }
                    }
                }
                tbody {
                    @for a in &b.approvals {
                        tr {
                            td { (a.role) }
                            td { (a.approver) }
                            td { time datetime=(a.expires) { (a.expires) } }
                            td { (digest(&a.attestation)) }
                        }
                    }
                }
            }
        }

        h2 { "Waivers" }
        @if b.waivers.is_empty() {
            p { "No waiver was applied." }
        } @else {
            table.waivers {
                caption { "Waivers applied" }
                thead {
                    tr {
                        th scope="col" { "Policies" }
                        th scope="col" { "Granted by" }
                        th scope="col" { "Ticket" }
                        th scope="col" { "Reason" }
                        th scope="col" { "Expires" }
                        th scope="col" { "Attestation" }
                    }
                }
                tbody {
                    @for w in &b.waivers {
                        tr {
                            td { ul.plain { @for p in &w.policies { li { code { (p) } } } } }
                            td { (w.granted_by) }
                            td { (w.ticket) }
                            td { (w.reason) }
                            td { time datetime=(w.expires) { (w.expires) } }
                            td { (digest(&w.attestation)) }
                        }
                    }
                }
            }
        }

        h2 { "Findings" }
        @if b.findings.is_empty() {
            p { "No findings: every attestation of the request counted or was not needed." }
        } @else {
            ul {
                @for f in &b.findings {
                    li {
                        "Attestation " (f.attestation)
                        @if let Some(a) = b.attestations.get(f.attestation) {
                            " (" code { (a.predicate_type) } ", " (digest(&a.digest)) ")"
                        }
                        ": " (f.problem)
                    }
                }
            }
        }

        h2 { "Inclusion proof" }
        (render_inclusion(index, &v.stored.bytes, &v.inclusion))

        h2 { "Replay" }
        p { a href="?replay=1" { "Replay this decision" } }
        @match &v.replay {
            None => {}
            Some(Ok(r)) if r.reproduced => {
                p.notice role="status" { "Replay reproduced this decision." }
                p { "Checked: " (r.checked) "." }
            }
            Some(Ok(r)) => {
                p.error role="alert" { "Replay did not reproduce this decision:" }
                ul { @for d in &r.differences { li { (d) } } }
                p { "Checked: " (r.checked) "." }
            }
            Some(Err(e)) => {
                p.error role="alert" { "Replay could not run: " (e) }
            }
        }

        h2 { "Ledger record" }
        dl.facts {
            dt { "Index" } dd { (v.stored.index) }
            dt { "Leaf hash" } dd { code.hash { (hex::encode(v.stored.leaf_hash)) } }
            dt { "Previous leaf hash" } dd { code.hash { (v.record.prev) } }
            dt { "Recorded" } dd { time datetime=(v.record.time) { (v.record.time) } }
        }
        @if leaf_hash(&v.stored.bytes) != v.stored.leaf_hash {
            p.error role="alert" { "The stored bytes do not hash to the stored leaf hash." }
        }
        p { "The record's exact stored bytes (RFC 8785 canonical JSON; the leaf hash is SHA-256 of 0x00 followed by them):" }
        pre.record-bytes { code { (String::from_utf8_lossy(&v.stored.bytes)) } }
    }
}

fn render_inclusion(index: u64, record_bytes: &[u8], inclusion: &Inclusion) -> Markup {
    let b64 = base64::engine::general_purpose::STANDARD;
    match inclusion {
        Inclusion::NotCovered => html! {
            p role="status" {
                "No signed checkpoint covers record " (index) " yet; the next checkpoint will."
            }
        },
        Inclusion::Unprovable(why) => html! {
            p.error role="alert" {
                "No inclusion proof could be built for this record: " (why)
                ". Run `modelgate audit verify` to see what is damaged."
            }
        },
        Inclusion::NoVerifier => html! {
            p.error role="alert" {
                "The engine's checkpoint verifier key cannot be read, so the proof was not checked."
            }
        },
        Inclusion::Checked(p) => match &p.verified {
            Ok(cp) => {
                let hashes = p
                    .proof
                    .hashes
                    .iter()
                    .map(hex::encode)
                    .collect::<Vec<_>>()
                    .join(" ");
                html! {
                    p.notice role="status" {
                        "The inclusion proof verifies against the signed checkpoint of size " (cp.size) "."
                    }
                    dl.facts {
                        dt { "Checkpoint origin" } dd { (cp.origin) }
                        dt { "Checkpoint root" } dd { code.hash { (b64.encode(cp.root)) } }
                        dt { "Proof length" } dd { (p.proof.hashes.len()) " hashes" }
                    }
                    p #proof-browser-check role="status"
                        data-record=(b64.encode(record_bytes))
                        data-leaf=(hex::encode(p.leaf_hash))
                        data-index=(index)
                        data-size=(cp.size)
                        data-root=(hex::encode(cp.root))
                        data-proof=(hashes) {
                        "Not re-checked in this browser (it needs JavaScript)."
                    }
                    details {
                        summary { "The proof file (c2sp.org/tlog-proof@v1)" }
                        pre { code { (p.proof.to_text()) } }
                    }
                }
            }
            Err(why) => html! {
                p.error role="alert" {
                    "The inclusion proof does NOT verify against the signed checkpoint of size "
                    (p.size) ": " (why)
                }
                p #proof-browser-check role="status" {
                    "Not re-checked in this browser: the check on the server failed."
                }
            },
        },
    }
}
