//! Group commit: concurrent callers share durable transactions, each is answered with its own
//! outcome only after its batch committed, a refused request does not disturb the others, and a
//! failed batch fails every caller in it while leaving the ledger as it was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod ledger_support;

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};

use ledger_support::*;
use modelgate::digest::sha256_prefixed;
use modelgate::ledger::{
    verify_store, AppendGuard, AppendOutcome, AppendRequest, GroupCommit, GroupOptions,
    LedgerError, RecordDraft, RecordKind, SealedRecord, SqliteStore, Store, StoredRecord,
    MAX_RECORD_BYTES,
};
use serde_json::json;

fn one(seq: u64) -> AppendRequest {
    AppendRequest::records(vec![draft(seq)])
}

fn open(path: &std::path::Path) -> Box<dyn Store> {
    Box::new(SqliteStore::open(path).unwrap())
}

/// 16 threads × 25 appends: every caller gets its own consecutive, distinct indices, every
/// acknowledged record is stored with the leaf hash it was given, and the ledger verifies.
#[test]
fn concurrent_callers_get_distinct_acknowledged_records_and_the_ledger_verifies() {
    let l = ledger(0);
    let group = GroupCommit::start(open(&l.path), GroupOptions::default()).unwrap();
    let acked = Mutex::new(Vec::<SealedRecord>::new());
    std::thread::scope(|s| {
        for t in 0..16u64 {
            let (group, acked) = (&group, &acked);
            s.spawn(move || {
                for i in 0..25u64 {
                    let sealed = group.append(one(t * 100 + i)).unwrap();
                    acked.lock().unwrap().extend(sealed);
                }
            });
        }
    });
    let stats = group.stats();
    let store = group.shutdown().unwrap();
    let acked = acked.into_inner().unwrap();
    assert_eq!(acked.len(), 400);
    let indices: BTreeSet<u64> = acked.iter().map(|r| r.index).collect();
    assert_eq!(indices, (0..400).collect());
    for record in &acked {
        let stored = store.record(record.index).unwrap().unwrap();
        assert_eq!(stored.leaf_hash, record.leaf_hash);
        assert_eq!(stored.bytes, record.bytes);
    }
    assert!(verify_store(store.as_ref()).unwrap().is_intact());
    assert_eq!(stats.requests, 400);
    assert_eq!(stats.records, 400);
    assert_eq!(stats.failed_batches, 0);
}

/// A store wrapper whose `append_batch` first waits for a go-ahead (to line callers up behind a
/// batch deterministically) and fails every batch while `fail` is set.
struct Controlled {
    inner: SqliteStore,
    hold_first: Option<Arc<Barrier>>,
    fail: Arc<Mutex<bool>>,
    batch_sizes: Arc<Mutex<Vec<usize>>>,
}

impl Store for Controlled {
    fn append_batch(&mut self, batch: &[AppendRequest]) -> Result<Vec<AppendOutcome>, LedgerError> {
        if let Some(barrier) = self.hold_first.take() {
            barrier.wait(); // the test has seen this batch start
            barrier.wait(); // the test has queued the next callers
        }
        self.batch_sizes.lock().unwrap().push(batch.len());
        if *self.fail.lock().unwrap() {
            return Err(LedgerError::Storage {
                context: "committing an append",
                source: "disk I/O error (injected)".into(),
            });
        }
        self.inner.append_batch(batch)
    }
    fn records_of_kind(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, LedgerError> {
        self.inner.records_of_kind(kind)
    }
    forward_store!(append);
    forward_store!(reads);
}

struct Harness {
    group: GroupCommit,
    barrier: Arc<Barrier>,
    fail: Arc<Mutex<bool>>,
    batch_sizes: Arc<Mutex<Vec<usize>>>,
    _ledger: Ledger,
}

fn controlled(options: GroupOptions) -> Harness {
    let l = ledger(0);
    let barrier = Arc::new(Barrier::new(2));
    let fail = Arc::new(Mutex::new(false));
    let batch_sizes = Arc::new(Mutex::new(Vec::new()));
    let store = Controlled {
        inner: SqliteStore::open(&l.path).unwrap(),
        hold_first: Some(Arc::clone(&barrier)),
        fail: Arc::clone(&fail),
        batch_sizes: Arc::clone(&batch_sizes),
    };
    let group = GroupCommit::start(Box::new(store), options).unwrap();
    Harness {
        group,
        barrier,
        fail,
        batch_sizes,
        _ledger: l,
    }
}

/// Submits `request` and returns the receiver of its outcome.
fn submit(group: &GroupCommit, request: AppendRequest) -> mpsc::Receiver<AppendOutcome> {
    let (tx, rx) = mpsc::channel();
    group.submit(request, move |o| tx.send(o).unwrap());
    rx
}

/// Callers that queue while a batch is committing are committed together, in one transaction,
/// in the order they queued.
#[test]
fn callers_queued_behind_a_commit_share_the_next_batch() {
    let h = controlled(GroupOptions::default());
    let first = submit(&h.group, one(0));
    h.barrier.wait(); // the first batch is inside the store
    let queued: Vec<_> = (1..=9).map(|seq| submit(&h.group, one(seq))).collect();
    h.barrier.wait(); // let it commit
    assert_eq!(first.recv().unwrap().unwrap()[0].index, 0);
    for (i, rx) in queued.iter().enumerate() {
        assert_eq!(rx.recv().unwrap().unwrap()[0].index, i as u64 + 1);
    }
    assert_eq!(*h.batch_sizes.lock().unwrap(), vec![1, 9]);
    assert_eq!(h.group.stats().batches, 2);
}

/// A failed commit fails every caller of that batch with the cause, acknowledges nothing, and
/// the appender keeps serving once the fault clears.
#[test]
fn a_failed_batch_fails_every_caller_and_the_appender_recovers() {
    let h = controlled(GroupOptions::default());
    let first = submit(&h.group, one(0));
    h.barrier.wait();
    *h.fail.lock().unwrap() = true;
    let queued: Vec<_> = (1..=5).map(|seq| submit(&h.group, one(seq))).collect();
    h.barrier.wait();
    for rx in std::iter::once(&first).chain(&queued) {
        match rx.recv().unwrap() {
            Err(LedgerError::BatchFailed(cause)) => {
                assert!(cause.to_string().contains("injected"), "{cause}")
            }
            other => panic!("expected BatchFailed, got {other:?}"),
        }
    }
    *h.fail.lock().unwrap() = false;
    let sealed = h.group.append(one(6)).unwrap();
    assert_eq!(sealed[0].index, 0, "nothing of the failed batches was kept");
    assert_eq!(h.group.stats().failed_batches, 2);
}

/// A real mid-transaction failure (the database aborts the third insert of a batch): all three
/// callers fail, the first two records are rolled back, the chain verifies, and the next batch
/// continues at the same index.
#[test]
fn an_aborted_transaction_rolls_back_the_whole_batch() {
    let mut l = ledger(2);
    raw(&l.path)
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON records WHEN NEW.bytes LIKE '%poison%' \
             BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END;",
        )
        .unwrap();
    let poison = RecordDraft {
        body: json!({"poison": true}),
        ..draft(9)
    };
    let batch = [one(2), one(3), AppendRequest::records(vec![poison]), one(4)];
    let err = l.store.append_batch(&batch).unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    assert_eq!(l.store.size().unwrap(), 2);
    assert!(l.store.record(2).unwrap().is_none());
    assert!(verify_store(&l.store).unwrap().is_intact());
    raw(&l.path).execute_batch("DROP TRIGGER refuse").unwrap();
    let sealed = l.store.append_batch(&batch[..2]).unwrap();
    assert_eq!(sealed[0].as_ref().unwrap()[0].index, 2);
    assert!(verify_store(&l.store).unwrap().is_intact());
}

/// Requests are judged one by one inside the batch: a tripped guard (also by a record filed
/// earlier in the same batch), an oversized record and a wrong attestation digest refuse only
/// their own request, and the accepted ones get consecutive indices.
#[test]
fn refusals_inside_a_batch_are_per_request() {
    let mut l = ledger(3);
    let key_change = RecordDraft {
        kind: RecordKind::KeyChange,
        ..draft(3)
    };
    let guarded = |since| AppendRequest {
        guard: Some(AppendGuard {
            kinds: &[RecordKind::KeyChange],
            since,
        }),
        ..one(10)
    };
    let mut big = draft(11);
    big.body = json!({ "blob": "x".repeat(MAX_RECORD_BYTES) });
    let envelope = b"{\"payload\":\"e30=\"}".to_vec();
    let attestation = |digest: String| AppendRequest {
        attestations: vec![(digest, envelope.clone())],
        ..one(12)
    };
    let batch = [
        guarded(3),                                      // ok: no key change yet → index 3
        AppendRequest::records(vec![key_change]),        // index 4
        guarded(3),                                      // raced by index 4, in this batch
        guarded(5),                                      // ok: snapshot after the change → 5
        AppendRequest::records(vec![big]),               // too large
        attestation(sha256_prefixed(b"something else")), // digest mismatch
        attestation(sha256_prefixed(&envelope)),         // ok → 6, envelope stored
    ];
    let outcomes = l.store.append_batch(&batch).unwrap();
    let index = |i: usize| outcomes[i].as_ref().unwrap()[0].index;
    assert_eq!((index(0), index(1), index(3), index(6)), (3, 4, 5, 6));
    assert!(matches!(
        outcomes[2],
        Err(LedgerError::Raced {
            kind: RecordKind::KeyChange,
            index: 4
        })
    ));
    assert!(matches!(
        outcomes[4],
        Err(LedgerError::RecordTooLarge { .. })
    ));
    assert!(matches!(
        outcomes[5],
        Err(LedgerError::AttestationDigestMismatch { .. })
    ));
    assert_eq!(l.store.size().unwrap(), 7);
    assert_eq!(
        l.store
            .attestation(&sha256_prefixed(&envelope))
            .unwrap()
            .unwrap(),
        envelope
    );
    // A guard tripped by a record already in the store.
    let raced = l.store.append_batch(&[guarded(4)]).unwrap();
    assert!(matches!(raced[0], Err(LedgerError::Raced { index: 4, .. })));
    assert!(verify_store(&l.store).unwrap().is_intact());
}

/// Everything queued before shutdown is answered; afterwards the store comes back intact.
#[test]
fn shutdown_answers_every_queued_caller() {
    let l = ledger(0);
    let group = GroupCommit::start(open(&l.path), GroupOptions::default()).unwrap();
    let pending: Vec<_> = (0..50).map(|seq| submit(&group, one(seq))).collect();
    let store = group.shutdown().unwrap();
    for rx in pending {
        rx.recv().unwrap().unwrap();
    }
    assert_eq!(store.size().unwrap(), 50);
}

/// A batch never takes more queued records than the limit; a larger single request still goes
/// through on its own.
#[test]
fn batches_respect_the_record_limit() {
    let h = controlled(GroupOptions {
        max_batch_records: 4,
        ..GroupOptions::default()
    });
    let first = submit(&h.group, one(0));
    h.barrier.wait();
    let mut rxs: Vec<_> = (1..=6).map(|seq| submit(&h.group, one(seq))).collect();
    rxs.push(submit(
        &h.group,
        AppendRequest::records((7..13).map(draft).collect()),
    ));
    h.barrier.wait();
    first.recv().unwrap().unwrap();
    for rx in rxs {
        rx.recv().unwrap().unwrap();
    }
    assert_eq!(*h.batch_sizes.lock().unwrap(), vec![1, 4, 2, 1]);
}

/// A store that answers a batch with one outcome too few (a store bug, not a storage error)
/// while `short` is set, and whose write probe always succeeds.
struct ShortAnswers {
    inner: SqliteStore,
    short: Arc<Mutex<bool>>,
}

impl Store for ShortAnswers {
    fn append_batch(&mut self, batch: &[AppendRequest]) -> Result<Vec<AppendOutcome>, LedgerError> {
        if *self.short.lock().unwrap() {
            return Ok(Vec::new());
        }
        self.inner.append_batch(batch)
    }
    fn probe_write(&mut self) -> Result<(), LedgerError> {
        self.inner.probe_write()
    }
    fn records_of_kind(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, LedgerError> {
        self.inner.records_of_kind(kind)
    }
    forward_store!(append);
    forward_store!(reads);
}

/// A store answering the wrong number of requests fails the batch and is remembered as a
/// failure; a successful write probe does not clear it (the probe shows the disk takes writes,
/// not that the store answers right): only a committed batch does (that a probe clears a
/// storage error is in tests/faults_http.rs). Probes are spaced by `PROBE_INTERVAL`.
#[test]
fn a_probe_clears_storage_errors_only_and_probes_are_spaced() {
    let l = ledger(0);
    let short = Arc::new(Mutex::new(true));
    let store = ShortAnswers {
        inner: SqliteStore::open(&l.path).unwrap(),
        short: Arc::clone(&short),
    };
    let group = GroupCommit::start(Box::new(store), GroupOptions::default()).unwrap();
    assert!(
        group.append(one(0)).is_err(),
        "a short answer fails the batch"
    );
    let failure = group.last_failure().expect("remembered");
    assert!(failure.message.contains("answered 0 of 1"), "{failure:?}");
    group.probe().unwrap();
    assert!(
        group.last_failure().is_some(),
        "a probe does not clear a failure that is not a storage error"
    );
    // Too soon for another probe: refused without writing.
    assert!(group.probe().is_err());
    *short.lock().unwrap() = false;
    group.append(one(0)).unwrap();
    assert!(
        group.last_failure().is_none(),
        "a committed batch clears it"
    );
}
