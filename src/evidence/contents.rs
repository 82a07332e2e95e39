//! A pack's material read back into typed values: what [`super::derive`] renders from and what
//! [`super::verify`] checks. Built the same way from freshly gathered files ([`super::build`])
//! and from an archive, so that building and verifying cannot disagree about what a file means.

use std::collections::BTreeMap;
use std::path::Path;

use super::paths;
use crate::canonical::is_canonical;
use crate::digest::sha256_hex;
use crate::engine::DecisionBody;
use crate::ledger::{parse_record, Record, RecordKind};
use crate::policy::input::PolicyInput;
use crate::policy::PolicyBundle;

/// One record of the pack: its parsed form and its exact bytes.
#[derive(Debug, Clone)]
pub struct PackRecord {
    /// The parsed record.
    pub record: Record,
    /// Its bytes, exactly as the ledger stores them.
    pub bytes: Vec<u8>,
}

/// A decision record of the pack.
#[derive(Debug, Clone)]
pub struct PackDecision {
    /// Its ledger index.
    pub index: u64,
    /// Its record time.
    pub time: String,
    /// Its body.
    pub body: DecisionBody,
}

/// The typed material of a pack.
#[derive(Debug, Default)]
pub struct Contents {
    /// Records by index.
    pub records: BTreeMap<u64, PackRecord>,
    /// The decision records, by index.
    pub decisions: Vec<PackDecision>,
    /// Policy bundles by digest (`sha256:<hex>`), rebuilt and strictly validated.
    pub bundles: BTreeMap<String, PolicyBundle>,
    /// Attestation envelopes by digest (`sha256:<hex>`), bytes as received.
    pub attestations: BTreeMap<String, Vec<u8>>,
    /// Policy inputs by digest (`sha256:<hex>`).
    pub inputs: BTreeMap<String, PolicyInput>,
}

impl Contents {
    /// Reads the material out of `files` (path → bytes). Every file that does not read back is
    /// a problem naming it; the rest is returned, so that a verifier reports all problems.
    pub fn read(files: &BTreeMap<String, Vec<u8>>) -> (Contents, Vec<String>) {
        let mut c = Contents::default();
        let mut problems = Vec::new();
        let mut bundle_files: BTreeMap<&str, Vec<(String, Vec<u8>)>> = BTreeMap::new();
        for (path, bytes) in files {
            if let Some(name) = path.strip_prefix("records/") {
                match read_record(name, bytes) {
                    Ok(r) => {
                        c.records.insert(r.record.index, r);
                    }
                    Err(e) => problems.push(format!("{path}: {e}")),
                }
            } else if let Some(name) = path.strip_prefix("attestations/") {
                match digest_named(name, ".json", bytes) {
                    Ok(digest) => {
                        c.attestations.insert(digest, bytes.clone());
                    }
                    Err(e) => problems.push(format!("{path}: {e}")),
                }
            } else if let Some(name) = path.strip_prefix("inputs/") {
                let input = digest_named(name, ".json", bytes).and_then(|digest| {
                    serde_json::from_slice::<PolicyInput>(bytes)
                        .map(|input| (digest, input))
                        .map_err(|e| format!("not a policy input: {e}"))
                });
                match input {
                    Ok((digest, input)) => {
                        c.inputs.insert(digest, input);
                    }
                    Err(e) => problems.push(format!("{path}: {e}")),
                }
            } else if let Some(rest) = path.strip_prefix("policies/") {
                match rest.split_once('/') {
                    Some((hex, name)) if !name.contains('/') => bundle_files
                        .entry(hex)
                        .or_default()
                        .push((name.to_owned(), bytes.clone())),
                    _ => problems.push(format!(
                        "{path}: policy files sit at policies/<bundle sha256>/<file>"
                    )),
                }
            }
        }
        for (hex, files) in bundle_files {
            let digest = format!("sha256:{hex}");
            match PolicyBundle::from_files(Path::new(&digest), files) {
                Ok(bundle) if bundle.digest() == digest => {
                    c.bundles.insert(digest, bundle);
                }
                Ok(bundle) => problems.push(format!(
                    "policies/{hex}/: the files make bundle `{}`, not `{digest}`",
                    bundle.digest()
                )),
                Err(e) => problems.push(format!("policies/{hex}/: {e}")),
            }
        }
        for r in c.records.values() {
            if r.record.kind != RecordKind::Decision {
                continue;
            }
            match serde_json::from_value::<DecisionBody>(r.record.body.clone()) {
                Ok(body) => c.decisions.push(PackDecision {
                    index: r.record.index,
                    time: r.record.time.clone(),
                    body,
                }),
                Err(e) => problems.push(format!(
                    "{}: not a v1 decision: {e}",
                    paths::record(r.record.index)
                )),
            }
        }
        (c, problems)
    }

    /// The records of `kind`, by index.
    pub fn of_kind(&self, kind: RecordKind) -> impl Iterator<Item = &PackRecord> {
        self.records.values().filter(move |r| r.record.kind == kind)
    }

    /// The time of the newest record in the pack (the pack's "as of"), if any.
    pub fn as_of(&self) -> Option<&str> {
        self.records.values().map(|r| r.record.time.as_str()).max()
    }
}

fn read_record(name: &str, bytes: &[u8]) -> Result<PackRecord, String> {
    let index = name
        .strip_suffix(".json")
        .and_then(parse_index)
        .ok_or("record files are named <index>.json")?;
    if !is_canonical(bytes) {
        return Err("not the canonical (RFC 8785) bytes a ledger record has".into());
    }
    let record = parse_record(bytes).map_err(|e| e.to_string())?;
    if record.index != index {
        return Err(format!("the record says index {}", record.index));
    }
    Ok(PackRecord {
        record,
        bytes: bytes.to_vec(),
    })
}

/// Checks that `name` is `<hex of sha256(bytes)><ext>` and returns `sha256:<hex>`.
fn digest_named(name: &str, ext: &str, bytes: &[u8]) -> Result<String, String> {
    let hex = name
        .strip_suffix(ext)
        .ok_or_else(|| format!("expected a `<sha256>{ext}` name"))?;
    let actual = sha256_hex(bytes);
    if hex != actual {
        return Err(format!(
            "the contents hash to {actual}, not to the name's digest"
        ));
    }
    Ok(format!("sha256:{hex}"))
}

/// ASCII decimal without sign or leading zeros, as the ledger's text formats write indices.
pub fn parse_index(s: &str) -> Option<u64> {
    crate::ledger::checkpoint::parse_decimal(s).ok()
}
