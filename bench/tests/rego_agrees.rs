//! The Rego peer (`bench/peers/*.rego`) agrees with the Cedar bundle (`policies/`) on every case
//! of the policy suite (`policies/tests/`): same decision, same forbids on a deny, same permits
//! on an allow, same warnings. Cedar is the source of truth; a mistranslated rule fails here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use modelgate::policy::cases::merge_patch;
use modelgate::policy::{
    CaseSuite, Evaluation, Mode, Outcome, PolicyBundle, PolicyEffect, PolicyInput, Reason,
};
use modelgate_bench::rego::{RegoOutcome, RegoPeer};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every case of the suite as `(label, input)`: its base patched as the case runner does.
fn case_inputs(suite: &CaseSuite) -> Vec<(String, PolicyInput)> {
    let mut out = Vec::new();
    for (file, case_file) in &suite.files {
        for case in &case_file.cases {
            let mut doc = suite
                .bases
                .get(&case.base)
                .unwrap_or_else(|| panic!("{file}: {}: unknown base `{}`", case.name, case.base))
                .clone();
            if let Some(patch) = &case.patch {
                merge_patch(&mut doc, patch);
            }
            let input: PolicyInput = serde_json::from_value(doc)
                .unwrap_or_else(|e| panic!("{file}: {}: not a policy input: {e}", case.name));
            out.push((format!("{file}: {}", case.name), input));
        }
    }
    out
}

/// The ids of `reasons` whose effect is `effect`, as a sorted list.
fn ids_with_effect(reasons: &[Reason], effect: &str) -> Vec<String> {
    let ids: BTreeSet<&str> = reasons
        .iter()
        .filter(|r| r.effect == effect)
        .map(|r| r.policy_id.as_str())
        .collect();
    ids.into_iter().map(str::to_owned).collect()
}

/// Compares one evaluation of each engine; returns what differs (empty when they agree).
fn disagreements(cedar: &Evaluation, rego: &RegoOutcome) -> Vec<String> {
    let mut out = Vec::new();
    let effects: BTreeSet<&str> = cedar.reasons.iter().map(|r| r.effect.as_str()).collect();
    let forbid = PolicyEffect::Forbid.as_str();
    let permit = PolicyEffect::Permit.as_str();
    if cedar
        .reasons
        .iter()
        .chain(&cedar.warnings)
        .any(|r| r.effect == "error")
    {
        out.push("a Cedar policy failed to evaluate (the Rego peer has no counterpart)".into());
    }
    if (cedar.decision == Outcome::Allow) != rego.allow {
        out.push(format!(
            "decision: Cedar {}, Rego allow = {}",
            cedar.decision.as_str(),
            rego.allow
        ));
    }
    match cedar.decision {
        Outcome::Deny => {
            let cedar_forbids = ids_with_effect(&cedar.reasons, forbid);
            if rego.forbids != cedar_forbids {
                out.push(format!(
                    "forbids: Cedar {cedar_forbids:?}, Rego {:?}",
                    rego.forbids
                ));
            }
            // A default deny (no permit applied) names the expected permits in Cedar and has
            // neither forbids nor permits in Rego.
            if cedar_forbids.is_empty() && !rego.permits.is_empty() {
                out.push(format!(
                    "default deny (Cedar reasons {effects:?}) but Rego permits {:?}",
                    rego.permits
                ));
            }
        }
        Outcome::Allow => {
            let cedar_permits = ids_with_effect(&cedar.reasons, permit);
            if effects.iter().any(|e| *e != permit) {
                out.push(format!("allow with Cedar reasons of effects {effects:?}"));
            }
            if rego.permits != cedar_permits {
                out.push(format!(
                    "permits: Cedar {cedar_permits:?}, Rego {:?}",
                    rego.permits
                ));
            }
            if !rego.forbids.is_empty() {
                out.push(format!("allow but Rego forbids {:?}", rego.forbids));
            }
        }
    }
    let cedar_warnings = ids_with_effect(&cedar.warnings, forbid);
    if rego.warnings != cedar_warnings {
        out.push(format!(
            "warnings: Cedar {cedar_warnings:?}, Rego {:?}",
            rego.warnings
        ));
    }
    out
}

#[test]
fn rego_peer_agrees_with_cedar_on_every_policy_case() {
    let root = root();
    let bundle = PolicyBundle::load(&root.join("policies")).expect("load the Cedar bundle");
    let suite = CaseSuite::load(&root.join("policies/tests")).expect("load the policy cases");
    let mut peer = RegoPeer::load(&root.join("bench/peers")).expect("load the Rego peer");

    let cases = case_inputs(&suite);
    assert!(!cases.is_empty(), "the policy suite has no case");
    let mut failures = Vec::new();
    // Every id the Rego peer reported as applying, over the whole suite.
    let mut applied: BTreeSet<String> = BTreeSet::new();
    for (label, input) in &cases {
        let cedar = bundle
            .evaluate(input)
            .unwrap_or_else(|e| panic!("{label}: Cedar evaluation failed: {e}"));
        let json = serde_json::to_string(input).expect("serialise the input");
        let rego = peer
            .evaluate_json(&json)
            .unwrap_or_else(|e| panic!("{label}: Rego evaluation failed: {e:#}"));
        let differ = disagreements(&cedar, &rego);
        if !differ.is_empty() {
            failures.push(format!("{label}:\n    {}", differ.join("\n    ")));
        }
        applied.extend(
            rego.forbids
                .iter()
                .chain(&rego.permits)
                .chain(&rego.warnings)
                .cloned(),
        );
    }
    assert!(
        failures.is_empty(),
        "the Rego peer disagrees with Cedar on {} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // Each rule of the translation was compared while it applied, not only while it did not:
    // every enforce and warn policy of the bundle applied in some case.
    let never: Vec<&str> = bundle
        .policies()
        .iter()
        .filter(|p| p.mode != Mode::Shadow && !applied.contains(&p.id))
        .map(|p| p.id.as_str())
        .collect();
    assert!(
        never.is_empty(),
        "no case makes these policies apply, so their translation is unchecked: {never:?}"
    );
    println!(
        "the Rego peer agrees with Cedar on all {} cases",
        cases.len()
    );
}

/// The same decision whether the input is given as JSON or as a pre-parsed value.
#[test]
fn evaluate_value_equals_evaluate_json() {
    let root = root();
    let suite = CaseSuite::load(&root.join("policies/tests")).expect("load the policy cases");
    let mut peer = RegoPeer::load(&root.join("bench/peers")).expect("load the Rego peer");
    for (label, input) in case_inputs(&suite) {
        let json = serde_json::to_string(&input).expect("serialise the input");
        let from_json = peer.evaluate_json(&json).expect("evaluate JSON");
        let value = regorus::Value::from_json_str(&json).expect("parse the input");
        let from_value = peer.evaluate_value(value).expect("evaluate value");
        assert_eq!(from_json, from_value, "{label}");
    }
}
