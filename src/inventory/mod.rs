//! The model inventory and its completeness report (DESIGN §8, `docs/inventory.md`).
//!
//! - [`version`]: one model version as the fold keeps it.
//! - [`fold`]: the inventory as a fold over the ledger — every model version decided about,
//!   every deployment reported (admission, registry sync, `inventory observe`), retirements.
//! - [`Facts`]: what the KPIs need about one version, derived from the policy input of its
//!   latest decision, each criterion with the JSON pointers of what is missing.
//! - [`report`]: the population, KPIs with numerator and denominator (overall and per tier),
//!   findings and what expires, as the versioned JSON contract.
//! - [`record`]: the ledger records the inventory writes (`observation`, `retire`).
//! - [`list`]: every model and version seen, for `modelgate inventory list`.
//! - [`render`]: the report as Markdown, CSV and HTML with inline SVG charts.
//!
//! - [`snapshot`]: the folded inventory saved beside the ledger, so the next fold reads only
//!   the records appended since.
//!
//! [`load`] reads a store into an [`Inventory`] (streaming the records in chunks, then one
//! policy input per version); [`load_with_snapshot`] starts from a saved snapshot when one
//! matches the ledger. Nothing here reads the wall clock: the report is as of a time the
//! caller gives.

pub mod fold;
pub mod list;
pub mod mlflow;
pub mod record;
pub mod render;
pub mod report;
pub mod scheduled;
pub mod snapshot;
pub mod version;

use serde::{Deserialize, Serialize};

pub use fold::{Inventory, ModelEntry, VersionEntry};
pub use report::{build_report, Report, ReportOptions};
pub use snapshot::SnapshotError;

use crate::attest::{Envelope, Statement};
use crate::ledger::{LedgerError, Store};
use crate::policy::input::PolicyInput;

/// Why the inventory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Reading the ledger failed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// A record or blob does not read as what the ledger says it is.
    #[error("{0}")]
    Fold(#[from] fold::FoldError),
    /// Bad input (a model name, a time).
    #[error("{0}")]
    Invalid(String),
    /// The engine refused a record.
    #[error("{0}")]
    Engine(#[from] crate::engine::EngineError),
}

/// One completeness criterion's result: whether it holds and the JSON pointers (into the policy
/// input, `docs/policies.md`) of what is missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    /// Whether every required item is present.
    pub complete: bool,
    /// What is missing.
    pub missing: Vec<String>,
}

impl Criterion {
    fn of(items: &[(&'static str, bool)]) -> Criterion {
        let missing: Vec<String> = items
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(p, _)| (*p).to_owned())
            .collect();
        Criterion {
            complete: missing.is_empty(),
            missing,
        }
    }
}

/// What the KPIs need about one model version (GOVERNANCE completeness rules and KPI
/// definitions, tier-dependent), from the policy input of its latest decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// Signed metadata verified for this version.
    pub registered: bool,
    /// Owners as the metadata names them.
    pub owner: String,
    /// The developer.
    pub developer: String,
    /// The validator.
    pub validator: String,
    /// The business owner.
    pub business_owner: String,
    /// Registered, owned, identity and lineage as the tier requires.
    pub inventory: Criterion,
    /// Model card and the documentation sections the tier requires.
    pub documentation: Criterion,
    /// Drift monitoring configured (required for tiers 0 and 1).
    pub drift: Criterion,
    /// Clean commit, dataset digests, environment digest, reproducibility attested.
    pub reproducibility: Criterion,
    /// Days from the decision until validation is due again (`-1` when unknown).
    pub validation_next_due_days: i64,
}

impl Facts {
    /// The facts of a version of `tier` whose latest decision evaluated `input`.
    pub fn from_input(input: &PolicyInput, tier: i64) -> Facts {
        let m = &input.model;
        let named = |s: &str| !s.trim().is_empty();
        let mut inventory = vec![
            ("/model/metadata_verified", m.metadata_verified),
            ("/model/identity_matches", m.identity_matches),
            ("/model/has_registry_ref", m.has_registry_ref),
            ("/model/owner", named(&m.owner)),
            ("/model/code_commit_clean", m.code_commit_clean),
            ("/model/training_datasets", m.training_datasets >= 1),
        ];
        if tier <= 1 {
            inventory.push(("/model/developer", named(&m.developer)));
            inventory.push(("/model/validator", named(&m.validator)));
            inventory.push((
                "/model/all_datasets_have_digest",
                m.all_datasets_have_digest,
            ));
        }
        if tier == 0 {
            inventory.push(("/model/business_owner", named(&m.business_owner)));
        }
        let mut documentation = vec![
            ("/model/has_model_card", m.has_model_card),
            ("/model/has_purpose", m.has_purpose),
        ];
        if tier <= 1 {
            documentation.push(("/model/has_out_of_scope_uses", m.has_out_of_scope_uses));
            documentation.push(("/model/has_limitations", m.has_limitations));
        }
        if tier == 0 {
            documentation.push(("/model/has_technical_docs", m.has_technical_docs));
            documentation.push((
                "/model/has_evaluation_report_digest",
                m.has_evaluation_report_digest,
            ));
            documentation.push(("/model/has_explainability", m.has_explainability));
            documentation.push(("/model/has_risk_assessment", m.has_risk_assessment));
            documentation.push(("/model/has_impact_assessment", m.has_impact_assessment));
        }
        let mut drift = vec![("/model/has_drift_monitoring", m.has_drift_monitoring)];
        if tier == 0 {
            drift.push((
                "/model/has_performance_threshold",
                m.has_performance_threshold,
            ));
        }
        Facts {
            registered: m.metadata_verified,
            owner: m.owner.clone(),
            developer: m.developer.clone(),
            validator: m.validator.clone(),
            business_owner: m.business_owner.clone(),
            inventory: Criterion::of(&inventory),
            documentation: Criterion::of(&documentation),
            drift: Criterion::of(&drift),
            reproducibility: Criterion::of(&[
                ("/model/code_commit_clean", m.code_commit_clean),
                (
                    "/model/all_datasets_have_digest",
                    m.all_datasets_have_digest,
                ),
                ("/model/has_environment_digest", m.has_environment_digest),
                (
                    "/model/reproducibility_attested",
                    m.reproducibility_attested,
                ),
            ]),
            validation_next_due_days: m.validation_next_due_days,
        }
    }
}

impl Facts {
    /// The criteria that count for a version of `tier`, by name (`inventory`, `documentation`,
    /// `drift`, `reproducibility`), as the report judges them: drift monitoring counts only for
    /// tiers 0 and 1.
    pub fn criteria(&self, tier: i64) -> Vec<(&'static str, &Criterion)> {
        let mut out = vec![
            ("inventory", &self.inventory),
            ("documentation", &self.documentation),
        ];
        if tier <= 1 {
            out.push(("drift", &self.drift));
        }
        out.push(("reproducibility", &self.reproducibility));
        out
    }
}

/// Whether `value` can name a model, version, environment or report: not blank, no control
/// characters (names are printed in reports and terminals).
pub fn usable_name(value: &str) -> bool {
    !value.trim().is_empty() && !value.chars().any(char::is_control)
}

/// Records read from the store per call while folding.
const CHUNK: u64 = 4096;

/// Records folded after a snapshot before it is written anew: fewer cost less to fold again
/// than to rewrite the snapshot.
const REWRITE_AFTER: u64 = CHUNK;

/// Folds the ledger of `store` up to `as_of` (every record when `None`) and fills in each
/// version's facts from the policy input of its latest decision. `progress(done, total)` is
/// called after each chunk of records.
pub fn load(
    store: &dyn Store,
    as_of: Option<&str>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Inventory, InventoryError> {
    load_with_snapshot(store, as_of, None, progress)
}

/// [`load`], starting from the snapshot at `snapshot` when there is one that covers a prefix of
/// this ledger and `as_of` is not before its newest record (see [`snapshot`]); only the records
/// after it are folded, and only versions whose facts source changed have their policy input
/// read. A snapshot that is missing, unreadable, of another format or of another ledger is
/// ignored. After a fold from scratch that covered every record, or one that folded at least
/// 4,096 records after the snapshot, the snapshot is written anew (a failure to write it is
/// logged, not an error: it is derived data).
pub fn load_with_snapshot(
    store: &dyn Store,
    as_of: Option<&str>,
    snapshot: Option<&std::path::Path>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Inventory, InventoryError> {
    let size = store.size()?;
    let saved = snapshot.and_then(|path| snapshot::read(path, store, size, as_of));
    let (mut inv, mut from) = match saved {
        Some((mut inv, covered)) => {
            inv.as_of = as_of.map(str::to_owned);
            (inv, covered)
        }
        None => (Inventory::new(as_of.map(str::to_owned)), 0),
    };
    let start = from;
    from = fold_range(store, &mut inv, from, size, progress)?;
    read_facts(store, &mut inv)?;
    if let Some(path) = snapshot {
        let folded = size - start.min(size);
        if !inv.skipped && from == size && (start == 0 || folded >= REWRITE_AFTER) && size > 0 {
            if let Err(e) = snapshot::write(path, store, size, &inv) {
                tracing::warn!("inventory snapshot `{}` not written: {e}", path.display());
            }
        }
    }
    Ok(inv)
}

/// Folds the records of `store` from `covered` up to its current size into `inv` and reads the
/// facts of the versions that changed, exactly as [`load`] would have from scratch (given that
/// `inv` was loaded from the same store with the same `as_of` and covers its first `covered`
/// records). Returns the size now covered. A store shorter than `covered` (a replica behind)
/// leaves `inv` as it is. For a cache kept across requests: only the records appended since
/// are read.
pub fn advance(
    store: &dyn Store,
    inv: &mut Inventory,
    covered: u64,
) -> Result<u64, InventoryError> {
    let size = store.size()?;
    if size <= covered {
        return Ok(covered);
    }
    let reached = fold_range(store, inv, covered, size, &mut |_, _| {})?;
    read_facts(store, inv)?;
    Ok(reached)
}

/// Folds the records `from..size` of `store` into `inv` in chunks, calling `progress` after
/// each; returns the position reached.
fn fold_range(
    store: &dyn Store,
    inv: &mut Inventory,
    mut from: u64,
    size: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64, InventoryError> {
    while from < size {
        let chunk = store.records(from, CHUNK.min(size - from))?;
        if chunk.is_empty() {
            break;
        }
        for r in &chunk {
            inv.apply(r.index, &r.bytes)?;
        }
        from = chunk.last().map_or(size, |r| r.index + 1);
        progress(from, size);
    }
    Ok(from)
}

/// Reads the facts of every version whose facts source is not read yet.
fn read_facts(store: &dyn Store, inv: &mut Inventory) -> Result<(), InventoryError> {
    for source in inv.inputs_wanted() {
        // Fail closed: a version whose facts cannot be read is not silently turned into a
        // shadow entry.
        let unreadable = |problem: String| fold::FoldError {
            index: source.index,
            problem,
        };
        let bytes = store.attestation(&source.input_digest)?.ok_or_else(|| {
            unreadable(format!(
                "its policy input `{}` is not stored (run `modelgate audit verify`)",
                source.input_digest
            ))
        })?;
        let input: PolicyInput = serde_json::from_slice(&bytes).map_err(|e| {
            unreadable(format!(
                "its policy input `{}` does not read: {e}",
                source.input_digest
            ))
        })?;
        let tier = inv
            .models
            .get(&source.model)
            .and_then(|m| m.versions.get(&source.version))
            .and_then(|v| v.tier)
            .unwrap_or(0);
        let created_at = match &source.metadata_digest {
            Some(d) => store.attestation(d)?.and_then(|b| created_at(&b)),
            None => None,
        };
        inv.set_facts(&source, Facts::from_input(&input, tier), created_at);
    }
    Ok(())
}

/// The trust store as of `as_of` (RFC 3339 UTC): the `key_change` records up to that time,
/// replayed in order, so a report for a past date lists the keys of that date.
pub fn trust_as_of(
    store: &dyn Store,
    as_of: &str,
) -> Result<crate::attest::TrustStore, InventoryError> {
    let mut trust = crate::attest::TrustStore::new();
    for stored in store.records_of_kind(crate::ledger::RecordKind::KeyChange)? {
        let record = crate::ledger::parse_record(&stored.bytes)?;
        if record.time.as_str() > as_of {
            break;
        }
        let bad = |problem: String| fold::FoldError {
            index: record.index,
            problem,
        };
        let change: crate::attest::KeyChange = serde_json::from_value(record.body)
            .map_err(|e| bad(format!("not a key change: {e}")))?;
        let at = crate::clock::parse_rfc3339(&record.time).map_err(|e| bad(e.to_string()))?;
        trust.apply(&change, at).map_err(|e| bad(e.to_string()))?;
    }
    Ok(trust)
}

/// `model.created_at` of a model-metadata envelope, if it has one.
fn created_at(envelope: &[u8]) -> Option<String> {
    let env = Envelope::from_json(envelope).ok()?;
    let statement = Statement::from_payload(&env.payload).ok()?;
    statement
        .predicate
        .pointer("/model/created_at")
        .and_then(|v| v.as_str())
        .and_then(|t| crate::clock::parse_rfc3339(t).ok())
        .map(crate::clock::rfc3339)
}
