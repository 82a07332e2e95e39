//! Completeness facts: what a verified model-metadata predicate says, as policy input.
//!
//! [`derive_model_facts`] reads a predicate that has already passed the model-metadata schema and
//! turns it into [`ModelFacts`], the resource attributes the Cedar policies compare. Derivation
//! is pure: the same predicate, identity and decision time always give the same facts. Anything
//! the policies need but the predicate lacks becomes `false`, `0` or empty, so that the tier
//! rules name the gap.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde_json::Value;
use time::{Date, OffsetDateTime};

use super::decimal;
use crate::policy::input::ModelFacts;

/// Derives the policy facts of one model version from its metadata predicate.
///
/// `name`/`version` are the request's; `now` is the decision time (for `validation.next_due`).
pub fn derive_model_facts(
    predicate: &Value,
    name: &str,
    version: &str,
    now: OffsetDateTime,
) -> ModelFacts {
    let p = Predicate(predicate);
    let datasets: Vec<&Value> = p.array("/lineage/datasets");
    let training_datasets = datasets
        .iter()
        .filter(|d| d.get("role").and_then(Value::as_str) == Some("training"))
        .filter(|d| has_text(d, "/uri") && has_text(d, "/snapshot"))
        .count();
    let metrics = p.array("/evaluation/metrics");
    let metrics_with_threshold = metrics.iter().filter(|m| has_text(m, "/threshold")).count();
    let mut failed_metrics: Vec<String> = metrics
        .iter()
        .filter(|m| !threshold_met(m))
        .map(|m| text(m, "/name").to_string())
        .collect();
    failed_metrics.sort();
    failed_metrics.dedup();

    let baseline_status = p.text("/evaluation/baseline/status");
    let baseline_ok = baseline_status == "passed"
        || (baseline_status == "none" && !p.text("/evaluation/baseline/justification").is_empty());

    let protected: Vec<&str> = p
        .array("/fairness/protected_attributes")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let fairness_metrics = p.array("/fairness/metrics");
    let mut fairness_gaps: BTreeSet<String> = BTreeSet::new();
    for attribute in &protected {
        let for_attribute: Vec<&&Value> = fairness_metrics
            .iter()
            .filter(|m| m.get("attribute").and_then(Value::as_str) == Some(attribute))
            .collect();
        if for_attribute.is_empty() || for_attribute.iter().any(|m| !threshold_met(m)) {
            fairness_gaps.insert((*attribute).to_string());
        }
    }

    let findings = p.array("/validation/findings");
    let open_high_findings = findings
        .iter()
        .filter(|f| {
            f.get("severity").and_then(Value::as_str) == Some("high")
                && f.get("status").and_then(Value::as_str) == Some("open")
        })
        .count();

    ModelFacts {
        name: name.to_string(),
        version: version.to_string(),
        tier: p
            .0
            .pointer("/risk/tier")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        metadata_verified: true,
        identity_matches: p.text("/model/name") == name && p.text("/model/version") == version,
        artifact_digest_matches: false,
        has_registry_ref: p.has("/model/registry_ref"),
        owner: principal(p.text("/ownership/owner")),
        developer: principal(p.text("/ownership/developer")),
        validator: principal(p.text("/ownership/validator")),
        business_owner: principal(p.text("/ownership/business_owner")),
        has_purpose: p.has("/intended_use/purpose"),
        has_out_of_scope_uses: !p.array("/intended_use/out_of_scope").is_empty(),
        has_limitations: !p.array("/risk_management/limitations").is_empty(),
        code_commit_clean: p.has("/lineage/code/repo")
            && p.has("/lineage/code/commit")
            && at(p.0, "/lineage/code/dirty").and_then(Value::as_bool) == Some(false),
        training_datasets: count(training_datasets),
        all_datasets_have_digest: !datasets.is_empty()
            && datasets.iter().all(|d| has_text(d, "/digest")),
        all_datasets_have_datasheet_and_legal_basis: !datasets.is_empty()
            && datasets
                .iter()
                .all(|d| has_text(d, "/datasheet_uri") && has_text(d, "/legal_basis")),
        has_environment_digest: p.has("/lineage/environment_digest"),
        reproducibility_attested: p.flag("/lineage/reproducibility_attested"),
        metrics_with_threshold: count(metrics_with_threshold),
        failed_metrics,
        baseline_ok,
        has_evaluation_report_digest: p.has("/evaluation/report_digest"),
        has_model_card: p.has("/documentation/model_card_uri")
            && p.has("/documentation/model_card_digest"),
        has_technical_docs: p.has("/documentation/technical_docs_uri")
            && p.has("/documentation/instructions_for_use_uri"),
        has_drift_monitoring: at(p.0, "/monitoring/drift").is_some()
            && p.has("/monitoring/alert_route"),
        has_performance_threshold: p.has("/monitoring/performance_threshold"),
        validation_status: p.text("/validation/status").to_string(),
        validation_independent: p.flag("/validation/independent"),
        open_high_findings: count(open_high_findings),
        validation_next_due_days: next_due_days(p.text("/validation/next_due"), now),
        fairness_gaps: fairness_gaps.into_iter().collect(),
        protected_attributes: count(protected.len()),
        fairness_empty_justified: protected.is_empty() && p.has("/fairness/empty_justification"),
        has_explainability: p.has("/explainability/method")
            && p.has("/explainability/human_oversight"),
        has_risk_assessment: p.has("/risk_management/risk_assessment_uri"),
        has_impact_assessment: p.has("/risk_management/impact_assessment_uri"),
        substantial_modification: p.flag("/model/substantial_modification"),
        automated_decisions: p.flag("/risk/automated_decisions"),
    }
}

/// The facts used when no model-metadata attestation verified: the strictest tier and nothing
/// present, so every rule that needs metadata reports its gap.
pub fn unverified_model_facts(name: &str, version: &str) -> ModelFacts {
    let mut facts = derive_model_facts(&Value::Null, name, version, OffsetDateTime::UNIX_EPOCH);
    facts.metadata_verified = false;
    facts.identity_matches = false;
    facts
}

/// The canonical form of a principal name: trimmed and lowercase, so that separation-of-duties
/// rules cannot be passed by writing one person's name in two spellings.
pub fn principal(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

struct Predicate<'a>(&'a Value);

impl<'a> Predicate<'a> {
    fn text(&self, pointer: &str) -> &'a str {
        text(self.0, pointer)
    }
    fn has(&self, pointer: &str) -> bool {
        has_text(self.0, pointer)
    }
    fn flag(&self, pointer: &str) -> bool {
        at(self.0, pointer).and_then(Value::as_bool) == Some(true)
    }
    fn array(&self, pointer: &str) -> Vec<&'a Value> {
        at(self.0, pointer)
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    }
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    at(v, pointer).and_then(Value::as_str).unwrap_or("")
}

/// `v.pointer(pointer)` without its allocations: the pointers here are fixed paths of plain
/// keys, walked segment by segment (a segment with a `~` escape takes the general path).
fn at<'a>(v: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.contains('~') {
        return v.pointer(pointer);
    }
    let rest = pointer.strip_prefix('/')?;
    rest.split('/').try_fold(v, |node, key| match node {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn has_text(v: &Value, pointer: &str) -> bool {
    !text(v, pointer).trim().is_empty()
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A metric meets its threshold: `value >= threshold` for direction `min` (the default),
/// `value <= threshold` for `max`. A metric without a threshold, or with a value that is not a
/// decimal, does not meet it.
fn threshold_met(metric: &Value) -> bool {
    let (value, threshold) = (text(metric, "/value"), text(metric, "/threshold"));
    if threshold.is_empty() {
        return false;
    }
    let Ok(order) = decimal::compare(value, threshold) else {
        return false;
    };
    match text(metric, "/direction") {
        "max" => order != Ordering::Greater,
        _ => order != Ordering::Less,
    }
}

/// Whole days from `now` until the `YYYY-MM-DD` date `due` (negative when past); `-1` when
/// absent or unparsable, which the policies treat as overdue.
fn next_due_days(due: &str, now: OffsetDateTime) -> i64 {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match Date::parse(due, &format) {
        Ok(date) => (date - now.date()).whole_days(),
        Err(_) => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> OffsetDateTime {
        crate::clock::parse_rfc3339("2026-11-27T12:00:00Z").unwrap()
    }

    #[test]
    fn metric_thresholds_respect_direction_and_compare_exactly() {
        let p = json!({"evaluation": {"metrics": [
            {"name": "auc", "value": "0.90", "threshold": "0.9"},
            {"name": "latency_ms", "value": "12.5", "threshold": "10", "direction": "max"},
            {"name": "no_threshold", "value": "1"}
        ]}});
        let f = derive_model_facts(&p, "m", "1", now());
        assert_eq!(f.metrics_with_threshold, 2);
        assert_eq!(f.failed_metrics, vec!["latency_ms", "no_threshold"]);
    }

    #[test]
    fn fairness_gap_for_attribute_without_metric_or_with_failed_metric() {
        let p = json!({"fairness": {
        "protected_attributes": ["age", "sex", "region"],
        "metrics": [
            {"attribute": "age", "name": "dpd", "value": "0.01", "threshold": "0.05", "direction": "max"},
            {"attribute": "sex", "name": "dpd", "value": "0.09", "threshold": "0.05", "direction": "max"}
        ]}});
        let f = derive_model_facts(&p, "m", "1", now());
        assert_eq!(f.fairness_gaps, vec!["region", "sex"]);
        assert_eq!(f.protected_attributes, 3);
        assert!(!f.fairness_empty_justified);
    }

    #[test]
    fn next_due_is_counted_from_the_decision_date() {
        let p = json!({"validation": {"next_due": "2026-12-27"}});
        assert_eq!(
            derive_model_facts(&p, "m", "1", now()).validation_next_due_days,
            30
        );
        let overdue = json!({"validation": {"next_due": "2026-11-26"}});
        assert_eq!(
            derive_model_facts(&overdue, "m", "1", now()).validation_next_due_days,
            -1
        );
    }

    #[test]
    fn unverified_facts_are_strictest_tier_with_nothing_present() {
        let f = unverified_model_facts("m", "1");
        assert_eq!(f.tier, 0);
        assert!(!f.metadata_verified && !f.identity_matches && !f.has_model_card);
        assert!(!f.all_datasets_have_digest);
    }

    #[test]
    fn dirty_or_missing_dirty_flag_is_not_a_clean_commit() {
        let clean =
            json!({"lineage": {"code": {"repo": "r", "commit": "abc1234", "dirty": false}}});
        let unknown = json!({"lineage": {"code": {"repo": "r", "commit": "abc1234"}}});
        assert!(derive_model_facts(&clean, "m", "1", now()).code_commit_clean);
        assert!(!derive_model_facts(&unknown, "m", "1", now()).code_commit_clean);
    }

    #[test]
    fn path_lookup_equals_json_pointer() {
        let doc = json!({
            "a": {"b": [10, {"c": "x"}], "": 1, "t~k": {"s/l": 2}},
            "n": null
        });
        for path in [
            "/a",
            "/a/b",
            "/a/b/0",
            "/a/b/1/c",
            "/a/b/2",
            "/a/b/x",
            "/a/",
            "/n",
            "/n/x",
            "/missing",
            "/a/b/1/c/d",
            "/a/t~0k/s~1l",
            "/a/t~0k",
        ] {
            assert_eq!(at(&doc, path), doc.pointer(path), "{path}");
        }
        assert_eq!(at(&doc, "a"), None);
    }
}
