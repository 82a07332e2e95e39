//! Audit evidence packs: everything about how one model reached its environments, in one
//! deterministic, signed archive that an auditor verifies offline (DESIGN §7,
//! `docs/evidence.md`).
//!
//! - [`build`] gathers a pack from the ledger: the decision records in scope and the records
//!   they depend on (bundle activations, key changes, freezes), one inclusion proof each against
//!   one signed checkpoint, consistency proofs from the checkpoints that first covered them, the
//!   attestations and policy inputs the decisions used, the policy bundles by digest, the
//!   schemas and keys; then [`derive`] computes the inventory entry, the trust listing and the
//!   human summary from that material alone, and [`manifest`] lists and signs every file.
//! - [`verify`] checks a pack with nothing but its bytes (and optionally a pinned key): the
//!   manifest signature, every file, every proof, the checkpoint, the consistency proofs, every
//!   counted attestation against the trust history in the pack, a replay of every decision, and
//!   that the derived files are what the material gives.
//! - [`archive`] writes and reads the `.tar.gz` (deterministic out, hostile-safe in).
//!
//! The module sits above the engine (it replays decisions with [`crate::engine::replay`]) and
//! below the adapters; it never reads the wall clock (a pack has no build time in it).

pub mod archive;
pub mod build;
pub mod contents;
pub mod derive;
pub mod manifest;
pub mod summary;
pub mod verify;

use serde::{Deserialize, Serialize};

pub use build::{build_pack, covering_checkpoint, Pack};
pub use manifest::Manifest;
pub use verify::{verify_pack, VerifyOutcome};

use crate::clock::{parse_rfc3339, rfc3339};
use crate::engine::EngineError;
use crate::ledger::LedgerError;

/// The `version` of every manifest this code writes.
pub const PACK_VERSION: u64 = 1;
/// The in-toto predicate type of the signed manifest statement.
pub const MANIFEST_PREDICATE: &str = "https://modelgate.dev/evidence-pack/v1";
/// The pack's media type (HTTP `Content-Type`).
pub const PACK_MEDIA_TYPE: &str = "application/gzip";

/// What a pack is about: one model, optionally one version and a time window (inclusive,
/// over the decision record times).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// The model name.
    pub model: String,
    /// Only this version, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Only decisions at or after this time (RFC 3339 UTC, seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Only decisions at or before this time (RFC 3339 UTC, seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

impl Scope {
    /// Checks and normalises a scope: a non-empty model, RFC 3339 times (rewritten in the
    /// ledger's UTC form), `since` not after `until`.
    pub fn new(
        model: &str,
        version: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<Scope, EvidenceError> {
        if model.trim().is_empty() {
            return Err(EvidenceError::Invalid("the model name is empty".into()));
        }
        if version.is_some_and(|v| v.trim().is_empty()) {
            return Err(EvidenceError::Invalid("the version is empty".into()));
        }
        let time = |name: &str, t: Option<&str>| {
            t.map(|t| {
                parse_rfc3339(t)
                    .map(rfc3339)
                    .map_err(|e| EvidenceError::Invalid(format!("`{name}` is not RFC 3339: {e}")))
            })
            .transpose()
        };
        let (since, until) = (time("since", since)?, time("until", until)?);
        if let (Some(s), Some(u)) = (&since, &until) {
            if s > u {
                // An empty window: well-formed, and nothing can be in it.
                return Err(EvidenceError::NothingInScope(format!(
                    "no decision can be in scope: `since` ({s}) is after `until` ({u})"
                )));
            }
        }
        Ok(Scope {
            model: model.to_owned(),
            version: version.map(str::to_owned),
            since,
            until,
        })
    }

    /// Whether a decision about `version` recorded at `time` (RFC 3339 UTC as the ledger
    /// writes it, so that text order is time order) is in scope.
    pub fn covers(&self, version: &str, time: &str) -> bool {
        self.version.as_deref().is_none_or(|v| v == version)
            && self.since.as_deref().is_none_or(|s| time >= s)
            && self.until.as_deref().is_none_or(|u| time <= u)
    }
}

/// Why a pack could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The scope is malformed.
    #[error("{0}")]
    Invalid(String),
    /// No decision is in scope.
    #[error("{0}")]
    NothingInScope(String),
    /// The ledger does not hold what a decision in scope names (its bytes, an attestation, an
    /// input or a bundle): the ledger is damaged; run `modelgate audit verify`.
    #[error("the ledger cannot support a pack: {0}")]
    Inconsistent(String),
    /// Reading the ledger failed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The engine could not rebuild something (a bundle, a checkpoint).
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// Writing the archive failed.
    #[error("{0}")]
    Archive(#[from] archive::ArchiveError),
}

/// Pack paths, in one place.
pub mod paths {
    /// The manifest.
    pub const MANIFEST: &str = "manifest.json";
    /// The signed manifest statement.
    pub const MANIFEST_DSSE: &str = "manifest.dsse.json";
    /// The checkpoint every proof is relative to.
    pub const CHECKPOINT: &str = "checkpoint";
    /// The engine's C2SP verifier key.
    pub const ENGINE_VKEY: &str = "keys/engine.vkey";
    /// The engine's public key, SPKI PEM.
    pub const ENGINE_PEM: &str = "keys/engine.pub.pem";
    /// The trust store the key-change records give.
    pub const TRUST: &str = "keys/trust.json";
    /// The model's inventory entry.
    pub const INVENTORY: &str = "inventory.json";
    /// The human summary, Markdown.
    pub const SUMMARY_MD: &str = "summary.md";
    /// The human summary, HTML.
    pub const SUMMARY_HTML: &str = "summary.html";

    /// A record's file.
    pub fn record(index: u64) -> String {
        format!("records/{index}.json")
    }
    /// A record's inclusion proof.
    pub fn proof(index: u64) -> String {
        format!("proofs/{index}.tlog-proof")
    }
    /// An earlier checkpoint.
    pub fn old_checkpoint(size: u64) -> String {
        format!("checkpoints/{size}")
    }
    /// A consistency proof.
    pub fn consistency(old: u64, new: u64) -> String {
        format!("consistency/{old}-{new}")
    }
    /// An attestation by the hex of its digest.
    pub fn attestation(hex: &str) -> String {
        format!("attestations/{hex}.json")
    }
    /// A policy input by the hex of its digest.
    pub fn input(hex: &str) -> String {
        format!("inputs/{hex}.json")
    }
    /// A policy bundle file.
    pub fn policy(hex: &str, name: &str) -> String {
        format!("policies/{hex}/{name}")
    }
    /// An embedded schema.
    pub fn schema(name: &str) -> String {
        format!("schemas/{name}")
    }

    /// Whether `path` is one of the files a pack holds (the layout of `docs/evidence.md`).
    pub fn is_known(path: &str) -> bool {
        let index = |s: &str| super::contents::parse_index(s).is_some();
        let hex =
            |s: &str| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let plain = |s: &str| !s.is_empty() && !s.contains('/');
        if [
            MANIFEST,
            MANIFEST_DSSE,
            CHECKPOINT,
            ENGINE_VKEY,
            ENGINE_PEM,
            TRUST,
            INVENTORY,
            SUMMARY_MD,
            SUMMARY_HTML,
        ]
        .contains(&path)
        {
            return true;
        }
        let Some((dir, rest)) = path.split_once('/') else {
            return false;
        };
        match dir {
            "records" => rest.strip_suffix(".json").is_some_and(index),
            "proofs" => rest.strip_suffix(".tlog-proof").is_some_and(index),
            "checkpoints" => index(rest),
            "consistency" => rest
                .split_once('-')
                .is_some_and(|(a, b)| index(a) && index(b)),
            "attestations" | "inputs" => rest.strip_suffix(".json").is_some_and(hex),
            "policies" => rest
                .split_once('/')
                .is_some_and(|(d, f)| hex(d) && plain(f)),
            "schemas" => plain(rest),
            _ => false,
        }
    }
}
