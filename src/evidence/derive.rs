//! The pack files computed from its material alone: the trust listing (`keys/trust.json`), the
//! model's inventory entry (`inventory.json`) and the human summary (`summary.md`,
//! `summary.html`). Pure functions of [`Contents`] and the pack header, so that `evidence
//! verify` recomputes them and compares bytes.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::contents::{Contents, PackDecision};
use super::{paths, Scope};
use crate::attest::{KeyChange, TrustStore};
use crate::canonical::to_canonical_vec;
use crate::clock::{parse_rfc3339, rfc3339};
use crate::inventory::Facts;
use crate::ledger::{Checkpoint, RecordKind};
use crate::policy::Outcome;

/// The pack header the derived files mention.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// What the pack is about.
    pub scope: &'a Scope,
    /// The tool that built it.
    pub generator: &'a str,
    /// The checkpoint every proof is relative to.
    pub checkpoint: &'a Checkpoint,
}

/// The derived files, path → bytes.
pub fn derived_files(h: Header<'_>, c: &Contents) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut out = BTreeMap::new();
    out.insert(paths::TRUST.to_owned(), trust_json(c)?);
    let inventory = inventory(h, c);
    out.insert(paths::INVENTORY.to_owned(), canonical(&inventory)?);
    let doc = super::summary::summary(h, c, &inventory);
    out.insert(paths::SUMMARY_MD.to_owned(), doc.to_markdown().into_bytes());
    out.insert(paths::SUMMARY_HTML.to_owned(), doc.to_html().into_bytes());
    Ok(out)
}

fn canonical(v: &Value) -> Result<Vec<u8>, String> {
    to_canonical_vec(v).map_err(|e| e.to_string())
}

/// The trust store after every `key_change` record in the pack, replayed in order.
pub fn trust_after(c: &Contents, before: u64) -> Result<TrustStore, String> {
    let mut trust = TrustStore::new();
    for r in c.of_kind(RecordKind::KeyChange) {
        if r.record.index >= before {
            break;
        }
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", paths::record(r.record.index));
        let change: KeyChange =
            serde_json::from_value(r.record.body.clone()).map_err(|e| at(&e))?;
        let time = parse_rfc3339(&r.record.time).map_err(|e| at(&e))?;
        trust.apply(&change, time).map_err(|e| at(&e))?;
    }
    Ok(trust)
}

/// `keys/trust.json`: every key the pack's key changes trusted, with roles, validity window and
/// revocation, sorted by key id.
fn trust_json(c: &Contents) -> Result<Vec<u8>, String> {
    let trust = trust_after(c, u64::MAX)?;
    let keys: Vec<Value> = trust
        .keys()
        .map(|k| {
            json!({
                "key_id": k.key_id,
                "principal": k.principal,
                "roles": k.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                "not_before": k.not_before.map(rfc3339),
                "not_after": k.not_after.map(rfc3339),
                "public_key_pem": k.public_key.to_spki_pem(),
                "revoked": k.revoked.as_ref().map(|r| json!({"at": rfc3339(r.at), "reason": r.reason})),
            })
        })
        .collect();
    canonical(&json!({"version": 1, "keys": keys}))
}

fn record_ref(d: &PackDecision) -> Value {
    json!({"record": d.index, "time": d.time, "decision": d.body.decision.as_str()})
}

/// The model's inventory entry and completeness findings, as of the newest record in the pack.
fn inventory(h: Header<'_>, c: &Contents) -> Value {
    let as_of = c.as_of().unwrap_or_default().to_owned();
    let mut versions: BTreeMap<&str, Vec<&PackDecision>> = BTreeMap::new();
    for d in &c.decisions {
        versions.entry(&d.body.request.version).or_default().push(d);
    }
    let mut current = Map::new();
    for d in c.decisions.iter().filter(|d| is_deploying_allow(d)) {
        current.insert(
            d.body.request.environment.clone(),
            json!({"version": d.body.request.version, "record": d.index, "time": d.time}),
        );
    }
    let mut findings = Vec::new();
    let mut entries = Vec::new();
    for (version, decisions) in &versions {
        let mut by_env: BTreeMap<&str, Vec<&PackDecision>> = BTreeMap::new();
        for d in decisions {
            by_env
                .entry(&d.body.request.environment)
                .or_default()
                .push(d);
        }
        // The same decision the inventory report reads its facts from: the newest that counted
        // model metadata, else the newest.
        let source = decisions
            .iter()
            .rev()
            .find(|d| {
                d.body.attestations.iter().any(|a| {
                    a.counted && a.predicate_type == crate::attest::PREDICATE_MODEL_METADATA
                })
            })
            .or(decisions.last())
            .copied();
        let tier = decisions.iter().rev().find_map(|d| d.body.tier);
        let input = source.and_then(|d| c.inputs.get(&d.body.input_digest));
        let facts = input.map(|i| Facts::from_input(i, tier.unwrap_or(0)));
        let mut completeness = Map::new();
        if let Some(f) = &facts {
            let mut criteria = vec![
                ("inventory", &f.inventory),
                ("documentation", &f.documentation),
                ("reproducibility", &f.reproducibility),
            ];
            if tier.unwrap_or(0) <= 1 {
                criteria.push(("drift", &f.drift));
            }
            for (kind, criterion) in criteria {
                for pointer in &criterion.missing {
                    findings.push(finding(h, version, None, kind, (*pointer).to_owned()));
                }
                completeness.insert(
                    kind.to_owned(),
                    json!({"complete": criterion.complete, "missing": criterion.missing}),
                );
            }
        }
        let owners = facts.as_ref().map_or(Value::Null, |f| {
            json!({"owner": f.owner, "developer": f.developer, "validator": f.validator, "business_owner": f.business_owner})
        });
        let mut envs = Map::new();
        let mut approvals = Vec::new();
        for (env, ds) in &by_env {
            let last = ds.last().copied();
            let last_allow = ds.iter().rev().find(|d| is_deploying_allow(d)).copied();
            if let Some(d) = last {
                if d.body.decision == Outcome::Deny {
                    for r in &d.body.reasons {
                        findings.push(finding(
                            h,
                            version,
                            Some(env),
                            "denied",
                            format!("{}: {} (record {})", r.policy_id, r.reason, d.index),
                        ));
                    }
                }
                for f in &d.body.findings {
                    findings.push(finding(
                        h,
                        version,
                        Some(env),
                        "attestation",
                        format!(
                            "attestation #{}: {} (record {})",
                            f.attestation, f.problem, d.index
                        ),
                    ));
                }
            }
            if let Some(d) = last_allow {
                for a in &d.body.approvals {
                    approvals.push(json!({"environment": env, "role": a.role, "approver": a.approver, "expires": a.expires, "record": d.index}));
                    if !as_of.is_empty() && a.expires.as_str() <= as_of.as_str() {
                        findings.push(finding(
                            h,
                            version,
                            Some(env),
                            "approval-expired",
                            format!(
                                "{} approval by {} expired {} (record {})",
                                a.role, a.approver, a.expires, d.index
                            ),
                        ));
                    }
                }
            }
            envs.insert(
                (*env).to_owned(),
                json!({"last_decision": last.map(record_ref), "last_allow": last_allow.map(record_ref)}),
            );
        }
        entries.push(json!({
            "version": version,
            "tier": tier,
            "owners": owners,
            "completeness": completeness,
            "environments": envs,
            "approvals": approvals,
            "decisions": decisions.len(),
        }));
    }
    json!({
        "version": 1,
        "model": h.scope.model,
        "as_of": as_of,
        "tier": c.decisions.iter().rev().find_map(|d| d.body.tier),
        "current": current,
        "versions": entries,
        "findings": findings,
    })
}

fn finding(h: Header<'_>, version: &str, env: Option<&str>, kind: &str, detail: String) -> Value {
    json!({"model": h.scope.model, "version": version, "environment": env, "kind": kind, "detail": detail})
}

pub(super) fn is_deploying_allow(d: &PackDecision) -> bool {
    d.body.decision == Outcome::Allow && !d.body.request.dry_run
}
