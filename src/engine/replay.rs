//! Replay: re-derive what a ledger record states from what the ledger kept, and say whether it
//! comes out the same.
//!
//! [`replay`] takes one record and, by kind:
//!
//! - `decision`: fetches the policy bundle by the digest the decision names
//!   ([`super::bundles::load_bundle`]) and the policy input by its `input_digest` (both from the
//!   content-addressed blob store), re-evaluates with the waivers the decision applied, and
//!   compares outcome, reasons, warnings and shadow outcomes with what was recorded;
//! - `bundle_activation`: rebuilds the bundle from its stored files and compares its digest and
//!   policy ids;
//! - `key_change`: replays the trust history before the record and applies the change again;
//! - `freeze` / `unfreeze`: re-reads the body against its format;
//! - other kinds state facts reported to modelgate and hold nothing to re-evaluate.
//!
//! Every replay also recomputes the record's leaf hash. The result is a [`Replay`]: what was
//! checked and the first differences found; `reproduced` is true when there are none.

use serde::{Deserialize, Serialize};

use super::bundles::load_bundle;
use super::decision::DecisionBody;
use super::trust::load_trust_before;
use super::EngineError;
use crate::attest::KeyChange;
use crate::clock::parse_rfc3339;
use crate::ledger::{leaf_hash, parse_record, Record, RecordKind, Store};
use crate::policy::input::PolicyInput;
use crate::policy::{Evaluation, PolicyBundle, Reason};

/// The result of replaying one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    /// The record's index.
    pub index: u64,
    /// Its kind.
    pub kind: RecordKind,
    /// What was re-derived, in words.
    pub checked: String,
    /// Whether the replay reproduced the record (no differences).
    pub reproduced: bool,
    /// What came out differently.
    pub differences: Vec<String>,
    /// The record as stored.
    pub record: Record,
    /// For a decision: the re-evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Evaluation>,
}

/// Replays record `index` of `store`.
pub fn replay(store: &dyn Store, index: u64) -> Result<Replay, EngineError> {
    let stored = store.record(index)?.ok_or_else(|| {
        EngineError::invalid(
            "",
            format!(
                "there is no record {index} (the ledger holds {})",
                store.size().unwrap_or(0)
            ),
        )
    })?;
    let record = parse_record(&stored.bytes)?;
    let mut differences = Vec::new();
    if leaf_hash(&stored.bytes) != stored.leaf_hash {
        differences.push("the record's bytes do not hash to its stored leaf hash".to_owned());
    }
    if record.index != index {
        differences.push(format!("the record says index {}", record.index));
    }
    let mut evaluation = None;
    let checked = match record.kind {
        RecordKind::Decision => {
            let (checked, eval) = replay_decision(store, &record, &mut differences)?;
            evaluation = Some(eval);
            checked
        }
        RecordKind::BundleActivation => replay_activation(store, &record, &mut differences)?,
        RecordKind::KeyChange => replay_key_change(store, &record, &mut differences)?,
        RecordKind::Freeze | RecordKind::Unfreeze => {
            super::freeze::parse_body(&record).map_err(|e| {
                EngineError::invalid("", format!("record {index} has a malformed body: {e}"))
            })?;
            format!(
                "the {} body reads back as a valid {}",
                record.kind, record.kind
            )
        }
        other => format!("a `{other}` record reports a fact; there is nothing to re-evaluate"),
    };
    Ok(Replay {
        index,
        kind: record.kind,
        checked,
        reproduced: differences.is_empty(),
        differences,
        record,
        evaluation,
    })
}

fn replay_decision(
    store: &dyn Store,
    record: &Record,
    differences: &mut Vec<String>,
) -> Result<(String, Evaluation), EngineError> {
    let body: DecisionBody = serde_json::from_value(record.body.clone()).map_err(|e| {
        EngineError::invalid(
            "",
            format!("record {} is not a v1 decision: {e}", record.index),
        )
    })?;
    let bundle = load_bundle(store, &body.bundle_digest)?;
    let input_bytes = store.attestation(&body.input_digest)?.ok_or_else(|| {
        EngineError::invalid(
            "",
            format!(
                "the policy input `{}` of decision {} is not stored (recorded by a version that did not keep inputs)",
                body.input_digest, record.index
            ),
        )
    })?;
    let input: PolicyInput = serde_json::from_slice(&input_bytes).map_err(|e| {
        EngineError::invalid(
            "",
            format!(
                "the stored policy input `{}` does not read back: {e}",
                body.input_digest
            ),
        )
    })?;
    let (eval, found) = reevaluate(&body, &bundle, &input)?;
    differences.extend(found);
    Ok((
        format!(
            "re-evaluated the stored policy input `{}` with bundle `{}`{}",
            body.input_digest,
            body.bundle_digest,
            waived_policies(&body)
                .map(|w| format!(", waiving {}", w.join(", ")))
                .unwrap_or_default()
        ),
        eval,
    ))
}

/// The policies the decision's waivers left out, or `None` when it applied no waiver.
fn waived_policies(body: &DecisionBody) -> Option<Vec<String>> {
    let waived: Vec<String> = body
        .waivers
        .iter()
        .flat_map(|w| w.policies.iter().cloned())
        .collect();
    (!waived.is_empty()).then_some(waived)
}

/// Re-evaluates a recorded decision: `input` (the policy input the decision names by digest)
/// against `bundle` (the bundle it names), leaving out the policies its waivers covered. Returns
/// the evaluation and how it differs from what `body` recorded (outcome, reasons, warnings,
/// shadow outcomes); no differences means the decision is reproduced. Pure: callers fetch the
/// bundle and input (from the ledger's blob store, or from an evidence pack).
pub fn reevaluate(
    body: &DecisionBody,
    bundle: &PolicyBundle,
    input: &PolicyInput,
) -> Result<(Evaluation, Vec<String>), EngineError> {
    let waived = waived_policies(body).unwrap_or_default();
    let eval = bundle.evaluate_with_waivers(input, &waived)?;
    let mut differences = Vec::new();
    if eval.decision != body.decision {
        differences.push(format!(
            "recorded {}, replay decides {}",
            body.decision.as_str(),
            eval.decision.as_str()
        ));
    }
    compare("reasons", &body.reasons, &eval.reasons, &mut differences);
    compare("warnings", &body.warnings, &eval.warnings, &mut differences);
    compare(
        "shadow outcomes",
        &body.shadow,
        &eval.shadow,
        &mut differences,
    );
    Ok((eval, differences))
}

fn compare(what: &str, recorded: &[Reason], replayed: &[Reason], differences: &mut Vec<String>) {
    if recorded != replayed {
        let ids = |rs: &[Reason]| {
            rs.iter()
                .map(|r| format!("{} ({})", r.policy_id, r.effect))
                .collect::<Vec<_>>()
                .join(", ")
        };
        differences.push(format!(
            "{what} differ: recorded [{}], replay [{}]",
            ids(recorded),
            ids(replayed)
        ));
    }
}

fn replay_activation(
    store: &dyn Store,
    record: &Record,
    differences: &mut Vec<String>,
) -> Result<String, EngineError> {
    let digest = record
        .body
        .get("bundle_digest")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let bundle = load_bundle(store, digest)?;
    let ids: Vec<&str> = bundle.policies().iter().map(|p| p.id.as_str()).collect();
    let recorded: Vec<&str> = record
        .body
        .get("policies")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    if ids != recorded {
        differences.push(format!(
            "the stored bundle has policies [{}], the record lists [{}]",
            ids.join(", "),
            recorded.join(", ")
        ));
    }
    Ok(format!(
        "rebuilt and strictly validated bundle `{digest}` ({} policies) from its stored files",
        ids.len()
    ))
}

fn replay_key_change(
    store: &dyn Store,
    record: &Record,
    differences: &mut Vec<String>,
) -> Result<String, EngineError> {
    let change: KeyChange = serde_json::from_value(record.body.clone()).map_err(|e| {
        EngineError::invalid(
            "",
            format!("record {} is not a key change: {e}", record.index),
        )
    })?;
    let mut trust = load_trust_before(store, record.index)?;
    let at = parse_rfc3339(&record.time)
        .map_err(|e| EngineError::invalid("", format!("record time: {e}")))?;
    if let Err(e) = trust.apply(&change, at) {
        differences.push(format!("the change no longer applies: {e}"));
    }
    Ok("replayed the trust history before this record and applied the change".to_owned())
}
