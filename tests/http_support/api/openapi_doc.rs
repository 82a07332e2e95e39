//! `GET /openapi.json` against the route table and the official OpenAPI 3.1 schema.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::http_support::{openapi, Api};
use modelgate::server::routes;
use serde_json::json;

/// `GET /openapi.json` documents every row of `routes()` — method, path parameters, query,
/// security and role, statuses — and nothing that is not routed.
#[tokio::test]
async fn openapi_matches_the_route_table() {
    let api = Api::new();
    let doc = api
        .send("GET", "/openapi.json", None, None)
        .await
        .expect(200)
        .json();
    let problems = openapi::route_problems(&doc, &routes());
    assert!(problems.is_empty(), "{problems:#?}");
    let environments: Vec<String> = api.fx.ws.config().environments.keys().cloned().collect();
    assert_eq!(
        doc,
        modelgate::server::openapi::document(&routes(), &environments)
    );
    // The environments a request may name are the workspace's.
    assert_eq!(
        doc["components"]["schemas"]["PromotionRequest"]["properties"]["environment"]["enum"],
        json!(environments)
    );
    // Local references of the embedded schemas resolve inside the document.
    let decision = serde_json::to_string(&doc["components"]["schemas"]["Decision"]).unwrap();
    assert!(!decision.contains("\"#/$defs/"), "{decision}");
    assert!(decision.contains("#/components/schemas/Decision/$defs/sha256"));

    // The check is not vacuous: an extra path, a lost route and a dropped security are caught.
    let mut broken = doc.clone();
    broken["paths"]["/v1/ghost"] = json!({"get": {"responses": {}}});
    broken["paths"]
        .as_object_mut()
        .unwrap()
        .remove("/v1/ledger/vkey");
    broken["paths"]["/v1/decisions"]["get"]["security"] = json!([]);
    let found = openapi::route_problems(&broken, &routes()).join("\n");
    for expected in [
        "/v1/ghost is documented but not routed",
        "GET /v1/ledger/vkey is not in the document",
        "GET /v1/decisions: needs a token",
    ] {
        assert!(found.contains(expected), "missed `{expected}` in:\n{found}");
    }
}

/// The document is valid OpenAPI 3.1: it passes the official OpenAPI 3.1 JSON Schema, and each
/// component schema is valid JSON Schema 2020-12; a structurally broken document fails.
#[tokio::test]
async fn openapi_is_valid_openapi_3_1() {
    let api = Api::new();
    let doc = api
        .send("GET", "/openapi.json", None, None)
        .await
        .expect(200)
        .json();
    assert_eq!(doc["openapi"], "3.1.0");
    let problems = openapi::schema_problems(&doc);
    assert!(problems.is_empty(), "{problems:#?}");

    let mut broken = doc.clone();
    broken.as_object_mut().unwrap().remove("info");
    broken["paths"]["/healthz"]["get"]["responses"]["200"] = json!({"content": {}});
    assert!(
        openapi::schema_problems(&broken).len() >= 2,
        "the validator catches a missing `info` and a response without `description`"
    );
}
