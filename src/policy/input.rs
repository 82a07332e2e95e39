//! The derived policy input: the only thing Cedar ever sees.
//!
//! [`PolicyInput`] is built by the engine from *verified* facts (signature-checked metadata,
//! approvals that verified and are current) and handed to [`crate::policy`] for evaluation.
//! It is pure data and versioned ([`INPUT_VERSION`]): its canonical JSON is hashed into the
//! decision record so that a decision can be replayed from the ledger.
//!
//! The field names here are the attribute names in `policies/modelgate.cedarschema`:
//! `resource.<ModelFacts field>`, `context.<ContextFacts field>`,
//! `context.environment.<EnvironmentFacts field>`. Changing one is a schema change.

use serde::{Deserialize, Serialize};

/// Version of the derivation that produced a [`PolicyInput`]; bump on any change of meaning.
pub const INPUT_VERSION: u32 = 1;

/// Everything a policy may read for one promotion request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    /// Who asked (the request's `requested_by`); the Cedar principal `ModelGate::Requester`.
    pub requester: String,
    /// The target environment; the Cedar entity `ModelGate::Environment` in `context.environment`.
    pub environment: EnvironmentFacts,
    /// Facts about the model version; the Cedar resource `ModelGate::ModelVersion`.
    pub model: ModelFacts,
    /// Facts about this request; the Cedar `context`.
    pub context: ContextFacts,
}

/// The target environment as configured in the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentFacts {
    /// Environment name, e.g. `production` (the entity id).
    pub name: String,
    /// Whether the full tier rules apply (production-like environment).
    pub production: bool,
    /// A freeze is in force on this environment (see `modelgate freeze`).
    #[serde(default)]
    pub frozen: bool,
}

/// Facts about one model version, derived from its verified model-metadata predicate.
///
/// When no metadata verified, [`crate::metadata::unverified_model_facts`] gives the strictest defaults
/// (tier 0, every fact false/empty) so that every tier rule reports what is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFacts {
    /// Model name (the request's `model`).
    pub name: String,
    /// Model version (the request's `version`).
    pub version: String,
    /// Risk tier 0 (highest risk), 1 or 2.
    pub tier: i64,
    /// A model-metadata envelope verified against a trusted key with a metadata-signing role.
    pub metadata_verified: bool,
    /// The verified metadata names this model and version.
    pub identity_matches: bool,
    /// The metadata's statement subject digest equals the request's `artifact_digest`.
    pub artifact_digest_matches: bool,
    /// `model.registry_ref` is present.
    pub has_registry_ref: bool,
    /// `ownership.owner` (empty when absent).
    pub owner: String,
    /// `ownership.developer` (empty when absent).
    pub developer: String,
    /// `ownership.validator` (empty when absent).
    pub validator: String,
    /// `ownership.business_owner` (empty when absent).
    pub business_owner: String,
    /// `intended_use.purpose` is present and non-empty.
    pub has_purpose: bool,
    /// `intended_use.out_of_scope` lists at least one use.
    pub has_out_of_scope_uses: bool,
    /// `risk_management.limitations` lists at least one limitation.
    pub has_limitations: bool,
    /// `lineage.code` has a repo and commit and `dirty == false`.
    pub code_commit_clean: bool,
    /// Number of training datasets that have both `uri` and `snapshot`.
    pub training_datasets: i64,
    /// Every dataset (training and evaluation) has a `digest`; false when there are none.
    pub all_datasets_have_digest: bool,
    /// Every dataset has `datasheet_uri` and `legal_basis`; false when there are none.
    pub all_datasets_have_datasheet_and_legal_basis: bool,
    /// `lineage.environment_digest` is present.
    pub has_environment_digest: bool,
    /// `lineage.reproducibility_attested == true`.
    pub reproducibility_attested: bool,
    /// Number of evaluation metrics that carry a threshold.
    pub metrics_with_threshold: i64,
    /// Names of evaluation metrics whose value does not meet the threshold (sorted).
    pub failed_metrics: Vec<String>,
    /// Baseline comparison passed, or is `none` with a justification.
    pub baseline_ok: bool,
    /// `evaluation.report_digest` is present.
    pub has_evaluation_report_digest: bool,
    /// `documentation.model_card_uri` and `documentation.model_card_digest` are present.
    pub has_model_card: bool,
    /// `documentation.technical_docs_uri` and `documentation.instructions_for_use_uri` are present.
    pub has_technical_docs: bool,
    /// `monitoring.drift` is configured and `monitoring.alert_route` is present.
    pub has_drift_monitoring: bool,
    /// `monitoring.performance_threshold` is present.
    pub has_performance_threshold: bool,
    /// `validation.status` (`approved`, `pending`, `rejected`, or empty when absent).
    pub validation_status: String,
    /// `validation.independent == true`.
    pub validation_independent: bool,
    /// Number of validation findings with severity `high` and status `open`.
    pub open_high_findings: i64,
    /// Days from the decision time until `validation.next_due` (negative when overdue,
    /// `-1` when absent).
    pub validation_next_due_days: i64,
    /// Protected attributes that have no fairness metric, or a fairness metric that failed (sorted).
    pub fairness_gaps: Vec<String>,
    /// Number of protected attributes listed.
    pub protected_attributes: i64,
    /// No protected attribute is listed but `fairness.empty_justification` explains why.
    pub fairness_empty_justified: bool,
    /// `explainability.method` and `explainability.human_oversight` are present.
    pub has_explainability: bool,
    /// `risk_management.risk_assessment_uri` is present.
    pub has_risk_assessment: bool,
    /// `risk_management.impact_assessment_uri` is present.
    pub has_impact_assessment: bool,
    /// `model.substantial_modification == true`.
    pub substantial_modification: bool,
    /// `risk.automated_decisions == true` (a business-owner approval is then required at tier 0).
    pub automated_decisions: bool,
}

/// Facts about the request itself: time, rollback flag, and the approvals that count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextFacts {
    /// Decision time, seconds since the Unix epoch.
    pub now: i64,
    /// The request says it is a rollback.
    pub rollback: bool,
    /// An earlier decision in the ledger allowed this model version into this environment
    /// (looked up only while the environment is frozen; false otherwise).
    #[serde(default)]
    pub previously_allowed: bool,
    /// Roles that have at least one verified, current approval for this metadata and environment
    /// (sorted): `owner`, `validator`, `risk-officer`, `business-owner`. An owner, validator or
    /// business-owner approval counts only when it comes from the person the metadata names for
    /// that role; other roles (pipeline, developer, model-author) never approve.
    pub approved_roles: Vec<String>,
    /// Distinct independent approvers (sorted): principals behind the counted approvals, without
    /// the model's developer and the metadata's signers.
    pub approvers: Vec<String>,
    /// Number of distinct independent approvers (`approvers.len()`).
    pub approver_count: i64,
    /// Longest validity of any counted approval, in whole days from issue to expiry.
    pub max_approval_ttl_days: i64,
    /// Some principal approved in two or more different roles.
    pub approver_holds_two_roles: bool,
    /// Some counted approver is the model's developer or signed its metadata (an author approving
    /// their own work).
    pub developer_approved: bool,
}
