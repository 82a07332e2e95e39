//! Gathering a pack from the ledger.
//!
//! Cost is in proportion to the records in scope, not to the ledger: decisions come from the
//! store's by-model index, dependencies from the per-kind index (bundle activations and key
//! changes are rare) and the freezes the decisions name, proofs from O(log n) node reads, and
//! the earlier checkpoints from one indexed lookup per distinct checkpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use super::archive::write_tar_gz;
use super::contents::Contents;
use super::derive::{derived_files, Header};
use super::manifest::{sign, CheckpointRef, Manifest};
use super::{paths, EvidenceError, Scope};
use crate::attest::{NoteVerifier, PrivateKey};
use crate::digest::parse_prefixed;
use crate::engine::bundles::load_bundle;
use crate::engine::DecisionBody;
use crate::ledger::{
    format_consistency_proof, leaf_hash, open_checkpoint, parse_record, Checkpoint, RecordKind,
    Store, StoredRecord, TlogProof,
};
use crate::metadata::SchemaKind;

/// The generator string of packs built by this binary.
pub const GENERATOR: &str = concat!("modelgate/", env!("CARGO_PKG_VERSION"));

/// A built pack: its files (path → bytes) and manifest.
#[derive(Debug, Clone)]
pub struct Pack {
    /// Every file, the manifest files included.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The manifest.
    pub manifest: Manifest,
    /// Records in the pack.
    pub records: usize,
    /// Decision records among them.
    pub decisions: usize,
}

impl Pack {
    /// Writes the pack as a deterministic `.tar.gz`.
    pub fn write_tar_gz(&self, out: impl Write) -> Result<(), EvidenceError> {
        Ok(write_tar_gz(&self.files, out)?)
    }

    /// The `.tar.gz` bytes.
    pub fn to_tar_gz(&self) -> Result<Vec<u8>, EvidenceError> {
        let mut out = Vec::new();
        self.write_tar_gz(&mut out)?;
        Ok(out)
    }
}

/// The key material a pack is signed with.
#[derive(Debug, Clone, Copy)]
pub struct PackSigner<'a> {
    /// The engine key (signs the manifest; its public half signed the checkpoints).
    pub engine_key: &'a PrivateKey,
    /// The log origin (checkpoint name).
    pub origin: &'a str,
}

/// The latest stored checkpoint if it covers the first `needed` records.
pub fn covering_checkpoint(
    store: &dyn Store,
    needed: u64,
) -> Result<Option<(u64, String)>, EvidenceError> {
    Ok(store
        .latest_checkpoint()?
        .filter(|(size, _)| *size >= needed))
}

fn inconsistent(what: String) -> EvidenceError {
    EvidenceError::Inconsistent(what)
}

/// Builds the pack for `scope` from `store`.
///
/// `checkpoint_for(needed)` supplies the signed checkpoint (size and note) the proofs are made
/// against; it must cover at least the first `needed` records (the newest record in scope).
/// Callers give the latest stored checkpoint when it covers them ([`covering_checkpoint`]) and
/// sign a new one otherwise, so that building again from an unchanged ledger uses the same one.
pub fn build_pack(
    store: &dyn Store,
    scope: &Scope,
    signer: PackSigner<'_>,
    checkpoint_for: &mut dyn FnMut(u64) -> Result<(u64, String), EvidenceError>,
) -> Result<Pack, EvidenceError> {
    let decisions = decisions_in_scope(store, scope)?;
    let Some(last) = decisions.last().map(|(r, _)| r.index) else {
        return Err(EvidenceError::NothingInScope(format!(
            "no decision about model `{}`{} is recorded{}",
            scope.model,
            scope
                .version
                .as_deref()
                .map(|v| format!(" version `{v}`"))
                .unwrap_or_default(),
            if scope.since.is_some() || scope.until.is_some() {
                " in that time window"
            } else {
                ""
            }
        )));
    };
    let (size, note) = checkpoint_for(last + 1)?;
    let verifier = NoteVerifier::new(signer.origin, signer.engine_key.public_key())
        .map_err(|e| inconsistent(format!("engine key: {e}")))?;
    let checkpoint = open_checkpoint(&note, std::slice::from_ref(&verifier), Some(signer.origin))
        .map_err(|e| inconsistent(format!("the checkpoint of size {size}: {e}")))?;
    if checkpoint.size != size || size <= last {
        return Err(inconsistent(format!(
            "the checkpoint of size {} does not cover record {last}",
            checkpoint.size
        )));
    }

    let mut records: BTreeMap<u64, StoredRecord> = BTreeMap::new();
    let mut blobs: BTreeSet<String> = BTreeSet::new();
    let mut inputs: BTreeSet<String> = BTreeSet::new();
    let mut bundles: BTreeSet<String> = BTreeSet::new();
    let mut freezes: BTreeSet<u64> = BTreeSet::new();
    for (stored, body) in &decisions {
        blobs.extend(body.attestations.iter().map(|a| a.digest.clone()));
        blobs.extend(body.approvals.iter().map(|a| a.attestation.clone()));
        blobs.extend(body.waivers.iter().map(|w| w.attestation.clone()));
        inputs.insert(body.input_digest.clone());
        bundles.insert(body.bundle_digest.clone());
        freezes.extend(body.freeze.as_ref().map(|f| f.record));
        records.insert(stored.index, stored.clone());
    }
    add_dependencies(store, &decisions, &freezes, last, &mut records)?;

    let mut files = BTreeMap::new();
    files.insert(paths::CHECKPOINT.to_owned(), note.clone().into_bytes());
    for (index, stored) in &records {
        files.insert(paths::record(*index), stored.bytes.clone());
        let proof = TlogProof {
            extra: None,
            index: *index,
            hashes: store.inclusion_proof(*index, size)?,
            checkpoint: note.clone(),
        };
        files.insert(paths::proof(*index), proof.to_text().into_bytes());
    }
    add_consistency(store, &records, size, &mut files)?;
    for digest in &blobs {
        files.insert(
            paths::attestation(hex_of(digest)?),
            blob(store, digest, "attestation")?,
        );
    }
    for digest in &inputs {
        files.insert(
            paths::input(hex_of(digest)?),
            blob(store, digest, "policy input")?,
        );
    }
    for digest in &bundles {
        let bundle = load_bundle(store, digest)?;
        for f in bundle.files() {
            files.insert(paths::policy(hex_of(digest)?, &f.name), f.bytes.clone());
        }
    }
    for kind in SchemaKind::ALL {
        files.insert(
            paths::schema(kind.file_name()),
            kind.source().as_bytes().to_vec(),
        );
    }
    let public = signer.engine_key.public_key();
    files.insert(
        paths::ENGINE_PEM.to_owned(),
        public.to_spki_pem().into_bytes(),
    );
    files.insert(
        paths::ENGINE_VKEY.to_owned(),
        format!("{}\n", verifier.to_vkey()).into_bytes(),
    );

    finish(files, scope, &checkpoint, signer)
}

/// Derives the summary files from the gathered material, then lists and signs everything.
fn finish(
    mut files: BTreeMap<String, Vec<u8>>,
    scope: &Scope,
    checkpoint: &Checkpoint,
    signer: PackSigner<'_>,
) -> Result<Pack, EvidenceError> {
    let (contents, problems) = Contents::read(&files);
    if let Some(problem) = problems.first() {
        return Err(inconsistent(problem.clone()));
    }
    let header = Header {
        scope,
        generator: GENERATOR,
        checkpoint,
    };
    files.extend(derived_files(header, &contents).map_err(inconsistent)?);
    let manifest = Manifest::new(
        scope,
        GENERATOR,
        CheckpointRef {
            origin: checkpoint.origin.clone(),
            size: checkpoint.size,
        },
        &files,
    );
    let manifest_bytes = manifest.to_bytes().map_err(inconsistent)?;
    let dsse = sign(&manifest, &manifest_bytes, signer.engine_key).map_err(inconsistent)?;
    files.insert(super::paths::MANIFEST.to_owned(), manifest_bytes);
    files.insert(super::paths::MANIFEST_DSSE.to_owned(), dsse);
    Ok(Pack {
        files,
        manifest,
        records: contents.records.len(),
        decisions: contents.decisions.len(),
    })
}

/// The decision records about the scope's model (and version) in its time window, each with
/// its bytes re-checked against its leaf hash.
fn decisions_in_scope(
    store: &dyn Store,
    scope: &Scope,
) -> Result<Vec<(StoredRecord, DecisionBody)>, EvidenceError> {
    let mut out = Vec::new();
    for stored in store.decisions_for_model(&scope.model)? {
        if leaf_hash(&stored.bytes) != stored.leaf_hash {
            return Err(inconsistent(format!(
                "record {} does not hash to its stored leaf hash",
                stored.index
            )));
        }
        let record = parse_record(&stored.bytes)?;
        if record.kind != RecordKind::Decision || record.index != stored.index {
            return Err(inconsistent(format!(
                "record {} is filed as a decision but its bytes disagree",
                stored.index
            )));
        }
        let body: DecisionBody = serde_json::from_value(record.body).map_err(|e| {
            inconsistent(format!("record {} is not a v1 decision: {e}", stored.index))
        })?;
        if body.request.model != scope.model || !scope.covers(&body.request.version, &record.time) {
            continue;
        }
        out.push((stored, body));
    }
    Ok(out)
}

/// Adds the records the decisions depend on: every key change before the last decision (the
/// trust history they were verified against), for each bundle the latest activation before
/// the first decision that used it, and the freezes the decisions name.
fn add_dependencies(
    store: &dyn Store,
    decisions: &[(StoredRecord, DecisionBody)],
    freezes: &BTreeSet<u64>,
    last: u64,
    records: &mut BTreeMap<u64, StoredRecord>,
) -> Result<(), EvidenceError> {
    for stored in store.records_of_kind(RecordKind::KeyChange)? {
        if stored.index < last {
            records.insert(stored.index, stored);
        }
    }
    let activations: Vec<(u64, String, StoredRecord)> = store
        .records_of_kind(RecordKind::BundleActivation)?
        .into_iter()
        .map(|stored| {
            let record = parse_record(&stored.bytes)?;
            let digest = record
                .body
                .get("bundle_digest")
                .and_then(|d| d.as_str())
                .unwrap_or_default()
                .to_owned();
            Ok((stored.index, digest, stored))
        })
        .collect::<Result<_, EvidenceError>>()?;
    for (stored, body) in decisions {
        let activation = activations
            .iter()
            .rev()
            .find(|(i, d, _)| *i < stored.index && *d == body.bundle_digest);
        if let Some((i, _, a)) = activation {
            records.entry(*i).or_insert_with(|| a.clone());
        }
    }
    for index in freezes {
        let stored = store.record(*index)?.ok_or_else(|| {
            inconsistent(format!(
                "the freeze record {index} a decision names is missing"
            ))
        })?;
        records.insert(*index, stored);
    }
    Ok(())
}

/// For each record, the first stored checkpoint that covered it; for each such checkpoint
/// smaller than `size`, the checkpoint itself and the consistency proof from it to `size`.
fn add_consistency(
    store: &dyn Store,
    records: &BTreeMap<u64, StoredRecord>,
    size: u64,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), EvidenceError> {
    let mut covered_below = 0u64;
    for index in records.keys() {
        if *index < covered_below {
            continue;
        }
        let Some((old, note)) = store.first_checkpoint_after(*index)? else {
            break;
        };
        if old >= size {
            break;
        }
        covered_below = old;
        files.insert(paths::old_checkpoint(old), note.into_bytes());
        let proof = store.consistency_proof(old, size)?;
        files.insert(
            paths::consistency(old, size),
            format_consistency_proof(&proof).into_bytes(),
        );
    }
    Ok(())
}

fn hex_of(digest: &str) -> Result<&str, EvidenceError> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if parse_prefixed(digest).is_some() => Ok(hex),
        _ => Err(inconsistent(format!("`{digest}` is not a sha256 digest"))),
    }
}

fn blob(store: &dyn Store, digest: &str, what: &str) -> Result<Vec<u8>, EvidenceError> {
    store.attestation(digest)?.ok_or_else(|| {
        inconsistent(format!(
            "the {what} `{digest}` a decision names is not stored"
        ))
    })
}
