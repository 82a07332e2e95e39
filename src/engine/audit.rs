//! Signed checkpoints and proofs over the ledger: what an auditor takes away.
//!
//! [`checkpoint`] signs the current tree head as a C2SP checkpoint with the engine key (only if
//! the tree grew since the last one; never for an empty ledger) and stores it; [`prove`] builds
//! a `c2sp.org/tlog-proof@v1` for one record against a stored checkpoint; [`consistency`] gives
//! the RFC 6962 proof between two sizes; [`checkpoint_status`], [`check_root`] and
//! [`check_consistency`] check stored checkpoints one at a time, for display. All stored
//! checkpoints are checked (signature, origin, root) in the verification pass itself
//! ([`crate::ledger::verify_store_against`]). The formats live in [`crate::ledger::checkpoint`];
//! the note signatures in [`crate::attest::note`].

use time::OffsetDateTime;

use super::EngineError;
use crate::attest::{NoteSigner, NoteVerifier};
use crate::clock::parse_rfc3339;
use crate::ledger::verify::open_stored_checkpoint;
use crate::ledger::{
    leaf_hash, parse_record, sign_checkpoint, verify_consistency, verify_inclusion,
    verify_tlog_proof, Checkpoint, Hash, LedgerError, Store, TlogProof,
};

/// When to sign a checkpoint without being asked: after `every_records` new records, or when
/// the newest checkpointed record is older than `every_seconds` (checked at each decision).
pub struct AutoCheckpoint {
    /// The engine key as a note signer.
    pub signer: NoteSigner,
    /// Checkpoint origin line.
    pub origin: String,
    /// Sign once this many records are not covered by the latest checkpoint (0: never by count).
    pub every_records: u64,
    /// Sign once the newest covered record is this old (0: never by age).
    pub every_seconds: u64,
}

impl std::fmt::Debug for AutoCheckpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutoCheckpoint")
            .field("origin", &self.origin)
            .field("every_records", &self.every_records)
            .field("every_seconds", &self.every_seconds)
            .finish()
    }
}

impl AutoCheckpoint {
    /// Signs and stores a checkpoint if one is due at `now`; returns it when one was made.
    pub fn maybe_checkpoint(
        &self,
        store: &mut dyn Store,
        now: OffsetDateTime,
    ) -> Result<Option<StoredCheckpoint>, EngineError> {
        let size = store.size()?;
        if size == 0 {
            return Ok(None);
        }
        let covered = store.latest_checkpoint()?.map_or(0, |(s, _)| s);
        if covered >= size {
            return Ok(None);
        }
        let by_count = self.every_records > 0 && size - covered >= self.every_records;
        let by_age = self.every_seconds > 0 && self.covered_age(store, covered, now)?;
        if !(by_count || by_age) {
            return Ok(None);
        }
        // Another replica signing now covers these records or the next batch finds them: never
        // hold this appender up waiting for its signature.
        if !store.try_lock_checkpoints()? {
            return Ok(None);
        }
        release_after(store, |store| {
            sign_latest(store, &self.signer, &self.origin)
        })
        .map(Some)
    }

    /// Runs after a decision is durable: a checkpoint that cannot be made now is made by a later
    /// decision or `audit checkpoint`, so a failure is logged and never turns the answer into an
    /// error.
    pub fn after_decision(&self, store: &mut dyn Store, now: OffsetDateTime) {
        if let Err(e) = self.maybe_checkpoint(store, now) {
            tracing::warn!(error = %e, "automatic checkpoint not made");
        }
    }

    /// Whether the newest record covered by the latest checkpoint (or, with none, the first
    /// record) is at least `every_seconds` old.
    fn covered_age(
        &self,
        store: &dyn Store,
        covered: u64,
        now: OffsetDateTime,
    ) -> Result<bool, EngineError> {
        let Some(stored) = store.record(covered.saturating_sub(1))? else {
            return Ok(false);
        };
        let record = parse_record(&stored.bytes)?;
        let Ok(time) = parse_rfc3339(&record.time) else {
            return Ok(true);
        };
        let limit = i64::try_from(self.every_seconds).unwrap_or(i64::MAX);
        Ok((now - time).whole_seconds() >= limit)
    }
}

/// A checkpoint as stored: its size and the signed note text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Tree size it commits to.
    pub size: u64,
    /// The signed note, verbatim.
    pub note: String,
}

fn checkpoint_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!("checkpoint: {e}"))
}

/// The latest checkpoint, signing and storing a new one first if the ledger grew since the last.
/// Holds the store's checkpoint signer lock throughout, so that replicas sharing one database
/// sign one at a time, each reading the size only once it holds the lock.
pub fn checkpoint(
    store: &mut dyn Store,
    signer: &NoteSigner,
    origin: &str,
) -> Result<StoredCheckpoint, EngineError> {
    store.lock_checkpoints()?;
    release_after(store, |store| sign_latest(store, signer, origin))
}

/// Runs `sign` while the caller holds the checkpoint signer lock, then releases it, whatever
/// `sign` came to.
fn release_after(
    store: &mut dyn Store,
    sign: impl FnOnce(&mut dyn Store) -> Result<StoredCheckpoint, EngineError>,
) -> Result<StoredCheckpoint, EngineError> {
    let signed = sign(store);
    let released = store.unlock_checkpoints();
    let signed = signed?;
    released?;
    Ok(signed)
}

fn sign_latest(
    store: &mut dyn Store,
    signer: &NoteSigner,
    origin: &str,
) -> Result<StoredCheckpoint, EngineError> {
    let size = store.size()?;
    if size == 0 {
        return Err(EngineError::Ledger(LedgerError::EmptyCheckpoint));
    }
    if let Some((last, note)) = store.latest_checkpoint()? {
        if last == size {
            return Ok(StoredCheckpoint { size, note });
        }
    }
    let root = store.tree_root(size)?;
    let cp = Checkpoint {
        origin: origin.to_string(),
        size,
        root,
        extensions: Vec::new(),
    };
    let note = sign_checkpoint(&cp, signer).map_err(checkpoint_error)?;
    store.put_checkpoint(size, &note)?;
    Ok(StoredCheckpoint { size, note })
}

/// A `c2sp.org/tlog-proof@v1` for record `index` against the stored checkpoint of `size`
/// (default: the latest stored checkpoint).
pub fn prove(store: &dyn Store, index: u64, size: Option<u64>) -> Result<TlogProof, EngineError> {
    let (size, note) = match size {
        Some(size) => {
            let note = store.checkpoint(size)?.ok_or_else(|| {
                EngineError::invalid(
                    "",
                    format!(
                        "no checkpoint of size {size} is stored (see `modelgate audit checkpoint`)"
                    ),
                )
            })?;
            (size, note)
        }
        None => store.latest_checkpoint()?.ok_or_else(|| {
            EngineError::invalid(
                "",
                "no checkpoint is stored yet: run `modelgate audit checkpoint` first",
            )
        })?,
    };
    if index >= size {
        return Err(EngineError::invalid(
            "",
            format!("record {index} is not covered by the checkpoint of size {size}"),
        ));
    }
    let hashes = store.inclusion_proof(index, size)?;
    Ok(TlogProof {
        extra: None,
        index,
        hashes,
        checkpoint: note,
    })
}

/// A record's inclusion proof against the latest signed checkpoint, checked here.
#[derive(Debug, Clone)]
pub struct LatestInclusion {
    /// The size of the latest checkpoint.
    pub size: u64,
    /// The RFC 6962 leaf hash of the record's stored bytes.
    pub leaf_hash: Hash,
    /// The proof, with the checkpoint note it is for.
    pub proof: TlogProof,
    /// The checkpoint as opened with the verifier when its signature and origin hold and the
    /// proof leads from the leaf to its root; otherwise why not.
    pub verified: Result<Checkpoint, String>,
}

/// Proves record `index` against the latest stored checkpoint and verifies the proof as an
/// auditor would: the note's signature by `verifier` (under its name as the origin), then the
/// RFC 6962 inclusion of the record's stored bytes. `None` when there is no such record or no
/// checkpoint covers it yet.
pub fn prove_against_latest(
    store: &dyn Store,
    index: u64,
    verifier: &NoteVerifier,
) -> Result<Option<LatestInclusion>, EngineError> {
    let Some(record) = store.record(index)? else {
        return Ok(None);
    };
    let Some((size, _)) = store.latest_checkpoint()? else {
        return Ok(None);
    };
    if index >= size {
        return Ok(None);
    }
    let proof = prove(store, index, Some(size))?;
    let verified = verify_tlog_proof(
        &proof.to_text(),
        &record.bytes,
        std::slice::from_ref(verifier),
        verifier.name(),
        |leaf, i, size, hashes, root| verify_inclusion(leaf, i, size, hashes, root).is_ok(),
    )
    .map(|v| v.checkpoint)
    .map_err(|e| e.to_string());
    Ok(Some(LatestInclusion {
        size,
        leaf_hash: leaf_hash(&record.bytes),
        proof,
        verified,
    }))
}

/// The RFC 6962 consistency proof from tree size `old` to `new`.
pub fn consistency(store: &dyn Store, old: u64, new: u64) -> Result<Vec<Hash>, EngineError> {
    let size = store.size()?;
    if old == 0 || old > new || new > size {
        return Err(EngineError::invalid(
            "",
            format!("need 0 < OLD <= NEW <= {size} (the ledger size), got {old} and {new}"),
        ));
    }
    Ok(store.consistency_proof(old, new)?)
}

/// A stored checkpoint as an auditor looks at it: the root it names and whether its signature
/// can be believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointStatus {
    /// The tree size it is stored under.
    pub size: u64,
    /// The signed note, verbatim.
    pub note: String,
    /// The root the note names: verified when `signature` is `Ok`, read from the unverified
    /// text otherwise (`None` when that text does not parse).
    pub root: Option<Hash>,
    /// `Ok` when the note opens under the engine key (signature, origin) and says the size it
    /// is stored under; otherwise why not, as verification reports it.
    pub signature: Result<(), String>,
}

impl CheckpointStatus {
    /// The root, only when the signature verified.
    pub fn verified_root(&self) -> Option<&Hash> {
        self.signature.as_ref().ok().and(self.root.as_ref())
    }
}

/// Checks the stored checkpoint `note` of `size` under `verifier`, as
/// [`crate::ledger::verify_store_against`] does.
pub fn checkpoint_status(size: u64, note: &str, verifier: &NoteVerifier) -> CheckpointStatus {
    let (root, signature) = match open_stored_checkpoint(size, note, verifier) {
        Ok(root) => (Some(root), Ok(())),
        Err(why) => (claimed_root(note), Err(why)),
    };
    CheckpointStatus {
        size,
        note: note.to_owned(),
        root,
        signature,
    }
}

/// The root a note's text names, without checking any signature.
fn claimed_root(note: &str) -> Option<Hash> {
    let split = note.rfind("\n\n")?;
    Checkpoint::parse(note.get(..split + 1)?)
        .ok()
        .map(|cp| cp.root)
}

/// Whether the ledger's own tree of `size` records, assembled from the stored nodes, has `root`.
/// `Ok(Err(why))` when it has another root or a node it needs is missing or corrupt; `Err` when
/// the ledger cannot be read.
pub fn check_root(
    store: &dyn Store,
    size: u64,
    root: &Hash,
) -> Result<Result<(), String>, EngineError> {
    let ledger_size = store.size()?;
    if size > ledger_size {
        return Ok(Err(format!(
            "the ledger holds {ledger_size} records, fewer than the checkpoint's {size}"
        )));
    }
    match store.tree_root(size) {
        Ok(ours) if ours == *root => Ok(Ok(())),
        Ok(_) => Ok(Err(format!(
            "the ledger's root of its first {size} records is another"
        ))),
        Err(e) => tree_problem(e),
    }
}

/// Whether the tree of `new.0` leaves with root `new.1` extends the tree of `old.0` leaves with
/// root `old.1`: the RFC 6962 consistency proof between the sizes, built from the stored tree
/// ([`consistency`]), must verify against both roots. `Ok(Err(why))` when it does not or a
/// node the proof needs is missing or corrupt; `Err` when the ledger cannot be read.
pub fn check_consistency(
    store: &dyn Store,
    old: (u64, &Hash),
    new: (u64, &Hash),
) -> Result<Result<(), String>, EngineError> {
    let proof = match consistency(store, old.0, new.0) {
        Ok(proof) => proof,
        Err(EngineError::Ledger(e)) => return tree_problem(e),
        Err(EngineError::Invalid(problems)) => {
            return Ok(Err(EngineError::Invalid(problems).to_string()))
        }
        Err(e) => return Err(e),
    };
    Ok(verify_consistency(old.0, new.0, old.1, new.1, &proof).map_err(|e| e.to_string()))
}

/// A missing or corrupt tree node is a finding; other ledger errors are errors.
fn tree_problem(e: LedgerError) -> Result<Result<(), String>, EngineError> {
    match e {
        LedgerError::MissingNode { level, index } => Ok(Err(format!(
            "tree node (level {level}, index {index}) is missing"
        ))),
        LedgerError::CorruptNode { problem, .. } => {
            Ok(Err(format!("a tree node is corrupt: {problem}")))
        }
        e => Err(EngineError::Ledger(e)),
    }
}
