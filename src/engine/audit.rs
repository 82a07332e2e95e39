//! Signed checkpoints and proofs over the ledger: what an auditor takes away.
//!
//! [`checkpoint`] signs the current tree head as a C2SP checkpoint with the engine key (only if
//! the tree grew since the last one; never for an empty ledger) and stores it; [`prove`] builds
//! a `c2sp.org/tlog-proof@v1` for one record against a stored checkpoint; [`consistency`] gives
//! the RFC 6962 proof between two sizes; [`verify_checkpoints`] checks every stored checkpoint's
//! signature, origin and root against the tree. The formats live in
//! [`crate::ledger::checkpoint`]; the note signatures in [`crate::attest::note`].

use super::EngineError;
use crate::attest::{NoteSigner, NoteVerifier};
use crate::ledger::{
    open_checkpoint, sign_checkpoint, Checkpoint, Hash, LedgerError, Store, TlogProof,
};

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
pub fn checkpoint(
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

/// The first stored checkpoint that is not a valid signature by `verifier` with `origin` over
/// the tree root of its size, as (size, problem); `None` when all are good.
pub fn verify_checkpoints(
    store: &dyn Store,
    verifier: &NoteVerifier,
    origin: &str,
) -> Result<Option<(u64, String)>, EngineError> {
    let size = store.size()?;
    for (cp_size, note) in store.checkpoints()? {
        let opened = match open_checkpoint(&note, std::slice::from_ref(verifier), Some(origin)) {
            Ok(cp) => cp,
            Err(e) => return Ok(Some((cp_size, format!("checkpoint does not verify: {e}")))),
        };
        if opened.size != cp_size {
            return Ok(Some((
                cp_size,
                format!(
                    "checkpoint stored as size {cp_size} says size {}",
                    opened.size
                ),
            )));
        }
        if cp_size > size {
            return Ok(Some((
                cp_size,
                format!("checkpoint of size {cp_size} is beyond the ledger ({size} records)"),
            )));
        }
        if store.tree_root(cp_size)? != opened.root {
            return Ok(Some((
                cp_size,
                format!("checkpoint of size {cp_size} names a root that is not the tree's"),
            )));
        }
    }
    Ok(None)
}
