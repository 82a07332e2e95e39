//! A read-only [`Store`] that times every call it passes on to the workspace store, grouped by
//! what the call is for, so that a pack build can be split into its ledger reads and the rest.
//!
//! [`TimedStore`] answers reads exactly as the store it wraps (proofs included: they are
//! passed on whole, so their node reads count under the proof) and refuses writes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use modelgate::ledger::{
    Hash, Head, LedgerError, RecordDraft, RecordKind, SealedRecord, Store, StoredRecord,
};

/// Per group: calls, items they returned (records, proof hashes, blobs) and time spent.
pub type Tally = BTreeMap<&'static str, (u64, u64, Duration)>;

/// How many items an answer holds.
trait Items {
    fn items(&self) -> u64;
}

impl<T> Items for Result<Vec<T>, LedgerError> {
    fn items(&self) -> u64 {
        self.as_ref().map_or(0, |v| v.len() as u64)
    }
}

impl<T> Items for Result<Option<T>, LedgerError> {
    fn items(&self) -> u64 {
        self.as_ref().map_or(0, |v| u64::from(v.is_some()))
    }
}

impl Items for Result<u64, LedgerError> {
    fn items(&self) -> u64 {
        1
    }
}

impl Items for Result<Hash, LedgerError> {
    fn items(&self) -> u64 {
        u64::from(self.is_ok())
    }
}

/// Group names, in the order a pack build makes the calls.
pub const DECISIONS: &str = "decisions by model (`decisions_for_model`, one indexed query)";
/// Kind queries (key changes, bundle activations).
pub const KINDS: &str = "records by kind (`records_of_kind`: key changes, activations)";
/// Single records (freezes).
pub const RECORD: &str = "single records (`record`)";
/// Inclusion proofs.
pub const INCLUSION: &str = "inclusion proofs (`inclusion_proof`, stored nodes)";
/// Checkpoint lookups.
pub const CHECKPOINTS: &str = "checkpoint lookups (`latest_checkpoint`, `first_checkpoint_after`)";
/// Consistency proofs.
pub const CONSISTENCY: &str = "consistency proofs (`consistency_proof`)";
/// Blob reads.
pub const BLOBS: &str = "attestations, inputs and bundle files (`attestation`)";
/// Everything else.
pub const OTHER: &str = "other reads";

/// A store whose every read is timed.
pub struct TimedStore {
    inner: Box<dyn Store>,
    tally: Mutex<Tally>,
}

impl TimedStore {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn Store>) -> TimedStore {
        TimedStore {
            inner,
            tally: Mutex::new(Tally::new()),
        }
    }

    /// The calls made so far, by group.
    pub fn tally(&self) -> Tally {
        self.tally.lock().unwrap().clone()
    }

    fn timed<T: Items>(&self, group: &'static str, call: impl FnOnce(&dyn Store) -> T) -> T {
        let t = Instant::now();
        let out = call(&self.inner);
        let took = t.elapsed();
        let mut tally = self.tally.lock().unwrap();
        let entry = tally.entry(group).or_default();
        entry.0 += 1;
        entry.1 += out.items();
        entry.2 += took;
        out
    }
}

impl Store for TimedStore {
    fn append(&mut self, _drafts: &[RecordDraft]) -> Result<Vec<SealedRecord>, LedgerError> {
        Err(LedgerError::Unsupported(
            "appends through the timing wrapper",
        ))
    }

    fn size(&self) -> Result<u64, LedgerError> {
        self.timed(OTHER, |s| s.size())
    }

    fn record(&self, index: u64) -> Result<Option<StoredRecord>, LedgerError> {
        self.timed(RECORD, |s| s.record(index))
    }

    fn records(&self, from: u64, limit: u64) -> Result<Vec<StoredRecord>, LedgerError> {
        self.timed(OTHER, |s| s.records(from, limit))
    }

    fn records_of_kind(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, LedgerError> {
        self.timed(KINDS, |s| s.records_of_kind(kind))
    }

    fn decisions_for_model(&self, model: &str) -> Result<Vec<StoredRecord>, LedgerError> {
        self.timed(DECISIONS, |s| s.decisions_for_model(model))
    }

    fn last_of_kinds(&self, kinds: &[RecordKind]) -> Result<Option<u64>, LedgerError> {
        self.timed(OTHER, |s| s.last_of_kinds(kinds))
    }

    fn head(&self) -> Result<Option<Head>, LedgerError> {
        self.timed(OTHER, |s| s.head())
    }

    fn put_attestation(&mut self, _digest: &str, _bytes: &[u8]) -> Result<(), LedgerError> {
        Err(LedgerError::Unsupported(
            "writes through the timing wrapper",
        ))
    }

    fn attestation(&self, digest: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        self.timed(BLOBS, |s| s.attestation(digest))
    }

    fn filed_attestations(&self, model: &str, version: &str) -> Result<Vec<Vec<u8>>, LedgerError> {
        self.timed(OTHER, |s| s.filed_attestations(model, version))
    }

    fn tree_node(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        self.timed(OTHER, |s| s.tree_node(level, index))
    }

    fn tree_nodes(&self, level: u32, from: u64, to: u64) -> Result<Vec<(u64, Hash)>, LedgerError> {
        self.timed(OTHER, |s| s.tree_nodes(level, from, to))
    }

    fn tree_root(&self, size: u64) -> Result<Hash, LedgerError> {
        self.timed(OTHER, |s| s.tree_root(size))
    }

    fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        self.timed(INCLUSION, |s| s.inclusion_proof(index, size))
    }

    fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, LedgerError> {
        self.timed(CONSISTENCY, |s| s.consistency_proof(old, new))
    }

    fn checkpoint(&self, size: u64) -> Result<Option<String>, LedgerError> {
        self.timed(CHECKPOINTS, |s| s.checkpoint(size))
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, LedgerError> {
        self.timed(CHECKPOINTS, |s| s.latest_checkpoint())
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, LedgerError> {
        self.timed(CHECKPOINTS, |s| s.checkpoints())
    }

    fn first_checkpoint_after(&self, index: u64) -> Result<Option<(u64, String)>, LedgerError> {
        self.timed(CHECKPOINTS, |s| s.first_checkpoint_after(index))
    }
}
