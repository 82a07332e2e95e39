//! Verification steps over the decisions of a pack: scope, dependencies, the attestations they
//! counted (against the pack's trust history) and a replay of each with its bundle and input.

use std::collections::BTreeMap;

use super::Run;
use crate::attest::{verify_envelope, Envelope};
use crate::clock::parse_rfc3339;
use crate::engine::replay::reevaluate;
use crate::evidence::contents::{Contents, PackDecision};
use crate::evidence::derive::trust_after;
use crate::evidence::manifest::Manifest;
use crate::evidence::paths;
use crate::ledger::RecordKind;

pub(super) fn check_scope(manifest: &Manifest, c: &Contents, run: &mut Run) {
    let failures = c
        .decisions
        .iter()
        .filter(|d| {
            d.body.request.model != manifest.model
                || !manifest.scope.covers(&d.body.request.version, &d.time)
        })
        .map(|d| {
            format!(
                "{}: a decision about {} {} at {}, outside the pack's scope",
                paths::record(d.index),
                d.body.request.model,
                d.body.request.version,
                d.time
            )
        })
        .collect();
    let failures = if c.decisions.is_empty() {
        vec!["the pack holds no decision".to_owned()]
    } else {
        failures
    };
    run.step("scope", failures, || {
        format!(
            "all {} decisions are about `{}` within the pack's scope",
            c.decisions.len(),
            manifest.model
        )
    });
}

pub(super) fn check_dependencies(c: &Contents, run: &mut Run) {
    let mut failures = Vec::new();
    for d in &c.decisions {
        let at = paths::record(d.index);
        let b = &d.body;
        if !c.bundles.contains_key(&b.bundle_digest) {
            failures.push(format!(
                "{at}: its policy bundle `{}` is not in policies/",
                b.bundle_digest
            ));
        }
        let activated = c.of_kind(RecordKind::BundleActivation).any(|r| {
            r.record.index < d.index
                && r.record.body.get("bundle_digest").and_then(|v| v.as_str())
                    == Some(b.bundle_digest.as_str())
        });
        if !activated {
            failures.push(format!(
                "{at}: no activation record of bundle `{}` precedes it",
                b.bundle_digest
            ));
        }
        if !c.inputs.contains_key(&b.input_digest) {
            failures.push(format!(
                "{at}: its policy input `{}` is not in inputs/",
                b.input_digest
            ));
        }
        let digests = b
            .attestations
            .iter()
            .map(|a| &a.digest)
            .chain(b.approvals.iter().map(|a| &a.attestation))
            .chain(b.waivers.iter().map(|w| &w.attestation));
        for digest in digests {
            if !c.attestations.contains_key(digest) {
                failures.push(format!(
                    "{at}: attestation `{digest}` is not in attestations/"
                ));
            }
        }
        if let Some(f) = &b.freeze {
            if c.records
                .get(&f.record)
                .is_none_or(|r| r.record.kind != RecordKind::Freeze)
            {
                failures.push(format!(
                    "{at}: the freeze record {} it names is not in the pack",
                    f.record
                ));
            }
        }
    }
    run.step("dependencies", failures, || {
        "every decision's bundle, activation, input, attestations and freeze are in the pack".into()
    });
}

pub(super) fn check_attestations(c: &Contents, run: &mut Run) {
    let mut failures = Vec::new();
    let mut counted = 0usize;
    for d in &c.decisions {
        if let Err(e) = check_decision_attestations(c, d, &mut counted) {
            failures.push(format!("{}: {e}", paths::record(d.index)));
        }
    }
    run.step("attestations", failures, || format!("{counted} counted attestation(s) verify under the pack's trust history at their decision's time"));
}

pub(super) fn check_decision_attestations(
    c: &Contents,
    d: &PackDecision,
    counted: &mut usize,
) -> Result<(), String> {
    let trust = trust_after(c, d.index)?;
    let at = parse_rfc3339(&d.time).map_err(|e| format!("record time: {e}"))?;
    let mut signers = BTreeMap::new();
    for a in d.body.attestations.iter().filter(|a| a.counted) {
        let bytes = c
            .attestations
            .get(&a.digest)
            .ok_or(format!("attestation `{}` is missing", a.digest))?;
        let env =
            Envelope::from_json(bytes).map_err(|e| format!("attestation `{}`: {e}", a.digest))?;
        let verified = verify_envelope(&env, &trust, at, &[]).map_err(|e| {
            format!(
                "attestation `{}` was counted but does not verify: {e}",
                a.digest
            )
        })?;
        signers.insert(a.digest.clone(), verified.signers);
        *counted += 1;
    }
    for a in &d.body.approvals {
        let ok = signers.get(&a.attestation).is_some_and(|ss| {
            ss.iter()
                .any(|s| s.principal == a.approver && s.roles.iter().any(|r| r.as_str() == a.role))
        });
        if !ok {
            return Err(format!(
                "the {} approval by {} is not signed by a key of that principal holding that role",
                a.role, a.approver
            ));
        }
    }
    Ok(())
}

pub(super) fn check_replay(c: &Contents, run: &mut Run) {
    let mut failures = Vec::new();
    for d in &c.decisions {
        let (Some(bundle), Some(input)) = (
            c.bundles.get(&d.body.bundle_digest),
            c.inputs.get(&d.body.input_digest),
        ) else {
            continue; // reported under `dependencies`
        };
        match reevaluate(&d.body, bundle, input) {
            Ok((_, differences)) if differences.is_empty() => {}
            Ok((_, differences)) => failures.push(format!(
                "{}: {}",
                paths::record(d.index),
                differences.join("; ")
            )),
            Err(e) => failures.push(format!(
                "{}: does not re-evaluate: {e}",
                paths::record(d.index)
            )),
        }
    }
    run.step("replay", failures, || {
        format!(
            "all {} decisions re-evaluate to the recorded outcome and reasons",
            c.decisions.len()
        )
    });
}
