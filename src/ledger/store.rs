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
//! The Merkle tree over the leaf hashes is read through [`Store::tree_node`]; the tree methods
//! ([`Store::tree_root`], [`Store::inclusion_proof`], [`Store::consistency_proof`]) delegate to
//! [`super::merkle`] through [`StoreNodes`]. The default `tree_node` derives nodes from the stored
//! leaf hashes (correct for any store, but `O(2^level)` reads per node); durable stores
//! override it with their node table. Checkpoint notes are stored as opaque text
//! ([`Store::put_checkpoint`]); signing and formatting them happens elsewhere.
//!
//! [`Store::append_batch`] is the unit of group commit: several callers' [`AppendRequest`]s
//! (records, the attestations they cite, an optional [`AppendGuard`]) in one durable
//! transaction, each accepted or refused on its own, the whole batch failing together if the
//! commit fails. [`super::group::GroupCommit`] feeds it from concurrent callers.
//!
//! [`seal_batch`] holds the sealing logic every implementation shares, so that index and `prev`
//! assignment cannot drift between backends.

use super::merkle::{self, Frontier, Hash, NodeSource};
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

/// A condition on an append: refuse it if a record of one of `kinds` was filed at index
/// `since` or later (the caller's view of state derived from those records is out of date).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendGuard {
    /// The kinds whose records the caller's state was derived from.
    pub kinds: &'static [RecordKind],
    /// The ledger size at which the caller read that state.
    pub since: u64,
}

impl AppendGuard {
    /// The first record of a guarded kind at `since` or later among `records`.
    pub fn trips_on<'a>(
        &self,
        records: impl IntoIterator<Item = (RecordKind, u64)> + 'a,
    ) -> Option<(RecordKind, u64)> {
        records
            .into_iter()
            .filter(|(kind, index)| self.kinds.contains(kind) && *index >= self.since)
            .min_by_key(|(_, index)| *index)
    }
}

/// One caller's share of a batch: attestations to keep, records to seal, and an optional guard.
/// It is accepted or refused as a whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendRequest {
    /// Refuse the request (with [`LedgerError::Raced`]) if this guard trips.
    pub guard: Option<AppendGuard>,
    /// `(digest, bytes)` pairs for the attestation store (see [`Store::put_attestation`]).
    pub attestations: Vec<(String, Vec<u8>)>,
    /// Records to seal and append, in order.
    pub drafts: Vec<RecordDraft>,
}

impl AppendRequest {
    /// A request for `drafts` alone, unguarded.
    pub fn records(drafts: Vec<RecordDraft>) -> AppendRequest {
        AppendRequest {
            drafts,
            ..AppendRequest::default()
        }
    }

    /// A request for `drafts`, refused if a record of `kind` was filed at `since` or later
    /// ([`Store::append_unless`] for stores that append in batches).
    pub fn guarded(kind: RecordKind, since: u64, drafts: &[RecordDraft]) -> AppendRequest {
        AppendRequest {
            guard: Some(AppendGuard {
                kinds: kind_slice(kind),
                since,
            }),
            ..AppendRequest::records(drafts.to_vec())
        }
    }

    /// Whether the request would write nothing.
    pub fn is_empty(&self) -> bool {
        self.drafts.is_empty() && self.attestations.is_empty()
    }
}

/// What one [`AppendRequest`] of a batch came to: its sealed records, or why it was refused.
pub type AppendOutcome = Result<Vec<SealedRecord>, LedgerError>;

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

    /// Commits several callers' requests in order as one batch and returns one outcome per
    /// request. A request that cannot be accepted (its guard trips, a draft cannot be sealed,
    /// an attestation does not match its digest) is refused on its own and writes nothing; the
    /// others go ahead. `Err` means the batch as a whole failed and none of it is acknowledged.
    ///
    /// Durable stores override this with one transaction (one sync) for the whole batch. This
    /// default commits request by request, which is correct for single-writer stores only.
    fn append_batch(&mut self, batch: &[AppendRequest]) -> Result<Vec<AppendOutcome>, LedgerError> {
        let mut outcomes = Vec::with_capacity(batch.len());
        for request in batch {
            outcomes.push(append_separately(self, request));
        }
        Ok(outcomes)
    }

    /// Makes one small durable write outside the ledger (no record, no tree node) to tell
    /// whether the storage takes writes now, e.g. after a full disk was freed. A store that
    /// cannot probe says so with an error, never with a success it did not check.
    fn probe_write(&mut self) -> Result<(), LedgerError> {
        Err(LedgerError::Inconsistent(
            "this store cannot probe whether it takes writes".to_owned(),
        ))
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

    /// The `decision` records whose request names `model` (`body.request.model`), in index
    /// order. Durable stores answer from an index; callers that rely on a record re-check its
    /// bytes. The default scans every decision.
    fn decisions_for_model(&self, model: &str) -> Result<Vec<StoredRecord>, LedgerError> {
        scan_decisions_for_model(self, model)
    }

    /// At most `limit` of the `decision` records naming `model` whose index is below `before`,
    /// newest first: one page of a model's decisions, read from the same index as
    /// [`Store::decisions_for_model`] without reading the rest. The default pages
    /// [`Store::decisions_for_model`].
    fn decisions_for_model_before(
        &self,
        model: &str,
        before: u64,
        limit: u64,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        let mut all = self.decisions_for_model(model)?;
        all.retain(|r| r.index < before);
        all.reverse();
        all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(all)
    }

    /// The index of the newest record of any of `kinds`, or `None` if there is none. Cheap in
    /// durable stores (an index lookup per kind): callers use it to tell whether state derived
    /// from those records has moved. The default reads every record of each kind.
    fn last_of_kinds(&self, kinds: &[RecordKind]) -> Result<Option<u64>, LedgerError> {
        let mut last = None;
        for &kind in kinds {
            if let Some(r) = self.records_of_kind(kind)?.last() {
                last = last.max(Some(r.index));
            }
        }
        Ok(last)
    }

    /// Size and last leaf hash, or `None` for an empty ledger.
    fn head(&self) -> Result<Option<Head>, LedgerError>;

    /// Keeps `bytes` under `digest` (`sha256:<hex>` of exactly those bytes). Storing the same
    /// bytes again is a no-op; different bytes under a stored digest are refused.
    fn put_attestation(&mut self, digest: &str, bytes: &[u8]) -> Result<(), LedgerError>;

    /// The attestation stored under `digest`, if any.
    fn attestation(&self, digest: &str) -> Result<Option<Vec<u8>>, LedgerError>;

    /// Stores attestation `bytes` under `digest` (as [`Store::put_attestation`]) and files it
    /// under `model` and `version` for later decisions, in one transaction. Filing the same
    /// digest again is a no-op. The default refuses: this store keeps no such index.
    fn file_attestation(
        &mut self,
        model: &str,
        version: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(), LedgerError> {
        let _ = (model, version, digest, bytes);
        Err(LedgerError::Unsupported("an attestation index"))
    }

    /// The attestations filed under `model` and `version`, in the order they were first filed.
    fn filed_attestations(&self, model: &str, version: &str) -> Result<Vec<Vec<u8>>, LedgerError> {
        let _ = (model, version);
        Ok(Vec::new())
    }

    /// Every stored attestation digest, in digest order (`modelgate storage migrate`). The
    /// default refuses: this store cannot list its attestations.
    fn attestation_digests(&self) -> Result<Vec<String>, LedgerError> {
        Err(LedgerError::Unsupported("listing attestations"))
    }

    /// Every filing `(model, version, digest)` of [`Store::file_attestation`], in filing order.
    fn attestation_filings(&self) -> Result<Vec<(String, String, String)>, LedgerError> {
        Ok(Vec::new())
    }

    /// The perfect tree node `(level, index)`: the hash of the leaves
    /// `[index << level, (index + 1) << level)` (see [`super::merkle`]). Fails with
    /// [`LedgerError::MissingNode`] when it is not (or not yet) stored.
    ///
    /// The default derives the node from the stored leaf hashes, reading `2^level` records.
    fn tree_node(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        node_from_leaves(self, level, index)
    }

    /// The stored perfect nodes of `level` with index in `[from, to)`, as `(index, hash)` in
    /// index order; nodes not (or not yet) stored are left out. Verification reads the nodes
    /// a batch of records completes this way.
    ///
    /// The default reads them one by one through [`Store::tree_node`]; durable stores override
    /// it with one range read.
    fn tree_nodes(&self, level: u32, from: u64, to: u64) -> Result<Vec<(u64, Hash)>, LedgerError> {
        let mut nodes = Vec::new();
        for index in from..to {
            match self.tree_node(level, index) {
                Ok(hash) => nodes.push((index, hash)),
                Err(LedgerError::MissingNode { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(nodes)
    }

    /// The RFC 6962 root of the first `size` records.
    fn tree_root(&self, size: u64) -> Result<Hash, LedgerError> {
        check_tree_size(self, size)?;
        merkle::root(&StoreNodes(self), size)
    }

    /// The RFC 6962 audit path of record `index` in the tree of the first `size` records.
    fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        check_tree_size(self, size)?;
        merkle::inclusion_proof(&StoreNodes(self), index, size)
    }

    /// The RFC 6962 consistency proof from the tree of `old` records to the tree of `new`.
    fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, LedgerError> {
        check_tree_size(self, new)?;
        merkle::consistency_proof(&StoreNodes(self), old, new)
    }

    /// Stores the checkpoint `note` for tree size `size` (storage only: the caller signs and
    /// formats it). Storing the identical note again is a no-op; a different note for a stored
    /// size is refused with [`LedgerError::CheckpointConflict`], size 0 with
    /// [`LedgerError::EmptyCheckpoint`] and a size beyond the ledger with
    /// [`LedgerError::TreeBeyondLedger`]. The default refuses: this store keeps no checkpoints.
    fn put_checkpoint(&mut self, size: u64, note: &str) -> Result<(), LedgerError> {
        let _ = (size, note);
        Err(LedgerError::Unsupported("checkpoints"))
    }

    /// Takes the checkpoint signer lock, held until [`Store::unlock_checkpoints`] or until the
    /// handle closes: with several replicas on one database, one signs at a time. The default
    /// (single-writer stores) has nothing to lock.
    fn lock_checkpoints(&mut self) -> Result<(), LedgerError> {
        Ok(())
    }

    /// Releases the lock [`Store::lock_checkpoints`] took.
    fn unlock_checkpoints(&mut self) -> Result<(), LedgerError> {
        Ok(())
    }

    /// Takes the checkpoint signer lock if no one holds it, without waiting: `Ok(false)` when
    /// another handle (another replica) is signing. Automatic checkpoints use it, so that an
    /// appender never stalls behind another replica's signature.
    fn try_lock_checkpoints(&mut self) -> Result<bool, LedgerError> {
        self.lock_checkpoints().map(|()| true)
    }

    /// The checkpoint note stored for `size`, if any.
    fn checkpoint(&self, size: u64) -> Result<Option<String>, LedgerError> {
        let _ = size;
        Ok(None)
    }

    /// The stored checkpoint with the largest size, if any.
    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, LedgerError> {
        Ok(None)
    }

    /// Every stored checkpoint, by increasing size.
    fn checkpoints(&self) -> Result<Vec<(u64, String)>, LedgerError> {
        Ok(Vec::new())
    }

    /// The `n` stored checkpoints with the largest sizes, largest first. Durable stores read
    /// only those; the default takes them from [`Store::checkpoints`].
    fn latest_checkpoints(&self, n: u64) -> Result<Vec<(u64, String)>, LedgerError> {
        let mut all = self.checkpoints()?;
        all.reverse();
        all.truncate(usize::try_from(n).unwrap_or(usize::MAX));
        Ok(all)
    }

    /// The smallest stored checkpoint that covers record `index` (size greater than `index`),
    /// if any: the first signed tree head that included the record. Durable stores answer from
    /// an index; the default scans [`Store::checkpoints`].
    fn first_checkpoint_after(&self, index: u64) -> Result<Option<(u64, String)>, LedgerError> {
        Ok(self
            .checkpoints()?
            .into_iter()
            .find(|(size, _)| *size > index))
    }
}

/// A boxed store is a store (the workspace hands out `Box<dyn Store>`): every method forwards,
/// so the boxed store's own implementations are the ones that run.
impl<S: Store + ?Sized> Store for Box<S> {
    fn append(&mut self, drafts: &[RecordDraft]) -> Result<Vec<SealedRecord>, LedgerError> {
        (**self).append(drafts)
    }

    fn append_unless(
        &mut self,
        kind: RecordKind,
        since: u64,
        drafts: &[RecordDraft],
    ) -> Result<Vec<SealedRecord>, LedgerError> {
        (**self).append_unless(kind, since, drafts)
    }

    fn append_batch(&mut self, batch: &[AppendRequest]) -> Result<Vec<AppendOutcome>, LedgerError> {
        (**self).append_batch(batch)
    }

    fn probe_write(&mut self) -> Result<(), LedgerError> {
        (**self).probe_write()
    }

    fn size(&self) -> Result<u64, LedgerError> {
        (**self).size()
    }

    fn record(&self, index: u64) -> Result<Option<StoredRecord>, LedgerError> {
        (**self).record(index)
    }

    fn records(&self, from: u64, limit: u64) -> Result<Vec<StoredRecord>, LedgerError> {
        (**self).records(from, limit)
    }

    fn records_of_kind(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, LedgerError> {
        (**self).records_of_kind(kind)
    }

    fn decisions_for_model(&self, model: &str) -> Result<Vec<StoredRecord>, LedgerError> {
        (**self).decisions_for_model(model)
    }

    fn decisions_for_model_before(
        &self,
        model: &str,
        before: u64,
        limit: u64,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        (**self).decisions_for_model_before(model, before, limit)
    }

    fn last_of_kinds(&self, kinds: &[RecordKind]) -> Result<Option<u64>, LedgerError> {
        (**self).last_of_kinds(kinds)
    }

    fn head(&self) -> Result<Option<Head>, LedgerError> {
        (**self).head()
    }

    fn put_attestation(&mut self, digest: &str, bytes: &[u8]) -> Result<(), LedgerError> {
        (**self).put_attestation(digest, bytes)
    }

    fn attestation(&self, digest: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        (**self).attestation(digest)
    }

    fn file_attestation(
        &mut self,
        model: &str,
        version: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(), LedgerError> {
        (**self).file_attestation(model, version, digest, bytes)
    }

    fn filed_attestations(&self, model: &str, version: &str) -> Result<Vec<Vec<u8>>, LedgerError> {
        (**self).filed_attestations(model, version)
    }

    fn attestation_digests(&self) -> Result<Vec<String>, LedgerError> {
        (**self).attestation_digests()
    }

    fn attestation_filings(&self) -> Result<Vec<(String, String, String)>, LedgerError> {
        (**self).attestation_filings()
    }

    fn tree_node(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        (**self).tree_node(level, index)
    }

    fn tree_nodes(&self, level: u32, from: u64, to: u64) -> Result<Vec<(u64, Hash)>, LedgerError> {
        (**self).tree_nodes(level, from, to)
    }

    fn tree_root(&self, size: u64) -> Result<Hash, LedgerError> {
        (**self).tree_root(size)
    }

    fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        (**self).inclusion_proof(index, size)
    }

    fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, LedgerError> {
        (**self).consistency_proof(old, new)
    }

    fn put_checkpoint(&mut self, size: u64, note: &str) -> Result<(), LedgerError> {
        (**self).put_checkpoint(size, note)
    }

    fn lock_checkpoints(&mut self) -> Result<(), LedgerError> {
        (**self).lock_checkpoints()
    }

    fn unlock_checkpoints(&mut self) -> Result<(), LedgerError> {
        (**self).unlock_checkpoints()
    }

    fn try_lock_checkpoints(&mut self) -> Result<bool, LedgerError> {
        (**self).try_lock_checkpoints()
    }

    fn checkpoint(&self, size: u64) -> Result<Option<String>, LedgerError> {
        (**self).checkpoint(size)
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, LedgerError> {
        (**self).latest_checkpoint()
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, LedgerError> {
        (**self).checkpoints()
    }

    fn latest_checkpoints(&self, n: u64) -> Result<Vec<(u64, String)>, LedgerError> {
        (**self).latest_checkpoints(n)
    }

    fn first_checkpoint_after(&self, index: u64) -> Result<Option<(u64, String)>, LedgerError> {
        (**self).first_checkpoint_after(index)
    }
}

/// Commits `request` on its own through [`Store::append_batch`], folding a refusal and a
/// failed batch into one result.
pub fn append_one<S: Store + ?Sized>(store: &mut S, request: AppendRequest) -> AppendOutcome {
    store
        .append_batch(std::slice::from_ref(&request))?
        .pop()
        .unwrap_or_else(|| {
            Err(LedgerError::Inconsistent(
                "the store returned no outcome for an append".to_owned(),
            ))
        })
}

/// The default [`Store::append_batch`] step: attestations, then the (guarded) records.
fn append_separately<S: Store + ?Sized>(store: &mut S, request: &AppendRequest) -> AppendOutcome {
    if request.is_empty() {
        return Ok(Vec::new());
    }
    for (digest, bytes) in &request.attestations {
        store.put_attestation(digest, bytes)?;
    }
    if let Some(guard) = request.guard {
        for &kind in guard.kinds {
            let filed = store.records_of_kind(kind)?;
            if let Some((kind, index)) = guard.trips_on(filed.iter().map(|r| (kind, r.index))) {
                return Err(LedgerError::Raced { kind, index });
            }
        }
    }
    store.append(&request.drafts)
}

/// The first index of `store`'s first `size` records whose record time is at or after `at`
/// (`size` when none is), by bisecting record times: about 20 record reads for a million
/// records. Record times follow index order unless the clock was stepped back; a record placed
/// after a step back can sit beyond the index this returns though it is older than `at`.
pub fn first_at_or_after<S: Store + ?Sized>(
    store: &S,
    size: u64,
    at: time::OffsetDateTime,
) -> Result<u64, LedgerError> {
    let (mut lo, mut hi) = (0, size);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let record = store
            .record(mid)?
            .ok_or_else(|| LedgerError::Inconsistent(format!("record {mid} is missing")))?;
        let time = super::parse_record(&record.bytes)
            .ok()
            .and_then(|r| crate::clock::parse_rfc3339(&r.time).ok())
            .ok_or_else(|| {
                LedgerError::Inconsistent(format!("record {mid} has no readable time"))
            })?;
        if time < at {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// [`Store::decisions_for_model`] by reading every decision record.
pub fn scan_decisions_for_model<S: Store + ?Sized>(
    store: &S,
    model: &str,
) -> Result<Vec<StoredRecord>, LedgerError> {
    Ok(store
        .records_of_kind(RecordKind::Decision)?
        .into_iter()
        .filter(|r| {
            super::record::parse_record(&r.bytes).is_ok_and(|rec| {
                rec.body.pointer("/request/model").and_then(|m| m.as_str()) == Some(model)
            })
        })
        .collect())
}

/// A [`NodeSource`] view of a store, reading through [`Store::tree_node`].
pub struct StoreNodes<'a, S: ?Sized>(pub &'a S);

impl<S: Store + ?Sized> NodeSource for StoreNodes<'_, S> {
    fn perfect_node(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        self.0.tree_node(level, index)
    }
}

/// Refuses tree sizes beyond the records `store` holds.
fn check_tree_size<S: Store + ?Sized>(store: &S, requested: u64) -> Result<(), LedgerError> {
    let size = store.size()?;
    if requested > size {
        return Err(LedgerError::TreeBeyondLedger { requested, size });
    }
    Ok(())
}

/// Computes node `(level, index)` from the stored leaf hashes of the records it covers.
fn node_from_leaves<S: Store + ?Sized>(
    store: &S,
    level: u32,
    index: u64,
) -> Result<Hash, LedgerError> {
    let width = 1u64
        .checked_shl(level)
        .ok_or_else(|| missing_node(level, index))?;
    let start = index
        .checked_mul(width)
        .filter(|s| s.checked_add(width).is_some())
        .ok_or_else(|| missing_node(level, index))?;
    let mut frontier = Frontier::new();
    let mut next = start;
    while frontier.size() < width {
        let rows = store.records(next, width - frontier.size())?;
        if rows.is_empty() {
            return Err(missing_node(level, index));
        }
        for row in rows {
            if row.index != next {
                return Err(missing_node(level, index));
            }
            frontier.push(row.leaf_hash)?;
            next += 1;
        }
    }
    Ok(frontier.root())
}

fn missing_node(level: u32, index: u64) -> LedgerError {
    LedgerError::MissingNode { level, index }
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

/// Refuses an attestation digest that is malformed or not the SHA-256 of `bytes`.
pub(super) fn check_attestation(digest: &str, bytes: &[u8]) -> Result<(), LedgerError> {
    if crate::digest::parse_prefixed(digest).is_none() {
        return Err(LedgerError::InvalidDigest(digest.to_owned()));
    }
    let actual = crate::digest::sha256_prefixed(bytes);
    if actual != digest {
        return Err(LedgerError::AttestationDigestMismatch {
            claimed: digest.to_owned(),
            actual,
        });
    }
    Ok(())
}

/// Stored attestation `bytes` if they hash to `digest`; a stored row that does not is an
/// inconsistency.
pub(super) fn verified_attestation(digest: &str, bytes: Vec<u8>) -> Result<Vec<u8>, LedgerError> {
    if crate::digest::sha256_prefixed(&bytes) == digest {
        Ok(bytes)
    } else {
        Err(LedgerError::Inconsistent(format!(
            "stored attestation `{digest}` does not match its digest"
        )))
    }
}

/// The head as a batch has moved it so far, and the `(kind, index)` of the records it has
/// filed: what the next request of the batch is admitted against.
pub(super) struct RunningHead {
    /// The head after the requests admitted so far.
    pub head: Option<Head>,
    /// The records filed by the batch so far.
    pub filed: Vec<(RecordKind, u64)>,
}

impl RunningHead {
    /// A batch starting at `head`.
    pub fn new(head: Option<Head>) -> Self {
        RunningHead {
            head,
            filed: Vec::new(),
        }
    }

    /// Moves the head past `sealed` (records of `kinds`, in order).
    pub fn advance(
        &mut self,
        kinds: &[RecordDraft],
        sealed: &[SealedRecord],
    ) -> Result<(), LedgerError> {
        for (draft, record) in kinds.iter().zip(sealed) {
            self.filed.push((draft.kind, record.index));
        }
        if let Some(last) = sealed.last() {
            let size = last
                .index
                .checked_add(1)
                .ok_or(LedgerError::IndexOutOfRange(last.index))?;
            self.head = Some(Head {
                size,
                leaf_hash: last.leaf_hash,
            });
        }
        Ok(())
    }
}

/// A `'static` one-kind slice for [`AppendGuard::kinds`].
fn kind_slice(kind: RecordKind) -> &'static [RecordKind] {
    let at = RecordKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    RecordKind::ALL.get(at..=at).unwrap_or(&[])
}
