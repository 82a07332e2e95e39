//! Verification steps over the decisions of a pack: scope, dependencies, the attestations they
//! counted (against the pack's trust history) and a replay of each with its bundle and input.

use std::collections::BTreeMap;

use super::Run;
use crate::attest::{
    verify_envelope, Envelope, Role, Statement, PREDICATE_MODEL_METADATA, PREDICATE_WAIVER,
};
use crate::clock::parse_rfc3339;
use crate::engine::attestations::METADATA_SIGNER_ROLES;
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
            match c.records.get(&f.record) {
                Some(r) if r.record.kind == RecordKind::Freeze => {
                    let body = &r.record.body;
                    let same = r.record.index < d.index
                        && body.get("environment").and_then(|v| v.as_str())
                            == Some(b.request.environment.as_str())
                        && body.get("reason").and_then(|v| v.as_str()) == Some(f.reason.as_str())
                        && body.get("until").and_then(|v| v.as_str()) == f.until.as_deref();
                    if !same {
                        failures.push(format!(
                            "{at}: the freeze record {} does not precede it with the environment, reason and end it states",
                            f.record
                        ));
                    }
                }
                _ => failures.push(format!(
                    "{at}: the freeze record {} it names is not in the pack",
                    f.record
                )),
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
        let statement = Statement::from_payload(&env.payload)
            .map_err(|e| format!("attestation `{}`: {e}", a.digest))?;
        if statement.predicate_type != a.predicate_type {
            return Err(format!(
                "attestation `{}` is recorded as `{}` but its statement is `{}`",
                a.digest, a.predicate_type, statement.predicate_type
            ));
        }
        // The roles the engine accepts for the attestation's kind (approvals are checked per
        // approval below, against the role each one claims).
        let roles: &[Role] = match a.predicate_type.as_str() {
            PREDICATE_MODEL_METADATA => &METADATA_SIGNER_ROLES,
            PREDICATE_WAIVER => &[Role::RiskOfficer],
            _ => &[],
        };
        let verified = verify_envelope(&env, &trust, at, roles).map_err(|e| {
            format!(
                "attestation `{}` was counted but does not verify in the roles its kind needs: {e}",
                a.digest
            )
        })?;
        signers.insert(a.digest.clone(), verified.signers);
        *counted += 1;
    }
    let signed_by = |digest: &str, principal: &str, role: &str| {
        signers.get(digest).is_some_and(|ss| {
            ss.iter()
                .any(|s| s.principal == principal && s.roles.iter().any(|r| r.as_str() == role))
        })
    };
    for a in &d.body.approvals {
        if !signed_by(&a.attestation, &a.approver, &a.role) {
            return Err(format!(
                "the {} approval by {} is not a counted attestation signed by a key of that principal holding that role",
                a.role, a.approver
            ));
        }
    }
    for w in &d.body.waivers {
        if !signed_by(&w.attestation, &w.granted_by, Role::RiskOfficer.as_str()) {
            return Err(format!(
                "the waiver `{}` granted by {} is not a counted attestation signed by that risk officer",
                w.ticket, w.granted_by
            ));
        }
        if w.expires.as_str() <= d.time.as_str() {
            return Err(format!(
                "the waiver `{}` had lapsed ({}) when it was applied",
                w.ticket, w.expires
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    //! The attestation check on decisions an engine could have recorded dishonestly (the record
    //! bytes are edited in memory here; in a pack they would also need the engine's signature
    //! and a proof, which the other checks require).
    use super::*;
    use crate::evidence::archive::read_tar_gz;

    fn golden() -> Contents {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/evidence/golden/credit-risk-scorer.tar.gz"
        );
        let files = read_tar_gz(&std::fs::read(path).unwrap()).unwrap();
        let (contents, problems) = Contents::read(&files);
        assert!(problems.is_empty(), "{problems:?}");
        contents
    }

    fn waived(c: &Contents) -> PackDecision {
        c.decisions
            .iter()
            .find(|d| !d.body.waivers.is_empty())
            .unwrap()
            .clone()
    }

    fn check(c: &Contents, d: &PackDecision) -> Result<(), String> {
        check_decision_attestations(c, d, &mut 0)
    }

    #[test]
    fn the_recorded_decisions_pass() {
        let c = golden();
        for d in &c.decisions {
            check(&c, d).unwrap();
        }
    }

    #[test]
    fn a_waiver_that_did_not_count_or_had_lapsed_is_refused() {
        let c = golden();
        let mut d = waived(&c);
        let digest = d.body.waivers[0].attestation.clone();
        for a in d
            .body
            .attestations
            .iter_mut()
            .filter(|a| a.digest == digest)
        {
            a.counted = false;
        }
        let err = check(&c, &d).unwrap_err();
        assert!(
            err.contains("is not a counted attestation signed by that risk officer"),
            "{err}"
        );

        let mut d = waived(&c);
        d.body.waivers[0].expires = d.time.clone();
        assert!(check(&c, &d).unwrap_err().contains("had lapsed"));

        let mut d = waived(&c);
        d.body.waivers[0].granted_by = "mallory@example.com".into();
        assert!(check(&c, &d)
            .unwrap_err()
            .contains("granted by mallory@example.com"));
    }

    #[test]
    fn a_misrecorded_kind_or_an_approval_in_another_role_is_refused() {
        let c = golden();
        let mut d = c
            .decisions
            .iter()
            .find(|d| !d.body.approvals.is_empty())
            .unwrap()
            .clone();
        d.body.attestations[0].predicate_type = "https://example.com/other/v1".into();
        assert!(check(&c, &d).unwrap_err().contains("is recorded as"));

        let mut d = c
            .decisions
            .iter()
            .find(|d| !d.body.approvals.is_empty())
            .unwrap()
            .clone();
        d.body.approvals[0].role = "risk-officer".into();
        d.body.approvals[0].approver = "olivia@example.com".into();
        let err = check(&c, &d).unwrap_err();
        assert!(
            err.contains("approval by olivia@example.com is not a counted attestation"),
            "{err}"
        );
    }
}
