//! Overview: the ledger's size and latest checkpoint with its verification status, KPI gauges
//! per tier, decisions per week, open findings and what expires in the next 30 days.
//!
//! The KPIs, findings, expiries and weekly counts come from the latest kept inventory report
//! (`[[reports]]` schedules keep one; `docs/reports.md`). Its JSON is parsed once per kept
//! report and only a summary is held ([`Cache`]): a 1,000,000-record ledger's report is
//! about 20 MB of JSON. Without a kept report the overview computes one over the models pages'
//! inventory ([`super::models::Cache`], folded forward as the ledger grows) and reuses it for
//! [`COMPUTED_FOR`]; the page says which it shows, and while that inventory's first load runs
//! it says how far it came. The checkpoint is opened under the engine's key and its root compared with the
//! ledger's own tree on every render (a few node reads).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Stopwatch;

use axum::extract::State;
use maud::{html, Markup};
use time::OffsetDateTime;

use super::models::{loading_notice, Loaded};
use super::{blocking, model_path, page as layout, short, table_head, PageError, Section, Viewer};
use crate::clock::{parse_rfc3339, rfc3339};
use crate::engine::audit::{self, CheckpointStatus};
use crate::inventory::report::{Expiring, Finding, Kpis, Ratio, WeekCount};
use crate::inventory::scheduled::{self, StoredFormat};
use crate::inventory::{InventoryError, Report, ReportOptions};
use crate::server::state::AppState;

/// How long a report computed for the overview (no kept report) is reused.
pub const COMPUTED_FOR: Duration = Duration::from_secs(60);

/// Findings and expiries listed on the page (the counts cover all).
const LISTED: usize = 10;

/// The horizon of "expires soon", days.
const EXPIRING_DAYS: i64 = 30;

/// What the overview keeps of a report.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Where it comes from, in words.
    pub source: String,
    /// The report's `as_of`.
    pub as_of: String,
    /// Population.
    pub population: u64,
    /// KPIs over every tier, then per tier.
    pub kpis: Vec<(String, Kpis)>,
    /// Findings: how many of each kind.
    pub finding_kinds: BTreeMap<String, usize>,
    /// The first findings.
    pub findings: Vec<Finding>,
    /// Every finding.
    pub findings_total: usize,
    /// Everything the report lists as expiring, soonest first.
    pub expiring: Vec<Expiring>,
    /// Decisions per week, oldest first.
    pub weeks: Vec<WeekCount>,
}

impl Summary {
    fn of(report: Report, source: String) -> Summary {
        let mut finding_kinds = BTreeMap::new();
        for f in &report.findings {
            *finding_kinds.entry(f.kind.clone()).or_insert(0) += 1;
        }
        let mut kpis = vec![("All tiers".to_owned(), report.kpis)];
        kpis.extend(
            report
                .by_tier
                .into_iter()
                .map(|(tier, k)| (format!("Tier {tier}"), k)),
        );
        Summary {
            source,
            as_of: report.as_of,
            population: report.population,
            kpis,
            finding_kinds,
            findings_total: report.findings.len(),
            findings: report.findings.into_iter().take(LISTED).collect(),
            expiring: report.expiring,
            weeks: report.series.decisions_per_week,
        }
    }
}

/// Which report a cached summary came from.
#[derive(Debug, Clone)]
enum Source {
    /// The kept report at this ledger index.
    Kept(u64),
    /// Computed at this instant.
    Computed(Stopwatch),
}

/// The summary of the report the overview shows.
#[derive(Debug, Default)]
pub struct Cache {
    held: Mutex<Option<(Source, Arc<Summary>)>>,
}

impl Cache {
    /// The summary of the latest kept report, or of one computed now when none is kept.
    fn summary(&self, state: &Arc<AppState>) -> Result<Loaded<Arc<Summary>>, PageError> {
        let latest = {
            let reader = state.readers.checkout()?;
            scheduled::list(reader.store()?)
                .map_err(report_error)?
                .into_iter()
                .next_back()
        };
        let mut held = self
            .held
            .lock()
            .map_err(|_| PageError::internal("the overview cache is unavailable"))?;
        if let Some((source, summary)) = &*held {
            let fresh = match (source, &latest) {
                (Source::Kept(id), Some(kept)) => *id == kept.id,
                (Source::Computed(at), None) => at.elapsed() < COMPUTED_FOR,
                _ => false,
            };
            if fresh {
                return Ok(Loaded::Ready(Arc::clone(summary)));
            }
        }
        let (source, summary) = match latest {
            Some(kept) => {
                let reader = state.readers.checkout()?;
                let bytes = scheduled::get(reader.store()?, kept.id, StoredFormat::Json)
                    .map_err(report_error)?
                    .ok_or_else(|| PageError::not_found(format!("report {} is gone", kept.id)))?;
                let report: Report = serde_json::from_slice(&bytes).map_err(|e| {
                    PageError::internal(format!("kept report {} does not read: {e}", kept.id))
                })?;
                let source = format!(
                    "the kept report “{}” (record {}, generated {})",
                    kept.name, kept.id, kept.generated_at
                );
                (Source::Kept(kept.id), Summary::of(report, source))
            }
            None => {
                let options =
                    ReportOptions::new(state.clock.now(), state.ws.production_environments());
                let reader = state.readers.checkout()?;
                let report = match state
                    .console
                    .models
                    .report(state, reader.store()?, &options)?
                {
                    Loaded::Ready(report) => report,
                    Loaded::Loading(done, total) => return Ok(Loaded::Loading(done, total)),
                };
                let source =
                    "a report computed now: no report is kept yet (schedule one with `[[reports]]` in modelgate.toml)"
                        .to_owned();
                (
                    Source::Computed(Stopwatch::start()),
                    Summary::of(report, source),
                )
            }
        };
        let summary = Arc::new(summary);
        *held = Some((source, Arc::clone(&summary)));
        Ok(Loaded::Ready(summary))
    }
}

fn report_error(e: InventoryError) -> PageError {
    match e {
        InventoryError::Invalid(m) => PageError::invalid(m),
        other => PageError::internal(other.to_string()),
    }
}

/// The ledger's size and what its latest checkpoint proves.
#[derive(Debug, Clone)]
pub struct LedgerStatus {
    /// Records in the ledger.
    pub size: u64,
    /// The latest checkpoint, its signature, and whether its root is the ledger's own.
    pub checkpoint: Option<(CheckpointStatus, Result<(), String>)>,
}

fn ledger_status(state: &AppState) -> Result<LedgerStatus, PageError> {
    let verifier = state
        .ws
        .note_verifier()
        .map_err(|e| PageError::internal(e.to_string()))?;
    let reader = state.readers.checkout()?;
    let store = reader.store()?;
    let size = store.size()?;
    let checkpoint = match store.latest_checkpoint()? {
        Some((at, note)) => {
            let status = audit::checkpoint_status(at, &note, &verifier);
            let root = match status.verified_root() {
                Some(root) => audit::check_root(store, at, root)?,
                None => Err("its signature does not verify, so its root proves nothing".to_owned()),
            };
            Some((status, root))
        }
        None => None,
    };
    Ok(LedgerStatus { size, checkpoint })
}

/// `GET /console`.
pub async fn page(State(state): State<Arc<AppState>>, viewer: Viewer) -> Result<Markup, PageError> {
    let (ledger, summary, now) = blocking(move || {
        let ledger = ledger_status(&state)?;
        let summary = state.console.overview.summary(&state)?;
        Ok((ledger, summary, state.clock.now()))
    })
    .await?;
    let (summary, loading) = match summary {
        Loaded::Ready(s) => (Some(s), None),
        Loaded::Loading(done, total) => (None, Some(loading_notice(done, total))),
    };
    Ok(layout(
        &viewer,
        Section::Overview,
        "Overview",
        html! {
            @if let Some(notice) = loading { (notice) }
            div.cards {
                section.card aria-labelledby="ledger-h" {
                    h2 #ledger-h { "Ledger" }
                    (ledger_card(&ledger))
                }
                section.card aria-labelledby="findings-h" {
                    h2 #findings-h { "Open findings" }
                    (from_report(&summary, findings_card))
                }
                section.card aria-labelledby="expiring-h" {
                    h2 #expiring-h { "Expiring in the next 30 days" }
                    (from_report(&summary, |s| expiring_card(s, now)))
                }
            }
            @if let Some(summary) = &summary {
                p.small { "KPIs, findings, expiries and weekly counts from " (summary.source)
                    ", as of " (summary.as_of) "; population " (summary.population) " model versions." }
            }
            section aria-labelledby="kpi-h" {
                h2 #kpi-h { "KPIs per tier" }
                (from_report(&summary, kpi_gauges))
            }
            section aria-labelledby="weeks-h" {
                h2 #weeks-h { "Decisions per week" }
                (from_report(&summary, |s| weekly_chart(&s.weeks)))
            }
        },
    ))
}

/// A part of the page drawn from the report, or a placeholder while the inventory loads.
fn from_report(summary: &Option<Arc<Summary>>, part: impl Fn(&Summary) -> Markup) -> Markup {
    match summary {
        Some(s) => part(s),
        None => html! { p.small { "Waiting for the inventory (above)." } },
    }
}

fn ledger_card(l: &LedgerStatus) -> Markup {
    html! {
        p.big { (l.size) } p.small { "records" }
        @match &l.checkpoint {
            None => p.warning role="status" { "No checkpoint is signed yet." },
            Some((cp, root)) => {
                @let hex_root = cp.root.map(hex::encode).unwrap_or_default();
                dl.facts {
                    dt { "Latest checkpoint" } dd { "size " (cp.size) }
                    dt { "Root" } dd.mono title=(hex_root) { (short(&hex_root)) }
                    dt { "Signature" }
                    dd {
                        @match &cp.signature {
                            Ok(()) => span.ok { "verified under the engine's key" },
                            Err(why) => span.bad { "does NOT verify: " (why) },
                        }
                    }
                    dt { "Root against the ledger" }
                    dd {
                        @match root {
                            Ok(()) => span.ok { "matches the ledger's own tree" },
                            Err(why) => span.bad { "does NOT match the ledger's own tree: " (why) },
                        }
                    }
                    dt { "Records since" } dd { (l.size.saturating_sub(cp.size)) }
                }
            }
        }
        p { a href="/console/ledger" { "Checkpoints and verification" } }
    }
}

fn findings_card(s: &Summary) -> Markup {
    html! {
        p.big { (s.findings_total) }
        @if s.finding_kinds.is_empty() {
            p role="status" { "No open findings." }
        } @else {
            ul {
                @for (kind, n) in &s.finding_kinds { li { (kind) ": " (n) } }
            }
            details {
                summary { "The first " (s.findings.len()) }
                ul.small {
                    @for f in &s.findings {
                        li {
                            a href=(model_path(&f.model, "")) { (f.model) }
                            " " (f.version)
                            @if let Some(env) = &f.environment { " (" (env) ")" }
                            ": " (f.kind) " — " (f.detail)
                        }
                    }
                }
            }
        }
    }
}

fn expiring_card(s: &Summary, now: OffsetDateTime) -> Markup {
    let horizon = now + time::Duration::days(EXPIRING_DAYS);
    let soon: Vec<&Expiring> = s
        .expiring
        .iter()
        .filter(|e| parse_rfc3339(&e.expires_at).is_ok_and(|t| t >= now && t <= horizon))
        .collect();
    html! {
        p.big { (soon.len()) }
        @if soon.is_empty() {
            p role="status" { "The report lists nothing that expires between now and " (rfc3339(horizon)) "." }
        } @else {
            ul.small {
                @for e in soon.iter().take(LISTED) {
                    li {
                        time datetime=(e.expires_at) { (e.expires_at) } " "
                        @if let Some(m) = &e.model {
                            a href=(model_path(m, "")) { (m) } " "
                            @if let Some(v) = &e.version { (v) " " }
                        }
                        "— " (e.what)
                    }
                }
            }
            @if soon.len() > LISTED { p.small { "and " (soon.len() - LISTED) " more" } }
        }
        p.small { "As the report (as of " (s.as_of) ") lists them: it names what expires within its own horizon." }
    }
}

/// Picks one ratio KPI.
type Pick = fn(&Kpis) -> Ratio;

const RATIOS: [(&str, Pick); 5] = [
    ("Inventory completeness", |k| k.inventory_completeness),
    ("Documentation completeness", |k| {
        k.documentation_completeness
    }),
    ("Current approvals", |k| k.approval_currency),
    ("Drift monitoring (tiers 0–1)", |k| k.drift_coverage),
    ("Reproducible training", |k| k.reproducible_training_rate),
];

fn kpi_gauges(s: &Summary) -> Markup {
    html! {
        div.cards {
            @for (label, k) in &s.kpis {
                section.card {
                    h3 { (label) }
                    @for (name, pick) in RATIOS {
                        @let r = pick(k);
                        div.gauge {
                            div.label {
                                span { (name) }
                                span { (r.numerator) "/" (r.denominator)
                                    @if let Some(x) = r.ratio { " (" (format!("{:.0}", x * 100.0)) " %)" } }
                            }
                            @if let Some(x) = r.ratio {
                                meter min="0" max="1" low="0.5" high="0.9" optimum="1" value=(x)
                                    aria-label=(format!("{label}: {name}")) { (format!("{:.0} %", x * 100.0)) }
                            } @else {
                                span.small { "nothing to measure" }
                            }
                        }
                    }
                    p.small {
                        "Change failure rate " (k.change_failure_rate.numerator) "/" (k.change_failure_rate.denominator)
                        "; " (format!("{:.1}", k.deployment_frequency.per_week)) " deployments per week"
                    }
                }
            }
        }
    }
}

fn weekly_chart(weeks: &[WeekCount]) -> Markup {
    const W: f64 = 960.0;
    const H: f64 = 200.0;
    const BOTTOM: f64 = 24.0;
    let max = weeks
        .iter()
        .map(|w| w.allow + w.deny)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let slot = W / weeks.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    let scale = (H - BOTTOM - 8.0) / max;
    html! {
        @if weeks.is_empty() {
            p role="status" { "No weekly counts in this report." }
        } @else {
            div.legend aria-hidden="true" {
                span { span.swatch.allow {} "allow" } span { span.swatch.deny {} "deny" }
            }
            svg.chart viewBox=(format!("0 0 {W} {H}")) role="img" aria-labelledby="weeks-title" {
                title #weeks-title { "Decisions per week, allows and denies stacked; the table below has the numbers." }
                @for (i, w) in weeks.iter().enumerate() {
                    @let x = i as f64 * slot + (slot - bar) / 2.0;
                    @let allow = w.allow as f64 * scale;
                    @let deny = w.deny as f64 * scale;
                    rect.allow x=(fmt(x)) y=(fmt(H - BOTTOM - allow)) width=(fmt(bar)) height=(fmt(allow)) {}
                    rect.deny x=(fmt(x)) y=(fmt(H - BOTTOM - allow - deny)) width=(fmt(bar)) height=(fmt(deny)) {}
                    text x=(fmt(x)) y=(fmt(H - 8.0)) { (w.week_start.get(5..10).unwrap_or(&w.week_start)) }
                }
            }
            details {
                summary { "Decisions per week as a table" }
                table {
                    (table_head("Decisions per week", &["Week from", "#Allow", "#Deny"]))
                    tbody {
                        @for w in weeks {
                            tr { td { (w.week_start) } td.num { (w.allow) } td.num { (w.deny) } }
                        }
                    }
                }
            }
        }
    }
}

fn fmt(x: f64) -> String {
    format!("{x:.1}")
}
