//! [`Checkers`]: where the records' own checks ([`precheck`]) run during a store walk, on the
//! calling thread or on a few worker threads.
//!
//! The walk hands over each batch it reads ([`Checkers::submit`]) and later takes the batch's
//! results back ([`Checkers::wait`]) in the order it submitted them, then folds them into the
//! chain itself: everything sequential (index, `prev`, tree, checkpoints, the first failure)
//! stays on the walking thread, and only checks that depend on nothing but one record run
//! elsewhere. Batches go to the workers in turn, one channel pair per worker, so results come
//! back in submission order without sorting. The walk keeps at most [`Checkers::depth`]
//! batches in flight, which bounds memory.

use std::io;
use std::num::NonZeroUsize;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::{Builder, Scope, ScopedJoinHandle};

use super::precheck::{precheck, Checked};
use crate::ledger::store::StoredRecord;
use crate::ledger::LedgerError;

/// Most worker threads a walk uses: beyond a few, reading rows on the walking thread is the
/// limit, and every worker adds two batches in flight.
const MAX_WORKERS: usize = 8;

/// Batches in flight per worker: one being checked, one waiting, so no worker idles while the
/// walking thread reads.
const BATCHES_PER_WORKER: usize = 2;

/// The number of worker threads for a walk: one per available core (at most [`MAX_WORKERS`]),
/// none on a single core.
pub(super) fn worker_count() -> usize {
    match std::thread::available_parallelism().map_or(1, NonZeroUsize::get) {
        1 => 0,
        n => n.min(MAX_WORKERS),
    }
}

/// A batch handed over, to be taken back with [`Checkers::wait`].
pub(super) enum Ticket {
    /// Checked already (no workers).
    Done(Vec<Checked>),
    /// With the worker of this position.
    Worker(usize),
}

/// Where the records' own checks run.
pub(super) struct Checkers<'scope> {
    workers: Vec<Worker<'scope>>,
    next: usize,
}

struct Worker<'scope> {
    jobs: Sender<Vec<StoredRecord>>,
    results: Receiver<Vec<Checked>>,
    handle: ScopedJoinHandle<'scope, ()>,
}

impl<'scope> Checkers<'scope> {
    /// Starts up to `count` worker threads in `scope` (fewer if the system refuses more; with
    /// none, checks run on the calling thread).
    pub(super) fn start<'env>(scope: &'scope Scope<'scope, 'env>, count: usize) -> Self {
        let mut workers = Vec::with_capacity(count);
        for n in 0..count {
            let (jobs, job_queue) = channel::<Vec<StoredRecord>>();
            let (done, results) = channel();
            let spawned =
                Builder::new()
                    .name(format!("verify-{n}"))
                    .spawn_scoped(scope, move || {
                        for rows in job_queue {
                            if done.send(check_rows(&rows)).is_err() {
                                break;
                            }
                        }
                    });
            match spawned {
                Ok(handle) => workers.push(Worker {
                    jobs,
                    results,
                    handle,
                }),
                Err(_) => break,
            }
        }
        Checkers { workers, next: 0 }
    }

    /// How many batches the walk may have submitted and not yet taken back.
    pub(super) fn depth(&self) -> usize {
        (self.workers.len() * BATCHES_PER_WORKER).max(1)
    }

    /// Hands over a batch of rows for their own checks.
    pub(super) fn submit(&mut self, rows: Vec<StoredRecord>) -> Ticket {
        let Some(worker) = self.workers.get(self.next) else {
            return Ticket::Done(check_rows(&rows));
        };
        let at = self.next;
        self.next = (self.next + 1) % self.workers.len();
        // A worker that is gone shows up in `wait`, when its results are missing.
        let _ = worker.jobs.send(rows);
        Ticket::Worker(at)
    }

    /// The results of a submitted batch, one per row in order. Batches must be taken back in
    /// the order they were submitted.
    pub(super) fn wait(&mut self, ticket: Ticket) -> Result<Vec<Checked>, LedgerError> {
        match ticket {
            Ticket::Done(checked) => Ok(checked),
            Ticket::Worker(at) => self
                .workers
                .get(at)
                .and_then(|worker| worker.results.recv().ok())
                .ok_or_else(worker_lost),
        }
    }

    /// Stops the workers (abandoning batches still in flight) and waits for them to end.
    pub(super) fn finish(self) -> Result<(), LedgerError> {
        let mut lost = false;
        for Worker {
            jobs,
            results,
            handle,
        } in self.workers
        {
            drop(jobs);
            drop(results);
            lost |= handle.join().is_err();
        }
        if lost {
            Err(worker_lost())
        } else {
            Ok(())
        }
    }
}

/// The records' own checks, as stored rows.
fn check_rows(rows: &[StoredRecord]) -> Vec<Checked> {
    rows.iter()
        .map(|row| precheck(&row.bytes, Some((&row.leaf_hash, row.kind))))
        .collect()
}

fn worker_lost() -> LedgerError {
    LedgerError::Io(io::Error::other(
        "a verification worker thread stopped before finishing its records",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::record::{seal, RecordDraft, RecordKind, GENESIS_PREV};

    fn rows(n: u64) -> Vec<StoredRecord> {
        let mut prev = GENESIS_PREV;
        (0..n)
            .map(|i| {
                let draft = RecordDraft {
                    kind: RecordKind::Observation,
                    time: time::macros::datetime!(2026-11-27 10:00 UTC),
                    body: serde_json::json!({ "seq": i }),
                };
                let sealed = seal(&draft, i, &prev).unwrap();
                prev = sealed.leaf_hash;
                let mut leaf_hash = sealed.leaf_hash;
                if i % 7 == 3 {
                    leaf_hash[0] ^= 1;
                }
                StoredRecord {
                    index: i,
                    kind: draft.kind,
                    bytes: sealed.bytes,
                    leaf_hash,
                }
            })
            .collect()
    }

    /// However many workers, each batch's results come back complete and in order, as if
    /// checked on the calling thread.
    #[test]
    fn results_come_back_in_submission_order() {
        let all = rows(100);
        let expected = check_rows(&all);
        for count in [0, 1, 3] {
            std::thread::scope(|scope| {
                let mut checkers = Checkers::start(scope, count);
                assert_eq!(checkers.depth(), (count * BATCHES_PER_WORKER).max(1));
                let mut got = Vec::new();
                let mut tickets = std::collections::VecDeque::new();
                for batch in all.chunks(9) {
                    if tickets.len() == checkers.depth() {
                        got.extend(checkers.wait(tickets.pop_front().unwrap()).unwrap());
                    }
                    tickets.push_back(checkers.submit(batch.to_vec()));
                }
                for ticket in tickets {
                    got.extend(checkers.wait(ticket).unwrap());
                }
                checkers.finish().unwrap();
                assert_eq!(got, expected, "{count} workers");
            });
        }
    }

    /// Stopping with batches still in flight neither hangs nor fails.
    #[test]
    fn finishing_with_batches_in_flight_ends_the_workers() {
        std::thread::scope(|scope| {
            let mut checkers = Checkers::start(scope, 2);
            for batch in rows(40).chunks(10) {
                drop(checkers.submit(batch.to_vec()));
            }
            checkers.finish().unwrap();
        });
    }
}
