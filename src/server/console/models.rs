//! Models: the inventory list with completeness per model, one model's page, its evidence pack.
//!
//! Both pages read the inventory ([`crate::inventory`]) through [`Cache`]: the folded inventory
//! kept in memory with the ledger size it covers, folded forward by the records appended since
//! on each request ([`crate::inventory::advance`]), so a page costs the new records, not a fold
//! of the whole ledger. The first load (from the inventory snapshot beside the ledger when it
//! matches, else a fold of every record: about 1 s and 10 s at 1,000,000 records) runs in the
//! background, started when the server starts ([`Cache::start_loading`]); until it is done the
//! pages say how far it has come and reload themselves, instead of holding a request past its
//! deadline. The list's rows (listing, completeness, findings per model) are kept too, rebuilt
//! when the ledger grew or the minute changed (findings depend on the time), but no more often
//! than keeps rebuilding under 5 % of the time ([`REBUILD_SHARE`]). Completeness, findings and
//! the listing are the library's; this module only arranges them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::{Clock, Stopwatch};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{blocking, model_path, page as layout, table_head, PageError, Section, Viewer};
use crate::attest::TrustStore;
use crate::clock::parse_rfc3339;
use crate::evidence::{EvidenceError, Scope};
use crate::inventory::list::{listing, ModelListing, VersionListing};
use crate::inventory::report::Finding;
use crate::inventory::{
    advance, build_report, load_with_snapshot, Facts, Inventory, InventoryError, ModelEntry,
    ReportOptions, VersionEntry,
};
use crate::ledger::Store;
use crate::server::state::AppState;
use crate::server::ApiPath;
use crate::workspace::Workspace;

mod page;
pub use page::{evidence, page};

/// Models per list page.
pub const PAGE_SIZE: usize = 100;

/// Approvals expiring within this many days are marked.
pub const EXPIRING_DAYS: i64 = 30;

/// The list's rows are rebuilt at most this share of the time: after a rebuild that took `t`,
/// the rows serve for `t / REBUILD_SHARE` even if the ledger grew (at 1,000,000 records a
/// rebuild takes about 0.3 s, so a busy ledger's list lags by up to about 6 s; a small ledger's
/// list follows every record).
pub const REBUILD_SHARE: u32 = 20;

/// How long a page waits for another request's fold before it answers "reload" instead.
pub const LOCK_WAIT: Duration = Duration::from_secs(1);

/// How long a page waits for the first load before it answers with its progress instead.
pub const FIRST_LOAD_WAIT: Duration = Duration::from_millis(500);

/// The inventory the models pages (and the overview, when no report is kept) read, folded
/// forward as the ledger grows.
///
/// The first load runs on a thread of its own ([`Cache::start_loading`]); every later request
/// folds only the records appended since, taking turns on one lock.
#[derive(Debug, Default)]
pub struct Cache {
    inner: Arc<Mutex<Inner>>,
    /// The first load: whether it runs, how far it came, why it failed.
    first: Arc<Mutex<FirstLoad>>,
}

/// The state of the first load.
#[derive(Debug, Default, Clone)]
struct FirstLoad {
    running: bool,
    /// (records folded, records to fold).
    progress: (u64, u64),
    /// Why the last attempt failed (the next request tries again).
    failed: Option<String>,
}

/// What a page gets from the cache: the inventory's answer, or how far its first load came.
#[derive(Debug)]
pub enum Loaded<T> {
    /// The inventory is loaded and covers the ledger.
    Ready(T),
    /// It is being loaded: records folded so far, records to fold (0 before the first chunk).
    Loading(u64, u64),
}

#[derive(Debug, Default)]
struct Inner {
    /// The inventory and the ledger size it covers.
    folded: Option<(Inventory, u64)>,
    /// The list's rows, for the `covered` size and minute they were built at.
    rows: Option<Arc<Rows>>,
}

impl Cache {
    /// Starts the first load of the inventory on a thread of its own, unless it is loaded or
    /// loading, and then builds the list's rows as of `clock`'s now. The server calls it when
    /// it starts; pages call it when they find it missing.
    pub fn start_loading(&self, ws: &Workspace, clock: Arc<dyn Clock>) {
        {
            let Ok(mut first) = self.first.lock() else {
                return;
            };
            let loaded = self.inner.try_lock().is_ok_and(|i| i.folded.is_some());
            if first.running || loaded {
                return;
            }
            first.running = true;
            first.progress = (0, 0);
        }
        // The thread holds the cache and the workspace, not the server state: a shutdown does
        // not wait for it.
        let (ws, inner, first) = (ws.clone(), Arc::clone(&self.inner), Arc::clone(&self.first));
        let spawned = std::thread::Builder::new()
            .name("console-inventory".to_owned())
            .spawn(move || {
                let outcome = first_load(&ws, &first);
                if let Ok(mut first) = first.lock() {
                    first.running = false;
                    first.failed = outcome.as_ref().err().map(|e| e.message.clone());
                }
                match outcome {
                    Ok(folded) => {
                        if let Ok(mut inner) = inner.lock() {
                            let inner = &mut *inner;
                            let (inv, covered) = inner.folded.get_or_insert(folded);
                            if inner.rows.is_none() {
                                let now = clock.now();
                                let options = ReportOptions::new(now, ws.production_environments());
                                inner.rows =
                                    Some(Arc::new(Rows::build(inv, *covered, now, &options)));
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e.message, "the console's inventory did not load")
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "the console's inventory loader did not start");
            if let Ok(mut first) = self.first.lock() {
                first.running = false;
                first.failed = Some(e.to_string());
            }
        }
    }

    /// Runs `f` on the inventory brought up to the ledger's size, or says how far the first
    /// load came (starting it if it is not running). A first load that failed is reported,
    /// and started again.
    fn with<T>(
        &self,
        state: &Arc<AppState>,
        store: &dyn Store,
        f: impl FnOnce(&mut Inner) -> Result<T, PageError>,
    ) -> Result<Loaded<T>, PageError> {
        let Some(mut inner) = self.lock()? else {
            return Ok(Loaded::Loading(0, 0));
        };
        if inner.folded.is_none() {
            drop(inner);
            let failed = self.first.lock().ok().and_then(|mut f| f.failed.take());
            self.start_loading(&state.ws, Arc::clone(&state.clock));
            if let Some(why) = failed {
                return Err(PageError::internal(format!(
                    "the inventory did not load: {why}"
                )));
            }
            // A small ledger loads at once: wait a little before answering "loading".
            let waited = Stopwatch::start();
            while self.first.lock().is_ok_and(|f| f.running) && waited.elapsed() < FIRST_LOAD_WAIT {
                std::thread::sleep(Duration::from_millis(5));
            }
            inner = match self.lock()? {
                Some(inner) => inner,
                None => return Ok(Loaded::Loading(0, 0)),
            };
            if inner.folded.is_none() {
                let (done, total) = self.first.lock().map(|f| f.progress).unwrap_or((0, 0));
                return Ok(Loaded::Loading(done, total));
            }
        }
        inner.refresh(store)?;
        f(&mut inner).map(Loaded::Ready)
    }

    /// The inventory report as of `options.as_of` over the cached inventory (the trust store
    /// as of then for key expiries), as `GET /v1/reports/inventory` computes it from the
    /// ledger.
    pub fn report(
        &self,
        state: &Arc<AppState>,
        store: &dyn Store,
        options: &ReportOptions,
    ) -> Result<Loaded<crate::inventory::Report>, PageError> {
        let trust = crate::inventory::trust_as_of(store, &crate::clock::rfc3339(options.as_of))
            .map_err(inventory_error)?;
        self.with(state, store, |inner| {
            let (inv, _) = inner.inventory()?;
            Ok(build_report(inv, &trust, options))
        })
    }
}

/// Loads the inventory from scratch (through the snapshot when it matches), recording progress.
fn first_load(ws: &Workspace, first: &Mutex<FirstLoad>) -> Result<(Inventory, u64), PageError> {
    let store = ws
        .read_store()
        .map_err(|e| PageError::internal(e.to_string()))?;
    let path = ws.inventory_snapshot_path();
    let mut progress = |done: u64, total: u64| {
        if let Ok(mut first) = first.lock() {
            first.progress = (done, total);
        }
    };
    // Without `as_of`, every record folded is counted: `records` is the size covered.
    let inv =
        load_with_snapshot(&*store, None, Some(&path), &mut progress).map_err(inventory_error)?;
    let covered = inv.records;
    Ok((inv, covered))
}

/// The page shown while the first load runs: progress, and a reload every two seconds.
pub fn loading_notice(done: u64, total: u64) -> Markup {
    html! {
        meta http-equiv="refresh" content="2";
        p role="status" {
            "The inventory is being read from the ledger"
            @if total > 0 { " for the first time since the server started: " (done) " of " (total) " records" }
            ". This page reloads itself."
        }
        @if total > 0 {
            progress max=(total) value=(done) aria-label="Records read" { (done) " of " (total) }
        }
    }
}

/// The list page's rows of every model, by name.
#[derive(Debug)]
struct Rows {
    covered: u64,
    minute: i64,
    /// When they were built and how long that took.
    built: Stopwatch,
    took: Duration,
    rows: Vec<Row>,
}

/// One model's row on the list page.
#[derive(Debug)]
struct Row {
    model: String,
    /// The model name in lower case, for the filter.
    folded_name: String,
    tiers: BTreeSet<i64>,
    versions: usize,
    latest: Option<String>,
    /// (criteria met, criteria counted) of the latest version, if its facts are known.
    completeness: Option<(usize, usize)>,
    current: BTreeMap<String, String>,
    gaps: usize,
    shadow: bool,
    retired: bool,
}

impl Cache {
    /// The cache, once no other request holds it, waiting at most [`LOCK_WAIT`]: `None` when
    /// another request is still folding records into it (after a bulk import, say), so that a
    /// page answers with a reload instead of holding its request past the deadline.
    fn lock(&self) -> Result<Option<MutexGuard<'_, Inner>>, PageError> {
        let waited = Stopwatch::start();
        loop {
            match self.inner.try_lock() {
                Ok(guard) => return Ok(Some(guard)),
                Err(std::sync::TryLockError::WouldBlock) if waited.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(std::sync::TryLockError::WouldBlock) => return Ok(None),
                Err(std::sync::TryLockError::Poisoned(_)) => {
                    return Err(PageError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the models cache lock is poisoned",
                    ))
                }
            }
        }
    }
}

impl Inner {
    /// Folds the records appended since into the loaded inventory. A failed fold drops the
    /// inventory (the next request loads it anew).
    fn refresh(&mut self, store: &dyn Store) -> Result<(), PageError> {
        if let Some((mut inv, covered)) = self.folded.take() {
            let covered = advance(store, &mut inv, covered).map_err(inventory_error)?;
            self.folded = Some((inv, covered));
        }
        Ok(())
    }

    fn inventory(&self) -> Result<(&Inventory, u64), PageError> {
        self.folded
            .as_ref()
            .map(|(inv, covered)| (inv, *covered))
            .ok_or_else(|| {
                PageError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the inventory is not loaded",
                )
            })
    }
}

fn inventory_error(e: InventoryError) -> PageError {
    match e {
        InventoryError::Invalid(m) => PageError::invalid(m),
        InventoryError::Ledger(e) => PageError::from(e),
        other => PageError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

/// Report options as of `now` over the workspace's production environments.
fn options(state: &AppState, now: OffsetDateTime) -> ReportOptions {
    ReportOptions::new(now, state.ws.production_environments())
}

/// The findings of the report as of `now` (key expiries are not needed: no trust store).
fn findings(inv: &Inventory, options: &ReportOptions) -> Vec<Finding> {
    build_report(inv, &TrustStore::new(), options).findings
}

/// The version of a model most recently decided about or reported deployed.
fn latest_version(entry: &ModelEntry) -> Option<(&String, &VersionEntry)> {
    entry.versions.iter().max_by_key(|(_, v)| activity(v))
}

/// The newest record about a version (decision or deployment).
fn activity(v: &VersionEntry) -> u64 {
    let decided = v.newest.as_ref().map_or(0, |d| d.index);
    v.deployments
        .values()
        .map(|d| d.index)
        .fold(decided, u64::max)
}

/// (criteria met, criteria counted) of a version's facts at its tier (unknown tier: 0, the
/// strictest, as the report counts it).
fn completeness(facts: &Facts, tier: Option<i64>) -> (usize, usize) {
    let criteria = facts.criteria(tier.unwrap_or(0));
    let met = criteria.iter().filter(|(_, c)| c.complete).count();
    (met, criteria.len())
}

impl Rows {
    /// The rows of every model of `inv` (covering `covered` records) as of `now`.
    fn build(inv: &Inventory, covered: u64, now: OffsetDateTime, options: &ReportOptions) -> Rows {
        let started = Stopwatch::start();
        let rows = build_rows(inv, options);
        Rows {
            covered,
            minute: now.unix_timestamp().div_euclid(60),
            built: Stopwatch::start(),
            took: started.elapsed(),
            rows,
        }
    }
}

fn build_rows(inv: &Inventory, options: &ReportOptions) -> Vec<Row> {
    let mut gaps: BTreeMap<&str, usize> = BTreeMap::new();
    let found = findings(inv, options);
    for f in &found {
        *gaps.entry(f.model.as_str()).or_default() += 1;
    }
    listing(inv)
        .into_iter()
        .map(|m| {
            let entry = inv.models.get(&m.model);
            let latest = entry.and_then(latest_version);
            Row {
                folded_name: m.model.to_lowercase(),
                tiers: m.versions.iter().filter_map(|v| v.tier).collect(),
                versions: m.versions.len(),
                latest: latest.map(|(name, _)| name.clone()),
                completeness: latest
                    .and_then(|(_, v)| Some(completeness(v.facts.as_ref()?, v.tier))),
                gaps: gaps.get(m.model.as_str()).copied().unwrap_or(0),
                shadow: m.versions.iter().any(|v| v.shadow),
                retired: m.retired.is_some(),
                current: m.current,
                model: m.model,
            }
        })
        .collect()
}

/// Query of `GET /console/models`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    q: Option<String>,
    page: Option<String>,
}

fn read_query<T: serde::de::DeserializeOwned + Default>(
    raw: Option<String>,
) -> Result<T, PageError> {
    match raw {
        None => Ok(T::default()),
        Some(q) => serde_urlencoded::from_str(&q)
            .map_err(|e| PageError::invalid(format!("The query does not read: {e}"))),
    }
}

/// The link to page `n` of the list filtered by `q`.
fn list_link(q: &str, n: usize) -> String {
    let mut fields = Vec::new();
    if !q.is_empty() {
        fields.push(("q", q.to_owned()));
    }
    fields.push(("page", n.to_string()));
    format!(
        "/console/models?{}",
        serde_urlencoded::to_string(&fields).unwrap_or_default()
    )
}

/// `GET /console/models?q=&page=`: every model (name containing `q`, case-insensitive), 100
/// per page, with its tiers, versions, the completeness of its latest version, the version
/// current in each environment and its number of findings.
pub async fn list(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Markup, PageError> {
    let query: ListQuery = read_query(raw)?;
    let q = query.q.unwrap_or_default().trim().to_owned();
    let page_no = match query.page.as_deref().map(str::trim) {
        None | Some("") => 1,
        Some(p) => match p.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(PageError::invalid(format!(
                    "`page` must be a page number from 1; `{p}` is not"
                )))
            }
        },
    };
    let worker = Arc::clone(&state);
    let loaded = blocking(move || {
        let state = worker;
        let reader = state.readers.checkout()?;
        let store = reader.store()?;
        state.console.models.with(&state, store, |inner| {
            let now = state.clock.now();
            let minute = now.unix_timestamp().div_euclid(60);
            let (inv, covered) = inner.inventory()?;
            if let Some(rows) = inner.rows.as_ref().filter(|r| {
                (r.covered == covered && r.minute == minute)
                    || r.built.elapsed() < r.took * REBUILD_SHARE
            }) {
                return Ok(Arc::clone(rows));
            }
            let rows = Arc::new(Rows::build(inv, covered, now, &options(&state, now)));
            inner.rows = Some(Arc::clone(&rows));
            Ok(rows)
        })
    })
    .await?;
    let rows = match loaded {
        Loaded::Ready(rows) => rows,
        Loaded::Loading(done, total) => {
            return Ok(layout(
                &viewer,
                Section::Models,
                "Models",
                loading_notice(done, total),
            ))
        }
    };
    let needle = q.to_lowercase();
    let matching: Vec<&Row> = rows
        .rows
        .iter()
        .filter(|r| r.folded_name.contains(&needle))
        .collect();
    let skip = (page_no - 1).saturating_mul(PAGE_SIZE);
    let shown: Vec<&Row> = matching
        .iter()
        .skip(skip)
        .take(PAGE_SIZE)
        .copied()
        .collect();
    let more = matching.len() > skip.saturating_add(shown.len());
    let body = html! {
        form.filters method="get" action="/console/models" {
            div.field {
                label for="models-q" { "Model name contains" }
                input id="models-q" type="search" name="q" value=(q);
            }
            button type="submit" { "Filter" }
        }
        p.small { (rows.rows.len()) " models, as of the ledger's first " (rows.covered) " records." }
        @if !q.is_empty() {
            p role="status" { (matching.len()) " models whose name contains “" (q) "”." }
        }
        @if shown.is_empty() {
            p role="status" { "No models match." }
        } @else {
            table.models {
                (table_head("Models", &["Model", "Tier", "#Versions", "Completeness", "Current", "#Gaps"]))
                tbody {
                    @for r in &shown { (row(r)) }
                }
            }
        }
        @if page_no > 1 || more {
            nav.pager aria-label="Pages" {
                @if page_no > 1 {
                    a href=(list_link(&q, page_no - 1)) rel="prev" { "Previous page" }
                }
                span { "Page " (page_no) }
                @if more {
                    a href=(list_link(&q, page_no + 1)) rel="next" { "Next page" }
                }
            }
        }
    };
    Ok(layout(&viewer, Section::Models, "Models", body))
}

fn row(r: &Row) -> Markup {
    html! {
        tr {
            th scope="row" {
                a href=(model_path(&r.model, "")) { (r.model) }
                @if r.shadow {
                    " " span.flag.shadow title="Deployed without verified, signed metadata" { "shadow" }
                }
                @if r.retired {
                    " " span.flag.retired { "retired" }
                }
            }
            td {
                @if r.tiers.is_empty() {
                    span.muted { "unknown" }
                } @else {
                    (r.tiers.iter().map(i64::to_string).collect::<Vec<_>>().join(", "))
                }
            }
            td.num { (r.versions) }
            td { (meter(r.completeness, r.latest.as_deref())) }
            td {
                @if r.current.is_empty() {
                    span.muted { "nowhere" }
                } @else {
                    ul.current {
                        @for (env, version) in &r.current {
                            li { (env) ": " span.mono { (version) } }
                        }
                    }
                }
            }
            td.num { (r.gaps) }
        }
    }
}

/// A completeness meter with its text ("3/4 criteria"), readable without colour.
fn meter(completeness: Option<(usize, usize)>, version: Option<&str>) -> Markup {
    match completeness {
        Some((met, total)) => html! {
            span.completeness {
                meter min="0" max=(total) low=(total.saturating_sub(1)) high=(total) optimum=(total)
                    value=(met) title={ "Version " (version.unwrap_or("")) } { (met) "/" (total) }
                " " span.score { (met) "/" (total) }
                @if let Some(v) = version { " " span.muted { "(" (v) ")" } }
            }
        },
        None => html! { span.muted { "unknown (no decision)" } },
    }
}
