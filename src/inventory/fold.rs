//! The inventory as a fold over the ledger: every model version the engine decided about, every
//! deployment it was told about, every retirement, in record order.
//!
//! [`Inventory::apply`] takes one record's bytes; records of kinds the inventory does not use
//! are skipped after reading only their kind. Bodies are read into lean typed views (serde
//! skips the fields the inventory does not need), so a fold over a large ledger parses each
//! record once and keeps only what the report uses. The facts the KPIs need per version come
//! from the policy input of its latest decision (`Facts`), fetched by the caller through
//! [`Inventory::inputs_wanted`] once the fold is done.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ledger::RecordKind;

pub use super::version::{
    DecisionEvent, DeployingAllow, Deployment, EnvironmentState, LatestDecision, SourceDecision,
    VersionEntry,
};

/// One model: its versions and whether it was retired as a whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// Versions by name.
    pub versions: BTreeMap<String, VersionEntry>,
    /// Set when the whole model was retired: (index, time, reason).
    pub retired: Option<(u64, String, String)>,
}

/// Everything the ledger says about models, up to some record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// Models by name.
    pub models: BTreeMap<String, ModelEntry>,
    /// Records folded.
    pub records: u64,
    /// Time of the newest record folded.
    pub newest: Option<String>,
    /// Records after this time (RFC 3339 UTC) are skipped.
    pub as_of: Option<String>,
    /// Decisions per instant (Unix time in nanoseconds): [allows, denies] — what the weekly
    /// chart counts.
    pub decision_times: BTreeMap<i128, [u64; 2]>,
    /// Whether a record was skipped for being after `as_of`.
    pub skipped: bool,
}

/// A record read in one pass: the kind and time, and the body fields of the three kinds the
/// inventory uses (`decision`, `observation`, `retire`); every other field is skipped unread.
#[derive(Deserialize)]
struct RecordView<'a> {
    kind: RecordKind,
    index: u64,
    #[serde(borrow)]
    time: std::borrow::Cow<'a, str>,
    body: BodyView,
}

/// Only the kind, for a record whose body does not fit [`BodyView`].
#[derive(Deserialize)]
struct KindOnly {
    kind: RecordKind,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BodyView {
    decision: Option<String>,
    request: Option<RequestView>,
    tier: Option<i64>,
    reasons: Vec<ReasonView>,
    approvals: Vec<ApprovalView>,
    waivers: Vec<WaiverView>,
    attestations: Vec<AttestationView>,
    input_digest: Option<String>,
    source: Option<String>,
    model: Option<String>,
    version: Option<String>,
    environment: Option<String>,
    reason: Option<String>,
}

#[derive(Deserialize)]
struct RequestView {
    model: String,
    version: String,
    environment: String,
    #[serde(default)]
    rollback: bool,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
struct ReasonView {
    policy_id: String,
}

#[derive(Deserialize)]
struct ApprovalView {
    role: String,
    approver: String,
    expires: String,
}

#[derive(Deserialize)]
struct WaiverView {
    ticket: String,
    expires: String,
}

#[derive(Deserialize)]
struct AttestationView {
    digest: String,
    predicate_type: String,
    counted: bool,
}

/// The body of a `retire` record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetireBody {
    /// The model.
    pub model: String,
    /// Only this version; the whole model when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why.
    pub reason: String,
}

/// Where a version's facts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactsSource {
    /// The model.
    pub model: String,
    /// The version.
    pub version: String,
    /// The decision's ledger index.
    pub index: u64,
    /// Its time.
    pub time: String,
    /// Its policy input.
    pub input_digest: String,
    /// Its counted model metadata, if any.
    pub metadata_digest: Option<String>,
}

/// Why a record could not be folded.
#[derive(Debug, thiserror::Error)]
#[error("record {index}: {problem}")]
pub struct FoldError {
    /// The record's index (or the position it was read at).
    pub index: u64,
    /// What is wrong.
    pub problem: String,
}

impl Inventory {
    /// An empty inventory that folds records up to `as_of` (all records when `None`).
    pub fn new(as_of: Option<String>) -> Inventory {
        Inventory {
            as_of,
            ..Inventory::default()
        }
    }

    /// Folds one record (its canonical bytes), read at position `at`; a record after `as_of`
    /// is skipped.
    pub fn apply(&mut self, at: u64, bytes: &[u8]) -> Result<(), FoldError> {
        let bad = |problem: String| FoldError { index: at, problem };
        let view: RecordView<'_> = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(e) => {
                // A kind the inventory does not read may use these field names differently.
                let kind: KindOnly = serde_json::from_slice(bytes)
                    .map_err(|_| bad(format!("not a ledger record: {e}")))?;
                if matches!(
                    kind.kind,
                    RecordKind::Decision | RecordKind::Observation | RecordKind::Retire
                ) {
                    return Err(bad(format!("not a readable `{}` record: {e}", kind.kind)));
                }
                self.records += 1;
                return Ok(());
            }
        };
        if self
            .as_of
            .as_deref()
            .is_some_and(|a| view.time.as_ref() > a)
        {
            self.skipped = true;
            return Ok(());
        }
        self.records += 1;
        if self
            .newest
            .as_deref()
            .is_none_or(|n| view.time.as_ref() > n)
        {
            self.newest = Some(view.time.to_string());
        }
        let time = view.time.to_string();
        let b = view.body;
        let missing =
            |kind: RecordKind, field: &str| bad(format!("the `{kind}` body has no `{field}`"));
        match view.kind {
            RecordKind::Decision => {
                let decision = b
                    .decision
                    .ok_or_else(|| missing(RecordKind::Decision, "decision"))?;
                let request = b
                    .request
                    .ok_or_else(|| missing(RecordKind::Decision, "request"))?;
                let input_digest = b
                    .input_digest
                    .ok_or_else(|| missing(RecordKind::Decision, "input_digest"))?;
                let allowed = decision == "allow";
                let metadata_digest = b
                    .attestations
                    .iter()
                    .find(|a| {
                        a.counted && a.predicate_type == crate::attest::PREDICATE_MODEL_METADATA
                    })
                    .map(|a| a.digest.clone());
                let event = DecisionEvent {
                    index: view.index,
                    time,
                    environment: request.environment,
                    allowed,
                    rollback: request.rollback,
                    dry_run: request.dry_run,
                    approvals: b
                        .approvals
                        .into_iter()
                        .map(|a| (a.role, a.approver, a.expires))
                        .collect(),
                    waivers: b
                        .waivers
                        .into_iter()
                        .map(|w| (w.ticket, w.expires))
                        .collect(),
                    denied_by: if allowed {
                        Vec::new()
                    } else {
                        b.reasons.into_iter().map(|r| r.policy_id).collect()
                    },
                    input_digest,
                    metadata_digest,
                };
                if allowed && !request.dry_run {
                    self.redeployed(&request.model, &request.version, view.index);
                }
                if let Ok(t) = crate::clock::parse_rfc3339(&event.time) {
                    let slot = self
                        .decision_times
                        .entry(t.unix_timestamp_nanos())
                        .or_default();
                    slot[usize::from(!allowed)] += 1;
                }
                let v = self.version_mut(&request.model, &request.version);
                if b.tier.is_some() {
                    v.tier = b.tier;
                }
                v.record(event);
            }
            RecordKind::Observation => {
                let kind = RecordKind::Observation;
                let (Some(source), Some(model), Some(version), Some(environment)) =
                    (b.source, b.model, b.version, b.environment)
                else {
                    return Err(missing(kind, "source, model, version or environment"));
                };
                self.redeployed(&model, &version, view.index);
                let v = self.version_mut(&model, &version);
                v.deployments.insert(
                    environment,
                    Deployment {
                        index: view.index,
                        time,
                        source,
                    },
                );
            }
            RecordKind::Retire => {
                let kind = RecordKind::Retire;
                let (Some(model), Some(reason)) = (b.model, b.reason) else {
                    return Err(missing(kind, "model or reason"));
                };
                let mark = Some((view.index, time, reason));
                match b.version {
                    Some(version) => self.version_mut(&model, &version).retired = mark,
                    None => self.models.entry(model).or_default().retired = mark,
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A deployment recorded at `index` after a retirement brings the model (and version) back:
    /// retiring is for what no longer runs.
    fn redeployed(&mut self, model: &str, version: &str, index: u64) {
        if let Some(m) = self.models.get_mut(model) {
            if m.retired.as_ref().is_some_and(|(at, _, _)| *at < index) {
                m.retired = None;
            }
            if let Some(v) = m.versions.get_mut(version) {
                if v.retired.as_ref().is_some_and(|(at, _, _)| *at < index) {
                    v.retired = None;
                }
            }
        }
    }

    fn version_mut(&mut self, model: &str, version: &str) -> &mut VersionEntry {
        self.models
            .entry(model.to_owned())
            .or_default()
            .versions
            .entry(version.to_owned())
            .or_default()
    }

    /// For each version with a decision, the decision its facts come from: the newest one that
    /// counted model metadata, else the newest — what [`Inventory::set_facts`] needs. Versions
    /// whose facts were already read from that decision at their current tier are left out.
    pub fn inputs_wanted(&self) -> Vec<FactsSource> {
        let mut out = Vec::new();
        for (model, m) in &self.models {
            for (version, v) in &m.versions {
                if let Some(d) = v.facts_decision() {
                    if v.facts_from == Some((d.index, v.tier.unwrap_or(0))) {
                        continue;
                    }
                    out.push(FactsSource {
                        model: model.clone(),
                        version: version.clone(),
                        index: d.index,
                        time: d.time.clone(),
                        input_digest: d.input_digest.clone(),
                        metadata_digest: d.metadata_digest.clone(),
                    });
                }
            }
        }
        out
    }

    /// Sets the facts of `model` `version` (read from the decision at `source`) and the
    /// metadata creation time.
    pub fn set_facts(
        &mut self,
        source: &FactsSource,
        facts: super::Facts,
        created_at: Option<String>,
    ) {
        let (model, version) = (source.model.as_str(), source.version.as_str());
        if let Some(v) = self
            .models
            .get_mut(model)
            .and_then(|m| m.versions.get_mut(version))
        {
            v.facts = Some(facts);
            v.facts_time = Some(source.time.clone());
            v.facts_from = Some((source.index, v.tier.unwrap_or(0)));
            v.created_at = created_at;
        }
    }
}
