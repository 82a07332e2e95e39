//! The inventory report: population, KPIs with numerator and denominator (overall and per
//! tier), findings and what expires — the JSON contract of `docs/inventory.md`.
//!
//! Definitions (GOVERNANCE-NOTES KPIs, made exact):
//!
//! - **Population** P: for each model that is not retired and each production environment, the
//!   version currently there — the one named by the newest deploying allow (not a dry run) or
//!   reported deployment (admission, registry sync, `inventory observe`) — unless that version
//!   is retired. A (model, version) in several production environments counts once. A version
//!   without verified metadata stays in P as a *shadow* entry and counts as tier 0 (the strictest
//!   until its metadata says otherwise).
//! - **inventory / documentation / reproducible training**: the share of P whose [`super::Facts`]
//!   criterion holds (a shadow entry has none, so it fails all three).
//! - **drift coverage**: among P entries of tier 0 or 1, the share with drift monitoring
//!   configured (tier 0 also a performance threshold).
//! - **approval currency**: the share of P whose latest production allow counted at least one
//!   approval and none of them has expired at `as_of`.
//! - **promotions**: the first deploying allow of a (model, version) to a production environment
//!   that is not a rollback — one per model version, however many production environments.
//!   **lead time** = promotion time − `model.created_at` of the counted metadata, in hours
//!   (median; p90 by nearest rank), over promotions in the window; **deployment frequency** =
//!   distinct (model, version) promoted in the window, per 7 days; **change failure rate** =
//!   promotions in the window followed within `failure_days` (and by `as_of`) by a rollback
//!   allow of the same model to a production environment the version was promoted to, or by the
//!   version's retirement, over all promotions in the window. The window is
//!   `(as_of − window_days, as_of]`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

mod delivery;
mod expiring;

pub use delivery::{median, nearest_rank};

use super::fold::{Inventory, VersionEntry};
use crate::attest::TrustStore;
use crate::clock::{parse_rfc3339, rfc3339};
use delivery::{delivery, promotions, weekly};
use expiring::expiring;

/// The `version` of the report format.
pub const REPORT_VERSION: u64 = 1;

/// What a report is computed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportOptions {
    /// The report's time (RFC 3339 UTC); records after it are not counted.
    pub as_of: OffsetDateTime,
    /// The environments that count as production.
    pub production: BTreeSet<String>,
    /// Delivery KPI window, days.
    pub window_days: u64,
    /// A rollback within this many days of a promotion makes it a failed change.
    pub failure_days: u64,
    /// List what expires within this many days of `as_of`.
    pub expiring_days: u64,
}

impl ReportOptions {
    /// Defaults: a 28-day window, 7-day failure horizon, 30 days of expiries.
    pub fn new(as_of: OffsetDateTime, production: BTreeSet<String>) -> ReportOptions {
        ReportOptions {
            as_of,
            production,
            window_days: 28,
            failure_days: 7,
            expiring_days: 30,
        }
    }
}

/// A share with its numerator and denominator; `ratio` is `null` for an empty denominator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// How many qualify.
    pub numerator: u64,
    /// Out of how many.
    pub denominator: u64,
    /// `numerator / denominator`, rounded to 4 decimals.
    pub ratio: Option<f64>,
}

impl Ratio {
    fn of(numerator: u64, denominator: u64) -> Ratio {
        Ratio {
            numerator,
            denominator,
            ratio: share(numerator, denominator),
        }
    }
}

pub(super) fn share(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| round(n as f64 / d as f64, 4))
}

pub(super) fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// Lead time to production, hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LeadTime {
    /// Median (mean of the two middle values for an even count), 2 decimals.
    pub median: Option<f64>,
    /// 90th percentile by nearest rank, 2 decimals.
    pub p90: Option<f64>,
    /// Promotions with a known metadata creation time.
    pub count: u64,
}

/// Deployment frequency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Frequency {
    /// Promotions per 7 days over the window, 2 decimals.
    pub per_week: f64,
    /// Distinct (model, version) promoted in the window.
    pub count: u64,
    /// The window, days.
    pub window_days: u64,
}

/// Change failure rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct FailureRate {
    /// Promotions followed by a rollback or retirement within the failure horizon.
    pub numerator: u64,
    /// Promotions in the window.
    pub denominator: u64,
    /// The share, 4 decimals.
    pub ratio: Option<f64>,
    /// The window, days.
    pub window_days: u64,
}

/// The KPIs of one population (all, or one tier).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    /// Registered, owned, identity and lineage as the tier requires.
    pub inventory_completeness: Ratio,
    /// Model card and tier documentation.
    pub documentation_completeness: Ratio,
    /// Drift monitoring among tiers 0 and 1.
    pub drift_coverage: Ratio,
    /// Reproducible training.
    pub reproducible_training_rate: Ratio,
    /// Current approvals.
    pub approval_currency: Ratio,
    /// Lead time to production.
    pub lead_time_to_production_hours: LeadTime,
    /// Deployment frequency.
    pub deployment_frequency: Frequency,
    /// Change failure rate.
    pub change_failure_rate: FailureRate,
}

/// One gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The model.
    pub model: String,
    /// The version.
    pub version: String,
    /// The environment, when the finding is about one.
    pub environment: Option<String>,
    /// `shadow`, `inventory`, `documentation`, `drift`, `reproducibility`, `approval-expired`,
    /// `approval-missing`.
    pub kind: String,
    /// What is missing: a JSON pointer into the policy input, or what happened.
    pub detail: String,
}

/// Something that expires within the horizon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiring {
    /// The model (`null` for a key).
    pub model: Option<String>,
    /// The version (`null` for a key).
    pub version: Option<String>,
    /// What expires.
    pub what: String,
    /// When, RFC 3339 UTC.
    pub expires_at: String,
}

/// One member of the population.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The model.
    pub model: String,
    /// The version.
    pub version: String,
    /// The tier counted (0 when unknown).
    pub tier: i64,
    /// The production environments it is current in.
    pub environments: Vec<String>,
    /// Deployed without verified metadata.
    pub shadow: bool,
}

/// The report (format version [`REPORT_VERSION`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`REPORT_VERSION`].
    pub version: u64,
    /// The report's time.
    pub as_of: String,
    /// |P|.
    pub population: u64,
    /// KPIs over P.
    pub kpis: Kpis,
    /// KPIs per tier (`"0"`, `"1"`, `"2"`).
    pub by_tier: BTreeMap<String, Kpis>,
    /// What is missing, per member.
    pub findings: Vec<Finding>,
    /// What expires within the horizon, soonest first.
    pub expiring: Vec<Expiring>,
    /// The members of P.
    pub members: Vec<Member>,
    /// Data behind the charts of the HTML report.
    pub series: Series,
}

/// Chart data: lead times of the promotions in the window and decisions per week.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Each promotion's lead time in the window, hours, ascending.
    pub lead_time_hours: Vec<f64>,
    /// Decisions per week for the [`WEEKS`] weeks up to `as_of`, oldest first.
    pub decisions_per_week: Vec<WeekCount>,
}

/// Decisions in one week.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeekCount {
    /// Start of the week (`as_of` − 7·k days), RFC 3339 UTC.
    pub week_start: String,
    /// Allows (dry runs included).
    pub allow: u64,
    /// Denies.
    pub deny: u64,
}

/// Weeks of decision history the report charts.
pub const WEEKS: i64 = 12;

pub(super) fn time(s: &str) -> Option<OffsetDateTime> {
    parse_rfc3339(s).ok()
}

/// Computes the report over `inv` (folded up to `options.as_of`), with `trust` for key expiries.
pub fn build_report(inv: &Inventory, trust: &TrustStore, options: &ReportOptions) -> Report {
    let as_of = options.as_of;
    let as_of_text = rfc3339(as_of);
    let members = population(inv, options);
    let mut findings = Vec::new();
    let mut by_tier: BTreeMap<String, Kpis> = ["0", "1", "2"]
        .iter()
        .map(|t| ((*t).to_owned(), Kpis::default()))
        .collect();
    let mut overall = Tally::default();
    let mut tiers: BTreeMap<i64, Tally> = BTreeMap::new();
    for m in &members {
        let Some(v) = inv
            .models
            .get(&m.model)
            .and_then(|e| e.versions.get(&m.version))
        else {
            continue;
        };
        let t = judge(m, v, &as_of_text, options, &mut findings);
        overall.add(&t);
        tiers.entry(m.tier).or_default().add(&t);
    }
    let promotions = promotions(inv, options);
    let mut kpis = overall.kpis();
    delivery(&mut kpis, promotions.iter(), options);
    for (tier, k) in by_tier.iter_mut() {
        let n: i64 = tier.parse().unwrap_or(0);
        *k = tiers.get(&n).map(Tally::kpis).unwrap_or_default();
        delivery(k, promotions.iter().filter(|p| p.tier == n), options);
    }
    Report {
        version: REPORT_VERSION,
        as_of: as_of_text,
        population: members.len() as u64,
        kpis,
        by_tier,
        findings,
        expiring: expiring(inv, trust, options),
        members,
        series: Series {
            lead_time_hours: {
                let mut h: Vec<f64> = promotions.iter().filter_map(|p| p.lead_hours).collect();
                h.sort_by(f64::total_cmp);
                h
            },
            decisions_per_week: weekly(inv, options.as_of),
        },
    }
}

/// The members of P (see the module docs), sorted by model and version.
fn population(inv: &Inventory, options: &ReportOptions) -> Vec<Member> {
    let mut out: BTreeMap<(String, String), Member> = BTreeMap::new();
    for (model, entry) in &inv.models {
        if entry.retired.is_some() {
            continue;
        }
        // The newest (index, version) per production environment.
        let mut current: BTreeMap<String, (u64, &str)> = BTreeMap::new();
        for (version, v) in &entry.versions {
            let mut seen = |env: &str, index: u64| {
                if options.production.contains(env) {
                    let slot = current.entry(env.to_owned()).or_insert((index, version));
                    if index >= slot.0 {
                        *slot = (index, version);
                    }
                }
            };
            for (env, d) in &v.environments {
                if let Some(a) = &d.last_allow {
                    seen(env, a.index);
                }
            }
            for (env, dep) in &v.deployments {
                seen(env, dep.index);
            }
        }
        for (env, (_, version)) in current {
            let Some(v) = entry.versions.get(version) else {
                continue;
            };
            if v.retired.is_some() {
                continue;
            }
            let shadow = !v.facts.as_ref().is_some_and(|f| f.registered);
            out.entry((model.clone(), (*version).to_owned()))
                .or_insert_with(|| Member {
                    model: model.clone(),
                    version: (*version).to_owned(),
                    tier: if shadow { 0 } else { v.tier.unwrap_or(0) },
                    environments: Vec::new(),
                    shadow,
                })
                .environments
                .push(env);
        }
    }
    out.into_values().collect()
}

/// One member's contribution to the ratios.
#[derive(Default)]
struct Judged {
    inventory: bool,
    documentation: bool,
    drift: Option<bool>,
    reproducible: bool,
    approvals_current: bool,
}

#[derive(Default)]
struct Tally {
    n: u64,
    inventory: u64,
    documentation: u64,
    drift: (u64, u64),
    reproducible: u64,
    approvals: u64,
}

impl Tally {
    fn add(&mut self, j: &Judged) {
        self.n += 1;
        self.inventory += u64::from(j.inventory);
        self.documentation += u64::from(j.documentation);
        if let Some(d) = j.drift {
            self.drift.1 += 1;
            self.drift.0 += u64::from(d);
        }
        self.reproducible += u64::from(j.reproducible);
        self.approvals += u64::from(j.approvals_current);
    }

    fn kpis(&self) -> Kpis {
        Kpis {
            inventory_completeness: Ratio::of(self.inventory, self.n),
            documentation_completeness: Ratio::of(self.documentation, self.n),
            drift_coverage: Ratio::of(self.drift.0, self.drift.1),
            reproducible_training_rate: Ratio::of(self.reproducible, self.n),
            approval_currency: Ratio::of(self.approvals, self.n),
            ..Kpis::default()
        }
    }
}

/// Judges one member and records its findings.
fn judge(
    m: &Member,
    v: &VersionEntry,
    as_of: &str,
    options: &ReportOptions,
    findings: &mut Vec<Finding>,
) -> Judged {
    let mut find = |environment: Option<String>, kind: &str, detail: String| {
        findings.push(Finding {
            model: m.model.clone(),
            version: m.version.clone(),
            environment,
            kind: kind.to_owned(),
            detail,
        });
    };
    if m.shadow {
        for env in &m.environments {
            let how = match v.deployments.get(env) {
                Some(d) => format!("reported by `{}` (record {})", d.source, d.index),
                None => "allowed".to_owned(),
            };
            find(
                Some(env.clone()),
                "shadow",
                format!("deployed in {env}, {how}, without registered, signed metadata"),
            );
        }
    }
    let mut j = Judged::default();
    if let Some(f) = &v.facts {
        for (kind, c) in [
            ("inventory", &f.inventory),
            ("documentation", &f.documentation),
            ("reproducibility", &f.reproducibility),
        ] {
            for p in &c.missing {
                find(None, kind, p.clone());
            }
        }
        if m.tier <= 1 {
            for p in &f.drift.missing {
                find(None, "drift", p.clone());
            }
        }
        j.inventory = f.inventory.complete && !m.shadow;
        j.documentation = f.documentation.complete && !m.shadow;
        j.reproducible = f.reproducibility.complete && !m.shadow;
        j.drift = (m.tier <= 1).then_some(f.drift.complete && !m.shadow);
    } else {
        j.drift = (m.tier <= 1).then_some(false);
    }
    let last_allow = v
        .environments
        .iter()
        .filter(|(env, _)| options.production.contains(*env))
        .filter_map(|(env, e)| Some((env, e.last_allow.as_ref()?)))
        .max_by_key(|(_, d)| d.index);
    match last_allow {
        None => find(
            None,
            "approval-missing",
            "no production allow is recorded for this version".to_owned(),
        ),
        Some((env, d)) if d.approvals.is_empty() => find(
            Some(env.clone()),
            "approval-missing",
            format!(
                "the production allow (record {}) counted no approval",
                d.index
            ),
        ),
        Some((env, d)) => {
            let mut current = true;
            for (role, who, expires) in &d.approvals {
                if expires.as_str() <= as_of {
                    current = false;
                    find(
                        Some(env.clone()),
                        "approval-expired",
                        format!(
                            "{role} approval by {who} expired at {expires} (record {})",
                            d.index
                        ),
                    );
                }
            }
            j.approvals_current = current;
        }
    }
    j
}

/// `n` days, at most 10,000 years (time arithmetic never overflows).
pub(super) fn days(n: impl TryInto<i64>) -> Duration {
    Duration::days(
        n.try_into()
            .unwrap_or(i64::MAX)
            .clamp(-3_652_500, 3_652_500),
    )
}

/// `t + d`, saturating at the largest representable time.
pub(super) fn plus(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    t.checked_add(d)
        .unwrap_or(time::PrimitiveDateTime::MAX.assume_utc())
}

/// `t − d`, saturating at the smallest representable time.
pub(super) fn minus(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    t.checked_sub(d)
        .unwrap_or(time::PrimitiveDateTime::MIN.assume_utc())
}
