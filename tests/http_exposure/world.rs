//! The workspace the exposure matrix runs against: a decision, a checkpoint, a kept report,
//! one token per role of `ApiRole` (plus a revoked one and one to withdraw), an MLflow webhook
//! secret; path parameters, query parameters and real request bodies for each route of
//! `server::routes()`, and the strings no refusal may show ([`World`]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, Request};
use modelgate::attest::Envelope;
use modelgate::digest::sha256_hex;
use modelgate::ledger::Store as _;
use modelgate::server::auth::{ApiRole, TokenFile};
use modelgate::server::state::AppState;
use modelgate::server::{Payload, Route};
use modelgate::workspace::Workspace;
use serde_json::{json, Value};

use crate::common::{complete, findings, now, request, with, Fixture};
use crate::http_support::{answer, Answer};

pub const MODEL: &str = "exposure-model-7f3a";
pub const WEBHOOK_SECRET: &str = "whsec-exposure-4c1d9e";

/// Every role of `ApiRole`. The exhaustive `match` stops compiling when a role is added, until
/// it is listed here too (and so given a token and a column of the matrix).
pub fn all_roles() -> Vec<ApiRole> {
    let roles = vec![ApiRole::Pipeline, ApiRole::Auditor, ApiRole::Admin];
    for role in &roles {
        match role {
            ApiRole::Pipeline | ApiRole::Auditor | ApiRole::Admin => {}
        }
    }
    roles
}

/// A workspace with data worth protecting, served.
pub struct World {
    pub fx: Fixture,
    pub state: Arc<AppState>,
    /// One token per role: (role, name, secret).
    pub tokens: Vec<(ApiRole, String, String)>,
    /// A token withdrawn through the admin API.
    pub revoked: String,
    /// The token `DELETE /v1/admin/tokens/{name}` withdraws.
    pub victim: String,
    /// The decision record: index and leaf hash.
    pub record: u64,
    pub leaf: String,
    pub report: u64,
    /// The envelopes the decision used (their payloads and signatures are data).
    pub envelopes: Vec<Envelope>,
}

impl World {
    pub async fn new() -> World {
        let mut fx = Fixture::new();
        let (md, approvals) = complete(MODEL, "1.0.0", 2);
        let envelopes = with(&md, &approvals);
        let d = fx
            .decide(&request(MODEL, "1.0.0", "production", &envelopes))
            .unwrap();
        assert!(d.is_allow(), "{}", findings(&d));
        let options =
            modelgate::inventory::ReportOptions::new(now(), fx.ws.production_environments());
        let report = fx.ws.inventory_report(&options, &mut |_, _| {}).unwrap();
        let report = modelgate::inventory::scheduled::generate(
            &mut fx.store,
            "weekly-governance",
            &report,
            now(),
        )
        .unwrap()
        .id;
        let signer = fx.ws.note_signer().unwrap();
        let origin = fx.ws.config().origin.clone();
        modelgate::engine::audit::checkpoint(&mut fx.store, &signer, &origin).unwrap();

        let mut file = TokenFile::load(&fx.ws.tokens_path()).unwrap();
        let tokens: Vec<(ApiRole, String, String)> = all_roles()
            .into_iter()
            .map(|role| {
                let name = format!("holder-{}", role.as_str());
                let secret = file.create(&name, role).unwrap();
                (role, name, secret)
            })
            .collect();
        let revoked = file.create("retired-ci", ApiRole::Admin).unwrap();
        file.create("victim-ci", ApiRole::Pipeline).unwrap();
        file.save(&fx.ws.tokens_path()).unwrap();

        let home = fx.dir.path();
        let secret = home.join("mlflow-webhook.secret");
        std::fs::write(&secret, WEBHOOK_SECRET).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = home.join("modelgate.toml");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str("\n[inventory.mlflow]\nwebhook_secret_path = \"mlflow-webhook.secret\"\n");
        std::fs::write(&config, text).unwrap();

        let ws = Workspace::open(home).unwrap();
        let state = Arc::new(AppState::open(ws, fx.clock.clone()).unwrap());
        let world = World {
            fx,
            state,
            tokens,
            revoked,
            victim: "victim-ci".to_owned(),
            record: d.ledger.index,
            leaf: d.ledger.leaf_hash.clone(),
            report,
            envelopes,
        };
        let admin = world.token(ApiRole::Admin).to_owned();
        let a = world
            .send(
                "DELETE",
                "/v1/admin/tokens/retired-ci",
                &[bearer(&admin)],
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        world
    }

    pub fn token(&self, role: ApiRole) -> &str {
        &self.tokens.iter().find(|t| t.0 == role).unwrap().2
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        authorization: &[HeaderValue],
        body: Option<Vec<u8>>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        for value in authorization {
            req = req.header("authorization", value.clone());
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b))
                .unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        answer(&self.state, req).await
    }

    /// The route's path with its parameters filled from the workspace's data and its required
    /// query parameters given; an unknown parameter fails loudly.
    pub fn path(&self, route: &Route) -> String {
        let size = self.fx.store.size().unwrap();
        let mut path = route
            .path
            .split('/')
            .map(|segment| match segment {
                "{index}" => self.record.to_string(),
                "{id}" => self.report.to_string(),
                "{name}" if route.path.starts_with("/v1/models/") => MODEL.to_owned(),
                "{name}" if route.path.starts_with("/v1/admin/tokens/") => self.victim.clone(),
                other if other.starts_with('{') => {
                    panic!("{route:?}: no value for the path parameter {other}; add one here")
                }
                other => other.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        let required: Vec<String> = route
            .query
            .iter()
            .filter(|(_, required, _, _)| *required)
            .map(|(name, _, _, _)| match *name {
                "old" => "old=1".to_owned(),
                "new" => format!("new={size}"),
                other => panic!("{route:?}: no value for the required query parameter {other}"),
            })
            .collect();
        if !required.is_empty() {
            path = format!("{path}?{}", required.join("&"));
        }
        path
    }

    /// A real, valid body for the route's request schema (so a refused caller sends exactly
    /// what would have worked for the right one).
    pub fn body(&self, route: &Route) -> Option<Vec<u8>> {
        let envelopes: Vec<Value> = self.envelopes.iter().map(Envelope::to_json_value).collect();
        let value = match route.request {
            Payload::Empty => return (route.method == "POST").then(Vec::new),
            Payload::Json("PromotionRequest") => {
                request(MODEL, "1.0.0", "production", &self.envelopes)
            }
            Payload::Json("AttestationFiling") => {
                json!({"model": MODEL, "version": "1.0.0", "attestations": envelopes})
            }
            Payload::Json("Freeze") => {
                json!({"environment": "production", "reason": "INC-1 exposure"})
            }
            Payload::Json("Unfreeze") => json!({"environment": "production"}),
            Payload::Json("NewToken") => json!({"name": "intruder", "role": "admin"}),
            Payload::Json("AdmissionReview") => admission_review(),
            Payload::Json("MlflowWebhookEvent") => json!({
                "entity": "model_version_alias", "action": "created",
                "data": {"name": MODEL, "alias": "production", "version": "1"},
            }),
            other => panic!("{route:?}: no request body for {other:?}; add one here"),
        };
        Some(serde_json::to_vec(&value).unwrap())
    }

    /// Strings no refusal may contain: every token secret, hash and name, the decision's leaf
    /// hash, the model, the envelopes' payloads and signatures, the webhook secret.
    pub fn data(&self) -> Vec<String> {
        let mut data = vec![
            self.leaf.clone(),
            MODEL.to_owned(),
            WEBHOOK_SECRET.to_owned(),
            self.revoked.clone(),
            sha256_hex(self.revoked.as_bytes()),
            "retired-ci".to_owned(),
            self.victim.clone(),
            self.state.engine().bundle().digest().to_owned(),
        ];
        for (_, name, secret) in &self.tokens {
            data.extend([name.clone(), secret.clone(), sha256_hex(secret.as_bytes())]);
        }
        for envelope in &self.envelopes {
            let value = envelope.to_json_value();
            data.push(value["payload"].as_str().unwrap().to_owned());
            for s in value["signatures"].as_array().unwrap() {
                data.push(s["sig"].as_str().unwrap().to_owned());
            }
        }
        data
    }
}

pub fn admission_review() -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "00000000-0000-0000-0000-00000000e4b0",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "ml-prod",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:ci:deployer"},
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": {
                "modelgate.dev/model": MODEL, "modelgate.dev/version": "1.0.0",
                "modelgate.dev/environment": "production",
            }}},
        },
    })
}

pub fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

pub fn raw(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap()
}
