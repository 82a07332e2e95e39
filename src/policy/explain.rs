//! Explanations: the values a policy read, for every reason reported.
//!
//! [`InputJson`] is the policy input split into the four roots a `@reads` path can start from
//! (`principal`, `resource`, `context`, `context.environment`); [`InputJson::resolve`] looks a
//! path up. [`probe_input`] is a complete input used at load time to reject `@reads` paths that
//! name no attribute.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::annotations::PolicyInfo;
use super::evaluate::Reason;
use super::input::{ContextFacts, EnvironmentFacts, ModelFacts, PolicyInput};
use super::PolicyError;

/// The policy input as JSON objects, one per `@reads` root.
#[derive(Debug, Clone)]
pub(crate) struct InputJson {
    principal: Value,
    resource: Map<String, Value>,
    context: Map<String, Value>,
    environment: Map<String, Value>,
}

impl InputJson {
    /// Serialises `input` once for path lookups.
    pub(crate) fn new(input: &PolicyInput) -> Result<Self, PolicyError> {
        Ok(Self {
            principal: Value::String(input.requester.clone()),
            resource: to_object(&input.model)?,
            context: to_object(&input.context)?,
            environment: to_object(&input.environment)?,
        })
    }

    /// The model facts (the attributes of the Cedar resource).
    pub(crate) fn resource(&self) -> &Map<String, Value> {
        &self.resource
    }

    /// The context facts (the Cedar context, without `environment`).
    pub(crate) fn context(&self) -> &Map<String, Value> {
        &self.context
    }

    /// The value at `path` (`principal`, `resource.X`, `context.X`, `context.environment.X`), or
    /// `None` when the path names no input attribute.
    pub(crate) fn resolve(&self, path: &str) -> Option<Value> {
        if path == "principal" {
            return Some(self.principal.clone());
        }
        if path == "context.environment" {
            return self.environment.get("name").cloned();
        }
        if let Some(attr) = path.strip_prefix("context.environment.") {
            return self.environment.get(attr).cloned();
        }
        if let Some(attr) = path.strip_prefix("context.") {
            return self.context.get(attr).cloned();
        }
        if let Some(attr) = path.strip_prefix("resource.") {
            return self.resource.get(attr).cloned();
        }
        None
    }

    /// One [`Reason`] for `info`, with the values of its `@reads` paths.
    pub(crate) fn reason(&self, info: &PolicyInfo, effect: &str, text: String) -> Reason {
        let values: BTreeMap<String, Value> = info
            .reads
            .iter()
            .map(|path| (path.clone(), self.resolve(path).unwrap_or(Value::Null)))
            .collect();
        Reason {
            policy_id: info.id.clone(),
            effect: effect.to_owned(),
            reason: text,
            controls: info.controls.clone(),
            values,
        }
    }
}

fn to_object<T: serde::Serialize>(value: &T) -> Result<Map<String, Value>, PolicyError> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(PolicyError::Input {
            message: format!("expected a JSON object, got `{other}`"),
        }),
        Err(e) => Err(PolicyError::Input {
            message: e.to_string(),
        }),
    }
}

/// A complete policy input with neutral values: every attribute present, nothing asserted.
///
/// Used at load time to check `@reads` paths and that the schema accepts the input shape.
/// Being a struct literal, it stops compiling when the input contract gains a field.
pub(crate) fn probe_input() -> PolicyInput {
    PolicyInput {
        requester: "probe".to_owned(),
        environment: EnvironmentFacts {
            name: "probe".to_owned(),
            production: true,
            frozen: false,
        },
        model: ModelFacts {
            name: "probe".to_owned(),
            version: "0".to_owned(),
            tier: 0,
            metadata_verified: false,
            identity_matches: false,
            artifact_digest_matches: false,
            has_registry_ref: false,
            owner: String::new(),
            developer: String::new(),
            validator: String::new(),
            business_owner: String::new(),
            has_purpose: false,
            has_out_of_scope_uses: false,
            has_limitations: false,
            code_commit_clean: false,
            training_datasets: 0,
            all_datasets_have_digest: false,
            all_datasets_have_datasheet_and_legal_basis: false,
            has_environment_digest: false,
            reproducibility_attested: false,
            metrics_with_threshold: 0,
            failed_metrics: Vec::new(),
            baseline_ok: false,
            has_evaluation_report_digest: false,
            has_model_card: false,
            has_technical_docs: false,
            has_drift_monitoring: false,
            has_performance_threshold: false,
            validation_status: String::new(),
            validation_independent: false,
            open_high_findings: 0,
            validation_next_due_days: -1,
            fairness_gaps: Vec::new(),
            protected_attributes: 0,
            fairness_empty_justified: false,
            has_explainability: false,
            has_risk_assessment: false,
            has_impact_assessment: false,
            substantial_modification: false,
            automated_decisions: false,
        },
        context: ContextFacts {
            now: 0,
            rollback: false,
            previously_allowed: false,
            approved_roles: Vec::new(),
            approvers: Vec::new(),
            approver_count: 0,
            max_approval_ttl_days: 0,
            approver_holds_two_roles: false,
            developer_approved: false,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn read_paths_resolve_against_each_root_and_unknown_paths_do_not() {
        let mut input = probe_input();
        input.requester = "alice".to_owned();
        input.model.owner = "bob".to_owned();
        input.context.approver_count = 3;
        input.environment.name = "prod".to_owned();
        let json = InputJson::new(&input).unwrap();
        assert_eq!(json.resolve("principal"), Some(json!("alice")));
        assert_eq!(json.resolve("resource.owner"), Some(json!("bob")));
        assert_eq!(json.resolve("context.approver_count"), Some(json!(3)));
        assert_eq!(
            json.resolve("context.environment.production"),
            Some(json!(true))
        );
        assert_eq!(
            json.resolve("context.environment.name"),
            Some(json!("prod"))
        );
        assert_eq!(json.resolve("resource.nope"), None);
        assert_eq!(json.resolve("context.nope"), None);
        assert_eq!(json.resolve("action"), None);
        assert_eq!(json.resolve("resource"), None);
    }
}
