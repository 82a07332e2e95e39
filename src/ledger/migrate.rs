//! Copying a ledger from one store into a [`PgStore`] and proving the copy
//! (`modelgate storage migrate`).
//!
//! The copy takes attestations first (so that every record's references resolve as soon as it
//! lands), then the records in order through [`PgStore::import`] (which re-checks each record's
//! index, leaf hash and `prev` link and computes the Merkle tree itself rather than copying it),
//! then attestation filings and checkpoints. It is resumable: a target that already holds a
//! prefix of the source (same RFC 6962 root at its size) continues from there; any other
//! non-empty target is refused. The proof is the RFC 6962 root of both stores at the copied
//! size, each computed from its own tree, and every source checkpoint stored verbatim.

use super::postgres::PgStore;
use super::store::{AppendRequest, Store};
use super::LedgerError;

/// Records per import transaction.
const CHUNK_RECORDS: u64 = 2_000;

/// Attestations per insert transaction.
const CHUNK_ATTESTATIONS: usize = 500;

/// What a migration copied and the proof that the copy is the same ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Ledger size of both stores after the copy.
    pub size: u64,
    /// Records already in the target (a resumed migration) before this run.
    pub already_there: u64,
    /// Records copied by this run.
    pub records: u64,
    /// Attestations in the source (copied unless already present).
    pub attestations: usize,
    /// Attestation filings by model and version.
    pub filings: usize,
    /// Checkpoints copied.
    pub checkpoints: usize,
    /// The RFC 6962 root of the source at `size`.
    pub source_root: [u8; 32],
    /// The RFC 6962 root of the target at `size`, computed from its own tree.
    pub target_root: [u8; 32],
}

impl MigrationReport {
    /// Whether the copy is proven: same root at the same size.
    pub fn proven(&self) -> bool {
        self.source_root == self.target_root
    }
}

/// Copies `from` into `to`; `progress(records copied, source size)` is called after each chunk.
pub fn migrate(
    from: &dyn Store,
    to: &mut PgStore,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<MigrationReport, LedgerError> {
    let size = from.size()?;
    let already_there = to.size()?;
    if already_there > size {
        return Err(LedgerError::Inconsistent(format!(
            "the target already holds {already_there} records, more than the {size} of the source"
        )));
    }
    if already_there > 0 && from.tree_root(already_there)? != to.tree_root(already_there)? {
        return Err(LedgerError::Inconsistent(format!(
            "the target holds {already_there} records that are not the source's first \
             {already_there} (the roots differ); migrate into an empty database"
        )));
    }

    let digests = from.attestation_digests()?;
    for chunk in digests.chunks(CHUNK_ATTESTATIONS) {
        let mut attestations = Vec::with_capacity(chunk.len());
        for digest in chunk {
            let bytes = from.attestation(digest)?.ok_or_else(|| {
                LedgerError::Inconsistent(format!("attestation `{digest}` vanished while copying"))
            })?;
            attestations.push((digest.clone(), bytes));
        }
        let request = AppendRequest {
            attestations,
            ..AppendRequest::default()
        };
        for outcome in to.append_batch(std::slice::from_ref(&request))? {
            outcome?;
        }
    }

    let mut next = already_there;
    while next < size {
        let records = from.records(next, CHUNK_RECORDS.min(size - next))?;
        if records.is_empty() {
            return Err(LedgerError::Inconsistent(format!(
                "the source has no record {next} although its head says {size}"
            )));
        }
        to.import(&records)?;
        next += records.len() as u64;
        progress(next, size);
    }

    let filings = from.attestation_filings()?;
    for (model, version, digest) in &filings {
        let bytes = from.attestation(digest)?.ok_or_else(|| {
            LedgerError::Inconsistent(format!("filed attestation `{digest}` is not stored"))
        })?;
        to.file_attestation(model, version, digest, &bytes)?;
    }
    let checkpoints = from.checkpoints()?;
    for (cp_size, note) in &checkpoints {
        to.put_checkpoint(*cp_size, note)?;
    }

    let (source_root, target_root) = (from.tree_root(size)?, to.tree_root(size)?);
    Ok(MigrationReport {
        size,
        already_there,
        records: size - already_there,
        attestations: digests.len(),
        filings: filings.len(),
        checkpoints: checkpoints.len(),
        source_root,
        target_root,
    })
}
