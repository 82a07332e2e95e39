//! Chain and tree agree for records appended in random batches (single appends, multi-record
//! appends, multi-request `append_batch` calls): every record names the leaf hash of its
//! predecessor, the stored leaf hashes and the tree's level-0 nodes are the records' leaf hashes,
//! `verify_store` finds the ledger intact with the store's own root, and changing any one byte
//! of any one stored record makes verification fail at exactly that record.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ledger_support;
mod prop_support;

use ledger_support::{independent_leaf_hash, raw, set_bytes, stored_bytes};
use modelgate::ledger::{
    parse_record, verify_store, AppendRequest, RecordDraft, RecordKind, SqliteStore, Store,
    GENESIS_PREV,
};
use prop_support::{config, Mix};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::json;
use time::macros::datetime;

fn draft(seq: u64, mix: &mut Mix) -> RecordDraft {
    let kind = [
        RecordKind::Decision,
        RecordKind::Observation,
        RecordKind::Retire,
        RecordKind::Report,
    ][mix.below(4) as usize];
    let note: String = (0..mix.below(30))
        .map(|_| ['a', 'é', '"', '\\', '\n', '😀', 'z'][mix.below(7) as usize])
        .collect();
    RecordDraft {
        kind,
        time: datetime!(2026-11-27 10:00:00 UTC) + time::Duration::seconds(seq as i64),
        body: json!({"seq": seq, "note": note, "values": [mix.below(1000), mix.below(2) == 0, null]}),
    }
}

/// Appends `n` records in random splits through the store's three append paths.
fn fill(store: &mut SqliteStore, n: u64, mix: &mut Mix) {
    let mut next = 0u64;
    while next < n {
        match mix.below(5) {
            0 => {
                store.append(&[draft(next, mix)]).unwrap();
                next += 1;
            }
            1 | 2 => {
                let len = (1 + mix.below(40)).min(n - next);
                let drafts: Vec<_> = (next..next + len).map(|s| draft(s, mix)).collect();
                assert_eq!(store.append(&drafts).unwrap().len() as u64, len);
                next += len;
            }
            _ => {
                let mut batch = Vec::new();
                for _ in 0..1 + mix.below(5) {
                    let len = mix.below(8).min(n - next);
                    let drafts: Vec<_> = (next..next + len).map(|s| draft(s, mix)).collect();
                    batch.push(AppendRequest::records(drafts));
                    next += len;
                }
                for outcome in store.append_batch(&batch).unwrap() {
                    outcome.unwrap();
                }
            }
        }
    }
}

#[test]
fn chain_links_tree_leaves_and_verification_agree_and_any_byte_change_is_found() {
    let mut runner = TestRunner::new(config(24, 0x1ed6_0001));
    runner
        .run(&(1u64..300, any::<u64>()), |(n, seed)| {
            let mut mix = Mix(seed);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("ledger.db");
            let mut store = SqliteStore::open(&path).unwrap();
            fill(&mut store, n, &mut mix);
            assert_eq!(store.size().unwrap(), n);

            let records = store.records(0, n + 1).unwrap();
            assert_eq!(records.len() as u64, n);
            let mut prev = GENESIS_PREV;
            for (position, stored) in records.iter().enumerate() {
                let record = parse_record(&stored.bytes).unwrap();
                assert_eq!(record.index, position as u64);
                assert_eq!(stored.index, position as u64);
                assert_eq!(record.kind, stored.kind);
                assert_eq!(record.prev, hex::encode(prev), "chain link of {position}");
                let leaf = independent_leaf_hash(&stored.bytes);
                assert_eq!(stored.leaf_hash, leaf);
                assert_eq!(store.tree_node(0, position as u64).unwrap(), leaf);
                prev = leaf;
            }
            let head = store.head().unwrap().unwrap();
            assert_eq!((head.size, head.leaf_hash), (n, prev));

            let report = verify_store(&store).unwrap();
            assert!(report.is_intact(), "{:?}", report.failure);
            assert_eq!(report.size, n);
            assert_eq!(report.head, Some(prev));
            assert_eq!(report.root, store.tree_root(n).unwrap());

            // One byte of one record changed behind the store's back: found at that record;
            // restored: intact again.
            let conn = raw(&path);
            // The tampering connection skips fsync, and drops the accelerator index whose
            // expression SQLite evaluates on write (it refuses bytes that are not JSON there;
            // someone editing the file directly is not stopped by it, and verification does not
            // rely on it).
            conn.execute_batch("PRAGMA synchronous = OFF; DROP INDEX decisions_by_model;")
                .unwrap();
            for _ in 0..3 {
                let index = mix.below(n) as i64;
                let original = stored_bytes(&conn, index);
                let mut bytes = original.clone();
                let at = mix.below(bytes.len() as u64) as usize;
                bytes[at] ^= 1 + mix.below(255) as u8;
                set_bytes(&conn, index, &bytes);
                let report = verify_store(&store).unwrap();
                let failure = report.failure.unwrap_or_else(|| {
                    panic!("byte {at} of record {index} changed, yet the ledger verifies")
                });
                assert_eq!(failure.index, index as u64, "{}", failure.problem);
                set_bytes(&conn, index, &original);
                assert!(verify_store(&store).unwrap().is_intact());
            }
            Ok(())
        })
        .unwrap();
}
