//! Checks of the OpenAPI document against the route table and against the official OpenAPI 3.1
//! JSON Schema (vendored in `tests/fixtures/openapi/`, see its README). Each check returns the
//! problems it found, so a test can also show that a broken document is caught.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use modelgate::server::Route;
use serde_json::Value;

/// The methods an OpenAPI path item may hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The official OpenAPI 3.1 schema (2022-10-07).
pub fn official_schema() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/openapi/schema-3.1-2022-10-07.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Where `doc` breaks the official OpenAPI 3.1 schema, and where one of its component schemas
/// is not a valid JSON Schema 2020-12 (the dialect of OpenAPI 3.1 Schema Objects).
pub fn schema_problems(doc: &Value) -> Vec<String> {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&official_schema())
        .unwrap();
    let mut problems: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    if let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        for (name, schema) in schemas {
            if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
                problems.push(format!("component schema `{name}`: {e}"));
            }
        }
    }
    problems
}

/// The names of `{…}` segments of a path.
fn path_params(path: &str) -> BTreeSet<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect()
}

/// Parameters of `op` located `in`, by name → required.
fn params_in(op: &Value, location: &str) -> Vec<(String, bool)> {
    op["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter(|p| p["in"] == location)
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or("").to_owned(),
                        p["required"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Where `doc` and `routes` disagree: a route missing from the document (or with another
/// method, path parameters, query parameters, security or role), or an operation in the
/// document that no route serves.
pub fn route_problems(doc: &Value, routes: &[Route]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut served = BTreeSet::new();
    for r in routes {
        let method = r.method.to_ascii_lowercase();
        served.insert((r.path.to_owned(), method.clone()));
        let Some(op) = doc.pointer(&format!(
            "/paths/{}/{method}",
            r.path.replace('~', "~0").replace('/', "~1")
        )) else {
            problems.push(format!("{r:?} is not in the document"));
            continue;
        };
        let documented: BTreeSet<String> = params_in(op, "path")
            .into_iter()
            .map(|(name, required)| {
                if !required {
                    problems.push(format!("{r:?}: path parameter `{name}` is not required"));
                }
                name
            })
            .collect();
        if documented != path_params(r.path) {
            problems.push(format!(
                "{r:?}: path parameters {documented:?}, route has {:?}",
                path_params(r.path)
            ));
        }
        let query: BTreeSet<(String, bool)> = params_in(op, "query").into_iter().collect();
        let want: BTreeSet<(String, bool)> = r
            .query
            .iter()
            .map(|(name, required, _, _)| ((*name).to_owned(), *required))
            .collect();
        if query != want {
            problems.push(format!("{r:?}: query {query:?}, route has {want:?}"));
        }
        match r.role {
            Some(role) => {
                if op["security"] != serde_json::json!([{"bearer": []}]) {
                    problems.push(format!(
                        "{r:?}: needs a token but security is {}",
                        op["security"]
                    ));
                }
                if op["x-modelgate-role"] != role.as_str() {
                    problems.push(format!("{r:?}: role {} documented", op["x-modelgate-role"]));
                }
                for status in ["401", "403"] {
                    if op["responses"].get(status).is_none() {
                        problems.push(format!("{r:?}: {status} not documented"));
                    }
                }
            }
            None => {
                if op["security"] != serde_json::json!([]) {
                    problems.push(format!("{r:?}: open but security is {}", op["security"]));
                }
            }
        }
        let ok = r.response.0.to_string();
        if op["responses"].get(&ok).is_none() {
            problems.push(format!("{r:?}: success status {ok} not documented"));
        }
        for status in r.errors {
            if op["responses"].get(status.to_string()).is_none() {
                problems.push(format!("{r:?}: error status {status} not documented"));
            }
        }
    }
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(k, _)| k) {
            if METHODS.contains(&method.as_str())
                && !served.contains(&(path.clone(), method.clone()))
            {
                problems.push(format!("{method} {path} is documented but not routed"));
            }
        }
    }
    problems
}
