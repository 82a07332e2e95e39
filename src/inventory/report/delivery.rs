//! The delivery side of the report: promotions with their lead time and outcome, deployment
//! frequency, change failure rate, decisions per week, and the percentile definitions.

use std::collections::BTreeSet;

use time::OffsetDateTime;

use super::{
    days, minus, plus, round, share, time, FailureRate, Frequency, Kpis, LeadTime, ReportOptions,
    WeekCount, WEEKS,
};
use crate::clock::rfc3339;
use crate::inventory::fold::Inventory;

/// One promotion and how it went.
pub(super) struct Promotion {
    pub(super) tier: i64,
    pub(super) model: String,
    pub(super) version: String,
    pub(super) failed: bool,
    pub(super) lead_hours: Option<f64>,
}

/// Decisions per week for the [`WEEKS`] weeks ending at `as_of`.
pub(super) fn weekly(inv: &Inventory, as_of: OffsetDateTime) -> Vec<WeekCount> {
    let start = minus(as_of, days(7 * WEEKS));
    let mut weeks: Vec<WeekCount> = (0..WEEKS)
        .map(|k| WeekCount {
            week_start: rfc3339(plus(start, days(7 * k))),
            allow: 0,
            deny: 0,
        })
        .collect();
    let range = (
        std::ops::Bound::Excluded(start.unix_timestamp_nanos()),
        std::ops::Bound::Included(as_of.unix_timestamp_nanos()),
    );
    for (nanos, [allow, deny]) in inv.decision_times.range(range) {
        let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(*nanos) else {
            continue;
        };
        // Weeks are (start + 7k days, start + 7(k+1) days]: `as_of` itself falls in the last.
        let k = usize::try_from(((t - start).whole_seconds() - 1) / (7 * 86_400)).unwrap_or(0);
        if let Some(w) = weeks.get_mut(k) {
            w.allow += allow;
            w.deny += deny;
        }
    }
    weeks
}

/// Every promotion (see the module docs) up to `as_of`, with its outcome.
pub(super) fn promotions(inv: &Inventory, options: &ReportOptions) -> Vec<Promotion> {
    let horizon = days(options.failure_days);
    let window_start = minus(options.as_of, days(options.window_days));
    let mut out = Vec::new();
    for (model, entry) in &inv.models {
        let rollbacks: Vec<(&str, OffsetDateTime)> = entry
            .versions
            .values()
            .flat_map(|v| v.environments.iter())
            .flat_map(|(env, e)| e.rollbacks.iter().map(move |t| (env.as_str(), t)))
            .filter_map(|(env, t)| Some((env, time(t)?)))
            .collect();
        for (version, v) in &entry.versions {
            // One promotion per (model, version): its first; a rollback in any production
            // environment the version was promoted to counts against it.
            let candidates: Vec<(&str, &(u64, String))> = v
                .environments
                .iter()
                .filter(|(env, _)| options.production.contains(*env))
                .filter_map(|(env, e)| Some((env.as_str(), e.first_promotion.as_ref()?)))
                .collect();
            let promoted: BTreeSet<&str> = candidates.iter().map(|(env, _)| *env).collect();
            let Some((_, (_, first_time))) = candidates.iter().min_by_key(|(_, (index, _))| *index)
            else {
                continue;
            };
            let Some(at) = time(first_time) else {
                continue;
            };
            if at <= window_start || at > options.as_of {
                continue;
            }
            let until = plus(at, horizon).min(options.as_of);
            let rolled_back = rollbacks
                .iter()
                .any(|(env, t)| promoted.contains(env) && *t > at && *t <= until);
            let retired = [v.retired.as_ref(), entry.retired.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(|(_, t, _)| time(t))
                .any(|t| t > at && t <= until);
            let lead_hours = v
                .created_at
                .as_deref()
                .and_then(time)
                .map(|c| round((at - c).as_seconds_f64() / 3600.0, 2));
            out.push(Promotion {
                tier: v.tier.unwrap_or(0),
                model: model.clone(),
                version: version.clone(),
                failed: rolled_back || retired,
                lead_hours,
            });
        }
    }
    out
}

/// Fills the delivery KPIs from `promotions` (already within the window).
pub(super) fn delivery<'a>(
    k: &mut Kpis,
    promotions: impl Iterator<Item = &'a Promotion>,
    options: &ReportOptions,
) {
    let promotions: Vec<&Promotion> = promotions.collect();
    let distinct: BTreeSet<(&str, &str)> = promotions
        .iter()
        .map(|p| (p.model.as_str(), p.version.as_str()))
        .collect();
    let window = options.window_days.max(1);
    k.deployment_frequency = Frequency {
        per_week: round(distinct.len() as f64 * 7.0 / window as f64, 2),
        count: distinct.len() as u64,
        window_days: options.window_days,
    };
    let failed = promotions.iter().filter(|p| p.failed).count() as u64;
    k.change_failure_rate = FailureRate {
        numerator: failed,
        denominator: promotions.len() as u64,
        ratio: share(failed, promotions.len() as u64),
        window_days: options.window_days,
    };
    let mut hours: Vec<f64> = promotions.iter().filter_map(|p| p.lead_hours).collect();
    hours.sort_by(f64::total_cmp);
    k.lead_time_to_production_hours = LeadTime {
        median: median(&hours),
        p90: nearest_rank(&hours, 90),
        count: hours.len() as u64,
    };
}

/// The median of sorted values.
pub fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let m = if n % 2 == 1 {
        sorted.get(mid).copied()
    } else {
        Some((sorted.get(mid - 1)? + sorted.get(mid)?) / 2.0)
    };
    m.map(|x| round(x, 2))
}

/// The `p`-th percentile of sorted values by nearest rank (the smallest value with at least
/// `p`% of the values at or below it).
pub fn nearest_rank(sorted: &[f64], p: u64) -> Option<f64> {
    let n = sorted.len() as u64;
    if n == 0 {
        return None;
    }
    let rank = (p * n).div_ceil(100).max(1);
    sorted
        .get(usize::try_from(rank - 1).ok()?)
        .map(|x| round(*x, 2))
}
