//! The inventory listing: every model and version the ledger has seen, with its tier, owners,
//! current version per environment, approvals with expiry, reported deployments and
//! retirement — `modelgate inventory list`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::fold::Inventory;

/// One version in the listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionListing {
    /// The version.
    pub version: String,
    /// Its verified tier, if any decision verified its metadata.
    pub tier: Option<i64>,
    /// Owner, developer, validator, business owner as its metadata names them.
    pub owners: Option<BTreeMap<&'static str, String>>,
    /// Decisions about it.
    pub decisions: usize,
    /// Per environment: the latest decision (`allow`/`deny`, record, time).
    pub latest: BTreeMap<String, (String, u64, String)>,
    /// Approvals of its latest deploying allow per environment: (environment, role, approver,
    /// expires).
    pub approvals: Vec<(String, String, String, String)>,
    /// Deployments reported: environment → (source, record, time).
    pub deployments: BTreeMap<String, (String, u64, String)>,
    /// Deployed somewhere without verified metadata.
    pub shadow: bool,
    /// Retirement: (record, time, reason).
    pub retired: Option<(u64, String, String)>,
}

/// One model in the listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelListing {
    /// The model.
    pub model: String,
    /// Environment → the version currently there (newest deploying allow or reported
    /// deployment).
    pub current: BTreeMap<String, String>,
    /// Its versions, by name.
    pub versions: Vec<VersionListing>,
    /// Retirement of the whole model: (record, time, reason).
    pub retired: Option<(u64, String, String)>,
}

/// Lists every model of `inv`.
pub fn listing(inv: &Inventory) -> Vec<ModelListing> {
    inv.models
        .iter()
        .map(|(model, entry)| {
            let mut current: BTreeMap<String, (u64, String)> = BTreeMap::new();
            let mut versions = Vec::new();
            for (version, v) in &entry.versions {
                let mut seen = |env: &str, index: u64| {
                    let slot = current
                        .entry(env.to_owned())
                        .or_insert((index, version.clone()));
                    if index >= slot.0 {
                        *slot = (index, version.clone());
                    }
                };
                for (env, e) in &v.environments {
                    if let Some(a) = &e.last_allow {
                        seen(env, a.index);
                    }
                }
                for (env, dep) in &v.deployments {
                    seen(env, dep.index);
                }
                let mut latest = BTreeMap::new();
                for (env, e) in &v.environments {
                    if let Some(d) = &e.latest {
                        let outcome = if d.allowed { "allow" } else { "deny" };
                        latest.insert(env.clone(), (outcome.to_owned(), d.index, d.time.clone()));
                    }
                }
                let approvals = v
                    .environments
                    .iter()
                    .filter_map(|(env, e)| Some((env, e.last_allow.as_ref()?)))
                    .flat_map(|(env, d)| {
                        d.approvals.iter().map(move |(role, who, expires)| {
                            (env.clone(), role.clone(), who.clone(), expires.clone())
                        })
                    })
                    .collect();
                let registered = v.facts.as_ref().is_some_and(|f| f.registered);
                versions.push(VersionListing {
                    version: version.clone(),
                    tier: v.tier,
                    owners: v.facts.as_ref().map(|f| {
                        BTreeMap::from([
                            ("owner", f.owner.clone()),
                            ("developer", f.developer.clone()),
                            ("validator", f.validator.clone()),
                            ("business_owner", f.business_owner.clone()),
                        ])
                    }),
                    decisions: v.decision_count,
                    latest,
                    approvals,
                    deployments: v
                        .deployments
                        .iter()
                        .map(|(env, d)| (env.clone(), (d.source.clone(), d.index, d.time.clone())))
                        .collect(),
                    shadow: !registered && (!v.deployments.is_empty() || v.ever_allowed()),
                    retired: v.retired.clone(),
                });
            }
            ModelListing {
                model: model.clone(),
                current: current
                    .into_iter()
                    .map(|(env, (_, version))| (env, version))
                    .collect(),
                versions,
                retired: entry.retired.clone(),
            }
        })
        .collect()
}
