//! Fault injection for the ledger: [`FaultyStore`] wraps any [`Store`] and makes its writes fail
//! on command; [`Faults`] is the switch that arms and clears those failures from outside.
//!
//! A diagnostic instrument, like [`crate::clock::FixedClock`]: it lets a test, a staging
//! deployment or a fire drill prove that the engine never answers without a durable record when
//! the storage underneath it fails. The store usually lives on another thread (the group-commit
//! appender owns it), so the switch is a cloneable handle ([`Faults`], an `Arc` inside) that
//! stays with whoever wants to pull it.
//!
//! What each [`Fault`] does to a write:
//!
//! - [`Fault::WriteError`]: the write fails before anything reaches the file (`disk I/O error`);
//!   nothing lands.
//! - [`Fault::SyncError`]: the commit's sync fails and the transaction is rolled back; nothing
//!   lands.
//! - [`Fault::SyncErrorAfterWrite`]: the write reaches the file and commits, then the caller is
//!   told the sync failed. This is the honest worst case of a failed `fsync`: whether the data
//!   is durable is unknown to the caller, so the records may be in the ledger although nobody
//!   was answered with them.
//! - [`Fault::DiskFull`]: the disk is full; the error carries SQLite's wording for it
//!   (`database or disk is full`, an [`std::io::ErrorKind::StorageFull`] source); nothing lands.
//!
//! How long a fault lasts is its [`Arming`]: the next write only, the next N writes, or until
//! [`Faults::clear`]. Every write operation of the trait counts as one write ([`Store::append`],
//! [`Store::append_unless`], [`Store::append_batch`], [`Store::put_attestation`],
//! [`Store::file_attestation`], [`Store::put_checkpoint`]); reads always pass through untouched.
//! [`FaultCounts`] says how many writes were seen and how many faults of each kind were
//! injected.
//!
//! Every injected error is a [`LedgerError::Storage`] whose message ends in `(injected fault)`,
//! so a log never mistakes a drill for a broken disk.

use std::sync::{Arc, Mutex, MutexGuard};

use super::merkle::Hash;
use super::record::{RecordDraft, RecordKind, SealedRecord};
use super::store::{AppendOutcome, AppendRequest, Head, Store, StoredRecord};
use super::LedgerError;

/// A storage failure to inject into writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The write fails before anything reaches the file; nothing lands.
    WriteError,
    /// The sync at commit fails and the transaction is rolled back; nothing lands.
    SyncError,
    /// The write commits, then the caller is told the sync failed: the records are in the
    /// ledger, but the caller sees an error (an acknowledgement lost, never one invented).
    SyncErrorAfterWrite,
    /// The disk is full (SQLite's `database or disk is full`); nothing lands.
    DiskFull,
}

impl Fault {
    /// Every fault, in declaration order.
    pub const ALL: [Fault; 4] = [
        Fault::WriteError,
        Fault::SyncError,
        Fault::SyncErrorAfterWrite,
        Fault::DiskFull,
    ];

    /// Whether the write still lands (commits) although the caller is told it failed.
    pub fn lands(self) -> bool {
        matches!(self, Fault::SyncErrorAfterWrite)
    }

    /// The message of the injected error's source, worded like SQLite's own.
    pub fn message(self) -> &'static str {
        match self {
            Fault::WriteError => "disk I/O error: the write failed (injected fault)",
            Fault::SyncError => {
                "disk I/O error: fsync failed and the transaction was rolled back (injected fault)"
            }
            Fault::SyncErrorAfterWrite => {
                "disk I/O error: fsync failed after the write reached the file (injected fault)"
            }
            Fault::DiskFull => "database or disk is full (injected fault)",
        }
    }

    fn io_kind(self) -> std::io::ErrorKind {
        match self {
            Fault::DiskFull => std::io::ErrorKind::StorageFull,
            Fault::WriteError | Fault::SyncError | Fault::SyncErrorAfterWrite => {
                std::io::ErrorKind::Other
            }
        }
    }

    /// The error a write fails with under this fault; `context` names the operation.
    pub fn error(self, context: &'static str) -> LedgerError {
        LedgerError::Storage {
            context,
            source: Box::new(std::io::Error::new(self.io_kind(), self.message())),
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fault::WriteError => "write error",
            Fault::SyncError => "sync error",
            Fault::SyncErrorAfterWrite => "sync error after write",
            Fault::DiskFull => "disk full",
        })
    }
}

/// How long an armed fault lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arming {
    /// The next write only.
    Once,
    /// The next `n` writes (`Times(0)` arms nothing).
    Times(u64),
    /// Every write until [`Faults::clear`].
    UntilCleared,
}

/// Writes seen and faults injected so far by the stores sharing one [`Faults`] switch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Write operations attempted (failed or not).
    pub writes: u64,
    /// [`Fault::WriteError`]s injected.
    pub write_errors: u64,
    /// [`Fault::SyncError`]s injected.
    pub sync_errors: u64,
    /// [`Fault::SyncErrorAfterWrite`]s injected.
    pub sync_errors_after_write: u64,
    /// [`Fault::DiskFull`]s injected.
    pub disk_full: u64,
}

impl FaultCounts {
    /// Faults injected, of every kind.
    pub fn injected(&self) -> u64 {
        self.write_errors + self.sync_errors + self.sync_errors_after_write + self.disk_full
    }

    /// Faults of `fault`'s kind injected.
    pub fn of(&self, fault: Fault) -> u64 {
        match fault {
            Fault::WriteError => self.write_errors,
            Fault::SyncError => self.sync_errors,
            Fault::SyncErrorAfterWrite => self.sync_errors_after_write,
            Fault::DiskFull => self.disk_full,
        }
    }

    fn count(&mut self, fault: Fault) {
        let slot = match fault {
            Fault::WriteError => &mut self.write_errors,
            Fault::SyncError => &mut self.sync_errors,
            Fault::SyncErrorAfterWrite => &mut self.sync_errors_after_write,
            Fault::DiskFull => &mut self.disk_full,
        };
        *slot += 1;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Remaining {
    Writes(u64),
    Unlimited,
}

#[derive(Debug, Default)]
struct Switch {
    armed: Option<(Fault, Remaining)>,
    counts: FaultCounts,
}

/// The switch that arms and clears faults for every [`FaultyStore`] built with it. Cloning it
/// shares the switch; it is `Send + Sync`, so a test can hold it while the store is owned by
/// another thread.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    switch: Arc<Mutex<Switch>>,
}

impl Faults {
    /// A switch with nothing armed.
    pub fn new() -> Faults {
        Faults::default()
    }

    /// Arms `fault` for the coming writes, replacing whatever was armed.
    pub fn arm(&self, fault: Fault, arming: Arming) {
        let remaining = match arming {
            Arming::Once => Remaining::Writes(1),
            Arming::Times(0) => {
                self.lock().armed = None;
                return;
            }
            Arming::Times(n) => Remaining::Writes(n),
            Arming::UntilCleared => Remaining::Unlimited,
        };
        self.lock().armed = Some((fault, remaining));
    }

    /// Disarms: from the next write on, writes pass through again.
    pub fn clear(&self) {
        self.lock().armed = None;
    }

    /// The fault armed now, if any.
    pub fn armed(&self) -> Option<Fault> {
        self.lock().armed.map(|(fault, _)| fault)
    }

    /// Writes seen and faults injected so far.
    pub fn counts(&self) -> FaultCounts {
        self.lock().counts
    }

    /// Counts one write and decides whether it fails (consuming one armed write).
    fn next_write(&self) -> Option<Fault> {
        let mut switch = self.lock();
        switch.counts.writes += 1;
        let (fault, remaining) = switch.armed?;
        switch.armed = match remaining {
            Remaining::Writes(n) if n <= 1 => None,
            Remaining::Writes(n) => Some((fault, Remaining::Writes(n - 1))),
            Remaining::Unlimited => Some((fault, Remaining::Unlimited)),
        };
        switch.counts.count(fault);
        Some(fault)
    }

    /// The switch, also after a thread panicked holding it (its state is plain counters).
    fn lock(&self) -> MutexGuard<'_, Switch> {
        match self.switch.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// A [`Store`] whose writes fail on command (see the module documentation); reads go straight
/// to the wrapped store.
#[derive(Debug)]
pub struct FaultyStore<S: Store> {
    inner: S,
    faults: Faults,
}

impl<S: Store> FaultyStore<S> {
    /// Wraps `inner` with a new switch (nothing armed); get the switch with
    /// [`FaultyStore::faults`] before handing the store away.
    pub fn new(inner: S) -> FaultyStore<S> {
        FaultyStore::with_faults(inner, Faults::new())
    }

    /// Wraps `inner`, obeying `faults` (several stores may share one switch).
    pub fn with_faults(inner: S, faults: Faults) -> FaultyStore<S> {
        FaultyStore { inner, faults }
    }

    /// The switch this store obeys (a shared handle).
    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Runs one write: fails it before it starts, or runs it and then reports the fault, or
    /// just runs it, as the switch says.
    fn write<T>(
        &mut self,
        context: &'static str,
        op: impl FnOnce(&mut S) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        match self.faults.next_write() {
            None => op(&mut self.inner),
            Some(fault) if fault.lands() => {
                op(&mut self.inner)?;
                Err(fault.error(context))
            }
            Some(fault) => Err(fault.error(context)),
        }
    }
}

impl<S: Store> Store for FaultyStore<S> {
    fn append(&mut self, drafts: &[RecordDraft]) -> Result<Vec<SealedRecord>, LedgerError> {
        self.write("appending records", |s| s.append(drafts))
    }

    fn append_unless(
        &mut self,
        kind: RecordKind,
        since: u64,
        drafts: &[RecordDraft],
    ) -> Result<Vec<SealedRecord>, LedgerError> {
        self.write("appending records", |s| {
            s.append_unless(kind, since, drafts)
        })
    }

    fn append_batch(&mut self, batch: &[AppendRequest]) -> Result<Vec<AppendOutcome>, LedgerError> {
        self.write("committing a batch", |s| s.append_batch(batch))
    }

    fn size(&self) -> Result<u64, LedgerError> {
        self.inner.size()
    }

    fn record(&self, index: u64) -> Result<Option<StoredRecord>, LedgerError> {
        self.inner.record(index)
    }

    fn records(&self, from: u64, limit: u64) -> Result<Vec<StoredRecord>, LedgerError> {
        self.inner.records(from, limit)
    }

    fn records_of_kind(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, LedgerError> {
        self.inner.records_of_kind(kind)
    }

    fn decisions_for_model(&self, model: &str) -> Result<Vec<StoredRecord>, LedgerError> {
        self.inner.decisions_for_model(model)
    }

    fn decisions_for_model_before(
        &self,
        model: &str,
        before: u64,
        limit: u64,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        self.inner.decisions_for_model_before(model, before, limit)
    }

    fn last_of_kinds(&self, kinds: &[RecordKind]) -> Result<Option<u64>, LedgerError> {
        self.inner.last_of_kinds(kinds)
    }

    fn head(&self) -> Result<Option<Head>, LedgerError> {
        self.inner.head()
    }

    fn put_attestation(&mut self, digest: &str, bytes: &[u8]) -> Result<(), LedgerError> {
        self.write("storing an attestation", |s| {
            s.put_attestation(digest, bytes)
        })
    }

    fn attestation(&self, digest: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        self.inner.attestation(digest)
    }

    fn file_attestation(
        &mut self,
        model: &str,
        version: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(), LedgerError> {
        self.write("filing an attestation", |s| {
            s.file_attestation(model, version, digest, bytes)
        })
    }

    fn filed_attestations(&self, model: &str, version: &str) -> Result<Vec<Vec<u8>>, LedgerError> {
        self.inner.filed_attestations(model, version)
    }

    fn tree_node(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        self.inner.tree_node(level, index)
    }

    fn tree_nodes(&self, level: u32, from: u64, to: u64) -> Result<Vec<(u64, Hash)>, LedgerError> {
        self.inner.tree_nodes(level, from, to)
    }

    fn tree_root(&self, size: u64) -> Result<Hash, LedgerError> {
        self.inner.tree_root(size)
    }

    fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        self.inner.inclusion_proof(index, size)
    }

    fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, LedgerError> {
        self.inner.consistency_proof(old, new)
    }

    fn put_checkpoint(&mut self, size: u64, note: &str) -> Result<(), LedgerError> {
        self.write("storing a checkpoint", |s| s.put_checkpoint(size, note))
    }

    fn probe_write(&mut self) -> Result<(), LedgerError> {
        self.write("probing a write", |s| s.probe_write())
    }

    fn checkpoint(&self, size: u64) -> Result<Option<String>, LedgerError> {
        self.inner.checkpoint(size)
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, LedgerError> {
        self.inner.latest_checkpoint()
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, LedgerError> {
        self.inner.checkpoints()
    }

    fn latest_checkpoints(&self, n: u64) -> Result<Vec<(u64, String)>, LedgerError> {
        self.inner.latest_checkpoints(n)
    }

    fn first_checkpoint_after(&self, index: u64) -> Result<Option<(u64, String)>, LedgerError> {
        self.inner.first_checkpoint_after(index)
    }

    fn lock_checkpoints(&mut self) -> Result<(), LedgerError> {
        self.inner.lock_checkpoints()
    }

    fn unlock_checkpoints(&mut self) -> Result<(), LedgerError> {
        self.inner.unlock_checkpoints()
    }

    fn try_lock_checkpoints(&mut self) -> Result<bool, LedgerError> {
        self.inner.try_lock_checkpoints()
    }

    fn attestation_digests(&self) -> Result<Vec<String>, LedgerError> {
        self.inner.attestation_digests()
    }

    fn attestation_filings(&self) -> Result<Vec<(String, String, String)>, LedgerError> {
        self.inner.attestation_filings()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arming_lasts_exactly_as_long_as_it_says() {
        let faults = Faults::new();
        faults.arm(Fault::DiskFull, Arming::Times(2));
        assert_eq!(faults.next_write(), Some(Fault::DiskFull));
        assert_eq!(faults.next_write(), Some(Fault::DiskFull));
        assert_eq!(faults.next_write(), None);
        faults.arm(Fault::SyncError, Arming::Once);
        assert_eq!(faults.armed(), Some(Fault::SyncError));
        assert_eq!(faults.next_write(), Some(Fault::SyncError));
        assert_eq!(faults.armed(), None);
        faults.arm(Fault::WriteError, Arming::UntilCleared);
        for _ in 0..5 {
            assert_eq!(faults.next_write(), Some(Fault::WriteError));
        }
        faults.clear();
        assert_eq!(faults.next_write(), None);
        faults.arm(Fault::WriteError, Arming::Times(0));
        assert_eq!(faults.next_write(), None);
        let counts = faults.counts();
        assert_eq!(counts.writes, 11);
        assert_eq!(counts.injected(), 8);
        assert_eq!(counts.of(Fault::WriteError), 5);
        assert_eq!(counts.disk_full, 2);
    }

    #[test]
    fn a_disk_full_fault_reads_like_the_full_disk_it_stands_for() {
        let e = Fault::DiskFull.error("committing a batch");
        let text = e.to_string();
        assert!(text.contains("database or disk is full"), "{text}");
        assert!(text.contains("injected fault"), "{text}");
        let kind = match &e {
            LedgerError::Storage { source, .. } => source
                .downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind),
            _ => None,
        };
        assert_eq!(kind, Some(std::io::ErrorKind::StorageFull), "{e:?}");
    }
}
