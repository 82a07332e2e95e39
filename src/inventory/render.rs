//! The report in Markdown, CSV and HTML. Markdown and HTML come from one [`Doc`], so they carry
//! the same numbers; the HTML page adds inline SVG charts (a KPI gauge per tier, the lead-time
//! distribution, decisions per week) and needs nothing else: no script, no external resource.
//! CSV has one row per KPI and scope (`all`, `tier-0`, `tier-1`, `tier-2`).

use std::fmt::Write as _;

use super::report::{Kpis, Ratio, Report};
use crate::doc::{esc, Doc, Section};

/// The ratio KPIs, in report order: (JSON name, label).
const RATIOS: [(&str, &str); 5] = [
    ("inventory_completeness", "Inventory completeness"),
    ("documentation_completeness", "Documentation completeness"),
    ("drift_coverage", "Drift coverage (tiers 0-1)"),
    ("reproducible_training_rate", "Reproducible training"),
    ("approval_currency", "Approval currency"),
];

/// Renders one delivery KPI of a scope.
type KpiText = fn(&Kpis) -> String;

fn ratio<'a>(k: &'a Kpis, name: &str) -> &'a Ratio {
    match name {
        "inventory_completeness" => &k.inventory_completeness,
        "documentation_completeness" => &k.documentation_completeness,
        "drift_coverage" => &k.drift_coverage,
        "reproducible_training_rate" => &k.reproducible_training_rate,
        _ => &k.approval_currency,
    }
}

fn pct(r: &Ratio) -> String {
    match r.ratio {
        Some(x) => format!("{:.1}% ({}/{})", x * 100.0, r.numerator, r.denominator),
        None => format!("n/a (0/{})", r.denominator),
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or("n/a".to_owned(), |v| format!("{v}"))
}

fn scopes(r: &Report) -> Vec<(String, &Kpis)> {
    let mut out = vec![("all".to_owned(), &r.kpis)];
    out.extend(r.by_tier.iter().map(|(t, k)| (format!("tier {t}"), k)));
    out
}

fn doc(r: &Report, charts: bool) -> Doc {
    let scopes = scopes(r);
    let mut head: Vec<&str> = vec!["KPI"];
    head.extend(scopes.iter().map(|(s, _)| s.as_str()));
    let mut rows: Vec<Vec<String>> = RATIOS
        .iter()
        .map(|(name, label)| {
            let mut row = vec![(*label).to_owned()];
            row.extend(scopes.iter().map(|(_, k)| pct(ratio(k, name))));
            row
        })
        .collect();
    let delivery: [(&str, KpiText); 3] = [
        ("Lead time to production, hours (median / p90 / n)", |k| {
            let l = &k.lead_time_to_production_hours;
            format!("{} / {} / {}", opt(l.median), opt(l.p90), l.count)
        }),
        ("Deployment frequency (per week / count)", |k| {
            format!(
                "{} / {}",
                k.deployment_frequency.per_week, k.deployment_frequency.count
            )
        }),
        ("Change failure rate", |k| {
            let c = &k.change_failure_rate;
            pct(&Ratio {
                numerator: c.numerator,
                denominator: c.denominator,
                ratio: c.ratio,
            })
        }),
    ];
    for (label, f) in delivery {
        let mut row = vec![label.to_owned()];
        row.extend(scopes.iter().map(|(_, k)| f(k)));
        rows.push(row);
    }
    let window = r.kpis.deployment_frequency.window_days;
    let mut kpis = Section::new("KPIs")
        .para(format!(
            "Population: {} model versions currently in production ({} shadow). Delivery KPIs over the {window} days up to {}.",
            r.population,
            r.members.iter().filter(|m| m.shadow).count(),
            r.as_of
        ))
        .table(&head, rows, "No KPIs.");
    if charts {
        kpis = kpis.figure(
            "Ratio KPIs per tier (share of the tier's population)",
            gauges(r),
        );
    }
    let mut delivery_section = Section::new("Delivery");
    if charts {
        delivery_section = delivery_section
            .figure(
                "Lead time to production, hours, per promotion in the window",
                lead_times(&r.series.lead_time_hours),
            )
            .figure("Decisions per week (allow / deny)", weekly(r));
    } else {
        delivery_section = delivery_section.para(format!(
            "{} promotions with a known lead time; {} decisions in the last {} weeks.",
            r.series.lead_time_hours.len(),
            r.series
                .decisions_per_week
                .iter()
                .map(|w| w.allow + w.deny)
                .sum::<u64>(),
            r.series.decisions_per_week.len()
        ));
    }
    let population = Section::new("Population").table(
        &[
            "model",
            "version",
            "tier",
            "production environments",
            "shadow",
        ],
        r.members
            .iter()
            .map(|m| {
                vec![
                    m.model.clone(),
                    m.version.clone(),
                    m.tier.to_string(),
                    m.environments.join(", "),
                    if m.shadow { "yes".into() } else { "no".into() },
                ]
            })
            .collect(),
        "Nothing is in production.",
    );
    let findings = Section::new("Findings").table(
        &["model", "version", "environment", "kind", "detail"],
        r.findings
            .iter()
            .map(|f| {
                vec![
                    f.model.clone(),
                    f.version.clone(),
                    f.environment.clone().unwrap_or_else(|| "-".into()),
                    f.kind.clone(),
                    f.detail.clone(),
                ]
            })
            .collect(),
        "No findings.",
    );
    let expiring = Section::new("Expiring").table(
        &["expires at", "model", "version", "what"],
        r.expiring
            .iter()
            .map(|e| {
                vec![
                    e.expires_at.clone(),
                    e.model.clone().unwrap_or_else(|| "-".into()),
                    e.version.clone().unwrap_or_else(|| "-".into()),
                    e.what.clone(),
                ]
            })
            .collect(),
        "Nothing expires within the horizon.",
    );
    Doc {
        title: format!("Model inventory report as of {}", r.as_of),
        sections: vec![kpis, delivery_section, population, findings, expiring],
    }
}

/// The report as Markdown.
pub fn markdown(r: &Report) -> String {
    doc(r, false).to_markdown()
}

/// The report as one self-contained HTML page with charts.
pub fn html(r: &Report) -> String {
    doc(r, true).to_html()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The report as CSV: `scope,kpi,numerator,denominator,value` (RFC 4180, `\r\n` line ends).
pub fn csv(r: &Report) -> String {
    let mut out = String::from("scope,kpi,numerator,denominator,value\r\n");
    let mut row = |scope: &str, kpi: &str, n: String, d: String, v: String| {
        let _ = write!(
            out,
            "{},{},{n},{d},{v}\r\n",
            csv_field(scope),
            csv_field(kpi)
        );
    };
    for (scope, k) in scopes(r) {
        let scope = scope.replace(' ', "-");
        for (name, _) in RATIOS {
            let x = ratio(k, name);
            row(
                &scope,
                name,
                x.numerator.to_string(),
                x.denominator.to_string(),
                x.ratio.map(|v| v.to_string()).unwrap_or_default(),
            );
        }
        let l = &k.lead_time_to_production_hours;
        row(
            &scope,
            "lead_time_to_production_hours_median",
            String::new(),
            l.count.to_string(),
            l.median.map(|v| v.to_string()).unwrap_or_default(),
        );
        row(
            &scope,
            "lead_time_to_production_hours_p90",
            String::new(),
            l.count.to_string(),
            l.p90.map(|v| v.to_string()).unwrap_or_default(),
        );
        let f = &k.deployment_frequency;
        row(
            &scope,
            "deployment_frequency_per_week",
            f.count.to_string(),
            f.window_days.to_string(),
            f.per_week.to_string(),
        );
        let c = &k.change_failure_rate;
        row(
            &scope,
            "change_failure_rate",
            c.numerator.to_string(),
            c.denominator.to_string(),
            c.ratio.map(|v| v.to_string()).unwrap_or_default(),
        );
    }
    out
}

/// Horizontal bars, one group per ratio KPI, one bar per tier; the share written beside it.
fn gauges(r: &Report) -> String {
    let tiers: Vec<(&String, &Kpis)> = r.by_tier.iter().collect();
    let (bar, gap, left, width) = (14, 4, 230, 300);
    let group = tiers.len() as i64 * (bar + gap) + 16;
    let height = RATIOS.len() as i64 * group + 20;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" width="640" height="{height}" viewBox="0 0 640 {height}"><title>KPI gauges per tier</title>"#
    );
    let colours = ["#8b1a1a", "#b35c00", "#1f5f8b"];
    for (i, (name, label)) in RATIOS.iter().enumerate() {
        let y0 = 10 + i as i64 * group;
        let _ = write!(
            svg,
            r#"<text x="0" y="{}" font-size="13" font-weight="bold">{}</text>"#,
            y0 + 12,
            esc(label)
        );
        for (j, (tier, k)) in tiers.iter().enumerate() {
            let x = ratio(k, name);
            let y = y0 + 16 + j as i64 * (bar + gap);
            let w = (x.ratio.unwrap_or(0.0) * width as f64).round() as i64;
            let colour = colours.get(j).copied().unwrap_or("#555");
            let _ = write!(
                svg,
                r##"<text x="{}" y="{}" font-size="12" text-anchor="end">tier {}</text><rect x="{left}" y="{y}" width="{width}" height="{bar}" fill="#e4e4e4"/><rect x="{left}" y="{y}" width="{w}" height="{bar}" fill="{colour}"/><text x="{}" y="{}" font-size="12">{}</text>"##,
                left - 8,
                y + 11,
                esc(tier),
                left + width + 8,
                y + 11,
                esc(&pct(x))
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A histogram of lead times in up to ten equal-width bins.
fn lead_times(hours: &[f64]) -> String {
    let (w, h) = (640i64, 200i64);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><title>Lead time distribution</title>"#
    );
    let (Some(lo), Some(hi)) = (hours.first(), hours.last()) else {
        svg.push_str(r#"<text x="10" y="30" font-size="13">No promotion with a known lead time in the window.</text></svg>"#);
        return svg;
    };
    let bins = 10usize;
    let span = (hi - lo).max(1.0);
    let mut counts = vec![0u64; bins];
    for x in hours {
        let i = (((x - lo) / span) * bins as f64) as usize;
        if let Some(c) = counts.get_mut(i.min(bins - 1)) {
            *c += 1;
        }
    }
    let max = counts.iter().copied().max().unwrap_or(1).max(1);
    let bw = (w - 40) / bins as i64;
    for (i, c) in counts.iter().enumerate() {
        let bh = (*c as f64 / max as f64 * (h - 50) as f64).round() as i64;
        let x = 20 + i as i64 * bw;
        let from = lo + span * i as f64 / bins as f64;
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="{}" width="{}" height="{bh}" fill="#1f5f8b"><title>{} promotions from {:.1} h</title></rect><text x="{}" y="{}" font-size="10" text-anchor="middle">{:.0}</text>"##,
            h - 30 - bh,
            bw - 4,
            c,
            from,
            x + bw / 2,
            h - 15,
            from
        );
    }
    let _ = write!(
        svg,
        r#"<text x="20" y="{}" font-size="11">hours (bin start); {} promotions, longest {:.1} h</text></svg>"#,
        h - 2,
        hours.len(),
        hi
    );
    svg
}

/// Stacked bars of allows and denies per week.
fn weekly(r: &Report) -> String {
    let (w, h) = (640i64, 200i64);
    let weeks = &r.series.decisions_per_week;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><title>Decisions per week</title>"#
    );
    let max = weeks
        .iter()
        .map(|k| k.allow + k.deny)
        .max()
        .unwrap_or(0)
        .max(1);
    let bw = (w - 40) / (weeks.len().max(1) as i64);
    for (i, wk) in weeks.iter().enumerate() {
        let scale = |n: u64| (n as f64 / max as f64 * (h - 50) as f64).round() as i64;
        let (ah, dh) = (scale(wk.allow), scale(wk.deny));
        let x = 20 + i as i64 * bw;
        let base = h - 30;
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="{}" width="{}" height="{ah}" fill="#2e7d32"><title>{} allows</title></rect><rect x="{x}" y="{}" width="{}" height="{dh}" fill="#8b1a1a"><title>{} denies</title></rect><text x="{}" y="{}" font-size="9" text-anchor="middle">{}</text>"##,
            base - ah,
            bw - 4,
            wk.allow,
            base - ah - dh,
            bw - 4,
            wk.deny,
            x + bw / 2,
            h - 15,
            esc(wk.week_start.get(5..10).unwrap_or(""))
        );
    }
    let _ = write!(
        svg,
        r#"<text x="20" y="{}" font-size="11">week starting (MM-DD); green allow, red deny</text></svg>"#,
        h - 2
    );
    svg
}
