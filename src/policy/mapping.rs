//! Mapping a [`PolicyInput`] into Cedar: [`CedarMapping`] builds the request and entity store.
//!
//! Principal `ModelGate::Requester::"<requester>"`, resource
//! `ModelGate::ModelVersion::"<name>@<version>"` with one attribute per model fact, context one
//! attribute per context fact plus `environment: ModelGate::Environment::"<name>"` (an entity
//! with the attribute `production`), and the schema's action entities.
//!
//! Per request, the entities and the context are built directly with Cedar's programmatic API
//! and are not checked against the schema again, because that check cannot fail once it passed
//! at load: the attribute names and Cedar types follow from the Rust types of [`PolicyInput`]
//! (`bool`, `i64`, `String`, `Vec<String>`), so only values and entity ids vary between inputs.
//! [`CedarMapping::new`] proves the shape once, with the schema, on a probe input whose sets are
//! non-empty (so element types are checked too), and rejects a schema that enumerates one of the
//! input's entity types (the only way a schema can refuse an entity id).
//!
//! [`build_request_from_json`] is the schema-directed JSON mapping: the reference that the
//! programmatic mapping is tested against, and the first of the load-time checks.

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression,
    Schema, SchemaFragment,
};
use serde_json::{json, Map, Value};
use std::str::FromStr;

use super::error::error_chain;
use super::evaluate::{ACTION, NAMESPACE};
use super::explain::{probe_input, InputJson};
use super::input::PolicyInput;
use super::PolicyError;

/// Everything about the mapping that is the same for every request of a bundle.
#[derive(Debug)]
pub(crate) struct CedarMapping {
    requester: EntityTypeName,
    model_version: EntityTypeName,
    environment: EntityTypeName,
    action: EntityUid,
    /// The schema's action entities; schema-directed entity parsing adds them to every store.
    action_entities: Entities,
}

impl CedarMapping {
    /// Precomputes the names and action entities of `schema` (parsed from `schema_text`) and
    /// proves that the programmatic mapping conforms to it for every input (see the module
    /// docs). Errors are [`PolicyError::Input`].
    pub(crate) fn new(schema: &Schema, schema_text: &str) -> Result<Self, PolicyError> {
        reject_enumerated_types(schema_text)?;
        let action_entities = schema
            .action_entities()
            .map_err(|e| input_error("action entities", &e))?;
        let mapping = Self {
            requester: type_name(REQUESTER)?,
            environment: type_name(ENVIRONMENT)?,
            model_version: type_name(MODEL_VERSION)?,
            action: uid("Action", ACTION)?,
            action_entities,
        };
        let probe = conformance_probe();
        let json = InputJson::new(&probe)?;
        mapping.build_checked(&probe, &json, Some(schema))?;
        Ok(mapping)
    }

    /// The Cedar request and entity store for `input`; `json` is the same input as
    /// [`InputJson`] (built once per evaluation and shared with the explanations).
    ///
    /// Not checked against the schema here (`None` below): [`CedarMapping::new`] proved at load
    /// that every input maps to a request and entities the schema accepts, and the check would
    /// cost more than building them.
    pub(crate) fn build(
        &self,
        input: &PolicyInput,
        json: &InputJson,
    ) -> Result<(Request, Entities), PolicyError> {
        self.build_checked(input, json, None)
    }

    fn build_checked(
        &self,
        input: &PolicyInput,
        json: &InputJson,
        schema: Option<&Schema>,
    ) -> Result<(Request, Entities), PolicyError> {
        let principal = self.uid(&self.requester, &input.requester);
        let resource = self.uid(
            &self.model_version,
            &format!("{}@{}", input.model.name, input.model.version),
        );
        let environment = self.uid(&self.environment, &input.environment.name);

        let model = Entity::new_with_tags(
            resource.clone(),
            attributes(json.resource()).map_err(|e| e.context("model facts"))?,
            [],
            [],
        )
        .map_err(|e| input_error("model facts", &e))?;
        let env_entity = Entity::new_with_tags(
            environment.clone(),
            [
                (
                    "production".to_owned(),
                    RestrictedExpression::new_bool(input.environment.production),
                ),
                (
                    "frozen".to_owned(),
                    RestrictedExpression::new_bool(input.environment.frozen),
                ),
            ],
            [],
            [],
        )
        .map_err(|e| input_error("environment facts", &e))?;
        let requester = Entity::new_no_attrs(principal.clone(), Default::default());
        let entities = self
            .action_entities
            .clone()
            .add_entities([model, env_entity, requester], schema)
            .map_err(|e| input_error("entities", &e))?;

        let mut pairs = attributes(json.context()).map_err(|e| e.context("context facts"))?;
        pairs.push((
            "environment".to_owned(),
            RestrictedExpression::new_entity_uid(environment),
        ));
        let context = Context::from_pairs(pairs).map_err(|e| input_error("context", &e))?;
        let request = Request::new(principal, self.action.clone(), resource, context, schema)
            .map_err(|e| input_error("request", &e))?;
        Ok((request, entities))
    }

    fn uid(&self, type_name: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(type_name.clone(), EntityId::new(id))
    }
}

/// A mapping error before the caller says which part it was in.
struct AttrError(String);

impl AttrError {
    fn context(self, what: &str) -> PolicyError {
        PolicyError::Input {
            message: format!("{what}: {}", self.0),
        }
    }
}

/// One Cedar attribute per JSON field.
fn attributes(
    fields: &Map<String, Value>,
) -> Result<Vec<(String, RestrictedExpression)>, AttrError> {
    fields
        .iter()
        .map(|(name, value)| Ok((name.clone(), restricted(name, value)?)))
        .collect()
}

/// The Cedar value of one input field: booleans, 64-bit integers, strings and sets of those.
fn restricted(name: &str, value: &Value) -> Result<RestrictedExpression, AttrError> {
    match value {
        Value::Bool(b) => Ok(RestrictedExpression::new_bool(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(RestrictedExpression::new_long)
            .ok_or_else(|| AttrError(format!("attribute `{name}`: `{n}` is not a 64-bit integer"))),
        Value::String(s) => Ok(RestrictedExpression::new_string(s.clone())),
        Value::Array(items) => items
            .iter()
            .map(|item| restricted(name, item))
            .collect::<Result<Vec<_>, _>>()
            .map(RestrictedExpression::new_set),
        Value::Null | Value::Object(_) => Err(AttrError(format!(
            "attribute `{name}`: `{value}` has no Cedar mapping"
        ))),
    }
}

const REQUESTER: &str = "Requester";
const ENVIRONMENT: &str = "Environment";
const MODEL_VERSION: &str = "ModelVersion";
/// The input's entity types, as named in the schema's namespace.
const INPUT_TYPES: [&str; 3] = [REQUESTER, ENVIRONMENT, MODEL_VERSION];

/// Rejects a schema that declares one of [`INPUT_TYPES`] as an enumeration: its ids come from
/// the request, so such a schema would refuse requests that a probe input cannot show.
fn reject_enumerated_types(schema_text: &str) -> Result<(), PolicyError> {
    let (fragment, _warnings) =
        SchemaFragment::from_cedarschema_str(schema_text).map_err(|e| input_error("schema", &e))?;
    let json = fragment
        .to_json_value()
        .map_err(|e| input_error("schema", &e))?;
    for name in INPUT_TYPES {
        let declared = json
            .get(NAMESPACE)
            .and_then(|namespace| namespace.get("entityTypes"))
            .and_then(|types| types.get(name));
        if declared.is_some_and(|t| t.get("enum").is_some()) {
            return Err(PolicyError::Input {
                message: format!(
                    "entity type `{NAMESPACE}::{name}` is an enumeration, but its ids come from the request"
                ),
            });
        }
    }
    Ok(())
}

/// [`probe_input`] with one element in every set, so the schema check covers element types.
fn conformance_probe() -> PolicyInput {
    let mut probe = probe_input();
    let fill = |set: &mut Vec<String>| set.push("probe".to_owned());
    fill(&mut probe.model.failed_metrics);
    fill(&mut probe.model.fairness_gaps);
    fill(&mut probe.context.approved_roles);
    fill(&mut probe.context.approvers);
    probe
}

fn input_error(what: &str, e: &dyn std::error::Error) -> PolicyError {
    PolicyError::Input {
        message: format!("{what}: {}", error_chain(e)),
    }
}

/// `ModelGate::<type_name>`.
fn type_name(type_name: &str) -> Result<EntityTypeName, PolicyError> {
    let name = format!("{NAMESPACE}::{type_name}");
    EntityTypeName::from_str(&name).map_err(|e| PolicyError::Input {
        message: format!("entity type `{name}`: {e}"),
    })
}

/// `ModelGate::<type_name>::"<id>"`.
fn uid(type_name_str: &str, id: &str) -> Result<EntityUid, PolicyError> {
    Ok(EntityUid::from_type_name_and_id(
        type_name(type_name_str)?,
        EntityId::new(id),
    ))
}

/// The schema-directed mapping: `input` as JSON, parsed and checked by Cedar against `schema`.
///
/// Slow (it serialises the input and parses it back); used once at bundle load and by the tests
/// that keep [`CedarMapping::build`] equal to it.
pub(crate) fn build_request_from_json(
    schema: &Schema,
    input: &PolicyInput,
) -> Result<(Request, Entities), PolicyError> {
    let model_id = format!("{}@{}", input.model.name, input.model.version);
    let model_attrs =
        serde_json::to_value(&input.model).map_err(|e| input_error("model facts", &e))?;
    let entities_json = json!([
        {
            "uid": { "type": format!("{NAMESPACE}::ModelVersion"), "id": model_id },
            "attrs": model_attrs,
            "parents": [],
        },
        {
            "uid": { "type": format!("{NAMESPACE}::Environment"), "id": input.environment.name },
            "attrs": {
                "production": input.environment.production,
                "frozen": input.environment.frozen,
            },
            "parents": [],
        },
        {
            "uid": { "type": format!("{NAMESPACE}::Requester"), "id": input.requester },
            "attrs": {},
            "parents": [],
        },
    ]);
    let entities = Entities::from_json_value(entities_json, Some(schema))
        .map_err(|e| input_error("entities", &e))?;

    let mut context_json =
        serde_json::to_value(&input.context).map_err(|e| input_error("context facts", &e))?;
    if let Value::Object(map) = &mut context_json {
        map.insert(
            "environment".to_owned(),
            json!({ "__entity": {
                "type": format!("{NAMESPACE}::Environment"),
                "id": input.environment.name,
            }}),
        );
    }
    let action = uid("Action", ACTION)?;
    let context = Context::from_json_value(context_json, Some((schema, &action)))
        .map_err(|e| input_error("context", &e))?;
    let request = Request::new(
        uid("Requester", &input.requester)?,
        action,
        uid("ModelVersion", &model_id)?,
        context,
        Some(schema),
    )
    .map_err(|e| input_error("request", &e))?;
    Ok((request, entities))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::path::{Path, PathBuf};

    use cedar_policy::{Authorizer, PolicySet, Response};

    use super::*;
    use crate::policy::cases::{merge_patch, CaseSuite};
    use crate::policy::PolicyBundle;

    fn policies_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
    }

    /// The reference schema (compiled in: this module does no file I/O).
    fn schema_text() -> String {
        include_str!("../../policies/modelgate.cedarschema").to_owned()
    }

    fn schema(text: &str) -> Schema {
        Schema::from_cedarschema_str(text).unwrap().0
    }

    /// Every base input and every case input of the reference suite (bases patched).
    fn suite_inputs() -> Vec<(String, PolicyInput)> {
        let suite = CaseSuite::load(&policies_dir().join("tests")).unwrap();
        let mut out: Vec<(String, PolicyInput)> = suite
            .bases
            .iter()
            .map(|(name, doc)| (name.clone(), serde_json::from_value(doc.clone()).unwrap()))
            .collect();
        for (file, cases) in &suite.files {
            for case in &cases.cases {
                let mut doc = suite.bases[&case.base].clone();
                if let Some(patch) = &case.patch {
                    merge_patch(&mut doc, patch);
                }
                let input = serde_json::from_value(doc).unwrap();
                out.push((format!("{file}: {}", case.name), input));
            }
        }
        out
    }

    /// Entities as JSON, in a stable order.
    fn entities_json(entities: &Entities) -> Vec<Value> {
        let Value::Array(mut items) = entities.to_json_value().unwrap() else {
            unreachable!("entities serialise to an array")
        };
        items.sort_by_key(|item| item["uid"].to_string());
        items
    }

    /// Decision, determining policies and erroring policies, in a stable order.
    fn outcome(response: &Response) -> (bool, Vec<String>, Vec<String>) {
        let mut reasons: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        reasons.sort();
        let mut errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(ToString::to_string)
            .collect();
        errors.sort();
        (
            response.decision() == cedar_policy::Decision::Allow,
            reasons,
            errors,
        )
    }

    /// Guards that the fast per-request mapping can never drift from Cedar's schema-directed
    /// parsing: for the tier-0/1/2 bases and every case input, both give the same entities
    /// (action entities included), principal, action, resource and context, and the same
    /// authorization results for the whole reference bundle.
    #[test]
    fn programmatic_mapping_equals_schema_directed_json_mapping() {
        let text = schema_text();
        let schema = schema(&text);
        let mapping = CedarMapping::new(&schema, &text).unwrap();
        let bundle = PolicyBundle::load(&policies_dir()).unwrap();
        let mut all = PolicySet::new();
        for set in [&bundle.enforce, &bundle.warn, &bundle.shadow] {
            for policy in set.policies() {
                all.add(policy.clone()).unwrap();
            }
        }
        let authorizer = Authorizer::new();
        let inputs = suite_inputs();
        for base in ["tier0-complete", "tier1-complete", "tier2-complete"] {
            assert!(
                inputs.iter().any(|(name, _)| name == base),
                "base `{base}` is missing"
            );
        }
        for (name, input) in &inputs {
            let json = InputJson::new(input).unwrap();
            let (fast_request, fast_entities) = mapping.build(input, &json).unwrap();
            let (ref_request, ref_entities) = build_request_from_json(&schema, input).unwrap();
            assert_eq!(
                entities_json(&fast_entities),
                entities_json(&ref_entities),
                "{name}: entities"
            );
            assert!(fast_entities.deep_eq(&ref_entities), "{name}: entities");
            assert_eq!(fast_request.principal(), ref_request.principal(), "{name}");
            assert_eq!(fast_request.action(), ref_request.action(), "{name}");
            assert_eq!(fast_request.resource(), ref_request.resource(), "{name}");
            assert_eq!(
                fast_request.context().unwrap().to_json_value().unwrap(),
                ref_request.context().unwrap().to_json_value().unwrap(),
                "{name}: context"
            );
            assert_eq!(
                outcome(&authorizer.is_authorized(&fast_request, &all, &fast_entities)),
                outcome(&authorizer.is_authorized(&ref_request, &all, &ref_entities)),
                "{name}: authorization"
            );
            // The request the mapping builds unchecked is one the schema accepts.
            mapping.build_checked(input, &json, Some(&schema)).unwrap();
        }
    }

    /// Guards the load-time proof: the probe passes the schema-directed check whatever a set's
    /// element type is (its sets are empty), so the mapping's own check must catch it.
    #[test]
    fn schema_with_another_set_element_type_is_rejected_at_load() {
        let text =
            schema_text().replace("failed_metrics: Set<String>,", "failed_metrics: Set<Long>,");
        assert_ne!(text, schema_text());
        let schema = schema(&text);
        build_request_from_json(&schema, &probe_input()).unwrap();
        let err = CedarMapping::new(&schema, &text).unwrap_err().to_string();
        assert!(err.contains("failed_metrics"), "{err}");
    }

    /// Guards the load-time proof: an enumerated entity type would refuse ids that the probe
    /// does not use, so a schema enumerating an input entity type is rejected even when it
    /// lists the probe's id.
    #[test]
    fn schema_enumerating_an_input_entity_type_is_rejected_at_load() {
        let text =
            schema_text().replace("entity Requester;", r#"entity Requester enum ["probe"];"#);
        assert_ne!(text, schema_text());
        let schema = schema(&text);
        build_request_from_json(&schema, &probe_input()).unwrap();
        let err = CedarMapping::new(&schema, &text).unwrap_err().to_string();
        assert!(
            err.contains("`ModelGate::Requester` is an enumeration"),
            "{err}"
        );
    }

    /// Guards fail-closed mapping: a JSON value with no Cedar counterpart is an error.
    #[test]
    fn values_without_a_cedar_mapping_are_errors() {
        assert!(restricted("a", &json!(1.5)).is_err());
        assert!(restricted("a", &json!(null)).is_err());
        assert!(restricted("a", &json!({ "b": 1 })).is_err());
        assert!(restricted("a", &json!([1, null])).is_err());
        assert!(restricted("a", &json!(u64::MAX)).is_err());
        assert!(restricted("a", &json!(["x", 1, true])).is_ok());
    }
}
