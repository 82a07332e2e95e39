//! [`GroupCommit`]: one appender thread that drains concurrent appends into batches.
//!
//! Durability costs one sync per transaction, whatever the transaction holds. Callers hand their
//! [`AppendRequest`] to [`GroupCommit::append`] (blocking) or [`GroupCommit::submit`] (with a
//! completion callback, for async callers); a single thread owns the [`Store`], takes every
//! request waiting in its queue (up to [`GroupOptions::max_batch_records`] records) and commits
//! them with one [`Store::append_batch`]. While that transaction syncs, new requests queue up
//! and form the next batch, so the batch size follows the load without any timer.
//!
//! Promises:
//!
//! - A caller is answered only after the transaction holding its records has committed
//!   durably; the answer is its own [`AppendOutcome`] (its sealed records, or why its request
//!   was refused on its own, e.g. a tripped guard).
//! - If the batch fails (the store errs or the commit fails), every caller in it gets
//!   [`LedgerError::BatchFailed`] with the cause, and nothing of the batch is acknowledged: the
//!   gate stays closed. The store's transaction leaves the ledger as it was before the batch
//!   (a database server whose connection broke during `COMMIT` is asked afterwards whether the
//!   batch landed; if that cannot be told, its records may be there, never acknowledged).
//! - If the appender thread is gone, callers get [`LedgerError::AppenderStopped`]; nobody waits
//!   forever.
//! - After each committed batch an optional hook runs on the store (automatic checkpoints); it
//!   cannot affect the answers, which are already sent.
//! - The last batch that failed as a whole is remembered ([`GroupCommit::last_failure`], a
//!   [`CommitFailure`]) until a later batch commits or a write probe
//!   ([`GroupCommit::probe`], [`Store::probe_write`], run on the same thread and store)
//!   succeeds, so readiness can report a ledger that cannot be written, and see it recover
//!   without waiting for a decision.

use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use super::store::{AppendOutcome, AppendRequest, Store};
use super::LedgerError;
use crate::clock::Stopwatch;

/// Requests that may wait in the queue; past it, `submit` blocks until the appender catches up
/// (back-pressure instead of unbounded memory when the disk stalls).
pub const QUEUE_CAPACITY: usize = 4_096;

/// Default upper bound on the records one batch takes from the queue.
pub const DEFAULT_MAX_BATCH_RECORDS: usize = 1024;

/// Work done on the store after each committed batch (for example, automatic checkpoints). It
/// reports its own failures: the batch's answers are already sent.
pub type AfterBatch = Box<dyn FnMut(&mut dyn Store) + Send>;

/// What one batch came to (for metrics).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchReport {
    /// Requests in the batch.
    pub requests: usize,
    /// Records acknowledged.
    pub records: u64,
    /// Time from the start of the transaction to its durable commit (or failure), in seconds.
    pub seconds: f64,
    /// Whether the batch failed as a whole.
    pub failed: bool,
}

/// Called with the report of every batch, on the appender thread.
pub type OnBatch = Box<dyn Fn(&BatchReport) + Send>;

/// How a [`GroupCommit`] batches.
pub struct GroupOptions {
    /// A batch stops taking queued requests once it holds this many records (a single larger
    /// request still forms a batch of its own).
    pub max_batch_records: usize,
    /// Runs on the store after every committed batch.
    pub after_batch: Option<AfterBatch>,
    /// Told about every batch (metrics).
    pub on_batch: Option<OnBatch>,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            max_batch_records: DEFAULT_MAX_BATCH_RECORDS,
            after_batch: None,
            on_batch: None,
        }
    }
}

impl std::fmt::Debug for GroupOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupOptions")
            .field("max_batch_records", &self.max_batch_records)
            .field("after_batch", &self.after_batch.is_some())
            .field("on_batch", &self.on_batch.is_some())
            .finish()
    }
}

type Reply = Box<dyn FnOnce(AppendOutcome) + Send>;

/// Queued work: an append, or (`request` `None`) a write probe, which runs on its own.
struct Job {
    request: Option<AppendRequest>,
    reply: Reply,
}

/// Counters of the batches committed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Batches committed (or failed).
    pub batches: u64,
    /// Requests answered.
    pub requests: u64,
    /// Records acknowledged.
    pub records: u64,
    /// Batches that failed as a whole.
    pub failed_batches: u64,
}

/// The write that failed last (a batch or a probe), while no write has succeeded since (see
/// [`GroupCommit::last_failure`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CommitFailure {
    /// Why the write failed (the store's error).
    pub message: String,
    /// Batches the appender had run when it failed (the failed batch's number, 1 for the
    /// first batch, when a batch failed).
    pub batch: u64,
    /// Writes (batches or probes) that failed in a row, this one included.
    pub consecutive: u64,
    /// Time since the batch failed.
    pub age: std::time::Duration,
}

/// [`CommitFailure`] as kept: the age is measured when asked.
#[derive(Debug, Clone)]
struct Failed {
    message: String,
    batch: u64,
    consecutive: u64,
    at: Stopwatch,
    /// Whether a successful probe may clear it: only storage errors (a full disk, a failed
    /// write or sync, a lock), which a durable write elsewhere in the file shows gone. A
    /// refusal for another reason (an inconsistent head, a store answering the wrong number of
    /// requests) stays until a batch commits.
    probe_clears: bool,
}

/// What the appender thread shares with the handle.
#[derive(Debug, Default)]
struct Shared {
    stats: GroupStats,
    failure: Option<Failed>,
}

/// The group-commit appender: a handle to the thread that owns the store. Share it by reference
/// (it is `Sync`); dropping it (or [`GroupCommit::shutdown`]) lets the thread finish the queued
/// requests and stop.
pub struct GroupCommit {
    queue: Option<mpsc::SyncSender<Job>>,
    worker: Option<JoinHandle<Box<dyn Store>>>,
    shared: Arc<Mutex<Shared>>,
    /// When the last probe was queued: probes are at most one per [`PROBE_INTERVAL`].
    last_probe: Mutex<Option<Stopwatch>>,
}

/// The shortest time between two write probes (each is a durable write on the one appender
/// thread, so callers of an unauthenticated readiness endpoint cannot queue them back to back).
pub const PROBE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// How long [`GroupCommit::probe`] waits for its answer.
pub const PROBE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("stats", &self.stats())
            .finish()
    }
}

impl GroupCommit {
    /// Starts the appender thread, which takes ownership of `store`.
    pub fn start(store: Box<dyn Store>, options: GroupOptions) -> Result<GroupCommit, LedgerError> {
        let (queue, jobs) = mpsc::sync_channel::<Job>(QUEUE_CAPACITY);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let worker_shared = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name("modelgate-appender".to_owned())
            .spawn(move || run(store, options, &jobs, &worker_shared))?;
        Ok(GroupCommit {
            queue: Some(queue),
            worker: Some(worker),
            shared,
            last_probe: Mutex::new(None),
        })
    }

    /// Queues `request`; `done` is called with its outcome once its batch is durable (or has
    /// failed). `done` runs on the appender thread: keep it short (send on a channel). Blocks
    /// while [`QUEUE_CAPACITY`] requests are already waiting.
    pub fn submit(
        &self,
        request: AppendRequest,
        done: impl FnOnce(AppendOutcome) + Send + 'static,
    ) {
        self.enqueue(Job {
            request: Some(request),
            reply: Box::new(done),
        });
    }

    fn enqueue(&self, job: Job) {
        let Some(queue) = &self.queue else {
            (job.reply)(Err(LedgerError::AppenderStopped));
            return;
        };
        if let Err(mpsc::SendError(job)) = queue.send(job) {
            (job.reply)(Err(LedgerError::AppenderStopped));
        }
    }

    /// Appends `request` and waits until its batch is durable.
    pub fn append(&self, request: AppendRequest) -> AppendOutcome {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(request, move |outcome| {
            // The receiver waits below; if it is gone there is nobody left to tell.
            let _ = tx.send(outcome);
        });
        rx.recv().unwrap_or(Err(LedgerError::AppenderStopped))
    }

    /// Asks the store, on the appender thread, whether it takes a durable write now
    /// ([`Store::probe_write`]): success forgets a [`GroupCommit::last_failure`] that was a
    /// storage error, failure records it. Waits behind the requests already queued, at most
    /// [`PROBE_WAIT`]; refused without writing when the last probe was queued less than
    /// [`PROBE_INTERVAL`] ago.
    pub fn probe(&self) -> Result<(), LedgerError> {
        {
            let mut last = match self.last_probe.lock() {
                Ok(last) => last,
                Err(poisoned) => poisoned.into_inner(),
            };
            if last.as_ref().is_some_and(|t| t.elapsed() < PROBE_INTERVAL) {
                return Err(LedgerError::Inconsistent(
                    "the ledger was probed moments ago; not again yet".to_owned(),
                ));
            }
            *last = Some(Stopwatch::start());
        }
        let (tx, rx) = mpsc::sync_channel(1);
        self.enqueue(Job {
            request: None,
            reply: Box::new(move |outcome| {
                let _ = tx.send(outcome.map(|_| ()));
            }),
        });
        match rx.recv_timeout(PROBE_WAIT) {
            Ok(outcome) => outcome,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(LedgerError::Inconsistent(
                "the write probe did not finish within a second".to_owned(),
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(LedgerError::AppenderStopped),
        }
    }

    /// Whether the appender thread is still taking requests.
    pub fn is_running(&self) -> bool {
        self.queue.is_some() && self.worker.as_ref().is_some_and(|w| !w.is_finished())
    }

    /// Batches and records committed so far.
    pub fn stats(&self) -> GroupStats {
        self.shared.lock().map(|s| s.stats).unwrap_or_default()
    }

    /// The last write that failed (a batch as a whole, or a probe), if none has succeeded since:
    /// the ledger could not be written the last time it was tried. Cleared by the next batch
    /// that commits (even one whose requests were all refused on their own, such as by a
    /// tripped guard) or the next probe that succeeds.
    pub fn last_failure(&self) -> Option<CommitFailure> {
        let shared = match self.shared.lock() {
            Ok(shared) => shared,
            Err(poisoned) => poisoned.into_inner(),
        };
        shared.failure.as_ref().map(|f| CommitFailure {
            message: f.message.clone(),
            batch: f.batch,
            consecutive: f.consecutive,
            age: f.at.elapsed(),
        })
    }

    /// Stops taking requests, lets the thread answer everything already queued, and returns
    /// the store.
    pub fn shutdown(mut self) -> Result<Box<dyn Store>, LedgerError> {
        self.queue = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(store)) => Ok(store),
            _ => Err(LedgerError::AppenderStopped),
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.queue = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// The appender loop: block for one job, take what else is queued, commit, answer, repeat until
/// every handle is gone.
fn run(
    mut store: Box<dyn Store>,
    mut options: GroupOptions,
    jobs: &mpsc::Receiver<Job>,
    shared: &Mutex<Shared>,
) -> Box<dyn Store> {
    let limit = options.max_batch_records.max(1);
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(mpsc::RecvError) => return store,
            },
        };
        let Some(request) = first.request else {
            let result = store.probe_write();
            note_outcome(shared, result.as_ref().err(), Write::Probe);
            (first.reply)(result.map(|()| Vec::new()));
            continue;
        };
        let mut records = request.drafts.len();
        let mut batch = vec![(request, first.reply)];
        while records < limit {
            match jobs.try_recv() {
                Ok(Job {
                    request: Some(request),
                    reply,
                }) if records + request.drafts.len() <= limit => {
                    records += request.drafts.len();
                    batch.push((request, reply));
                }
                // A probe, or a request that does not fit: it starts the next round.
                Ok(job) => {
                    carried = Some(job);
                    break;
                }
                Err(_) => break,
            }
        }
        let (requests, replies): (Vec<AppendRequest>, Vec<Reply>) = batch.into_iter().unzip();
        let watch = crate::clock::Stopwatch::start();
        // A store answering another number of requests than it was given failed the batch.
        let result = store.append_batch(&requests).and_then(|outcomes| {
            if outcomes.len() == requests.len() {
                Ok(outcomes)
            } else {
                Err(LedgerError::Inconsistent(format!(
                    "the store answered {} of {} requests in a batch",
                    outcomes.len(),
                    requests.len()
                )))
            }
        });
        let seconds = watch.elapsed().as_secs_f64();
        let records = record_stats(shared, &requests, &result);
        if let Some(on_batch) = &options.on_batch {
            on_batch(&BatchReport {
                requests: requests.len(),
                records,
                seconds,
                failed: result.is_err(),
            });
        }
        answer(replies, result);
        if let Some(hook) = options.after_batch.as_mut() {
            hook(store.as_mut());
        }
    }
}

/// Adds the batch to the stats and remembers (or forgets) the last failure; returns the records
/// the batch acknowledged.
fn record_stats(
    shared_lock: &Mutex<Shared>,
    requests: &[AppendRequest],
    result: &Result<Vec<AppendOutcome>, LedgerError>,
) -> u64 {
    let records = match result {
        Ok(outcomes) => outcomes
            .iter()
            .filter_map(|o| o.as_ref().ok())
            .map(|sealed| sealed.len() as u64)
            .sum::<u64>(),
        Err(_) => 0,
    };
    let mut shared = match shared_lock.lock() {
        Ok(shared) => shared,
        Err(poisoned) => poisoned.into_inner(),
    };
    let s = &mut shared.stats;
    s.batches += 1;
    s.requests += requests.len() as u64;
    s.records += records;
    if result.is_err() {
        s.failed_batches += 1;
    }
    drop(shared);
    note_outcome(shared_lock, result.as_ref().err(), Write::Batch);
    records
}

/// What wrote: a batch of appends, or a probe.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    Batch,
    Probe,
}

/// Remembers a failed write or, on success, forgets the last failure (a probe forgets only a
/// storage error: see `Failed::probe_clears`).
fn note_outcome(shared: &Mutex<Shared>, error: Option<&LedgerError>, write: Write) {
    let mut shared = match shared.lock() {
        Ok(shared) => shared,
        Err(poisoned) => poisoned.into_inner(),
    };
    let previous = shared
        .failure
        .as_ref()
        .map(|f| (f.consecutive, f.probe_clears));
    let Some(e) = error else {
        if write == Write::Batch || previous.is_none_or(|(_, clears)| clears) {
            shared.failure = None;
        }
        return;
    };
    let storage = matches!(e, LedgerError::Storage { .. })
        || matches!(e, LedgerError::BatchFailed(inner) if matches!(**inner, LedgerError::Storage { .. }));
    let batch = shared.stats.batches;
    shared.failure = Some(Failed {
        message: e.to_string(),
        batch,
        consecutive: previous.map_or(0, |(n, _)| n) + 1,
        at: Stopwatch::start(),
        probe_clears: storage && previous.is_none_or(|(_, clears)| clears),
    });
}

/// Sends each caller its outcome; a failed batch fails every caller with the shared cause.
fn answer(replies: Vec<Reply>, result: Result<Vec<AppendOutcome>, LedgerError>) {
    match result {
        Ok(outcomes) if outcomes.len() == replies.len() => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                reply(outcome);
            }
        }
        Ok(outcomes) => {
            let cause = Arc::new(LedgerError::Inconsistent(format!(
                "the store answered {} of {} requests in a batch",
                outcomes.len(),
                replies.len()
            )));
            for reply in replies {
                reply(Err(LedgerError::BatchFailed(Arc::clone(&cause))));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, requests = replies.len(), "batch not committed: gate closed for every caller in it");
            let cause = Arc::new(e);
            for reply in replies {
                reply(Err(LedgerError::BatchFailed(Arc::clone(&cause))));
            }
        }
    }
}
