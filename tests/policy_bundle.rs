//! Bundle loading rejects broken bundles with errors that name the culprit, and evaluation fails
//! closed, separates warn and shadow outcomes, and names the missing permit on a default deny.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use modelgate::policy::{Outcome, PolicyBundle, PolicyError, PolicyInput};
use serde_json::json;
use tempfile::TempDir;

fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

const PERMIT: &str = r#"
@id("t.permit")
@reason("allowed")
@control("X:1")
permit (principal, action == ModelGate::Action::"promote", resource);
"#;

/// A bundle directory with the reference schema and the given `(file name, text)` files.
fn bundle_dir(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        policies_dir().join("modelgate.cedarschema"),
        dir.path().join("modelgate.cedarschema"),
    )
    .unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn load(files: &[(&str, &str)]) -> Result<PolicyBundle, PolicyError> {
    PolicyBundle::load(bundle_dir(files).path())
}

fn load_err(files: &[(&str, &str)]) -> String {
    match load(files) {
        Ok(_) => panic!("bundle unexpectedly loaded"),
        Err(e) => e.to_string(),
    }
}

fn base(name: &str) -> PolicyInput {
    let path = policies_dir()
        .join("tests/bases")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn forbid(id: &str, extra: &str, condition: &str) -> String {
    format!(
        "@id(\"{id}\")\n@reason(\"{id} applies\")\n@control(\"X:2\")\n{extra}\n\
         forbid (principal, action == ModelGate::Action::\"promote\", resource)\n\
         when {{ {condition} }};\n"
    )
}

#[test]
fn duplicate_id_is_rejected_naming_the_id_and_both_files() {
    let a = forbid("t.same", "", "resource.tier == 9");
    let err = load_err(&[("a.cedar", PERMIT), ("b.cedar", &a), ("c.cedar", &a)]);
    assert!(err.contains("duplicate policy id `t.same`"), "{err}");
    assert!(
        err.contains("`b.cedar`") && err.contains("`c.cedar`"),
        "{err}"
    );
}

#[test]
fn missing_reason_is_rejected_naming_file_and_policy() {
    let text = "@id(\"t.quiet\")\n@control(\"X:1\")\n\
                forbid (principal, action, resource) when { resource.tier == 9 };";
    let err = load_err(&[("a.cedar", PERMIT), ("quiet.cedar", text)]);
    assert_eq!(
        err,
        "policy `t.quiet` in `quiet.cedar` has no `@reason` annotation"
    );
}

#[test]
fn missing_id_control_and_bad_mode_are_rejected() {
    let no_id = "@reason(\"r\")\n@control(\"X:1\")\nforbid (principal, action, resource);";
    let err = load_err(&[("a.cedar", &format!("{PERMIT}\n{no_id}"))]);
    assert_eq!(err, "policy #2 in `a.cedar` has no `@id` annotation");

    let no_control = "@id(\"t.x\")\n@reason(\"r\")\nforbid (principal, action, resource);";
    let err = load_err(&[("a.cedar", PERMIT), ("b.cedar", no_control)]);
    assert!(err.contains("`t.x`") && err.contains("`@control`"), "{err}");

    let bad_mode = forbid("t.loud", "@mode(\"audit\")", "true");
    let err = load_err(&[("a.cedar", PERMIT), ("b.cedar", &bad_mode)]);
    assert!(err.contains("`t.loud`") && err.contains("`audit`"), "{err}");

    let warn_permit = PERMIT.replace("@control", "@mode(\"warn\")\n@control");
    let err = load_err(&[("a.cedar", &warn_permit)]);
    assert!(
        err.contains("`warn` applies to `forbid` policies only"),
        "{err}"
    );

    let bad_reads = forbid("t.reads", "@reads(\"resource.nonexistent\")", "true");
    let err = load_err(&[("a.cedar", PERMIT), ("b.cedar", &bad_reads)]);
    assert!(
        err.contains("`t.reads`") && err.contains("`resource.nonexistent`"),
        "{err}"
    );
}

#[test]
fn syntax_error_is_rejected_naming_the_file() {
    let err = load_err(&[
        ("a.cedar", PERMIT),
        ("broken.cedar", "forbid (principal, action"),
    ]);
    assert!(
        err.starts_with("policy file `broken.cedar` does not parse"),
        "{err}"
    );
}

#[test]
fn schema_violation_is_rejected_naming_the_policy() {
    let typo = forbid("t.typo", "", "resource.has_purpse == false");
    let err = load_err(&[("a.cedar", PERMIT), ("b.cedar", &typo)]);
    assert!(err.contains("strict mode"), "{err}");
    assert!(err.contains("t.typo"), "{err}");

    // Strict mode rejects comparing values of different types, which permissive mode allows.
    let mixed = forbid("t.mixed", "", "resource.tier == \"0\"");
    let err = load_err(&[("a.cedar", PERMIT), ("b.cedar", &mixed)]);
    assert!(err.contains("t.mixed"), "{err}");
}

#[test]
fn bundle_layout_errors_are_reported() {
    let empty = tempfile::tempdir().unwrap();
    let err = PolicyBundle::load(empty.path()).unwrap_err().to_string();
    assert!(
        err.contains("exactly one `*.cedarschema`") && err.contains("none"),
        "{err}"
    );

    let two = bundle_dir(&[("a.cedar", PERMIT)]);
    std::fs::copy(
        policies_dir().join("modelgate.cedarschema"),
        two.path().join("second.cedarschema"),
    )
    .unwrap();
    let err = PolicyBundle::load(two.path()).unwrap_err().to_string();
    assert!(
        err.contains("modelgate.cedarschema, second.cedarschema"),
        "{err}"
    );

    let err = load_err(&[]);
    assert!(err.contains("no `*.cedar` policy file"), "{err}");

    let err = load_err(&[("a.cedar", &forbid("t.only", "", "true"))]);
    assert!(err.contains("no enforce-mode `permit`"), "{err}");

    let template = "@id(\"t.tpl\")\n@reason(\"r\")\n@control(\"X:1\")\n\
                    permit (principal == ?principal, action, resource);";
    let err = load_err(&[("a.cedar", PERMIT), ("b.cedar", template)]);
    assert!(err.contains("template"), "{err}");

    let missing = PolicyBundle::load(Path::new("/nonexistent/bundle")).unwrap_err();
    assert!(matches!(missing, PolicyError::Io { .. }), "{missing}");
}

/// Guards the contract between schema and input: a schema that lacks an input attribute is
/// rejected at load, not at the first request.
#[test]
fn schema_that_does_not_fit_the_input_is_rejected_at_load() {
    let dir = bundle_dir(&[("a.cedar", PERMIT)]);
    let path = dir.path().join("modelgate.cedarschema");
    let schema = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        schema.replace("    automated_decisions: Bool,\n", ""),
    )
    .unwrap();
    let err = PolicyBundle::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.starts_with("schema does not fit the policy input"),
        "{err}"
    );
    assert!(err.contains("automated_decisions"), "{err}");

    std::fs::write(&path, "namespace ModelGate { entity").unwrap();
    let err = PolicyBundle::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.starts_with("schema `modelgate.cedarschema` does not parse"),
        "{err}"
    );
}

/// Guards fail-closed evaluation: Cedar skips an erroring policy (here an integer overflow that
/// strict validation cannot see) and would allow; we deny and name the policy.
#[test]
fn evaluation_error_denies_naming_the_policy_even_when_a_permit_applies() {
    let overflow = forbid(
        "t.overflow",
        "@reads(\"context.now\")",
        "context.now + 9223372036854775807 > 0",
    );
    let bundle = load(&[("a.cedar", PERMIT), ("b.cedar", &overflow)]).unwrap();
    let evaluation = bundle.evaluate(&base("tier0-complete")).unwrap();
    assert_eq!(evaluation.decision, Outcome::Deny);
    assert_eq!(evaluation.reasons.len(), 1, "{evaluation:?}");
    let reason = &evaluation.reasons[0];
    assert_eq!(reason.policy_id, "t.overflow");
    assert_eq!(reason.effect, "error");
    assert!(reason.reason.contains("overflow"), "{}", reason.reason);
    assert_eq!(reason.controls, ["X:2"]);
    assert_eq!(reason.values["context.now"], json!(1767225600));
}

/// An erroring warn-mode policy is reported as a warning; it neither denies nor vanishes.
#[test]
fn evaluation_error_in_a_warn_policy_is_a_warning() {
    let overflow = forbid(
        "t.overflow",
        "@mode(\"warn\")",
        "context.now + 9223372036854775807 > 0",
    );
    let bundle = load(&[("a.cedar", PERMIT), ("b.cedar", &overflow)]).unwrap();
    let evaluation = bundle.evaluate(&base("tier0-complete")).unwrap();
    assert_eq!(evaluation.decision, Outcome::Allow);
    assert_eq!(evaluation.warnings.len(), 1);
    assert_eq!(evaluation.warnings[0].policy_id, "t.overflow");
    assert_eq!(evaluation.warnings[0].effect, "error");
}

#[test]
fn warn_mode_forbid_gives_a_warning_and_not_a_deny() {
    let warn = forbid(
        "t.warn",
        "@mode(\"warn\")\n@reads(\"resource.tier\")",
        "resource.tier == 0",
    );
    let bundle = load(&[("a.cedar", PERMIT), ("b.cedar", &warn)]).unwrap();
    let evaluation = bundle.evaluate(&base("tier0-complete")).unwrap();
    assert_eq!(evaluation.decision, Outcome::Allow);
    let ids: Vec<&str> = evaluation
        .reasons
        .iter()
        .map(|r| r.policy_id.as_str())
        .collect();
    assert_eq!(ids, ["t.permit"]);
    assert_eq!(evaluation.reasons[0].effect, "permit");
    assert_eq!(evaluation.warnings.len(), 1);
    assert_eq!(evaluation.warnings[0].policy_id, "t.warn");
    assert_eq!(evaluation.warnings[0].effect, "forbid");
    assert_eq!(evaluation.warnings[0].reason, "t.warn applies");
    assert_eq!(evaluation.warnings[0].values["resource.tier"], json!(0));
}

#[test]
fn default_deny_names_the_expected_permit() {
    let narrow = r#"
@id("t.tier2-only")
@reason("tier-2 models may be promoted")
@control("X:1")
permit (principal, action == ModelGate::Action::"promote", resource)
when { resource.tier == 2 };
"#;
    let bundle = load(&[("a.cedar", narrow)]).unwrap();
    let evaluation = bundle.evaluate(&base("tier0-complete")).unwrap();
    assert_eq!(evaluation.decision, Outcome::Deny);
    assert_eq!(evaluation.reasons.len(), 1);
    let reason = &evaluation.reasons[0];
    assert_eq!(reason.policy_id, "t.tier2-only");
    assert_eq!(reason.effect, "not-permitted");
    assert!(
        reason
            .reason
            .starts_with("not permitted: no permit applied"),
        "{}",
        reason.reason
    );

    let allowed = bundle.evaluate(&base("tier2-complete")).unwrap();
    assert_eq!(allowed.decision, Outcome::Allow);
}

/// Shadow policies are evaluated as their own set and never change the decision.
#[test]
fn shadow_outcomes_are_reported_apart_from_the_decision() {
    let shadow = forbid("t.shadow", "@mode(\"shadow\")", "resource.tier == 0");
    let bundle = load(&[("a.cedar", PERMIT), ("b.cedar", &shadow)]).unwrap();
    let evaluation = bundle.evaluate(&base("tier0-complete")).unwrap();
    assert_eq!(evaluation.decision, Outcome::Allow);
    assert!(evaluation.warnings.is_empty());
    let ids: Vec<(&str, &str)> = evaluation
        .shadow
        .iter()
        .map(|r| (r.policy_id.as_str(), r.effect.as_str()))
        .collect();
    assert_eq!(ids, [("t.shadow", "forbid")]);

    let quiet = bundle.evaluate(&base("tier2-complete")).unwrap();
    assert!(quiet.shadow.is_empty());
}

/// Reasons list the compared values and come sorted by id whatever order Cedar returns.
#[test]
fn deny_reasons_are_sorted_and_carry_the_values_they_read() {
    let bundle = PolicyBundle::load(&policies_dir()).unwrap();
    let mut input = base("tier0-complete");
    input.model.developer = "olivia".to_owned();
    input.model.validator = "olivia".to_owned();
    input.context.max_approval_ttl_days = 400;
    let evaluation = bundle.evaluate(&input).unwrap();
    assert_eq!(evaluation.decision, Outcome::Deny);
    let ids: Vec<&str> = evaluation
        .reasons
        .iter()
        .map(|r| r.policy_id.as_str())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
    let sod = evaluation
        .reasons
        .iter()
        .find(|r| r.policy_id == "tier0.owner-not-developer")
        .unwrap();
    assert_eq!(sod.values["resource.owner"], json!("olivia"));
    assert_eq!(sod.values["resource.developer"], json!("olivia"));
    assert!(sod
        .controls
        .iter()
        .any(|c| c == "SR-26-2:effective-challenge"));

    let json = serde_json::to_value(&evaluation).unwrap();
    assert_eq!(json["decision"], json!("deny"));
    let back: modelgate::policy::Evaluation = serde_json::from_value(json).unwrap();
    assert_eq!(back, evaluation);
}

/// Waived policies drop out of that one evaluation only; unknown ids are an error.
#[test]
fn waivers_remove_named_policies_from_one_evaluation() {
    let bundle = PolicyBundle::load(&policies_dir()).unwrap();
    let mut input = base("tier0-complete");
    input.model.open_high_findings = 1;
    let waived = vec!["tier0.no-open-high-findings".to_owned()];
    let evaluation = bundle.evaluate_with_waivers(&input, &waived).unwrap();
    assert_eq!(evaluation.decision, Outcome::Allow);
    assert_eq!(bundle.evaluate(&input).unwrap().decision, Outcome::Deny);

    // Waiving the permit cannot allow anything: the default deny still names it.
    let no_permit = bundle
        .evaluate_with_waivers(
            &base("tier0-complete"),
            &["common.permit-promotion".to_owned()],
        )
        .unwrap();
    assert_eq!(no_permit.decision, Outcome::Deny);
    let ids: Vec<(&str, &str)> = no_permit
        .reasons
        .iter()
        .map(|r| (r.policy_id.as_str(), r.effect.as_str()))
        .collect();
    assert_eq!(ids, [("common.permit-promotion", "not-permitted")]);

    let err = bundle
        .evaluate_with_waivers(&input, &["tier9.nothing".to_owned()])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "waived policy `tier9.nothing` is not in the bundle"
    );
}

#[test]
fn bundle_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PolicyBundle>();
}
