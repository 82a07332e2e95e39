//! The mixed workload every in-process figure uses: for each of tiers 0, 1 and 2 a complete
//! request to production (allowed, 3–4 signed envelopes) and the same without its approvals
//! (denied, 1 envelope), against the reference bundle and a trust store of five keys (the test
//! fixture's workspace), plus everything the floors need about each request, prepared once.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use ed25519_dalek::{Signature, VerifyingKey};
use modelgate::attest::{pae, Envelope, TrustStore, PREDICATE_APPROVAL, PREDICATE_MODEL_METADATA};
use modelgate::engine::load_trust;
use modelgate::ledger::Store as _;
use serde_json::Value;

use crate::cedar_alone::{CedarAlone, CedarJson};
use crate::common::{mixed_requests, Fixture};

/// The repository root (policies, schemas, docs).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The JSON Schemas the engine validates a request against, compiled by `jsonschema` alone.
pub struct Validators {
    /// `promotion-request.v1`.
    pub request: jsonschema::Validator,
    /// `model-metadata.v1`.
    pub metadata: jsonschema::Validator,
    /// `approval.v1`.
    pub approval: jsonschema::Validator,
}

fn compile(name: &str) -> Result<jsonschema::Validator> {
    let path = repo_root().join("schemas").join(name);
    let doc: Value = serde_json::from_slice(&std::fs::read(&path)?)
        .with_context(|| format!("{}", path.display()))?;
    jsonschema::draft202012::new(&doc).map_err(|e| anyhow::anyhow!("{name}: {e}"))
}

impl Validators {
    /// Compiles the three schemas.
    pub fn compile() -> Result<Validators> {
        Ok(Validators {
            request: compile("promotion-request.v1.schema.json")?,
            metadata: compile("model-metadata.v1.schema.json")?,
            approval: compile("approval.v1.schema.json")?,
        })
    }
}

/// Which schema a document is validated against.
#[derive(Debug, Clone, Copy)]
pub enum Doc {
    /// The request itself.
    Request,
    /// A model-metadata predicate.
    Metadata,
    /// An approval predicate.
    Approval,
}

/// One request of the mix and what its floors need.
pub struct Item {
    /// The request bytes.
    pub bytes: Vec<u8>,
    /// Whether the reference bundle allows it.
    pub allow: bool,
    /// Per signature: the key, the signature and the PAE bytes it signs.
    pub signatures: Vec<SignatureFloor>,
    /// The documents validated (the request and each predicate), parsed.
    pub documents: Vec<(Doc, Value)>,
    /// The policy input the engine derived (modelgate's `PolicyInput` as JSON).
    pub input: Value,
    /// The same input in Cedar's JSON formats.
    pub cedar: CedarJson,
    /// The decision record's bytes as the ledger holds them.
    pub record: Vec<u8>,
}

/// The workload: a fixture workspace and the six requests.
pub struct Workload {
    /// The workspace (SQLite ledger in a temporary directory, reference bundle, five keys).
    pub fixture: Fixture,
    /// The trust store the judgements use.
    pub trust: TrustStore,
    /// The six requests.
    pub items: Vec<Item>,
}

fn persona_keys() -> Vec<VerifyingKey> {
    (1u8..=5)
        .map(|seed| ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key())
        .collect()
}

/// Per signature: the key, the signature and the PAE bytes it signs.
pub type SignatureFloor = (VerifyingKey, Signature, Vec<u8>);

/// What the floors need from one request: its signatures and its documents.
type Parts = (Vec<SignatureFloor>, Vec<(Doc, Value)>);

fn signatures(request: &Value) -> Result<Parts> {
    let keys = persona_keys();
    let mut sigs = Vec::new();
    let mut docs = vec![(Doc::Request, request.clone())];
    for a in request["attestations"].as_array().context("attestations")? {
        let env = Envelope::from_value(a).map_err(|e| anyhow::anyhow!("{e}"))?;
        let message = pae(&env.payload_type, &env.payload);
        for s in &env.signatures {
            let sig = Signature::from_slice(&s.sig).context("signature bytes")?;
            let Some(key) = keys
                .iter()
                .find(|k| k.verify_strict(&message, &sig).is_ok())
            else {
                bail!("a workload signature verifies under none of the persona keys");
            };
            sigs.push((*key, sig, message.clone()));
        }
        let statement: Value = serde_json::from_slice(&env.payload)?;
        let doc = match statement["predicateType"].as_str() {
            Some(PREDICATE_MODEL_METADATA) => Doc::Metadata,
            Some(PREDICATE_APPROVAL) => Doc::Approval,
            other => bail!("unexpected predicate type {other:?}"),
        };
        docs.push((doc, statement["predicate"].clone()));
    }
    Ok((sigs, docs))
}

impl Workload {
    /// A fresh fixture and the six requests, each decided once (to read its record).
    pub fn new() -> Result<Workload> {
        let mut fixture = Fixture::new();
        let trust = load_trust(&*fixture.store)?;
        let mut items = Vec::new();
        for bytes in mixed_requests() {
            let value: Value = serde_json::from_slice(&bytes)?;
            let (signatures, documents) = signatures(&value)?;
            let judgement = fixture.engine.judge(&trust, &bytes)?;
            let input = serde_json::to_value(&judgement.input)?;
            let cedar = CedarAlone::to_cedar_json(&input)?;
            let decision = fixture.decide_bytes(&bytes)?;
            let record = fixture
                .store
                .record(decision.ledger.index)?
                .context("the decision's record")?
                .bytes;
            items.push(Item {
                bytes,
                allow: decision.is_allow(),
                signatures,
                documents,
                input,
                cedar,
                record,
            });
        }
        let allows = items.iter().filter(|i| i.allow).count();
        if allows != 3 {
            bail!("the workload should hold 3 allows and 3 denies, found {allows} allows");
        }
        Ok(Workload {
            fixture,
            trust,
            items,
        })
    }
}
