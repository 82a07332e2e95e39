//! `manifest.json` (every other file with its size and SHA-256) and `manifest.dsse.json` (a DSSE
//! envelope over an in-toto Statement v1 whose subjects are `manifest.json` and every listed
//! file, signed with the engine key).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{paths, Scope, MANIFEST_PREDICATE, PACK_VERSION};
use crate::attest::{
    pae, Envelope, PrivateKey, PublicKey, Statement, Subject, IN_TOTO_PAYLOAD_TYPE,
};
use crate::canonical::canonical_bytes;
use crate::digest::sha256_hex;

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`PACK_VERSION`].
    pub version: u64,
    /// The tool that built the pack, `modelgate/<version>`.
    pub generator: String,
    /// The model the pack is about.
    pub model: String,
    /// The scope it was built for.
    pub scope: Scope,
    /// The checkpoint every proof is relative to: its origin and size.
    pub checkpoint: CheckpointRef,
    /// Every file of the pack except the two manifest files, sorted by path.
    pub files: Vec<FileEntry>,
}

/// Which checkpoint a pack's proofs are relative to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRef {
    /// The log origin (first line of the checkpoint).
    pub origin: String,
    /// The tree size.
    pub size: u64,
}

/// One listed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Path inside the archive.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the contents.
    pub sha256: String,
}

impl Manifest {
    /// The manifest listing `files` (which must not hold the manifest files themselves).
    pub fn new(
        scope: &Scope,
        generator: &str,
        checkpoint: CheckpointRef,
        files: &BTreeMap<String, Vec<u8>>,
    ) -> Manifest {
        Manifest {
            version: PACK_VERSION,
            generator: generator.to_owned(),
            model: scope.model.clone(),
            scope: scope.clone(),
            checkpoint,
            files: files
                .iter()
                .map(|(path, bytes)| FileEntry {
                    path: path.clone(),
                    size: bytes.len() as u64,
                    sha256: sha256_hex(bytes),
                })
                .collect(),
        }
    }

    /// Its bytes: RFC 8785 canonical JSON.
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        canonical_bytes(self).map_err(|e| e.to_string())
    }

    /// The statement the engine signs: subjects `manifest.json` and every listed file.
    pub fn statement(&self, manifest_bytes: &[u8]) -> Statement {
        let mut subjects = vec![Subject::with_sha256(
            paths::MANIFEST,
            sha256_hex(manifest_bytes),
        )];
        subjects.extend(
            self.files
                .iter()
                .map(|f| Subject::with_sha256(f.path.clone(), f.sha256.clone())),
        );
        Statement::new(subjects, MANIFEST_PREDICATE, self.predicate())
    }

    fn predicate(&self) -> Value {
        json!({
            "version": self.version,
            "generator": self.generator,
            "model": self.model,
            "scope": self.scope,
            "checkpoint": self.checkpoint,
        })
    }
}

/// Signs the statement over `manifest_bytes` with `key`: the bytes of `manifest.dsse.json`.
pub fn sign(
    manifest: &Manifest,
    manifest_bytes: &[u8],
    key: &PrivateKey,
) -> Result<Vec<u8>, String> {
    let payload = manifest.statement(manifest_bytes).to_payload();
    let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, payload, key);
    crate::canonical::to_canonical_vec(&envelope.to_json_value()).map_err(|e| e.to_string())
}

/// Checks `manifest.dsse.json` against the manifest and `key`: some signature verifies under
/// `key`, the payload is an in-toto statement of [`MANIFEST_PREDICATE`] whose subjects are
/// exactly `manifest.json` and the listed files with their digests, and whose predicate repeats
/// the manifest header. Returns what is wrong.
pub fn check_signature(
    dsse: &[u8],
    manifest: &Manifest,
    manifest_bytes: &[u8],
    key: &PublicKey,
) -> Result<(), String> {
    let env = Envelope::from_json(dsse).map_err(|e| format!("not a DSSE envelope: {e}"))?;
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(format!(
            "payloadType is `{}`, expected `{IN_TOTO_PAYLOAD_TYPE}`",
            env.payload_type
        ));
    }
    let msg = pae(&env.payload_type, &env.payload);
    if !env
        .signatures
        .iter()
        .any(|s| key.verify_strict(&msg, &s.sig).is_ok())
    {
        return Err(format!(
            "no signature verifies under the engine key {} ({} signature(s) present)",
            key.key_id(),
            env.signatures.len()
        ));
    }
    let statement = Statement::from_payload(&env.payload).map_err(|e| format!("payload: {e}"))?;
    let expected = manifest.statement(manifest_bytes);
    if statement.predicate_type != MANIFEST_PREDICATE {
        return Err(format!(
            "predicateType is `{}`, expected `{MANIFEST_PREDICATE}`",
            statement.predicate_type
        ));
    }
    let listed = |s: &Statement| -> BTreeMap<String, Option<String>> {
        s.subject
            .iter()
            .map(|x| (x.name.clone(), x.sha256().map(str::to_owned)))
            .collect()
    };
    let (signed, wanted) = (listed(&statement), listed(&expected));
    if let Some((name, _)) = wanted.iter().find(|(n, d)| signed.get(*n) != Some(*d)) {
        return Err(format!(
            "the signed statement does not cover `{name}` with its current digest"
        ));
    }
    if let Some(name) = signed.keys().find(|n| !wanted.contains_key(*n)) {
        return Err(format!(
            "the signed statement names `{name}`, which the manifest does not list"
        ));
    }
    if statement.subject.len() != signed.len() {
        return Err("the signed statement names a subject twice".into());
    }
    if statement.predicate != expected.predicate {
        return Err(
            "the signed predicate (model, scope, checkpoint) differs from manifest.json".into(),
        );
    }
    Ok(())
}
