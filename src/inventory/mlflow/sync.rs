//! The sync: read every page of both registry listings ([`Registry`]), build the
//! [`Snapshot`], and append it with the `inventory_sync` record and the new deployments in one
//! all-or-nothing append ([`sync`], [`SyncOptions`] in, [`SyncSummary`] out).

use std::collections::BTreeSet;

use serde_json::json;
use time::OffsetDateTime;

use super::wire::{ModelVersion, RegisteredModel};
use super::{
    latest_from_mlflow, observation, Deployed, MlflowError, Registry, Snapshot,
    DEFAULT_PRODUCTION_ALIASES, SOURCE_SYNC,
};
use crate::digest::sha256_prefixed;
use crate::ledger::{append_one, AppendRequest, LedgerError, RecordDraft, RecordKind, Store};

/// Pages read per listing before the sync gives up (a server handing out tokens forever).
const MAX_PAGES: usize = 100_000;

/// What a sync records besides the registry itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOptions {
    /// Aliases that mark a version as deployed, most authoritative first.
    pub production_aliases: Vec<String>,
    /// The environment deployed versions are recorded in.
    pub environment: String,
}

impl SyncOptions {
    /// The default aliases, recording into `environment`.
    pub fn new(environment: impl Into<String>) -> SyncOptions {
        SyncOptions {
            production_aliases: DEFAULT_PRODUCTION_ALIASES.map(str::to_owned).to_vec(),
            environment: environment.into(),
        }
    }
}

/// What one sync read and recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSummary {
    /// The registry's base URL.
    pub url: String,
    /// `sha256:` of the snapshot bytes.
    pub snapshot: String,
    /// Registered models read.
    pub models: usize,
    /// Model versions read.
    pub versions: usize,
    /// Versions a production alias names.
    pub deployed: usize,
    /// Ledger index of the `inventory_sync` record.
    pub sync_index: u64,
    /// Deployments recorded by this sync (not already the latest from MLflow), with the ledger
    /// index of each `observation`.
    pub recorded: Vec<(Deployed, u64)>,
}

/// How far a sync has read: registered models and versions so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Registered models read.
    pub models: usize,
    /// Model versions read.
    pub versions: usize,
}

/// Reads every page of both listings.
fn read_registry(
    registry: &dyn Registry,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Vec<RegisteredModel>, Vec<ModelVersion>), MlflowError> {
    let mut models = Vec::new();
    let mut token: Option<String> = None;
    let mut seen = BTreeSet::new();
    for _ in 0..MAX_PAGES {
        let page = registry.registered_models(token.as_deref())?;
        models.extend(page.items);
        progress(Progress {
            models: models.len(),
            versions: 0,
        });
        token = next_token(
            registry,
            "registered-models/search",
            page.next_page_token,
            &mut seen,
        )?;
        if token.is_none() {
            break;
        }
    }
    if token.is_some() {
        return Err(too_many_pages(registry, "registered-models/search"));
    }
    let mut versions = Vec::new();
    let mut seen = BTreeSet::new();
    for _ in 0..MAX_PAGES {
        let page = registry.model_versions(token.as_deref())?;
        versions.extend(page.items);
        progress(Progress {
            models: models.len(),
            versions: versions.len(),
        });
        token = next_token(
            registry,
            "model-versions/search",
            page.next_page_token,
            &mut seen,
        )?;
        if token.is_none() {
            break;
        }
    }
    if token.is_some() {
        return Err(too_many_pages(registry, "model-versions/search"));
    }
    Ok((models, versions))
}

/// The next page token, refusing one the server already gave (it would never end).
fn next_token(
    registry: &dyn Registry,
    endpoint: &str,
    token: Option<String>,
    seen: &mut BTreeSet<String>,
) -> Result<Option<String>, MlflowError> {
    match token {
        Some(t) if !seen.insert(t.clone()) => Err(MlflowError::Malformed {
            url: format!("{}/api/2.0/mlflow/{endpoint}", registry.url()),
            problem: format!("`next_page_token` `{t}` came back again; the listing would not end"),
        }),
        other => Ok(other),
    }
}

fn too_many_pages(registry: &dyn Registry, endpoint: &str) -> MlflowError {
    MlflowError::Malformed {
        url: format!("{}/api/2.0/mlflow/{endpoint}", registry.url()),
        problem: format!("more than {MAX_PAGES} pages"),
    }
}

/// Reads the whole registry and records it (see the module docs). `time` is the records' time.
pub fn sync(
    store: &mut dyn Store,
    registry: &dyn Registry,
    options: &SyncOptions,
    time: OffsetDateTime,
) -> Result<SyncSummary, MlflowError> {
    sync_with_progress(store, registry, options, time, &mut |_| {})
}

/// [`sync`], calling `progress` after each page read.
pub fn sync_with_progress(
    store: &mut dyn Store,
    registry: &dyn Registry,
    options: &SyncOptions,
    time: OffsetDateTime,
    progress: &mut dyn FnMut(Progress),
) -> Result<SyncSummary, MlflowError> {
    if options.production_aliases.is_empty() {
        return Err(MlflowError::Config(
            "no production aliases are configured: nothing could count as deployed".into(),
        ));
    }
    if options.environment.trim().is_empty() {
        return Err(MlflowError::Config("the environment is empty".into()));
    }
    let (models, versions) = read_registry(registry, progress)?;
    let snapshot = Snapshot::build(models, versions)?;
    let bytes = snapshot.to_bytes()?;
    let digest = sha256_prefixed(&bytes);
    let deployed = snapshot.deployed(&options.production_aliases);
    let latest = latest_from_mlflow(store, &options.environment)?;
    let new: Vec<Deployed> = deployed
        .iter()
        .filter(|d| latest.get(&d.model).map(|r| &r.version) != Some(&d.version))
        .cloned()
        .collect();
    let mut drafts = vec![RecordDraft {
        kind: RecordKind::InventorySync,
        time,
        body: json!({
            "source": SOURCE_SYNC,
            "url": registry.url(),
            "environment": options.environment,
            "snapshot": digest,
            "models": snapshot.models.len(),
            "versions": snapshot.version_count(),
            "deployed": deployed.len(),
        }),
    }];
    for d in &new {
        drafts.push(observation(SOURCE_SYNC, d, &options.environment, time)?);
    }
    let sealed = append_one(
        store,
        AppendRequest {
            guard: None,
            attestations: vec![(digest.clone(), bytes)],
            drafts,
        },
    )?;
    let Some((first, rest)) = sealed.split_first() else {
        return Err(MlflowError::Ledger(LedgerError::Inconsistent(
            "the ledger returned no record for the sync".into(),
        )));
    };
    Ok(SyncSummary {
        url: registry.url().to_owned(),
        snapshot: digest,
        models: snapshot.models.len(),
        versions: snapshot.version_count(),
        deployed: deployed.len(),
        sync_index: first.index,
        recorded: new.into_iter().zip(rest.iter().map(|r| r.index)).collect(),
    })
}
