//! The renderings of a `modelgate policy test` run: [`text`], [`json`] (the
//! `https://modelgate.dev/policy-test/v1` object) and [`junit`], and the threshold rule
//! [`meets_minimum`].

use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use crate::cli::report::xml::Xml;
use crate::policy::cases::format_percent;
use crate::policy::{CaseReport, PolicyBundle};

/// Whether the satisfied coverage reaches `min` percent (compared exactly, in integers where
/// possible: 45 of 46 policies never meets 100).
pub fn meets_minimum(report: &CaseReport, min: f64) -> bool {
    let total = report.coverage.len();
    let covered = report.coverage.iter().filter(|c| c.covered()).count();
    // Policy counts are far below 2^52: the conversions are exact.
    #[allow(clippy::cast_precision_loss)]
    let ok = total == 0 || covered as f64 * 100.0 >= min * total as f64;
    ok
}

/// The text report: per-policy coverage, failures and gaps, a summary line.
pub fn text(dir: &Path, bundle: &PolicyBundle, report: &CaseReport, min: Option<f64>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "bundle {} ({})", dir.display(), bundle.digest());
    let width = report
        .coverage
        .iter()
        .map(|c| c.policy_id.len())
        .max()
        .unwrap_or(0);
    let _ = writeln!(out, "coverage (cases in which each policy applied):");
    for c in &report.coverage {
        let kind = format!("{} {}", c.mode.as_str(), c.effect.as_str());
        let _ = writeln!(
            out,
            "  {:width$}  {kind:14}  {}",
            c.policy_id,
            if c.covered() {
                c.satisfied_in.to_string()
            } else {
                "0  NOT SATISFIED".to_owned()
            }
        );
    }
    out.push_str(&report.summary());
    if let Some(min) = min {
        let verdict = if meets_minimum(report, min) {
            "meets"
        } else {
            "is below"
        };
        let _ = writeln!(
            out,
            "coverage {} {verdict} the minimum {min}%",
            format_percent(report.coverage_percent())
        );
    }
    out
}

/// The JSON report.
pub fn json(
    dir: &Path,
    bundle: &PolicyBundle,
    report: &CaseReport,
    min: Option<f64>,
) -> serde_json::Value {
    let failed = report.failed().count();
    let covered = report.coverage.iter().filter(|c| c.covered()).count();
    let meets = min.is_none_or(|m| meets_minimum(report, m));
    let cases: Vec<serde_json::Value> = report
        .results
        .iter()
        .map(|r| {
            json!({
                "file": r.file,
                "name": r.name,
                "passed": r.passed(),
                "failures": r.failures,
            })
        })
        .collect();
    let policies: Vec<serde_json::Value> = report
        .coverage
        .iter()
        .map(|c| {
            json!({
                "policy_id": c.policy_id,
                "mode": c.mode,
                "effect": c.effect,
                "satisfied_in": c.satisfied_in,
                "covered": c.covered(),
            })
        })
        .collect();
    json!({
        "schema": "https://modelgate.dev/policy-test/v1",
        "bundle": dir.display().to_string(),
        "bundle_digest": bundle.digest(),
        "passed": report.passed() && meets,
        "summary": {
            "cases": report.results.len(),
            "passed": report.results.len() - failed,
            "failed": failed,
        },
        "cases": cases,
        "boundary_gaps": report.uncovered,
        "coverage": {
            "percent": report.coverage_percent(),
            "covered": covered,
            "total": report.coverage.len(),
            "min": min,
            "met": meets,
            "policies": policies,
        },
    })
}

fn counts(tests: usize, failures: usize) -> Vec<(&'static str, String)> {
    vec![
        ("tests", tests.to_string()),
        ("failures", failures.to_string()),
        ("errors", "0".to_owned()),
    ]
}

/// JUnit: one suite per case file (a case per test case), then a `coverage` suite with a test
/// case per policy (failing on an allow-side or deny-side gap) and, with a threshold, one for
/// the minimum coverage.
pub fn junit(report: &CaseReport, min: Option<f64>) -> String {
    let mut files: Vec<&str> = report.results.iter().map(|r| r.file.as_str()).collect();
    files.dedup();
    let gaps = |id: &str| -> Vec<&str> {
        report
            .uncovered
            .iter()
            .filter(|g| g.policy_id == id)
            .map(|g| g.missing.as_str())
            .collect()
    };
    let below = min.is_some_and(|m| !meets_minimum(report, m));
    let coverage_tests = report.coverage.len() + usize::from(min.is_some());
    let coverage_failures = report
        .coverage
        .iter()
        .filter(|c| !gaps(&c.policy_id).is_empty())
        .count()
        + usize::from(below);
    let case_failures = report.failed().count();

    let mut x = Xml::new();
    let mut attrs = vec![("name", "modelgate policy test".to_owned())];
    attrs.extend(counts(
        report.results.len() + coverage_tests,
        case_failures + coverage_failures,
    ));
    attrs.push(("time", "0".to_owned()));
    x.start("testsuites", &attrs);

    for file in files {
        let results: Vec<_> = report.results.iter().filter(|r| r.file == file).collect();
        let failures = results.iter().filter(|r| !r.passed()).count();
        let mut attrs = vec![("name", file.to_owned())];
        attrs.extend(counts(results.len(), failures));
        attrs.extend([("skipped", "0".to_owned()), ("time", "0".to_owned())]);
        x.start("testsuite", &attrs);
        let classname = format!("policy.cases.{}", file.trim_end_matches(".json"));
        for r in results {
            x.start(
                "testcase",
                &[
                    ("name", r.name.clone()),
                    ("classname", classname.clone()),
                    ("time", "0".to_owned()),
                ],
            );
            if let Some(first) = r.failures.first() {
                x.element(
                    "failure",
                    &[("type", "case".to_owned()), ("message", first.clone())],
                    &r.failures.join("\n"),
                );
            }
            x.end();
        }
        x.end();
    }

    let mut attrs = vec![("name", "coverage".to_owned())];
    attrs.extend(counts(coverage_tests, coverage_failures));
    attrs.extend([("skipped", "0".to_owned()), ("time", "0".to_owned())]);
    x.start("testsuite", &attrs);
    x.start("properties", &[]);
    let mut properties = vec![(
        "coverage_percent",
        format!("{:.2}", report.coverage_percent()),
    )];
    if let Some(min) = min {
        properties.push(("min_coverage", min.to_string()));
    }
    for (name, value) in properties {
        x.empty("property", &[("name", name.to_owned()), ("value", value)]);
    }
    x.end();
    for c in &report.coverage {
        x.start(
            "testcase",
            &[
                ("name", c.policy_id.clone()),
                ("classname", "policy.coverage".to_owned()),
                ("time", "0".to_owned()),
            ],
        );
        let missing = gaps(&c.policy_id);
        if !missing.is_empty() {
            let message = format!("no {} case covers it", missing.join(" or "));
            x.element(
                "failure",
                &[
                    ("type", "coverage-gap".to_owned()),
                    ("message", message.clone()),
                ],
                &message,
            );
        }
        let satisfied = if c.covered() {
            format!("satisfied in {} case(s)", c.satisfied_in)
        } else {
            "not satisfied in any case".to_owned()
        };
        x.element("system-out", &[], &satisfied);
        x.end();
    }
    if let Some(min) = min {
        x.start(
            "testcase",
            &[
                ("name", format!("at least {min}% of the policies satisfied")),
                ("classname", "policy.coverage".to_owned()),
                ("time", "0".to_owned()),
            ],
        );
        if below {
            let unsatisfied: Vec<&str> =
                report.unsatisfied().map(|c| c.policy_id.as_str()).collect();
            x.element(
                "failure",
                &[
                    ("type", "coverage".to_owned()),
                    (
                        "message",
                        format!(
                            "coverage {} is below the minimum {min}%",
                            format_percent(report.coverage_percent())
                        ),
                    ),
                ],
                &format!("not satisfied in any case: {}", unsatisfied.join(", ")),
            );
        }
        x.end();
    }
    x.finish()
}
