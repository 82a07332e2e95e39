//! Crash safety of group commit: a child process appends through [`GroupCommit`] from several
//! threads at once and prints every acknowledged index with its leaf hash; the parent kills it
//! with SIGKILL at pseudo-random moments, 50 times over the same ledger file. After every kill
//! the ledger must verify and hold every acknowledged record with the acknowledged leaf hash.
//!
//! The child is this test binary itself, re-run with [`CHILD_LEDGER`] set to the ledger path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use modelgate::ledger::{
    verify_store, AppendRequest, GroupCommit, GroupOptions, RecordDraft, RecordKind, SqliteStore,
    Store,
};
use serde_json::json;
use time::OffsetDateTime;

/// Set in the child's environment: the ledger to append to.
const CHILD_LEDGER: &str = "MODELGATE_TEST_CRASH_LEDGER";
const TEST_NAME: &str = "killed_group_appender_never_loses_an_acknowledged_record";
const KILLS: u64 = 50;
const WRITERS: u64 = 4;

#[test]
fn killed_group_appender_never_loses_an_acknowledged_record() {
    if let Ok(path) = std::env::var(CHILD_LEDGER) {
        append_until_killed(Path::new(&path));
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ledger.db");
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64; // fixed seed: the same kill schedule every run
    let mut acknowledged: Vec<(u64, String)> = Vec::new();
    let mut runs_with_acks = 0;
    for run in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_LEDGER, &path)
            .env("MODELGATE_TEST_CRASH_RUN", run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, acks_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || read_acks(stdout, &tx));
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut acks = Vec::new();
        if run % 2 == 1 {
            // Odd runs: kill while appends are certainly under way (after the first
            // acknowledgement); even runs: at any moment, including during start-up and open.
            acks.push(acks_rx.recv_timeout(Duration::from_secs(60)).unwrap());
            std::thread::sleep(Duration::from_millis(rng % 25));
        } else {
            std::thread::sleep(Duration::from_millis(rng % 60));
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reader.join().unwrap();
        acks.extend(acks_rx.try_iter());
        if !acks.is_empty() {
            runs_with_acks += 1;
        }
        acknowledged.extend(acks);
        check_ledger(&path, &acknowledged, run);
    }
    eprintln!(
        "{KILLS} kills, {} acknowledged records, {runs_with_acks} runs acknowledged something",
        acknowledged.len()
    );
    assert!(
        runs_with_acks >= KILLS / 2,
        "only {runs_with_acks} of {KILLS} runs got to acknowledge anything: the kills come too early to test appends"
    );
}

/// Sends on complete `ack <index> <leaf hex>` lines (a line cut by the kill is not an
/// acknowledgement the parent can rely on, so it is not counted).
fn read_acks(stdout: std::process::ChildStdout, acks: &mpsc::Sender<(u64, String)>) {
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap_or(0) > 0 {
        if let Some(rest) = line.strip_suffix('\n').and_then(|l| l.strip_prefix("ack ")) {
            let (index, leaf) = rest.split_once(' ').unwrap();
            acks.send((index.parse().unwrap(), leaf.to_owned()))
                .unwrap();
        }
        line.clear();
    }
}

fn check_ledger(path: &Path, acknowledged: &[(u64, String)], run: u64) {
    if !path.exists() {
        assert!(
            acknowledged.is_empty(),
            "run {run}: acknowledged records but no ledger"
        );
        return;
    }
    let store = SqliteStore::open(path).unwrap();
    let report = verify_store(&store).unwrap();
    assert!(
        report.is_intact(),
        "run {run}: ledger broken after a kill: {:?}",
        report.failure
    );
    for (index, leaf) in acknowledged {
        let record = store.record(*index).unwrap().unwrap_or_else(|| {
            panic!("run {run}: acknowledged record {index} is missing after the kill")
        });
        assert_eq!(
            hex::encode(record.leaf_hash),
            *leaf,
            "run {run}: record {index} differs from what was acknowledged"
        );
    }
}

/// The child: `WRITERS` threads appending through one group-commit appender, forever.
fn append_until_killed(path: &Path) -> ! {
    let run = std::env::var("MODELGATE_TEST_CRASH_RUN").unwrap_or_default();
    let store = SqliteStore::open(path).unwrap();
    let group = GroupCommit::start(Box::new(store), GroupOptions::default()).unwrap();
    std::thread::scope(|s| {
        for writer in 0..WRITERS {
            let (group, run) = (&group, &run);
            s.spawn(move || {
                for seq in 0u64.. {
                    // One to three records per request, so batches mix request sizes.
                    let drafts = (0..1 + (seq + writer) % 3)
                        .map(|part| RecordDraft {
                            kind: RecordKind::Observation,
                            time: OffsetDateTime::now_utc(),
                            body: json!({"run": run, "writer": writer, "seq": seq, "part": part}),
                        })
                        .collect();
                    let sealed = group.append(AppendRequest::records(drafts)).unwrap();
                    let mut out = std::io::stdout().lock();
                    for record in sealed {
                        writeln!(
                            out,
                            "ack {} {}",
                            record.index,
                            hex::encode(record.leaf_hash)
                        )
                        .unwrap();
                    }
                    out.flush().unwrap();
                }
            });
        }
    });
    unreachable!("the writers never stop")
}
