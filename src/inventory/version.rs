//! One model version as the inventory keeps it: [`VersionEntry`], folded from its
//! [`DecisionEvent`]s to what the report, the listing and the expiries use — per environment an
//! [`EnvironmentState`] (latest decision, latest [`DeployingAllow`], first promotion, rollbacks),
//! the [`SourceDecision`] its facts come from, deployments and retirement. They serialize with
//! short field names, leaving out what is empty: the inventory snapshot holds one per version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One decision as read from the ledger: the input of [`VersionEntry::record`], which keeps
/// only what the report, the listing and the expiries use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionEvent {
    /// Ledger index.
    pub index: u64,
    /// Record time (RFC 3339 UTC).
    pub time: String,
    /// Target environment.
    pub environment: String,
    /// Allow (`true`) or deny.
    pub allowed: bool,
    /// A rollback request.
    pub rollback: bool,
    /// A dry run (judged, not deployed).
    pub dry_run: bool,
    /// The approvals that counted: (role, approver, expires).
    pub approvals: Vec<(String, String, String)>,
    /// Waivers applied: (ticket, expires).
    pub waivers: Vec<(String, String)>,
    /// The determining policy ids of a deny.
    pub denied_by: Vec<String>,
    /// Digest of the policy input.
    pub input_digest: String,
    /// Digest of the counted model-metadata envelope, if any.
    pub metadata_digest: Option<String>,
}

/// A deployment the engine was told about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Ledger index of the record that reported it.
    #[serde(rename = "i")]
    pub index: u64,
    /// Record time.
    #[serde(rename = "t")]
    pub time: String,
    /// Who reported it (`admission`, `mlflow`, `cli`, …).
    #[serde(rename = "s")]
    pub source: String,
}

/// A decision a version's facts can be read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceDecision {
    /// Ledger index.
    #[serde(rename = "i")]
    pub index: u64,
    /// Record time.
    #[serde(rename = "t")]
    pub time: String,
    /// Digest of the policy input.
    #[serde(rename = "in")]
    pub input_digest: String,
    /// Digest of the counted model-metadata envelope, if any.
    #[serde(rename = "md", default, skip_serializing_if = "Option::is_none")]
    pub metadata_digest: Option<String>,
}

/// The latest decision about a version in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestDecision {
    /// Ledger index.
    #[serde(rename = "i")]
    pub index: u64,
    /// Record time.
    #[serde(rename = "t")]
    pub time: String,
    /// Allow (`true`) or deny.
    #[serde(rename = "a")]
    pub allowed: bool,
    /// A dry run.
    #[serde(rename = "dr", default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// The determining policy ids of a deny.
    #[serde(rename = "db", default, skip_serializing_if = "Vec::is_empty")]
    pub denied_by: Vec<String>,
}

/// A deploying allow (not a dry run) to one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployingAllow {
    /// Ledger index.
    #[serde(rename = "i")]
    pub index: u64,
    /// Record time.
    #[serde(rename = "t")]
    pub time: String,
    /// The approvals that counted: (role, approver, expires).
    #[serde(rename = "ap", default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<(String, String, String)>,
    /// Waivers applied: (ticket, expires).
    #[serde(rename = "w", default, skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<(String, String)>,
}

/// What the decisions about a version say about one environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentState {
    /// The latest decision (dry runs included).
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<LatestDecision>,
    /// The latest deploying allow.
    #[serde(rename = "la", default, skip_serializing_if = "Option::is_none")]
    pub last_allow: Option<DeployingAllow>,
    /// The first deploying allow that was not a rollback: (index, time) — a promotion when the
    /// environment is a production one.
    #[serde(rename = "fp", default, skip_serializing_if = "Option::is_none")]
    pub first_promotion: Option<(u64, String)>,
    /// The times of the deploying rollback allows, in ledger order.
    #[serde(rename = "rb", default, skip_serializing_if = "Vec::is_empty")]
    pub rollbacks: Vec<String>,
}

/// One model version in the inventory, folded to what the report, the listing and the
/// expiries use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionEntry {
    /// The verified risk tier of its latest decision that had one.
    #[serde(rename = "tr", default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<i64>,
    /// How many decisions were made about it.
    #[serde(rename = "n")]
    pub decision_count: usize,
    /// Its newest decision.
    #[serde(rename = "nw", default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<SourceDecision>,
    /// Its newest decision that counted model metadata, when that is not [`VersionEntry::newest`]
    /// (kept once, not twice).
    #[serde(rename = "nm", default, skip_serializing_if = "Option::is_none")]
    pub newest_with_metadata: Option<SourceDecision>,
    /// Per environment: its latest decision, latest deploying allow, first promotion and
    /// rollbacks.
    #[serde(rename = "e")]
    pub environments: BTreeMap<String, EnvironmentState>,
    /// Deployments reported per environment (the latest report wins).
    #[serde(rename = "d", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deployments: BTreeMap<String, Deployment>,
    /// Set when the version was retired: (index, time, reason).
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<(u64, String, String)>,
    /// Facts from the policy input of [`VersionEntry::facts_decision`] (filled after the fold).
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<super::Facts>,
    /// The time of the decision the facts come from (day counts in them are relative to it).
    #[serde(rename = "ft", default, skip_serializing_if = "Option::is_none")]
    pub facts_time: Option<String>,
    /// The (decision index, tier) the facts were read with, so a later fold re-reads them only
    /// when either changed.
    #[serde(rename = "ff", default, skip_serializing_if = "Option::is_none")]
    pub facts_from: Option<(u64, i64)>,
    /// `model.created_at` of its counted metadata, if known (filled after the fold).
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

impl VersionEntry {
    /// Folds one decision about this version (decisions come in ledger order).
    pub fn record(&mut self, d: DecisionEvent) {
        self.decision_count += 1;
        let source = SourceDecision {
            index: d.index,
            time: d.time.clone(),
            input_digest: d.input_digest,
            metadata_digest: d.metadata_digest,
        };
        let previous = self.newest.replace(source);
        if self
            .newest
            .as_ref()
            .is_some_and(|n| n.metadata_digest.is_some())
        {
            self.newest_with_metadata = None;
        } else if let Some(p) = previous.filter(|p| p.metadata_digest.is_some()) {
            self.newest_with_metadata = Some(p);
        }
        let env = self.environments.entry(d.environment).or_default();
        let deploying = d.allowed && !d.dry_run;
        if deploying {
            if d.rollback {
                env.rollbacks.push(d.time.clone());
            } else if env.first_promotion.is_none() {
                env.first_promotion = Some((d.index, d.time.clone()));
            }
            env.last_allow = Some(DeployingAllow {
                index: d.index,
                time: d.time.clone(),
                approvals: d.approvals,
                waivers: d.waivers,
            });
        }
        env.latest = Some(LatestDecision {
            index: d.index,
            time: d.time,
            allowed: d.allowed,
            dry_run: d.dry_run,
            denied_by: d.denied_by,
        });
    }

    /// The decision its facts are read from: the newest that counted model metadata, else the
    /// newest (the evidence pack's inventory entry uses the same rule).
    pub fn facts_decision(&self) -> Option<&SourceDecision> {
        match &self.newest {
            Some(n) if n.metadata_digest.is_some() => Some(n),
            newest => self.newest_with_metadata.as_ref().or(newest.as_ref()),
        }
    }

    /// Its latest deploying allow (not a dry run) to `environment`.
    pub fn last_allow(&self, environment: &str) -> Option<&DeployingAllow> {
        self.environments
            .get(environment)
            .and_then(|e| e.last_allow.as_ref())
    }

    /// Whether any decision allowed deploying it (not a dry run).
    pub fn ever_allowed(&self) -> bool {
        self.environments.values().any(|e| e.last_allow.is_some())
    }
}
