//! The MLflow model registry as a source of the inventory (`docs/mlflow.md`).
//!
//! - [`sync()`] reads every registered model and version through a [`Registry`] (the REST
//!   [`MlflowClient`] in production), keeps a canonical [`Snapshot`] of what it read in the blob
//!   store, and appends, in one all-or-nothing append, one `inventory_sync` record naming the
//!   snapshot's digest and one `observation` (source [`SOURCE_SYNC`]) per version a production
//!   alias newly names. An unchanged registry adds only the sync record.
//! - [`webhook`] verifies signed webhook deliveries and records the production aliases they set
//!   (source [`webhook::SOURCE_WEBHOOK`]).
//! - [`write_back`] tags a model version with the decision that allowed it to production.
//! - [`wire`] holds the REST shapes, [`client`] the HTTP side, [`snapshot`] the document,
//!   [`sync`](mod@sync) the reading and recording.
//!
//! Registry versions without a production alias are only in the snapshot: the inventory's
//! population is what is deployed. A deployed version without decided, signed metadata shows in
//! the report as a shadow entry until a decision names it.

pub mod client;
pub mod snapshot;
pub mod sync;
pub mod webhook;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use time::OffsetDateTime;

pub use client::{ClientOptions, MlflowClient, Registry};
pub use snapshot::{Deployed, Snapshot};
pub use sync::{sync, sync_with_progress, Progress, SyncOptions, SyncSummary};

use super::fold::FoldError;
use super::record::ReportedDeployment;
use super::InventoryError;
use crate::ledger::{LedgerError, RecordDraft, RecordKind, Store};

/// The `source` of observations and sync records written by [`sync()`].
pub const SOURCE_SYNC: &str = "mlflow";

/// The production aliases used when the workspace names none.
pub const DEFAULT_PRODUCTION_ALIASES: [&str; 3] = ["production", "prod", "champion"];

/// Why talking to MLflow, or recording what it said, failed.
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    /// The tracking server URL is not usable.
    #[error("MLflow URL `{url}` {problem}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The request did not get an answer (connection, TLS, timeout).
    #[error("`{url}`: {message}")]
    Transport {
        /// The endpoint.
        url: String,
        /// The client's message.
        message: String,
    },
    /// The server answered with a status other than 2xx.
    #[error("`{url}` answered HTTP {status}: {message}")]
    Status {
        /// The endpoint.
        url: String,
        /// The HTTP status.
        status: u16,
        /// MLflow's `error_code: message`, or the start of the body.
        message: String,
    },
    /// The answer is not the MLflow shape the sync needs.
    #[error("`{url}` did not answer as MLflow does: {problem}")]
    Malformed {
        /// The endpoint.
        url: String,
        /// What is wrong.
        problem: String,
    },
    /// The two listings do not agree: the registry changed while it was read.
    #[error("the registry changed while it was read ({problem}); run the sync again")]
    Inconsistent {
        /// What does not agree.
        problem: String,
    },
    /// Something the registry lists, or an argument, the ledger cannot hold.
    #[error("{0}")]
    Invalid(String),
    /// The settings do not work together (environment, aliases, page size).
    #[error("{0}")]
    Config(String),
    /// Reading or appending to the ledger failed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// A ledger record does not read as what it says it is.
    #[error("{0}")]
    Fold(#[from] FoldError),
}

impl From<MlflowError> for InventoryError {
    fn from(e: MlflowError) -> InventoryError {
        match e {
            MlflowError::Ledger(e) => InventoryError::Ledger(e),
            MlflowError::Fold(e) => InventoryError::Fold(e),
            other => InventoryError::Invalid(other.to_string()),
        }
    }
}

/// The environment registry deployments are recorded in: `configured` when set (it must be
/// one of `environments`), else the one production environment.
pub fn resolve_environment(
    configured: Option<&str>,
    environments: &BTreeSet<String>,
    production: &BTreeSet<String>,
) -> Result<String, MlflowError> {
    if let Some(env) = configured {
        if !environments.contains(env) {
            return Err(MlflowError::Config(format!(
                "`[inventory.mlflow] environment` names `{env}`, which is not an environment of the workspace"
            )));
        }
        return Ok(env.to_owned());
    }
    let mut only = production.iter();
    match (only.next(), only.next()) {
        (Some(env), None) => Ok(env.clone()),
        (None, _) => Err(MlflowError::Config(
            "the workspace has no production environment: set `[inventory.mlflow] environment`"
                .into(),
        )),
        (Some(_), Some(_)) => Err(MlflowError::Config(format!(
            "the workspace has several production environments ({}): set `[inventory.mlflow] environment`",
            production.iter().cloned().collect::<Vec<_>>().join(", ")
        ))),
    }
}

#[derive(Deserialize)]
struct ObservationView {
    body: ObservationBodyView,
    time: String,
}

#[derive(Deserialize)]
struct ObservationBodyView {
    source: String,
    model: String,
    version: String,
    environment: String,
}

/// The newest deployment MLflow (sync or webhook) reported of a model in an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    /// The version.
    pub version: String,
    /// When it was recorded (the record's time, RFC 3339 UTC).
    pub time: String,
}

/// For each model, the newest deployment MLflow (sync or webhook) reported in `environment`.
pub fn latest_from_mlflow(
    store: &dyn Store,
    environment: &str,
) -> Result<BTreeMap<String, Reported>, MlflowError> {
    let mut latest = BTreeMap::new();
    for r in store.records_of_kind(RecordKind::Observation)? {
        let o: ObservationView = serde_json::from_slice(&r.bytes).map_err(|e| FoldError {
            index: r.index,
            problem: format!("not an observation: {e}"),
        })?;
        let b = o.body;
        if (b.source == SOURCE_SYNC || b.source == webhook::SOURCE_WEBHOOK)
            && b.environment == environment
        {
            latest.insert(
                b.model,
                Reported {
                    version: b.version,
                    time: o.time,
                },
            );
        }
    }
    Ok(latest)
}

/// The `observation` draft for a deployment reported by `source`.
fn observation(
    source: &str,
    d: &Deployed,
    environment: &str,
    time: OffsetDateTime,
) -> Result<RecordDraft, MlflowError> {
    let body = ReportedDeployment {
        source: source.to_owned(),
        model: d.model.clone(),
        version: d.version.clone(),
        environment: environment.to_owned(),
    };
    Ok(RecordDraft {
        kind: RecordKind::Observation,
        time,
        body: serde_json::to_value(body).map_err(|e| MlflowError::Invalid(e.to_string()))?,
    })
}

/// The tag [`write_back`] sets to the decision's outcome.
pub const TAG_DECISION: &str = "gov.decision";
/// The tag [`write_back`] sets to the decision's ledger index.
pub const TAG_LEDGER_INDEX: &str = "gov.ledger_index";
/// The tag [`write_back`] sets to the size of a signed checkpoint that covers the decision.
pub const TAG_CHECKPOINT_SIZE: &str = "gov.checkpoint_size";

/// Tags `model` `version` in the registry with the production allow recorded at
/// `decision_index`, provable against the signed checkpoint of `checkpoint_size` records:
/// `gov.decision = allow`, `gov.ledger_index`, `gov.checkpoint_size`. The tags are pointers for
/// people browsing the registry; the ledger stays the record. A checkpoint that does not cover
/// the decision is refused.
pub fn write_back(
    registry: &dyn Registry,
    model: &str,
    version: &str,
    decision_index: u64,
    checkpoint_size: u64,
) -> Result<(), MlflowError> {
    for (what, value) in [("model", model), ("version", version)] {
        if !super::usable_name(value) {
            return Err(MlflowError::Invalid(format!(
                "`{what}` must be a non-empty name without control characters"
            )));
        }
    }
    if checkpoint_size <= decision_index {
        return Err(MlflowError::Invalid(format!(
            "a checkpoint of size {checkpoint_size} does not cover ledger record {decision_index}"
        )));
    }
    for (key, value) in [
        (TAG_DECISION, "allow".to_owned()),
        (TAG_LEDGER_INDEX, decision_index.to_string()),
        (TAG_CHECKPOINT_SIZE, checkpoint_size.to_string()),
    ] {
        registry.set_version_tag(model, version, key, &value)?;
    }
    Ok(())
}

/// What [`write_back_decision`] tagged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenBack {
    /// The model.
    pub model: String,
    /// The version.
    pub version: String,
    /// The decision's ledger index.
    pub index: u64,
    /// The size of the signed checkpoint covering it.
    pub checkpoint_size: u64,
}

/// Writes back the decision recorded at `index`: it must be an allow (not a dry run) to one of
/// the `production` environments. The latest stored checkpoint is used when it covers the
/// record; otherwise `checkpoint` signs one (it gets the ledger size it must cover). Nothing is
/// tagged for a deny, a dry run, another environment or a record that is not a decision.
pub fn write_back_decision(
    store: &dyn Store,
    registry: &dyn Registry,
    index: u64,
    production: &BTreeSet<String>,
    checkpoint: &mut dyn FnMut(u64) -> Result<u64, MlflowError>,
) -> Result<WrittenBack, MlflowError> {
    let stored = store
        .record(index)?
        .ok_or_else(|| MlflowError::Invalid(format!("there is no ledger record {index}")))?;
    let record = crate::ledger::parse_record(&stored.bytes)?;
    let body: crate::engine::DecisionBody = match record.kind {
        RecordKind::Decision => serde_json::from_value(record.body).map_err(|e| {
            MlflowError::Invalid(format!("record {index} is not a v1 decision: {e}"))
        })?,
        other => {
            return Err(MlflowError::Invalid(format!(
                "record {index} is a `{other}` record, not a decision"
            )))
        }
    };
    let r = &body.request;
    if body.decision != crate::policy::Outcome::Allow
        || r.dry_run
        || !production.contains(&r.environment)
    {
        return Err(MlflowError::Invalid(format!(
            "record {index} is not an allow to a production environment ({} {} to `{}`{}): nothing to write back",
            body.decision.as_str(),
            r.model,
            r.environment,
            if r.dry_run { ", dry run" } else { "" }
        )));
    }
    let size = match store.latest_checkpoint()? {
        Some((size, _)) if size > index => size,
        _ => checkpoint(index + 1)?,
    };
    write_back(registry, &r.model, &r.version, index, size)?;
    Ok(WrittenBack {
        model: r.model.clone(),
        version: r.version.clone(),
        index,
        checkpoint_size: size,
    })
}

#[cfg(test)]
mod tests;
