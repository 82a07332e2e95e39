//! The human summary of a pack (`summary.md`, `summary.html`): scope and provenance, current
//! deployments, the timeline of decisions, why each denial, approvals, waivers, freezes, gaps
//! and the controls crosswalk, as one [`Doc`] rendered twice.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;

use super::contents::Contents;
use super::derive::Header;
use crate::doc::{Doc, Section};
use crate::ledger::RecordKind;
use crate::policy::{Outcome, Reason};

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
pub(super) fn summary(h: Header<'_>, c: &Contents, inventory: &Value) -> Doc {
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
