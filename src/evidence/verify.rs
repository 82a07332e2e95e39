//! Offline verification of a pack: nothing but its bytes and, optionally, a pinned key.
//!
//! The checks, in order (each named in the outcome; a failure names the file, record or
//! check):
//!
//! 1. `archive` — a readable `.tar.gz` with no hostile entries ([`super::archive`]);
//! 2. `manifest` — `manifest.json` reads as version 1, files sorted and unique;
//! 3. `files` — every listed file present with its size and SHA-256, nothing unlisted;
//! 4. `key` — the engine key: the pinned `--vkey`, or `keys/engine.vkey` from the pack (said
//!    so); `keys/engine.pub.pem` must be the same key;
//! 5. `signature` — `manifest.dsse.json` verifies under that key and covers exactly the files;
//! 6. `checkpoint` — signed by that key under its origin, the size the manifest names;
//! 7. `material` — records canonical and at their index, attestations and inputs under their
//!    digests, bundles rebuild to their digests;
//! 8. `inclusion` — every record has a proof against `checkpoint`, every proof a record;
//! 9. `consistency` — each earlier checkpoint verifies and is consistent with `checkpoint`;
//! 10. `scope` — every decision is about the manifest's model (and version) in its window;
//! 11. `dependencies` — each decision's bundle (and its activation record), input and
//!     attestations are in the pack;
//! 12. `attestations` — every attestation a decision counted verifies under the trust history
//!     of the pack's key-change records at the decision's time, and every counted approval was
//!     signed by its approver in its role;
//! 13. `replay` — every decision re-evaluates to the recorded outcome, reasons, warnings and
//!     shadow outcomes with its bundle, input and waivers;
//! 14. `derived` — `keys/trust.json`, `inventory.json` and the summaries are exactly what the
//!     material gives.

use std::collections::BTreeMap;

use serde::Serialize;

mod decisions;
mod proofs;

use decisions::{check_attestations, check_dependencies, check_replay, check_scope};
use proofs::{check_consistency, check_inclusion};

use super::archive::read_tar_gz;
use super::contents::Contents;
use super::derive::{derived_files, Header};
use super::manifest::{check_signature, Manifest};
use super::{paths, PACK_VERSION};
use crate::attest::{NoteVerifier, PublicKey};
use crate::digest::sha256_hex;
use crate::ledger::{open_checkpoint, Checkpoint};

/// The `schema` of the JSON verification report.
pub const VERIFY_SCHEMA: &str = "https://modelgate.dev/evidence-verify/v1";

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The check's name (see the module docs).
    pub check: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was checked, or what is wrong (naming the file, record or check).
    pub detail: String,
}

/// Where the key the pack was checked against came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// Pinned by the caller (`--vkey`).
    Given,
    /// Taken from the pack itself (`keys/engine.vkey`): proves integrity, not origin.
    Pack,
}

/// The outcome of verifying a pack.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyOutcome {
    /// Always [`VERIFY_SCHEMA`].
    pub schema: &'static str,
    /// Whether every check passed.
    pub ok: bool,
    /// Where the engine key came from (`None` when it could not be determined).
    pub key_source: Option<KeySource>,
    /// The verifier key used, as a C2SP vkey.
    pub vkey: Option<String>,
    /// The model, from the manifest.
    pub model: Option<String>,
    /// Records and decisions in the pack.
    pub records: usize,
    /// Decision records among them.
    pub decisions: usize,
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl VerifyOutcome {
    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }
}

pub(super) struct Run {
    checks: Vec<Check>,
}

impl Run {
    /// Records `failures` under `check`, or one passing entry saying `passed`.
    pub(super) fn step(
        &mut self,
        check: &'static str,
        failures: Vec<String>,
        passed: impl FnOnce() -> String,
    ) -> bool {
        if failures.is_empty() {
            self.checks.push(Check {
                check,
                ok: true,
                detail: passed(),
            });
            true
        } else {
            self.checks.extend(failures.into_iter().map(|detail| Check {
                check,
                ok: false,
                detail,
            }));
            false
        }
    }

    pub(super) fn fail(&mut self, check: &'static str, detail: String) {
        self.checks.push(Check {
            check,
            ok: false,
            detail,
        });
    }
}

/// Verifies the pack in `archive` (its `.tar.gz` bytes), against `vkey` when given.
pub fn verify_pack(archive: &[u8], vkey: Option<&str>) -> VerifyOutcome {
    let mut run = Run { checks: Vec::new() };
    let mut out = VerifyOutcome {
        schema: VERIFY_SCHEMA,
        ok: false,
        key_source: None,
        vkey: None,
        model: None,
        records: 0,
        decisions: 0,
        checks: Vec::new(),
    };
    check_pack(archive, vkey, &mut run, &mut out);
    out.ok = !run.checks.is_empty() && run.checks.iter().all(|c| c.ok);
    out.checks = run.checks;
    out
}

fn check_pack(archive: &[u8], vkey: Option<&str>, run: &mut Run, out: &mut VerifyOutcome) {
    let files = match read_tar_gz(archive) {
        Ok(files) => files,
        Err(e) => return run.fail("archive", e.to_string()),
    };
    run.step("archive", Vec::new(), || {
        format!(
            "{} regular files, no links, devices or unsafe paths",
            files.len()
        )
    });
    let Some((manifest, manifest_bytes)) = read_manifest(&files, run) else {
        return;
    };
    out.model = Some(manifest.model.clone());
    check_files(&files, &manifest, run);
    let Some(verifier) = pick_key(&files, vkey, run, out) else {
        return;
    };
    let signature = files
        .get(paths::MANIFEST_DSSE)
        .ok_or_else(|| format!("{} is missing", paths::MANIFEST_DSSE))
        .and_then(|dsse| check_signature(dsse, &manifest, &manifest_bytes, verifier.public_key()));
    run.step(
        "signature",
        signature
            .err()
            .map(|e| format!("{}: {e}", paths::MANIFEST_DSSE))
            .into_iter()
            .collect(),
        || {
            format!(
                "{} is signed by the engine key over manifest.json and all {} listed files",
                paths::MANIFEST_DSSE,
                manifest.files.len()
            )
        },
    );
    let Some((checkpoint, note)) = read_checkpoint(&files, &manifest, &verifier, run) else {
        return;
    };
    let (contents, problems) = Contents::read(&files);
    out.records = contents.records.len();
    out.decisions = contents.decisions.len();
    run.step("material", problems, || {
        format!(
            "{} records canonical at their index, {} attestations and {} inputs under their digests, {} bundles rebuild to their digests",
            contents.records.len(), contents.attestations.len(), contents.inputs.len(), contents.bundles.len()
        )
    });
    check_inclusion(&files, &contents, &note, &verifier, run);
    check_consistency(&files, &checkpoint, &verifier, run);
    check_scope(&manifest, &contents, run);
    check_dependencies(&contents, run);
    check_attestations(&contents, run);
    check_replay(&contents, run);
    let header = Header {
        scope: &manifest.scope,
        generator: &manifest.generator,
        checkpoint: &checkpoint,
    };
    let failures = match derived_files(header, &contents) {
        Ok(derived) => derived
            .iter()
            .filter(|(path, bytes)| files.get(*path) != Some(*bytes))
            .map(|(path, _)| {
                format!("{path} is not what the pack's records, bundles and inputs give")
            })
            .collect(),
        Err(e) => vec![e],
    };
    run.step("derived", failures, || {
        "keys/trust.json, inventory.json, summary.md and summary.html re-derive byte for byte"
            .into()
    });
}

fn read_manifest(files: &BTreeMap<String, Vec<u8>>, run: &mut Run) -> Option<(Manifest, Vec<u8>)> {
    let Some(bytes) = files.get(paths::MANIFEST) else {
        run.fail("manifest", format!("{} is missing", paths::MANIFEST));
        return None;
    };
    let manifest: Manifest = match serde_json::from_slice(bytes) {
        Ok(m) => m,
        Err(e) => {
            run.fail("manifest", format!("{}: {e}", paths::MANIFEST));
            return None;
        }
    };
    let mut failures = Vec::new();
    if manifest.version != PACK_VERSION {
        failures.push(format!(
            "{}: version {} (this verifier reads {PACK_VERSION})",
            paths::MANIFEST,
            manifest.version
        ));
    }
    if manifest.model != manifest.scope.model {
        failures.push(format!("{}: model and scope.model differ", paths::MANIFEST));
    }
    if !manifest.files.windows(2).all(|w| w[0].path < w[1].path) {
        failures.push(format!(
            "{}: files are not sorted by path without repeats",
            paths::MANIFEST
        ));
    }
    let ok = run.step("manifest", failures, || {
        format!(
            "{} version {PACK_VERSION} for model `{}`, {} files listed",
            paths::MANIFEST,
            manifest.model,
            manifest.files.len()
        )
    });
    ok.then_some((manifest, bytes.clone()))
}

fn check_files(files: &BTreeMap<String, Vec<u8>>, manifest: &Manifest, run: &mut Run) {
    let mut failures = Vec::new();
    for f in &manifest.files {
        if f.path == paths::MANIFEST || f.path == paths::MANIFEST_DSSE {
            failures.push(format!("{}: the manifest lists itself", f.path));
            continue;
        }
        match files.get(&f.path) {
            None => failures.push(format!("{}: listed in the manifest but missing", f.path)),
            Some(b) if b.len() as u64 != f.size => failures.push(format!(
                "{}: {} bytes, the manifest says {}",
                f.path,
                b.len(),
                f.size
            )),
            Some(b) if sha256_hex(b) != f.sha256 => failures.push(format!(
                "{}: SHA-256 {} differs from the manifest's {}",
                f.path,
                sha256_hex(b),
                f.sha256
            )),
            Some(_) => {}
        }
    }
    let listed: std::collections::BTreeSet<&str> =
        manifest.files.iter().map(|f| f.path.as_str()).collect();
    for path in files.keys().filter(|p| !paths::is_known(p)) {
        failures.push(format!(
            "{path}: not a file an evidence pack holds (docs/evidence.md)"
        ));
    }
    for path in files.keys() {
        if path != paths::MANIFEST
            && path != paths::MANIFEST_DSSE
            && !listed.contains(path.as_str())
        {
            failures.push(format!("{path}: in the archive but not in the manifest"));
        }
    }
    run.step("files", failures, || {
        format!(
            "all {} listed files present with their size and SHA-256, none unlisted",
            manifest.files.len()
        )
    });
}

fn pick_key(
    files: &BTreeMap<String, Vec<u8>>,
    vkey: Option<&str>,
    run: &mut Run,
    out: &mut VerifyOutcome,
) -> Option<NoteVerifier> {
    let in_pack = files
        .get(paths::ENGINE_VKEY)
        .map(|b| String::from_utf8_lossy(b).trim_end_matches('\n').to_owned());
    let (text, source) = match (vkey, &in_pack) {
        (Some(v), _) => (v.trim().to_owned(), KeySource::Given),
        (None, Some(p)) => (p.clone(), KeySource::Pack),
        (None, None) => {
            run.fail(
                "key",
                format!("no --vkey given and {} is missing", paths::ENGINE_VKEY),
            );
            return None;
        }
    };
    let verifier = match NoteVerifier::from_vkey(&text) {
        Ok(v) => v,
        Err(e) => {
            run.fail(
                "key",
                format!(
                    "the {} vkey does not parse: {e}",
                    if source == KeySource::Given {
                        "given"
                    } else {
                        "pack's"
                    }
                ),
            );
            return None;
        }
    };
    out.key_source = Some(source.clone());
    out.vkey = Some(verifier.to_vkey());
    let mut failures = Vec::new();
    if source == KeySource::Given && in_pack.as_deref() != Some(verifier.to_vkey().as_str()) {
        failures.push(format!(
            "{} is not the key given with --vkey",
            paths::ENGINE_VKEY
        ));
    }
    let pem = files
        .get(paths::ENGINE_PEM)
        .map(|b| String::from_utf8_lossy(b).into_owned());
    match pem.as_deref().map(PublicKey::from_spki_pem) {
        Some(Ok(k)) if k.raw() == verifier.public_key().raw() => {}
        Some(Ok(_)) => failures.push(format!(
            "{} is a different key from the vkey",
            paths::ENGINE_PEM
        )),
        Some(Err(e)) => failures.push(format!("{}: {e}", paths::ENGINE_PEM)),
        None => failures.push(format!("{} is missing", paths::ENGINE_PEM)),
    }
    let key_id = verifier.public_key().key_id();
    run.step("key", failures, || match source {
        KeySource::Given => format!("the given key `{}` (key id {key_id}), also the one in the pack", verifier.name()),
        KeySource::Pack => format!(
            "the key inside the pack (`{}`, key id {key_id}): this proves the pack is intact, not who made it; pin the operator's published key with --vkey",
            verifier.name()
        ),
    });
    Some(verifier)
}

fn read_checkpoint(
    files: &BTreeMap<String, Vec<u8>>,
    manifest: &Manifest,
    verifier: &NoteVerifier,
    run: &mut Run,
) -> Option<(Checkpoint, String)> {
    let note = files
        .get(paths::CHECKPOINT)
        .map(|b| String::from_utf8_lossy(b).into_owned());
    let opened = note
        .as_deref()
        .ok_or_else(|| "missing".to_owned())
        .and_then(|n| {
            open_checkpoint(n, std::slice::from_ref(verifier), Some(verifier.name()))
                .map_err(|e| e.to_string())
        });
    let mut failures = Vec::new();
    match &opened {
        Err(e) => failures.push(format!("{}: {e}", paths::CHECKPOINT)),
        Ok(cp)
            if cp.size != manifest.checkpoint.size || cp.origin != manifest.checkpoint.origin =>
        {
            failures.push(format!(
                "{}: origin `{}` size {}, the manifest names `{}` size {}",
                paths::CHECKPOINT,
                cp.origin,
                cp.size,
                manifest.checkpoint.origin,
                manifest.checkpoint.size
            ))
        }
        Ok(_) => {}
    }
    let Ok(cp) = opened else {
        run.step("checkpoint", failures, String::new);
        return None;
    };
    let ok = run.step("checkpoint", failures, || {
        format!(
            "signed by the engine key for `{}` at tree size {}",
            cp.origin, cp.size
        )
    });
    ok.then(|| (cp, note.unwrap_or_default()))
}
