//! The pack files computed from its material alone: the trust listing (`keys/trust.json`), the
//! model's inventory entry (`inventory.json`) and the human summary (`summary.md`,
//! `summary.html`). Pure functions of [`Contents`] and the pack header, so that `evidence
//! verify` recomputes them and compares bytes.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::contents::{Contents, PackDecision};
use super::doc::{Doc, Section};
use super::{paths, Scope};
use crate::attest::{KeyChange, TrustStore};
use crate::canonical::to_canonical_vec;
use crate::clock::{parse_rfc3339, rfc3339};
use crate::ledger::{Checkpoint, RecordKind};
use crate::policy::{Outcome, Reason};

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
    let doc = summary(h, c, &inventory);
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

/// Documentation facts whose absence is a completeness gap: (JSON pointer into the policy
/// input, what is missing).
const DOCUMENTATION: [(&str, &str); 10] = [
    (
        "/model/metadata_verified",
        "signed model metadata that verifies",
    ),
    ("/model/has_purpose", "intended purpose"),
    ("/model/has_limitations", "known limitations"),
    ("/model/has_out_of_scope_uses", "out-of-scope uses"),
    ("/model/has_model_card", "model card"),
    ("/model/has_technical_docs", "technical documentation"),
    (
        "/model/has_evaluation_report_digest",
        "evaluation report digest",
    ),
    (
        "/model/reproducibility_attested",
        "reproducible-training attestation",
    ),
    ("/model/has_drift_monitoring", "drift monitoring"),
    ("/model/has_risk_assessment", "risk assessment"),
];

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
        let latest = decisions.last().copied();
        let input = latest.and_then(|d| c.inputs.get(&d.body.input_digest));
        let input = input.and_then(|i| serde_json::to_value(i).ok());
        let fact = |p: &str| input.as_ref().and_then(|i| i.pointer(p)).cloned();
        let mut present = Vec::new();
        let mut missing = Vec::new();
        for (pointer, what) in DOCUMENTATION {
            match fact(pointer) {
                Some(Value::Bool(true)) => present.push(pointer),
                Some(_) => {
                    missing.push(pointer);
                    findings.push(finding(
                        h,
                        version,
                        None,
                        "documentation",
                        format!("{pointer}: no {what}"),
                    ));
                }
                None => {}
            }
        }
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
                    if !as_of.is_empty() && a.expires.as_str() < as_of.as_str() {
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
        let tier = decisions.iter().rev().find_map(|d| d.body.tier);
        let owners = ["owner", "developer", "validator", "business_owner"]
            .iter()
            .map(|k| {
                (
                    (*k).to_owned(),
                    fact(&format!("/model/{k}")).unwrap_or(Value::Null),
                )
            })
            .collect::<Map<_, _>>();
        entries.push(json!({
            "version": version,
            "tier": tier,
            "owners": owners,
            "completeness": {"present": present, "missing": missing},
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

fn is_deploying_allow(d: &PackDecision) -> bool {
    d.body.decision == Outcome::Allow && !d.body.request.dry_run
}

/// The framework a control reference belongs to, by its prefix.
fn framework(prefix: &str) -> &str {
    match prefix {
        "EU-AI-Act" => "EU AI Act (Regulation (EU) 2024/1689)",
        "NIST-AI-RMF" => "NIST AI RMF 1.0",
        "ISO-42001" => "ISO/IEC 42001:2023",
        "SR-26-2" => "SR 26-2 / OCC 2026-13 (successor of SR 11-7)",
        other => other,
    }
}

fn policies_of(reasons: &[Reason]) -> String {
    reasons
        .iter()
        .map(|r| r.policy_id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The human summary.
fn summary(h: Header<'_>, c: &Contents, inventory: &Value) -> Doc {
    let s = h.scope;
    let scope = format!(
        "Model {}; {}; decisions from {} until {}.",
        s.model,
        s.version
            .as_deref()
            .map_or("all versions".to_owned(), |v| format!("version {v}")),
        s.since.as_deref().unwrap_or("the first record"),
        s.until.as_deref().unwrap_or("the checkpoint"),
    );
    let cp = h.checkpoint;
    let head = Section::new("Scope and provenance")
        .para(scope)
        .para(format!(
            "Ledger `{}` checkpoint of size {} with root {} (file `checkpoint`); {} records in this pack, {} of them decisions; as of {}. Built by {}.",
            cp.origin,
            cp.size,
            B64.encode(cp.root),
            c.records.len(),
            c.decisions.len(),
            c.as_of().unwrap_or("-"),
            h.generator
        ))
        .para("Verify with `modelgate evidence verify PACK.tar.gz --vkey <published key>` or by hand as docs/evidence.md describes.");
    let current: Vec<Vec<String>> = inventory["current"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(env, v)| {
                    vec![
                        env.clone(),
                        text(&v["version"]),
                        text(&v["record"]),
                        text(&v["time"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let deployments = Section::new("Current deployments").table(
        &["environment", "version", "allowed by record", "time"],
        current,
        "No deploying allow in scope.",
    );
    let timeline = Section::new("Timeline of decisions").table(
        &[
            "record",
            "time",
            "version",
            "environment",
            "outcome",
            "tier",
            "requested by",
            "determining policies",
        ],
        c.decisions
            .iter()
            .map(|d| {
                let r = &d.body.request;
                vec![
                    d.index.to_string(),
                    d.time.clone(),
                    r.version.clone(),
                    r.environment.clone(),
                    format!(
                        "{}{}",
                        d.body.decision.as_str(),
                        if r.dry_run { " (dry run)" } else { "" }
                    ),
                    d.body.tier.map_or("-".to_owned(), |t| t.to_string()),
                    r.requested_by.clone(),
                    policies_of(&d.body.reasons),
                ]
            })
            .collect(),
        "No decisions.",
    );
    let mut reasons = Vec::new();
    for d in c
        .decisions
        .iter()
        .filter(|d| d.body.decision == Outcome::Deny)
    {
        for r in &d.body.reasons {
            let values = serde_json::to_string(&r.values).unwrap_or_default();
            reasons.push(format!(
                "record {} ({}, {} to {}): {} [{}] {}; controls: {}; values: {}",
                d.index,
                d.time,
                d.body.request.version,
                d.body.request.environment,
                r.policy_id,
                r.effect,
                r.reason,
                r.controls.join(", "),
                values
            ));
        }
    }
    let denials = Section::new("Why each denial").list(reasons, "No denials in scope.");
    let approvals = Section::new("Approvals").table(
        &[
            "record",
            "version",
            "environment",
            "role",
            "approver",
            "expires",
        ],
        c.decisions
            .iter()
            .flat_map(|d| {
                d.body.approvals.iter().map(move |a| {
                    vec![
                        d.index.to_string(),
                        d.body.request.version.clone(),
                        d.body.request.environment.clone(),
                        a.role.clone(),
                        a.approver.clone(),
                        a.expires.clone(),
                    ]
                })
            })
            .collect(),
        "No approvals counted.",
    );
    let waivers = Section::new("Waivers used").table(
        &[
            "record",
            "policies waived",
            "granted by",
            "ticket",
            "expires",
            "reason",
        ],
        c.decisions
            .iter()
            .flat_map(|d| {
                d.body.waivers.iter().map(move |w| {
                    vec![
                        d.index.to_string(),
                        w.policies.join(", "),
                        w.granted_by.clone(),
                        w.ticket.clone(),
                        w.expires.clone(),
                        w.reason.clone(),
                    ]
                })
            })
            .collect(),
        "No waivers were applied.",
    );
    let freezes: Vec<String> = c
        .of_kind(RecordKind::Freeze)
        .map(|r| {
            format!(
                "record {} ({}): {}",
                r.record.index, r.record.time, r.record.body
            )
        })
        .collect();
    let freezes = Section::new("Freezes in force")
        .list(freezes, "No decision in scope was made under a freeze.");
    let gaps: Vec<String> = inventory["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    format!(
                        "{} {}{}: {} — {}",
                        text(&f["model"]),
                        text(&f["version"]),
                        f["environment"]
                            .as_str()
                            .map(|e| format!(" in {e}"))
                            .unwrap_or_default(),
                        text(&f["kind"]),
                        text(&f["detail"])
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let gaps = Section::new("Gaps").list(gaps, "No gaps found.");
    Doc {
        title: format!("Evidence pack: {}", s.model),
        sections: vec![
            head,
            deployments,
            timeline,
            denials,
            approvals,
            waivers,
            freezes,
            gaps,
            crosswalk(c),
        ],
    }
}

/// Control references of the policies in the pack's bundles, by framework and clause, with
/// how often the decisions in scope cited each policy.
fn crosswalk(c: &Contents) -> Section {
    let mut cited_deny: BTreeMap<&str, usize> = BTreeMap::new();
    let mut cited_allow: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &c.decisions {
        let tally = if d.body.decision == Outcome::Deny {
            &mut cited_deny
        } else {
            &mut cited_allow
        };
        for r in &d.body.reasons {
            *tally.entry(r.policy_id.as_str()).or_default() += 1;
        }
    }
    let mut clauses: BTreeMap<(String, String), BTreeSet<&str>> = BTreeMap::new();
    for bundle in c.bundles.values() {
        for p in bundle.policies() {
            for control in &p.controls {
                let (prefix, clause) = control.split_once(':').unwrap_or((control.as_str(), ""));
                clauses
                    .entry((framework(prefix).to_owned(), clause.to_owned()))
                    .or_default()
                    .insert(p.id.as_str());
            }
        }
    }
    let rows = clauses
        .into_iter()
        .map(|((fw, clause), ids)| {
            let count = |m: &BTreeMap<&str, usize>| {
                ids.iter()
                    .map(|id| m.get(id).copied().unwrap_or(0))
                    .sum::<usize>()
            };
            vec![
                fw,
                clause,
                ids.iter().copied().collect::<Vec<_>>().join(", "),
                count(&cited_deny).to_string(),
                count(&cited_allow).to_string(),
            ]
        })
        .collect();
    Section::new("Controls crosswalk")
        .para("Each framework clause named by a policy's @control annotation, the policies that implement it, and how often the decisions in this pack cited those policies.")
        .table(&["framework", "clause", "policies", "cited by denials", "cited by allows"], rows, "The bundles name no controls.")
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}
