//! The storage boundary of the ledger.
//!
//! [`Store`] is what the engine, verification and export need from a database: append a batch
//! of [`RecordDraft`]s atomically and durably, read [`StoredRecord`]s back by position or kind,
//! read the [`Head`] (size and last leaf hash), and keep attestations by digest.
//!
//! **The trait has no update or delete operation, on purpose**: the ledger is append-only, and
//! nothing in modelgate can rewrite history through it. Tampering with the database behind its
//! back is what [`super::verify`] detects.
//!
//! [`seal_batch`] holds the sealing logic every implementation shares, so that index and `prev`
//! assignment cannot drift between backends.

use super::record::{seal, RecordDraft, RecordKind, SealedRecord, GENESIS_PREV};
use super::LedgerError;

/// A record as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The position the store files the record under.
    pub index: u64,
    /// The kind the store files the record under (its query index for
    /// [`Store::records_of_kind`]); verification checks it against the bytes.
    pub kind: RecordKind,
    /// The canonical record bytes, exactly as appended.
    pub bytes: Vec<u8>,
    /// The leaf hash as stored next to the bytes (verification recomputes it).
    pub leaf_hash: [u8; 32],
}

/// The store's own record of how far the ledger extends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Number of records (the next index to assign).
    pub size: u64,
    /// Leaf hash of the record at `size - 1`.
    pub leaf_hash: [u8; 32],
}

/// Durable, append-only storage for ledger records and attestations.
///
/// Implementations must make [`Store::append`] atomic (all records of the batch or none) and
/// durable before it returns, and must serialise concurrent appenders so that indices stay
/// consecutive and the `prev` chain stays linear.
pub trait Store: Send {
    /// Seals and appends `drafts` in order, in one transaction that reads the current head,
    /// inserts every record and moves the head. Returns only after that transaction is durable.
    /// An empty slice is a no-op.
    fn append(&mut self, drafts: &[RecordDraft]) -> Result<Vec<SealedRecord>, LedgerError>;

    /// Like [`Store::append`], but refuses with [`LedgerError::Raced`] when a record of `kind`
    /// was filed at index `since` or later: the caller read state derived from `kind` records
    /// (the trust store from `key_change`) up to `since` and must not append a result based on
    /// it if that state moved meanwhile. Durable stores make the check and the append one
    /// transaction; this default checks first and is only for stores with a single writer.
    fn append_unless(
        &mut self,
        kind: RecordKind,
        since: u64,
        drafts: &[RecordDraft],
    ) -> Result<Vec<SealedRecord>, LedgerError> {
        if let Some(r) = self
            .records_of_kind(kind)?
            .into_iter()
            .find(|r| r.index >= since)
        {
            return Err(LedgerError::Raced {
                kind,
                index: r.index,
            });
        }
        self.append(drafts)
    }

    /// Number of records according to the head (0 for an empty ledger).
    fn size(&self) -> Result<u64, LedgerError>;

    /// The record filed at `index`, if any.
    fn record(&self, index: u64) -> Result<Option<StoredRecord>, LedgerError>;

    /// Up to `limit` records filed at `from` or later, in index order. Rows are returned as
    /// stored, so a missing index shows up as a jump in [`StoredRecord::index`].
    fn records(&self, from: u64, limit: u64) -> Result<Vec<StoredRecord>, LedgerError>;

    /// Every record of `kind`, in index order.
    fn records_of_kind(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, LedgerError>;

    /// Size and last leaf hash, or `None` for an empty ledger.
    fn head(&self) -> Result<Option<Head>, LedgerError>;

    /// Keeps `bytes` under `digest` (`sha256:<hex>` of exactly those bytes). Storing the same
    /// bytes again is a no-op; different bytes under a stored digest are refused.
    fn put_attestation(&mut self, digest: &str, bytes: &[u8]) -> Result<(), LedgerError>;

    /// The attestation stored under `digest`, if any.
    fn attestation(&self, digest: &str) -> Result<Option<Vec<u8>>, LedgerError>;
}

/// Seals `drafts` as the records following `head` (consecutive indices, each `prev` the leaf
/// hash of the one before). `each` is called with every sealed record as soon as it exists, so a
/// backend can insert while sealing and abort its transaction on the first error.
pub fn seal_batch(
    drafts: &[RecordDraft],
    head: Option<Head>,
    mut each: impl FnMut(&RecordDraft, &SealedRecord) -> Result<(), LedgerError>,
) -> Result<Vec<SealedRecord>, LedgerError> {
    let (mut index, mut prev) = match head {
        Some(head) => (head.size, head.leaf_hash),
        None => (0, GENESIS_PREV),
    };
    let mut sealed = Vec::with_capacity(drafts.len());
    for draft in drafts {
        let record = seal(draft, index, &prev)?;
        each(draft, &record)?;
        prev = record.leaf_hash;
        index = index
            .checked_add(1)
            .ok_or(LedgerError::IndexOutOfRange(index))?;
        sealed.push(record);
    }
    Ok(sealed)
}
