//! Data-driven policy cases: [`CaseSuite`] (loaded from a case directory), [`CaseFile`] and
//! [`Case`] (the strict file format), and [`run_cases`] producing a [`CaseReport`] with
//! per-policy [`PolicyCoverage`].
//!
//! A case directory holds `bases/*.json` (complete [`PolicyInput`] documents) and `*.json` case
//! files. Each case names a base, applies an RFC 7386 JSON merge patch to it (the compact form:
//! only the metadata facts, approvals and context that differ), evaluates the result against a
//! bundle and compares the decision, the sorted enforce reasons and, when given, the warnings and
//! shadow outcomes.
//!
//! Two coverage measures, both over the bundle's policies:
//! - **satisfied coverage** ([`CaseReport::coverage`]): a policy is covered when it was satisfied
//!   (applied) in at least one case: an enforce forbid or permit among the reasons (`forbid` or
//!   `permit` effect), a warn forbid among the warnings, a shadow policy among the shadow outcomes.
//!   [`CaseReport::coverage_percent`] is the share of covered policies, for a threshold.
//! - **boundary rule** ([`CaseReport::uncovered`]): every enforce-mode policy must be covered by
//!   at least one allow case and one deny case, each naming it in `covers` or among its expected
//!   `reasons` (for an allow case: a forbid that does not fire on evidence close to its boundary,
//!   or a permit that applied).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::annotations::{Mode, PolicyEffect};
use super::bundle::PolicyBundle;
use super::evaluate::{Evaluation, Outcome, Reason};
use super::input::PolicyInput;
use super::PolicyError;

mod report;

pub use report::{format_percent, CaseReport, CaseResult, PolicyCoverage, Uncovered};

/// One case file: a description and its cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// What the file exercises.
    pub description: String,
    /// The cases, run in order.
    pub cases: Vec<Case>,
}

/// One policy case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique within its file.
    pub name: String,
    /// Base document name (file stem in `bases/`).
    pub base: String,
    /// RFC 7386 JSON merge patch applied to the base (none when absent).
    #[serde(default)]
    pub patch: Option<Value>,
    /// The expected decision.
    pub expect: Outcome,
    /// The expected reason ids, exactly: required for a deny (the enforce reasons); for an allow,
    /// when given, the permits that applied.
    #[serde(default)]
    pub reasons: Option<Vec<String>>,
    /// When given, exactly the expected warning ids.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
    /// When given, exactly the expected shadow outcome ids.
    #[serde(default)]
    pub shadow: Option<Vec<String>>,
    /// Policy ids this case exercises (a case also covers its expected reasons).
    #[serde(default)]
    pub covers: Vec<String>,
}

/// Base documents and case files of one case directory.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSuite {
    /// Base documents by name (file stem).
    pub bases: BTreeMap<String, Value>,
    /// Case files by file name, sorted.
    pub files: BTreeMap<String, CaseFile>,
}

impl CaseSuite {
    /// Loads `dir/bases/*.json` and `dir/*.json`. Malformed files are errors naming the file.
    pub fn load(dir: &Path) -> Result<CaseSuite, PolicyError> {
        let mut bases = BTreeMap::new();
        for (name, text) in read_json_files(&dir.join("bases"))? {
            let value: Value = serde_json::from_str(&text).map_err(|e| case_err(&name, e))?;
            // A base must be a complete input on its own.
            serde_json::from_value::<PolicyInput>(value.clone())
                .map_err(|e| case_err(&name, format!("not a policy input: {e}")))?;
            let stem = name.trim_end_matches(".json").to_owned();
            bases.insert(stem, value);
        }
        let mut files = BTreeMap::new();
        for (name, text) in read_json_files(dir)? {
            let file: CaseFile = serde_json::from_str(&text).map_err(|e| case_err(&name, e))?;
            let mut names = BTreeSet::new();
            for case in &file.cases {
                if !names.insert(case.name.as_str()) {
                    return Err(case_err(
                        &name,
                        format!("duplicate case name `{}`", case.name),
                    ));
                }
            }
            files.insert(name, file);
        }
        if files.is_empty() {
            return Err(case_err(
                &dir.display().to_string(),
                "no case file (`*.json`) found",
            ));
        }
        Ok(CaseSuite { bases, files })
    }
}

fn case_err(file: &str, message: impl std::fmt::Display) -> PolicyError {
    PolicyError::CaseFile {
        file: file.to_owned(),
        message: message.to_string(),
    }
}

/// `(file name, contents)` of the `*.json` files directly in `dir`, sorted by name.
fn read_json_files(dir: &Path) -> Result<Vec<(String, String)>, PolicyError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PolicyError::Io { path, source }
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".json") || !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        out.push((name, text));
    }
    out.sort();
    Ok(out)
}

/// Runs every case of `suite` against `bundle` and checks coverage.
pub fn run_cases(bundle: &PolicyBundle, suite: &CaseSuite) -> CaseReport {
    let mut results = Vec::new();
    let mut allow_covered: BTreeSet<String> = BTreeSet::new();
    let mut deny_covered: BTreeSet<String> = BTreeSet::new();
    let mut satisfied: BTreeMap<String, usize> = BTreeMap::new();
    for (file, case_file) in &suite.files {
        for case in &case_file.cases {
            let (failures, evaluation) = check(bundle, suite, case);
            if let Some(evaluation) = &evaluation {
                for id in satisfied_ids(evaluation) {
                    *satisfied.entry(id.to_owned()).or_default() += 1;
                }
            }
            let covered = match case.expect {
                Outcome::Allow => &mut allow_covered,
                Outcome::Deny => &mut deny_covered,
            };
            // A case covers what it names in `covers` and the reasons it expects: the forbids
            // of a deny, the permits of an allow.
            covered.extend(case.covers.iter().cloned());
            covered.extend(case.reasons.iter().flatten().cloned());
            results.push(CaseResult {
                file: file.clone(),
                name: case.name.clone(),
                failures,
            });
        }
    }
    let mut uncovered = Vec::new();
    for policy in bundle.policies().iter().filter(|p| p.mode == Mode::Enforce) {
        for (set, missing) in [
            (&allow_covered, Outcome::Allow),
            (&deny_covered, Outcome::Deny),
        ] {
            if !set.contains(&policy.id) {
                uncovered.push(Uncovered {
                    policy_id: policy.id.clone(),
                    missing,
                });
            }
        }
    }
    let coverage = bundle
        .policies()
        .iter()
        .map(|p| PolicyCoverage {
            policy_id: p.id.clone(),
            mode: p.mode,
            effect: p.effect,
            satisfied_in: satisfied.get(&p.id).copied().unwrap_or(0),
        })
        .collect();
    CaseReport {
        results,
        uncovered,
        coverage,
    }
}

/// The ids of the policies an evaluation shows as satisfied: enforce forbids and permits that
/// applied, warn forbids that applied, shadow policies that applied. Errors and "not permitted"
/// reasons name policies that did not apply.
fn satisfied_ids(evaluation: &Evaluation) -> impl Iterator<Item = &str> {
    evaluation
        .reasons
        .iter()
        .chain(&evaluation.warnings)
        .chain(&evaluation.shadow)
        .filter(|r| {
            r.effect == PolicyEffect::Forbid.as_str() || r.effect == PolicyEffect::Permit.as_str()
        })
        .map(|r| r.policy_id.as_str())
}

/// Runs one case; returns what did not match (empty when it passed) and the evaluation, when
/// the case got that far.
fn check(
    bundle: &PolicyBundle,
    suite: &CaseSuite,
    case: &Case,
) -> (Vec<String>, Option<Evaluation>) {
    let mut failures = Vec::new();
    for id in &case.covers {
        if bundle.policy(id).is_none() {
            failures.push(format!("`covers` names `{id}`, which is not in the bundle"));
        }
    }
    let Some(base) = suite.bases.get(&case.base) else {
        failures.push(format!("unknown base `{}`", case.base));
        return (failures, None);
    };
    let mut doc = base.clone();
    if let Some(patch) = &case.patch {
        merge_patch(&mut doc, patch);
    }
    let input: PolicyInput = match serde_json::from_value(doc) {
        Ok(input) => input,
        Err(e) => {
            failures.push(format!("patched base is not a policy input: {e}"));
            return (failures, None);
        }
    };
    let evaluation = match bundle.evaluate(&input) {
        Ok(evaluation) => evaluation,
        Err(e) => {
            failures.push(format!("evaluation failed: {e}"));
            return (failures, None);
        }
    };
    if evaluation.decision != case.expect {
        failures.push(format!(
            "expected {}, got {} with reasons {}",
            case.expect.as_str(),
            evaluation.decision.as_str(),
            describe(&evaluation.reasons)
        ));
    }
    match (&case.reasons, case.expect) {
        (None, Outcome::Deny) => {
            failures.push("a deny case must list its expected `reasons`".to_owned())
        }
        (None, Outcome::Allow) => {}
        (Some(expected), _) => compare("reasons", expected, &evaluation.reasons, &mut failures),
    }
    if let Some(expected) = &case.warnings {
        compare("warnings", expected, &evaluation.warnings, &mut failures);
    }
    if let Some(expected) = &case.shadow {
        compare("shadow", expected, &evaluation.shadow, &mut failures);
    }
    (failures, Some(evaluation))
}

/// Compares expected ids with the ids of `actual` (both as sorted sets) and explains the diff.
fn compare(what: &str, expected: &[String], actual: &[Reason], failures: &mut Vec<String>) {
    let want: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
    let got: BTreeSet<&str> = actual.iter().map(|r| r.policy_id.as_str()).collect();
    if want == got {
        return;
    }
    let missing: Vec<&str> = want.difference(&got).copied().collect();
    let unexpected: Vec<&str> = got.difference(&want).copied().collect();
    failures.push(format!(
        "{what} differ: missing [{}], unexpected [{}]; got {}",
        missing.join(", "),
        unexpected.join(", "),
        describe(actual)
    ));
}

fn describe(reasons: &[Reason]) -> String {
    let items: Vec<String> = reasons
        .iter()
        .map(|r| format!("{} ({})", r.policy_id, r.effect))
        .collect();
    format!("[{}]", items.join(", "))
}

/// RFC 7386 JSON merge patch: objects merge recursively, `null` removes a member, anything else
/// replaces the target.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target_map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.remove(key);
            } else {
                merge_patch(target_map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386_examples() {
        // Examples from RFC 7386 appendix A.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (mut target, patch, expected) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, expected, "patch {patch}");
        }
    }
}
