//! What one sync read, as a canonical document: [`Snapshot`] of [`SnapshotModel`]s and their
//! [`SnapshotVersion`]s.
//!
//! [`Snapshot::build`] merges the two listings the registry gives — registered models (with
//! `{alias, version}` aliases) and model versions (with alias names, when the server sends
//! them) — into one model → versions tree, every alias on both sides. Models are sorted by
//! name, versions by number, tags become `key → value` maps and alias lists are sorted, so the
//! same registry gives the same bytes ([`Snapshot::to_bytes`], RFC 8785) and the same digest
//! whatever order the server listed things in. Everything read is kept, `gov.*` tags included:
//! they are pointers to governance material (a tier, a model card URL) that the registry holds
//! unsigned, so the snapshot keeps them as evidence of what the registry said, never as facts.
//!
//! The registry is read in two calls, so it can change in between: an alias naming a version
//! that was not listed, or versions of a model that was not, are [`MlflowError::Inconsistent`],
//! and the sync records nothing rather than half a registry.

use std::collections::BTreeMap;

use serde::Serialize;

use super::wire::{ModelVersion, RegisteredModel, Tag};
use super::MlflowError;

/// The `format` of a snapshot document.
pub const SNAPSHOT_FORMAT: &str = "modelgate.mlflow-snapshot.v1";

/// The registry as one sync read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// [`SNAPSHOT_FORMAT`].
    pub format: &'static str,
    /// Registered models, by name.
    pub models: Vec<SnapshotModel>,
}

/// One registered model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotModel {
    /// Its name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Epoch milliseconds.
    pub creation_timestamp: Option<i64>,
    /// Epoch milliseconds.
    pub last_updated_timestamp: Option<i64>,
    /// Model-level tags.
    pub tags: BTreeMap<String, String>,
    /// Alias → version.
    pub aliases: BTreeMap<String, String>,
    /// Its versions, by number.
    pub versions: Vec<SnapshotVersion>,
}

/// One model version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotVersion {
    /// The version.
    pub version: String,
    /// `READY`, …
    pub status: Option<String>,
    /// The legacy stage.
    pub current_stage: Option<String>,
    /// Where its files are.
    pub source: Option<String>,
    /// The training run.
    pub run_id: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Epoch milliseconds.
    pub creation_timestamp: Option<i64>,
    /// Epoch milliseconds.
    pub last_updated_timestamp: Option<i64>,
    /// Version tags (`gov.*` ones are pointers).
    pub tags: BTreeMap<String, String>,
    /// The aliases naming it, sorted.
    pub aliases: Vec<String>,
}

/// A version the registry marks as deployed: it carries a production alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// The model.
    pub model: String,
    /// The version.
    pub version: String,
    /// The production alias that names it.
    pub alias: String,
}

/// A name the ledger can hold: non-empty, no control characters.
fn check_name(what: &str, value: &str) -> Result<(), MlflowError> {
    if !crate::inventory::usable_name(value) {
        return Err(MlflowError::Invalid(format!(
            "the registry lists a {what} `{}` that is empty or holds control characters",
            value.escape_debug()
        )));
    }
    Ok(())
}

fn tag_map(owner: &str, tags: Vec<Tag>) -> Result<BTreeMap<String, String>, MlflowError> {
    let mut map = BTreeMap::new();
    for t in tags {
        if map.insert(t.key.clone(), t.value).is_some() {
            return Err(MlflowError::Invalid(format!(
                "{owner} lists tag `{}` twice",
                t.key
            )));
        }
    }
    Ok(map)
}

/// Orders versions numerically when both are numbers (`2` before `10`), by text otherwise.
fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

impl Snapshot {
    /// Merges what `registered-models/search` and `model-versions/search` listed.
    pub fn build(
        models: Vec<RegisteredModel>,
        versions: Vec<ModelVersion>,
    ) -> Result<Snapshot, MlflowError> {
        let mut by_name: BTreeMap<String, SnapshotModel> = BTreeMap::new();
        for m in models {
            check_name("model name", &m.name)?;
            let mut aliases = BTreeMap::new();
            for a in &m.aliases {
                check_name("alias", &a.alias)?;
                if aliases.insert(a.alias.clone(), a.version.clone()).is_some() {
                    return Err(MlflowError::Invalid(format!(
                        "model `{}` lists alias `{}` twice",
                        m.name, a.alias
                    )));
                }
            }
            let entry = SnapshotModel {
                tags: tag_map(&format!("model `{}`", m.name), m.tags)?,
                name: m.name.clone(),
                description: m.description,
                creation_timestamp: m.creation_timestamp,
                last_updated_timestamp: m.last_updated_timestamp,
                aliases,
                versions: Vec::new(),
            };
            if by_name.insert(m.name.clone(), entry).is_some() {
                return Err(MlflowError::Inconsistent {
                    problem: format!("model `{}` was listed twice", m.name),
                });
            }
        }
        for v in versions {
            check_name("version", &v.version)?;
            let Some(model) = by_name.get_mut(&v.name) else {
                return Err(MlflowError::Inconsistent {
                    problem: format!(
                        "version `{}` of model `{}` was listed but the model was not",
                        v.version, v.name
                    ),
                });
            };
            if model.versions.iter().any(|x| x.version == v.version) {
                return Err(MlflowError::Inconsistent {
                    problem: format!("version `{}` of `{}` was listed twice", v.version, v.name),
                });
            }
            for alias in &v.aliases {
                check_name("alias", alias)?;
                match model.aliases.get(alias) {
                    Some(named) if named != &v.version => {
                        return Err(MlflowError::Inconsistent {
                            problem: format!(
                                "alias `{alias}` of `{}` names version `{named}` on the model and `{}` on the version",
                                v.name, v.version
                            ),
                        })
                    }
                    Some(_) => {}
                    None => {
                        model.aliases.insert(alias.clone(), v.version.clone());
                    }
                }
            }
            model.versions.push(SnapshotVersion {
                tags: tag_map(&format!("version `{}` of `{}`", v.version, v.name), v.tags)?,
                version: v.version,
                status: v.status,
                current_stage: v.current_stage,
                source: v.source,
                run_id: v.run_id,
                description: v.description,
                creation_timestamp: v.creation_timestamp,
                last_updated_timestamp: v.last_updated_timestamp,
                aliases: Vec::new(),
            });
        }
        for model in by_name.values_mut() {
            model
                .versions
                .sort_by(|a, b| version_order(&a.version, &b.version));
            for (alias, version) in &model.aliases {
                let Some(v) = model.versions.iter_mut().find(|v| &v.version == version) else {
                    return Err(MlflowError::Inconsistent {
                        problem: format!(
                            "alias `{alias}` of `{}` names version `{version}`, which was not listed",
                            model.name
                        ),
                    });
                };
                v.aliases.push(alias.clone());
            }
            for v in &mut model.versions {
                v.aliases.sort();
            }
        }
        Ok(Snapshot {
            format: SNAPSHOT_FORMAT,
            models: by_name.into_values().collect(),
        })
    }

    /// The canonical bytes (RFC 8785) of the snapshot: what the blob store keeps and the sync
    /// record's digest names.
    pub fn to_bytes(&self) -> Result<Vec<u8>, MlflowError> {
        crate::canonical::canonical_bytes(self)
            .map_err(|e| MlflowError::Invalid(format!("the snapshot is not canonical JSON: {e}")))
    }

    /// Number of model versions.
    pub fn version_count(&self) -> usize {
        self.models.iter().map(|m| m.versions.len()).sum()
    }

    /// The version of each model that a production alias names: the first of
    /// `production_aliases` (compared without regard to ASCII case) that the model has wins,
    /// so each model has at most one deployed version, as the inventory counts one current
    /// version per model and environment.
    pub fn deployed(&self, production_aliases: &[String]) -> Vec<Deployed> {
        let mut out = Vec::new();
        for m in &self.models {
            let found = production_aliases.iter().find_map(|wanted| {
                m.aliases
                    .iter()
                    .find(|(alias, _)| alias.eq_ignore_ascii_case(wanted))
            });
            if let Some((alias, version)) = found {
                out.push(Deployed {
                    model: m.name.clone(),
                    version: version.clone(),
                    alias: alias.clone(),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::super::wire::{parse_page, ModelAlias};
    use super::*;

    fn recorded() -> (Vec<RegisteredModel>, Vec<ModelVersion>) {
        let url = "http://mlflow.test";
        let models = parse_page::<RegisteredModel>(
            url,
            include_bytes!("../../../tests/fixtures/mlflow/rm_search.json"),
        )
        .unwrap()
        .items;
        let versions = parse_page::<ModelVersion>(
            url,
            include_bytes!("../../../tests/fixtures/mlflow/mv_search.json"),
        )
        .unwrap()
        .items;
        (models, versions)
    }

    fn model(name: &str, aliases: &[(&str, &str)]) -> RegisteredModel {
        RegisteredModel {
            name: name.into(),
            creation_timestamp: None,
            last_updated_timestamp: None,
            description: None,
            tags: Vec::new(),
            aliases: aliases
                .iter()
                .map(|(a, v)| ModelAlias {
                    alias: (*a).into(),
                    version: (*v).into(),
                })
                .collect(),
        }
    }

    fn version(name: &str, version: &str, aliases: &[&str]) -> ModelVersion {
        ModelVersion {
            name: name.into(),
            version: version.into(),
            creation_timestamp: None,
            last_updated_timestamp: None,
            current_stage: None,
            description: None,
            source: None,
            run_id: None,
            status: None,
            tags: Vec::new(),
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The recorded registry becomes one model with version 1 carrying `champion` (taken from
    /// the registered model, as search results carry no aliases) and its `gov.*` tags.
    #[test]
    fn the_recorded_registry_merges_aliases_onto_versions_and_keeps_gov_tags() {
        let (models, versions) = recorded();
        let s = Snapshot::build(models, versions).unwrap();
        assert_eq!(s.models.len(), 1);
        let m = &s.models[0];
        assert_eq!(m.tags["gov.business_unit"], "retail-lending");
        assert_eq!(m.aliases["champion"], "1");
        let v = &m.versions[0];
        assert_eq!(v.aliases, vec!["champion".to_owned()]);
        assert_eq!(v.tags["gov.tier"], "0");
        assert_eq!(v.tags["gov.validation_status"], "pending");
        assert_eq!(
            s.deployed(&names(&["production", "prod", "champion"])),
            vec![Deployed {
                model: "credit-risk-scorer".into(),
                version: "1".into(),
                alias: "champion".into()
            }]
        );
        assert!(s.deployed(&names(&["production"])).is_empty());
    }

    /// The bytes do not depend on the order the server listed models, versions or tags in,
    /// and versions sort by number.
    #[test]
    fn the_snapshot_bytes_do_not_depend_on_listing_order() {
        let mut a = vec![model("b", &[("prod", "10")]), model("a", &[])];
        let mut va = vec![
            version("b", "10", &[]),
            version("b", "2", &["x"]),
            version("a", "1", &[]),
        ];
        va[0].tags = vec![
            Tag {
                key: "z".into(),
                value: "1".into(),
            },
            Tag {
                key: "a".into(),
                value: "2".into(),
            },
        ];
        let one = Snapshot::build(a.clone(), va.clone()).unwrap();
        a.reverse();
        va.reverse();
        va[2].tags.reverse();
        let two = Snapshot::build(a, va).unwrap();
        assert_eq!(one.to_bytes().unwrap(), two.to_bytes().unwrap());
        let b = &one.models[1];
        assert_eq!(
            b.versions
                .iter()
                .map(|v| v.version.as_str())
                .collect::<Vec<_>>(),
            ["2", "10"]
        );
        assert_eq!(
            b.aliases["x"], "2",
            "a version's own alias joins the model's"
        );
        let text = String::from_utf8(one.to_bytes().unwrap()).unwrap();
        assert!(
            text.starts_with(r#"{"format":"modelgate.mlflow-snapshot.v1","models":[{"aliases":{}"#),
            "{text}"
        );
    }

    /// The first configured alias the model has wins, whatever its case; one version per model.
    #[test]
    fn the_most_authoritative_production_alias_names_the_deployed_version() {
        let s = Snapshot::build(
            vec![model("m", &[("champion", "2"), ("Production", "3")])],
            vec![version("m", "2", &[]), version("m", "3", &[])],
        )
        .unwrap();
        let d = s.deployed(&names(&["production", "prod", "champion"]));
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].version.as_str(), d[0].alias.as_str()),
            ("3", "Production")
        );
        let d = s.deployed(&names(&["champion", "production"]));
        assert_eq!(d[0].version, "2");
    }

    /// A registry that changed between the two listings is refused, never half-recorded.
    #[test]
    fn a_registry_that_changed_between_listings_is_refused() {
        for (models, versions, expected) in [
            (
                vec![model("m", &[("prod", "9")])],
                vec![version("m", "1", &[])],
                "names version `9`",
            ),
            (vec![], vec![version("ghost", "1", &[])], "model was not"),
            (
                vec![model("m", &[]), model("m", &[])],
                vec![],
                "listed twice",
            ),
            (
                vec![model("m", &[])],
                vec![version("m", "1", &[]), version("m", "1", &[])],
                "listed twice",
            ),
            (
                vec![model("m", &[("prod", "1")])],
                vec![version("m", "1", &[]), version("m", "2", &["prod"])],
                "on the version",
            ),
        ] {
            let err = Snapshot::build(models, versions).unwrap_err();
            assert!(matches!(err, MlflowError::Inconsistent { .. }), "{err:?}");
            assert!(err.to_string().contains(expected), "{err}");
            assert!(err.to_string().contains("run the sync again"), "{err}");
        }
    }

    /// Names the ledger cannot hold, and duplicate tags or aliases, are refused.
    #[test]
    fn unusable_names_and_duplicates_are_refused() {
        let mut dup_tag = version("m", "1", &[]);
        dup_tag.tags = vec![
            Tag {
                key: "k".into(),
                value: "1".into(),
            },
            Tag {
                key: "k".into(),
                value: "2".into(),
            },
        ];
        for (models, versions, expected) in [
            (vec![model(" ", &[])], vec![], "model name"),
            (vec![model("a\nb", &[])], vec![], "control characters"),
            (
                vec![model("m", &[])],
                vec![version("m", "", &[])],
                "version",
            ),
            (vec![model("m", &[])], vec![dup_tag], "tag `k` twice"),
            (
                vec![model("m", &[("a", "1"), ("a", "1")])],
                vec![version("m", "1", &[])],
                "alias `a` twice",
            ),
        ] {
            let err = Snapshot::build(models, versions).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
    }
}
