//! Data-driven policy cases: [`CaseSuite`] (loaded from a case directory), [`CaseFile`] and
//! [`Case`] (the strict file format), and [`run_cases`] producing a [`CaseReport`].
//!
//! A case directory holds `bases/*.json` (complete [`PolicyInput`] documents) and `*.json` case
//! files. Each case names a base, applies an RFC 7386 JSON merge patch to it, evaluates the result
//! against a bundle and compares the decision, the sorted enforce reasons and, when given, the
//! warnings and shadow outcomes. The runner also checks coverage: every enforce-mode policy must
//! be covered by at least one allow case and one deny case.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::annotations::Mode;
use super::bundle::PolicyBundle;
use super::evaluate::{Outcome, Reason};
use super::input::PolicyInput;
use super::PolicyError;

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
    /// Policy ids this case exercises (deny cases also cover their expected reasons).
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

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseResult {
    /// Case file name.
    pub file: String,
    /// Case name.
    pub name: String,
    /// Why the case failed; empty when it passed.
    pub failures: Vec<String>,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// An enforce-mode policy that lacks an allow-side or deny-side case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Uncovered {
    /// The policy id.
    pub policy_id: String,
    /// The kind of case missing: `allow` or `deny`.
    pub missing: Outcome,
}

/// The outcome of a whole suite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseReport {
    /// One result per case, in file and case order.
    pub results: Vec<CaseResult>,
    /// Coverage gaps, sorted by policy id.
    pub uncovered: Vec<Uncovered>,
}

impl CaseReport {
    /// True when every case passed and every enforce-mode policy is covered both ways.
    pub fn passed(&self) -> bool {
        self.uncovered.is_empty() && self.results.iter().all(CaseResult::passed)
    }

    /// The failed cases.
    pub fn failed(&self) -> impl Iterator<Item = &CaseResult> {
        self.results.iter().filter(|r| !r.passed())
    }

    /// A readable multi-line summary of every failure and coverage gap.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for result in self.failed() {
            out.push_str(&format!("FAIL {} / {}\n", result.file, result.name));
            for failure in &result.failures {
                out.push_str(&format!("  {failure}\n"));
            }
        }
        for gap in &self.uncovered {
            out.push_str(&format!(
                "UNCOVERED {}: no {} case covers it\n",
                gap.policy_id,
                gap.missing.as_str()
            ));
        }
        let failed = self.failed().count();
        out.push_str(&format!(
            "{} cases, {} passed, {} failed, {} coverage gaps\n",
            self.results.len(),
            self.results.len() - failed,
            failed,
            self.uncovered.len()
        ));
        out
    }
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
    for (file, case_file) in &suite.files {
        for case in &case_file.cases {
            let failures = check(bundle, suite, case);
            let covered = match case.expect {
                Outcome::Allow => &mut allow_covered,
                Outcome::Deny => &mut deny_covered,
            };
            covered.extend(case.covers.iter().cloned());
            if case.expect == Outcome::Deny {
                covered.extend(case.reasons.iter().flatten().cloned());
            }
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
    CaseReport { results, uncovered }
}

/// Runs one case; returns what did not match (empty when it passed).
fn check(bundle: &PolicyBundle, suite: &CaseSuite, case: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    for id in &case.covers {
        if bundle.policy(id).is_none() {
            failures.push(format!("`covers` names `{id}`, which is not in the bundle"));
        }
    }
    let Some(base) = suite.bases.get(&case.base) else {
        failures.push(format!("unknown base `{}`", case.base));
        return failures;
    };
    let mut doc = base.clone();
    if let Some(patch) = &case.patch {
        merge_patch(&mut doc, patch);
    }
    let input: PolicyInput = match serde_json::from_value(doc) {
        Ok(input) => input,
        Err(e) => {
            failures.push(format!("patched base is not a policy input: {e}"));
            return failures;
        }
    };
    let evaluation = match bundle.evaluate(&input) {
        Ok(evaluation) => evaluation,
        Err(e) => {
            failures.push(format!("evaluation failed: {e}"));
            return failures;
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
    failures
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
