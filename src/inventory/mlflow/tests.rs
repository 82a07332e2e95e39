#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;

use serde_json::json;

use super::wire::{parse_page, ModelAlias, ModelVersion, Page, RegisteredModel};
use super::*;
use crate::digest::sha256_prefixed;
use crate::ledger::{parse_record, SqliteStore};

/// An in-memory registry: fixed listings served `page_size` items per page, tags written kept,
/// and an optional failure on one page.
struct FakeRegistry {
    models: Vec<RegisteredModel>,
    versions: Vec<ModelVersion>,
    page_size: usize,
    fail_versions_page: Option<usize>,
    repeat_token: bool,
    tags: RefCell<Vec<(String, String, String, String)>>,
}

impl FakeRegistry {
    fn recorded() -> FakeRegistry {
        let url = "http://mlflow.test";
        FakeRegistry {
            models: parse_page::<RegisteredModel>(
                url,
                include_bytes!("../../../tests/fixtures/mlflow/rm_search.json"),
            )
            .unwrap()
            .items,
            versions: parse_page::<ModelVersion>(
                url,
                include_bytes!("../../../tests/fixtures/mlflow/mv_search.json"),
            )
            .unwrap()
            .items,
            page_size: 1,
            fail_versions_page: None,
            repeat_token: false,
            tags: RefCell::new(Vec::new()),
        }
    }

    fn page<T: Clone>(&self, all: &[T], token: Option<&str>) -> Page<T> {
        let from: usize = token.map_or(0, |t| t.parse().unwrap());
        let to = (from + self.page_size).min(all.len());
        Page {
            items: all[from..to].to_vec(),
            next_page_token: if self.repeat_token {
                Some("0".into())
            } else {
                (to < all.len()).then(|| to.to_string())
            },
        }
    }

    /// Adds model `name` with versions `1..=n` and `aliases`.
    fn add(&mut self, name: &str, n: u32, aliases: &[(&str, &str)]) {
        self.models.push(RegisteredModel {
            name: name.into(),
            creation_timestamp: Some(1),
            last_updated_timestamp: Some(2),
            description: None,
            tags: Vec::new(),
            aliases: aliases
                .iter()
                .map(|(a, v)| ModelAlias {
                    alias: (*a).into(),
                    version: (*v).into(),
                })
                .collect(),
        });
        for v in 1..=n {
            self.versions.push(ModelVersion {
                name: name.into(),
                version: v.to_string(),
                creation_timestamp: None,
                last_updated_timestamp: None,
                current_stage: None,
                description: None,
                source: None,
                run_id: None,
                status: Some("READY".into()),
                tags: Vec::new(),
                aliases: Vec::new(),
            });
        }
    }

    fn set_alias(&mut self, model: &str, alias: &str, version: &str) {
        let m = self.models.iter_mut().find(|m| m.name == model).unwrap();
        m.aliases.retain(|a| a.alias != alias);
        m.aliases.push(ModelAlias {
            alias: alias.into(),
            version: version.into(),
        });
    }
}

impl Registry for FakeRegistry {
    fn url(&self) -> &str {
        "http://mlflow.test"
    }

    fn registered_models(
        &self,
        page_token: Option<&str>,
    ) -> Result<Page<RegisteredModel>, MlflowError> {
        Ok(self.page(&self.models, page_token))
    }

    fn model_versions(&self, page_token: Option<&str>) -> Result<Page<ModelVersion>, MlflowError> {
        let n: usize = page_token.map_or(0, |t| t.parse().unwrap());
        if self.fail_versions_page == Some(n) {
            return Err(MlflowError::Status {
                url: "http://mlflow.test/api/2.0/mlflow/model-versions/search".into(),
                status: 503,
                message: "unavailable".into(),
            });
        }
        Ok(self.page(&self.versions, page_token))
    }

    fn set_version_tag(
        &self,
        model: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<(), MlflowError> {
        self.tags
            .borrow_mut()
            .push((model.into(), version.into(), key.into(), value.into()));
        Ok(())
    }
}

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ledger.db")).unwrap();
    (dir, store)
}

fn now() -> OffsetDateTime {
    crate::clock::parse_rfc3339("2026-11-27T12:00:00Z").unwrap()
}

fn bodies(store: &SqliteStore, from: u64) -> Vec<(RecordKind, serde_json::Value)> {
    store
        .records(from, 1000)
        .unwrap()
        .iter()
        .map(|r| {
            let rec = parse_record(&r.bytes).unwrap();
            (rec.kind, rec.body)
        })
        .collect()
}

/// A sync of the recorded registry appends the sync record (naming the stored snapshot) and one
/// observation for the `champion` version; a second sync of the same registry appends only a
/// sync record naming the same snapshot.
#[test]
fn a_sync_records_the_snapshot_and_new_deployments_once() {
    let (_dir, mut store) = store();
    let registry = FakeRegistry::recorded();
    let options = SyncOptions::new("production");
    let first = sync(&mut store, &registry, &options, now()).unwrap();
    assert_eq!((first.models, first.versions, first.deployed), (1, 1, 1));
    assert_eq!(first.sync_index, 0);
    assert_eq!(first.recorded.len(), 1);
    assert_eq!(first.recorded[0].0.version, "1");
    let records = bodies(&store, 0);
    assert_eq!(
        records,
        vec![
            (
                RecordKind::InventorySync,
                json!({"source": "mlflow", "url": "http://mlflow.test", "environment": "production",
                       "snapshot": first.snapshot, "models": 1, "versions": 1, "deployed": 1})
            ),
            (
                RecordKind::Observation,
                json!({"source": "mlflow", "model": "credit-risk-scorer", "version": "1",
                       "environment": "production"})
            ),
        ]
    );
    let blob = store.attestation(&first.snapshot).unwrap().unwrap();
    assert_eq!(sha256_prefixed(&blob), first.snapshot);
    let snapshot: serde_json::Value = serde_json::from_slice(&blob).unwrap();
    assert_eq!(
        snapshot["models"][0]["versions"][0]["tags"]["gov.owner"],
        "team-risk@example.com"
    );

    let second = sync(&mut store, &registry, &options, now()).unwrap();
    assert!(second.recorded.is_empty());
    assert_eq!(second.snapshot, first.snapshot);
    assert_eq!(second.sync_index, 2);
    assert_eq!(store.size().unwrap(), 3);
}

/// An alias moved to another version is recorded; moving it back is recorded again; a model
/// whose production alias did not move is not.
#[test]
fn a_moved_alias_records_the_new_version_only() {
    let (_dir, mut store) = store();
    let mut registry = FakeRegistry::recorded();
    registry.add("fraud", 3, &[("prod", "2")]);
    let options = SyncOptions::new("production");
    let first = sync(&mut store, &registry, &options, now()).unwrap();
    assert_eq!(first.recorded.len(), 2);
    registry.set_alias("fraud", "prod", "3");
    let second = sync(&mut store, &registry, &options, now()).unwrap();
    let moved: Vec<(&str, &str)> = second
        .recorded
        .iter()
        .map(|(d, _)| (d.model.as_str(), d.version.as_str()))
        .collect();
    assert_eq!(moved, [("fraud", "3")]);
    assert_eq!(second.recorded[0].1, second.sync_index + 1);
    registry.set_alias("fraud", "prod", "2");
    let third = sync(&mut store, &registry, &options, now()).unwrap();
    assert_eq!(third.recorded.len(), 1);
    assert_eq!(third.recorded[0].0.version, "2");
}

/// A deployment the webhook already recorded is not recorded again by the sync, and other
/// sources (admission, `inventory observe`) do not count as MLflow's word.
#[test]
fn the_webhook_and_the_sync_share_the_latest_deployment() {
    let (_dir, mut store) = store();
    let registry = FakeRegistry::recorded();
    let d = Deployed {
        model: "credit-risk-scorer".into(),
        version: "1".into(),
        alias: "champion".into(),
    };
    webhook::record(&mut store, &d, "production", now(), now().unix_timestamp())
        .unwrap()
        .unwrap();
    let options = SyncOptions::new("production");
    assert!(sync(&mut store, &registry, &options, now())
        .unwrap()
        .recorded
        .is_empty());

    let (_dir2, mut other) = self::store();
    crate::inventory::record::observe(
        &mut other,
        &ReportedDeployment {
            source: "cli".into(),
            model: "credit-risk-scorer".into(),
            version: "1".into(),
            environment: "production".into(),
        },
        now(),
    )
    .unwrap();
    assert_eq!(
        sync(&mut other, &registry, &options, now())
            .unwrap()
            .recorded
            .len(),
        1
    );
}

/// A failure on any page leaves the ledger untouched: a sync is all or nothing.
#[test]
fn a_failed_page_records_nothing() {
    let (_dir, mut store) = store();
    let mut registry = FakeRegistry::recorded();
    registry.add("fraud", 3, &[("prod", "2")]);
    registry.fail_versions_page = Some(2);
    let err = sync(
        &mut store,
        &registry,
        &SyncOptions::new("production"),
        now(),
    )
    .unwrap_err();
    assert!(
        matches!(err, MlflowError::Status { status: 503, .. }),
        "{err:?}"
    );
    assert_eq!(store.size().unwrap(), 0);
}

/// A server that hands back a token it gave before is refused instead of read forever.
#[test]
fn a_repeated_page_token_is_refused() {
    let (_dir, mut store) = store();
    let mut registry = FakeRegistry::recorded();
    registry.repeat_token = true;
    let err = sync(
        &mut store,
        &registry,
        &SyncOptions::new("production"),
        now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("came back again"), "{err}");
    assert!(
        err.to_string().contains("registered-models/search"),
        "{err}"
    );
    assert_eq!(store.size().unwrap(), 0);
}

/// Pages are reported as they are read.
#[test]
fn progress_counts_models_then_versions() {
    let (_dir, mut store) = store();
    let mut registry = FakeRegistry::recorded();
    registry.add("fraud", 2, &[]);
    let mut seen = Vec::new();
    sync_with_progress(
        &mut store,
        &registry,
        &SyncOptions::new("production"),
        now(),
        &mut |p| seen.push((p.models, p.versions)),
    )
    .unwrap();
    assert_eq!(seen, [(1, 0), (2, 0), (2, 1), (2, 2), (2, 3)]);
}

/// Without aliases or environment nothing could be recorded sensibly: refused up front.
#[test]
fn unusable_options_are_refused() {
    let (_dir, mut store) = store();
    let registry = FakeRegistry::recorded();
    let mut options = SyncOptions::new("production");
    options.production_aliases.clear();
    assert!(matches!(
        sync(&mut store, &registry, &options, now()),
        Err(MlflowError::Config(_))
    ));
    assert!(matches!(
        sync(&mut store, &registry, &SyncOptions::new(" "), now()),
        Err(MlflowError::Config(_))
    ));
}

/// The environment is the configured one (if the workspace has it) or the one production
/// environment.
#[test]
fn the_environment_is_configured_or_the_only_production_one() {
    let set = |v: &[&str]| {
        v.iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<String>>()
    };
    let all = set(&["dev", "production", "eu-prod"]);
    assert_eq!(
        resolve_environment(None, &all, &set(&["production"])).unwrap(),
        "production"
    );
    assert_eq!(
        resolve_environment(Some("eu-prod"), &all, &set(&["production", "eu-prod"])).unwrap(),
        "eu-prod"
    );
    let err = resolve_environment(None, &all, &set(&["production", "eu-prod"])).unwrap_err();
    assert!(err.to_string().contains("eu-prod, production"), "{err}");
    assert!(resolve_environment(None, &all, &set(&[])).is_err());
    let err = resolve_environment(Some("prd"), &all, &set(&["production"])).unwrap_err();
    assert!(err.to_string().contains("`prd`"), "{err}");
}

/// Write-back sets the three `gov.*` tags on the version, and refuses a checkpoint that does
/// not cover the decision.
#[test]
fn write_back_sets_the_three_tags() {
    let registry = FakeRegistry::recorded();
    write_back(&registry, "credit-risk-scorer", "1", 41, 42).unwrap();
    let t = |k: &str, v: &str| {
        (
            "credit-risk-scorer".to_owned(),
            "1".to_owned(),
            k.to_owned(),
            v.to_owned(),
        )
    };
    assert_eq!(
        *registry.tags.borrow(),
        vec![
            t("gov.decision", "allow"),
            t("gov.ledger_index", "41"),
            t("gov.checkpoint_size", "42")
        ]
    );
    let err = write_back(&registry, "credit-risk-scorer", "1", 42, 42).unwrap_err();
    assert!(err.to_string().contains("does not cover"), "{err}");
    assert!(write_back(&registry, "", "1", 1, 2).is_err());
    assert_eq!(registry.tags.borrow().len(), 3);
}

/// Registry errors reach callers of the inventory as `Invalid`, ledger errors as themselves.
#[test]
fn errors_convert_into_inventory_errors() {
    let e: InventoryError = MlflowError::Config("x".into()).into();
    assert!(matches!(e, InventoryError::Invalid(m) if m == "x"));
    let e: InventoryError = MlflowError::Ledger(LedgerError::Inconsistent("y".into())).into();
    assert!(matches!(e, InventoryError::Ledger(_)));
}
