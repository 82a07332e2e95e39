//! `modelgate policy validate` and `modelgate policy test`, run as the binary a bundle author or
//! CI runs: located errors (file:line:column) and exit 3 for invalid bundles; the reference
//! bundle's cases passing with 100% coverage; failing cases, coverage thresholds and the JUnit
//! report (validated against `junit-10.xsd`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{assert_valid_junit, code, mg, stderr, stdout};
use modelgate::policy::PolicyBundle;
use serde_json::Value;

fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A copy of the reference bundle (with its cases) in a temporary directory.
fn bundle_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    copy_dir(&reference(), &dir);
    (tmp, dir)
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, f(text)).unwrap();
}

/// 1-based line of the first occurrence of `needle` in `path`.
fn line_of(path: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in {}", path.display()));
    text[..at].matches('\n').count() + 1
}

fn policy(args: &[&str]) -> Output {
    // `--bundle` needs no workspace: the home directory does not exist.
    mg(Path::new("/nonexistent/modelgate-home"), args)
}

fn test_json(bundle: &Path, extra: &[&str]) -> (Output, Value) {
    let mut args = vec![
        "policy",
        "test",
        "--bundle",
        bundle.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let o = policy(&args);
    let v: Value = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    (o, v)
}

/// Guards `validate` on a good bundle: exit 0, the digest `check` would record and the count.
#[test]
fn validate_accepts_the_reference_bundle_and_prints_digest_and_count() {
    let bundle = PolicyBundle::load(&reference()).unwrap();
    let o = policy(&[
        "policy",
        "validate",
        "--bundle",
        reference().to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("digest {}", bundle.digest())),
        "{out}"
    );
    assert!(
        out.contains(&format!("{} policies", bundle.policies().len())),
        "{out}"
    );
}

/// Guards the default bundle: without `--bundle`, the workspace's policy directory is used.
#[test]
fn validate_and_test_default_to_the_workspace_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("ws");
    assert_eq!(code(&mg(&home, &["init"])), 0);
    let o = mg(&home, &["policy", "validate"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("is valid"), "{}", stdout(&o));
    // The workspace's copy of the reference bundle carries no cases.
    let o = mg(&home, &["policy", "test"]);
    assert_eq!(code(&o), 3, "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("has no test cases"), "{}", stderr(&o));
    let none = mg(&tmp.path().join("none"), &["policy", "validate"]);
    assert_eq!(code(&none), 3);
    assert!(
        stderr(&none).contains("modelgate init"),
        "{}",
        stderr(&none)
    );
}

/// Guards the bad-input promises of `validate`: an unknown `@mode`, a duplicate `@id`, a policy
/// without `@id` and a type error are each reported with file, line, column and message, and
/// the exit code is 3.
#[test]
fn validate_reports_every_problem_with_file_line_and_message() {
    let (_tmp, dir) = bundle_copy();
    let tier1 = dir.join("tier1.cedar");
    let tier2 = dir.join("tier2.cedar");
    let common_file = dir.join("common.cedar");
    edit(&tier1, |t| {
        t.replacen(
            "@id(\"tier1.model-card\")",
            "@id(\"tier1.model-card\")\n@mode(\"loud\")",
            1,
        )
        .replacen("@id(\"tier1.baseline\")", "@id(\"tier1.limitations\")", 1)
    });
    edit(&tier2, |t| {
        t.replacen("!resource.has_registry_ref", "!resource.has_registry_rf", 1)
    });
    edit(&common_file, |t| {
        t.replacen("@id(\"common.tier-valid\")\n", "", 1)
    });

    let o = policy(&["policy", "validate", "--bundle", dir.to_str().unwrap()]);
    assert_eq!(code(&o), 3, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(stderr(&o).contains("4 problem(s)"), "{}", stderr(&o));

    let at = |path: &Path, line: usize| format!("{}:{line}:", path.display());
    let expect = [
        (
            at(
                &common_file,
                line_of(&common_file, "@reason(\"the risk tier"),
            ),
            "has no `@id` annotation",
        ),
        (
            at(&tier1, line_of(&tier1, "@mode(\"loud\")")),
            "invalid `@mode`: `loud` is not one of `enforce`, `warn`, `shadow`",
        ),
        (
            at(&tier2, line_of(&tier2, "!resource.has_registry_rf")),
            "attribute `has_registry_rf` on entity type `ModelGate::ModelVersion` not found",
        ),
    ];
    // The duplicate is reported where its second use starts, naming the first.
    let dup_line = {
        let text = std::fs::read_to_string(&tier1).unwrap();
        let first = text.find("@id(\"tier1.limitations\")").unwrap();
        let second = first
            + 1
            + text[first + 1..]
                .find("@id(\"tier1.limitations\")")
                .unwrap();
        let (a, b) = (
            text[..first].matches('\n').count() + 1,
            text[..second].matches('\n').count() + 1,
        );
        (a.min(b), a.max(b))
    };
    for (prefix, fragment) in &expect {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(prefix.as_str()) && l.contains(fragment)),
            "want {prefix} … {fragment} in\n{out}"
        );
    }
    let duplicate = lines
        .iter()
        .find(|l| l.contains("duplicate policy id `tier1.limitations`"))
        .unwrap_or_else(|| panic!("no duplicate reported:\n{out}"));
    assert!(
        duplicate.starts_with(&at(&tier1, dup_line.1)),
        "{duplicate}"
    );
    assert!(
        duplicate.contains(&format!("first used at tier1.cedar:{}", dup_line.0)),
        "{duplicate}"
    );
    for line in &lines {
        assert!(line.contains(": error: "), "{line}");
        let location = line.split(": error: ").next().unwrap();
        let parts: Vec<&str> = location.rsplitn(3, ':').collect();
        assert!(
            parts.len() == 3
                && parts[0].parse::<usize>().is_ok()
                && parts[1].parse::<usize>().is_ok(),
            "no line and column in {line}"
        );
    }
}

/// Guards the promise that the reference bundle ships with passing tests at 100% coverage.
#[test]
fn the_reference_bundle_passes_its_tests_with_full_coverage() {
    let (o, v) = test_json(&reference(), &["--min-coverage", "100"]);
    assert_eq!(code(&o), 0, "{v:#}{}", stderr(&o));
    assert_eq!(v["passed"], true);
    assert_eq!(v["summary"]["failed"], 0);
    assert_eq!(v["coverage"]["percent"], 100.0);
    assert_eq!(v["coverage"]["met"], true);
    let policies = v["coverage"]["policies"].as_array().unwrap();
    let bundle = PolicyBundle::load(&reference()).unwrap();
    assert_eq!(policies.len(), bundle.policies().len());
    assert!(policies.iter().all(|p| p["covered"] == true), "{v:#}");

    let text = policy(&["policy", "test", "--bundle", reference().to_str().unwrap()]);
    assert_eq!(code(&text), 0);
    assert!(
        stdout(&text).contains(&format!(
            "{n} of {n} policies satisfied (100.0%)",
            n = bundle.policies().len()
        )),
        "{}",
        stdout(&text)
    );
}

/// Guards failing cases: a case whose expectation no longer holds fails the run with exit 2 and
/// is named, in text and in valid JUnit.
#[test]
fn a_broken_case_fails_the_run_and_is_named() {
    let (_tmp, dir) = bundle_copy();
    edit(&dir.join("tests/tier1.json"), |t| {
        t.replacen(
            "\"reasons\": [\"tier1.model-card\"]",
            "\"reasons\": [\"tier1.baseline\"]",
            1,
        )
    });
    let o = policy(&["policy", "test", "--bundle", dir.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("FAIL tier1.json / missing model card is denied"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("1 case(s) failed"), "{}", stderr(&o));

    let o = policy(&[
        "policy",
        "test",
        "--bundle",
        dir.to_str().unwrap(),
        "--format",
        "junit",
    ]);
    assert_eq!(code(&o), 2);
    let xml = stdout(&o);
    assert_valid_junit(&xml);
    assert!(
        xml.contains(
            r#"<testcase name="missing model card is denied" classname="policy.cases.tier1""#
        ),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<failure type="case" message="reasons differ"#),
        "{xml}"
    );
}

/// Guards the coverage threshold: a warn policy that no case satisfies lowers the coverage
/// below 100%, failing `--min-coverage 100` and passing a lower threshold or none.
#[test]
fn an_unsatisfied_policy_fails_only_under_a_higher_threshold() {
    let (_tmp, dir) = bundle_copy();
    edit(&dir.join("tier2.cedar"), |t| {
        t + "\n@id(\"tier2.huge-training-set\")\n@reason(\"more than a million training datasets\")\n\
             @control(\"ISO-42001:A.7.5\")\n@reads(\"resource.training_datasets\")\n@mode(\"warn\")\n\
             forbid (principal, action, resource)\nwhen { resource.training_datasets > 1000000 };\n"
    });
    let bundle = PolicyBundle::load(&dir).unwrap();
    let total = bundle.policies().len();

    let (o, v) = test_json(&dir, &["--min-coverage", "100"]);
    assert_eq!(code(&o), 2, "{v:#}");
    assert_eq!(v["passed"], false);
    assert_eq!(v["coverage"]["covered"], total - 1);
    assert_eq!(v["coverage"]["met"], false);
    let unsatisfied: Vec<&Value> = v["coverage"]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["covered"] == false)
        .collect();
    assert_eq!(unsatisfied.len(), 1);
    assert_eq!(unsatisfied[0]["policy_id"], "tier2.huge-training-set");
    assert!(
        stderr(&o).contains("below the minimum 100%"),
        "{}",
        stderr(&o)
    );

    let (o, v) = test_json(&dir, &["--min-coverage", "95"]);
    assert_eq!(code(&o), 0, "{v:#}{}", stderr(&o));
    assert_eq!(v["passed"], true);
    let o = policy(&["policy", "test", "--bundle", dir.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("NOT SATISFIED tier2.huge-training-set"),
        "{}",
        stdout(&o)
    );

    let o = policy(&[
        "policy",
        "test",
        "--bundle",
        dir.to_str().unwrap(),
        "--format",
        "junit",
        "--min-coverage",
        "100",
    ]);
    assert_eq!(code(&o), 2);
    let xml = stdout(&o);
    assert_valid_junit(&xml);
    // Every policy but the unsatisfied one is covered.
    let total = unsatisfied_total(&dir);
    let expected = format!(
        r#"<failure type="coverage" message="coverage {:.1}% is below the minimum 100%""#,
        100.0 * (total - 1) as f64 / total as f64
    );
    assert!(xml.contains(&expected), "{expected}\n{xml}");

    let bad = policy(&[
        "policy",
        "test",
        "--bundle",
        dir.to_str().unwrap(),
        "--min-coverage",
        "120",
    ]);
    assert_eq!(code(&bad), 3, "a bad threshold is a usage error");
}

/// Guards the JUnit report of a passing run: valid, no failures, a test case per case and per
/// policy.
#[test]
fn the_junit_report_of_the_reference_bundle_is_valid() {
    let o = policy(&[
        "policy",
        "test",
        "--bundle",
        reference().to_str().unwrap(),
        "--format",
        "junit",
        "--min-coverage",
        "100",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let xml = stdout(&o);
    assert_valid_junit(&xml);
    assert!(!xml.contains("<failure"), "{xml}");
    assert!(xml.contains(r#"<testsuite name="tier0.json""#));
    assert!(
        xml.contains(r#"<testcase name="tier0.validation-due-soon" classname="policy.coverage""#)
    );
}

/// Guards malformed suites and bundles: a case file that breaks the strict format, or a bundle
/// that does not load, is exit 3 (not a test failure), naming the problem.
#[test]
fn malformed_case_files_and_bundles_exit_3() {
    let (_tmp, dir) = bundle_copy();
    let bad = serde_json::json!({"description": "x", "cases": [
        { "name": "typo", "base": "tier2-complete", "expected": "allow" }]});
    std::fs::write(dir.join("tests/bad.json"), bad.to_string()).unwrap();
    let o = policy(&["policy", "test", "--bundle", dir.to_str().unwrap()]);
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    assert!(stderr(&o).contains("`bad.json`"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unknown field `expected`"),
        "{}",
        stderr(&o)
    );

    std::fs::remove_file(dir.join("tests/bad.json")).unwrap();
    edit(&dir.join("tier0.cedar"), |t| {
        t.replacen("forbid", "forbi", 1)
    });
    let o = policy(&["policy", "test", "--bundle", dir.to_str().unwrap()]);
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    assert!(stderr(&o).contains("policy validate"), "{}", stderr(&o));
}

/// Guards the path of a bundle author outside this repository: a small bundle of their own with
/// one base and two cases validates, passes and reaches 100% coverage.
#[test]
fn a_small_bundle_of_its_own_passes_with_full_coverage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mine");
    std::fs::create_dir_all(dir.join("tests/bases")).unwrap();
    std::fs::copy(
        reference().join("tests/bases/tier2-complete.json"),
        dir.join("tests/bases/complete.json"),
    )
    .unwrap();
    std::fs::copy(
        reference().join("modelgate.cedarschema"),
        dir.join("modelgate.cedarschema"),
    )
    .unwrap();
    std::fs::write(
        dir.join("p.cedar"),
        "@id(\"p.permit\")\n@reason(\"allowed\")\n@control(\"X:1\")\n\
         permit (principal, action, resource);\n\n\
         @id(\"p.owner\")\n@reason(\"no owner is named\")\n@control(\"X:2\")\n\
         @reads(\"resource.owner\")\n\
         forbid (principal, action, resource) when { resource.owner == \"\" };\n",
    )
    .unwrap();
    let cases = serde_json::json!({
        "description": "owner rule",
        "cases": [
            { "name": "named owner is allowed", "base": "complete", "expect": "allow",
              "reasons": ["p.permit"], "covers": ["p.owner"] },
            { "name": "no owner is denied", "base": "complete",
              "patch": { "model": { "owner": "" } },
              "expect": "deny", "reasons": ["p.owner"], "covers": ["p.permit"] },
        ],
    });
    std::fs::write(dir.join("tests/owner.json"), cases.to_string()).unwrap();

    let o = policy(&["policy", "validate", "--bundle", dir.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("2 policies (2 enforce, 0 warn, 0 shadow)"),
        "{}",
        stdout(&o)
    );
    let (o, v) = test_json(&dir, &["--min-coverage", "100"]);
    assert_eq!(code(&o), 0, "{v:#}{}", stderr(&o));
    assert_eq!(v["summary"]["cases"], 2);
    assert_eq!(v["coverage"]["percent"], 100.0);
}

/// How many policies the coverage report of `dir` lists.
fn unsatisfied_total(dir: &std::path::Path) -> usize {
    let (_, v) = test_json(dir, &[]);
    v["coverage"]["policies"].as_array().unwrap().len()
}
