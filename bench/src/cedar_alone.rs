//! Cedar alone: the reference bundle's policies evaluated by `cedar-policy` with nothing around
//! it (no signatures, no JSON Schema, no ledger), the way a program that embeds Cedar directly
//! would do it: the policy input as Cedar's JSON entity and context formats, checked against the
//! Cedar schema.

use std::path::Path;

use anyhow::{Context as _, Result};
use cedar_policy::{
    Authorizer, Context, Entities, EntityUid, PolicySet, Request, Response, Schema,
};
use serde_json::{json, Value};

/// Cedar's namespace of the reference schema.
const NAMESPACE: &str = "ModelGate";

/// The reference bundle as Cedar sees it.
pub struct CedarAlone {
    /// Every policy of `policies/*.cedar`.
    pub policies: PolicySet,
    /// `policies/modelgate.cedarschema`.
    pub schema: Schema,
    /// The policies' text, concatenated (as given to the `cedar` CLI).
    pub policy_text: String,
    /// The schema's text.
    pub schema_text: String,
    authorizer: Authorizer,
}

/// One request in Cedar's own JSON formats (what the `cedar` CLI reads).
#[derive(Debug, Clone)]
pub struct CedarJson {
    /// The entity list: model version, environment, requester.
    pub entities: Value,
    /// `{"principal", "action", "resource", "context"}`.
    pub request: Value,
}

fn uid_json(type_name: &str, id: &str) -> Value {
    json!({ "type": format!("{NAMESPACE}::{type_name}"), "id": id })
}

impl CedarAlone {
    /// Loads `dir/*.cedar` (sorted) and `dir/modelgate.cedarschema`.
    pub fn load(dir: &Path) -> Result<CedarAlone> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "cedar"))
            .collect();
        files.sort();
        let mut policy_text = String::new();
        for f in &files {
            policy_text.push_str(&std::fs::read_to_string(f)?);
            policy_text.push('\n');
        }
        let policies: PolicySet = policy_text.parse().context("parsing the Cedar policies")?;
        let schema_text = std::fs::read_to_string(dir.join("modelgate.cedarschema"))?;
        let (schema, _) = Schema::from_cedarschema_str(&schema_text).context("Cedar schema")?;
        Ok(CedarAlone {
            policies,
            schema,
            policy_text,
            schema_text,
            authorizer: Authorizer::new(),
        })
    }

    /// A policy input (modelgate's `PolicyInput` as JSON) in Cedar's JSON formats.
    pub fn to_cedar_json(input: &Value) -> Result<CedarJson> {
        let s = |v: &Value| v.as_str().map(str::to_owned).context("expected a string");
        let env = &input["environment"];
        let env_name = s(&env["name"])?;
        let model_id = format!(
            "{}@{}",
            s(&input["model"]["name"])?,
            s(&input["model"]["version"])?
        );
        let requester = s(&input["requester"])?;
        let entities = json!([
            { "uid": uid_json("ModelVersion", &model_id), "attrs": input["model"], "parents": [] },
            { "uid": uid_json("Environment", &env_name),
              "attrs": { "production": env["production"], "frozen": env["frozen"] }, "parents": [] },
            { "uid": uid_json("Requester", &requester), "attrs": {}, "parents": [] },
        ]);
        let mut context = input["context"].clone();
        if let Value::Object(map) = &mut context {
            map.insert(
                "environment".into(),
                json!({ "__entity": uid_json("Environment", &env_name) }),
            );
        }
        let request = json!({
            "principal": format!("{NAMESPACE}::Requester::{}", json!(requester)),
            "action": format!("{NAMESPACE}::Action::\"promote\""),
            "resource": format!("{NAMESPACE}::ModelVersion::{}", json!(model_id)),
            "context": context,
        });
        Ok(CedarJson { entities, request })
    }

    /// Cedar's request and entities for `input` from its JSON formats, checked against the
    /// schema: what an embedding program does per request.
    pub fn build(&self, input: &CedarJson) -> Result<(Request, Entities)> {
        let entities = Entities::from_json_value(input.entities.clone(), Some(&self.schema))
            .context("entities")?;
        let principal = self.request_uid(&input.request["principal"])?;
        let action = self.request_uid(&input.request["action"])?;
        let resource = self.request_uid(&input.request["resource"])?;
        let context = Context::from_json_value(
            input.request["context"].clone(),
            Some((&self.schema, &action)),
        )
        .context("context")?;
        let request = Request::new(principal, action, resource, context, Some(&self.schema))
            .context("request")?;
        Ok((request, entities))
    }

    fn request_uid(&self, v: &Value) -> Result<EntityUid> {
        let text = v.as_str().context("entity uid text")?;
        text.parse().context("entity uid")
    }

    /// `is_authorized` of every policy against prebuilt request and entities.
    pub fn authorize(&self, request: &Request, entities: &Entities) -> Response {
        self.authorizer
            .is_authorized(request, &self.policies, entities)
    }
}
