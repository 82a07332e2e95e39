//! Verification reads records in batches, checks them on worker threads and reads the tree
//! nodes by range; none of that may change what is found. The first failure is reported at the
//! same index wherever it lies (first, middle or last record of a batch, in batches handled by
//! different workers), and `Store::tree_nodes` on SQLite returns exactly what point reads do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ledger_support;

use ledger_support::*;
use modelgate::ledger::verify::VERIFY_BATCH;
use modelgate::ledger::{verify_store, Hash, LedgerError, SqliteStore, Store};

/// A store that answers `tree_nodes` with the trait's default (one point read per node), as a
/// store without a range read would.
struct PointReads {
    inner: SqliteStore,
}

impl Store for PointReads {
    forward_store!(append);
    fn records_of_kind(
        &self,
        kind: modelgate::ledger::RecordKind,
    ) -> Result<Vec<modelgate::ledger::StoredRecord>, LedgerError> {
        self.inner.records_of_kind(kind)
    }
    forward_store!(reads);
}

/// A store whose range reads of tree nodes are wrong (every hash altered, every other node
/// left out); point reads and everything else come from the real store.
struct WrongRanges {
    inner: SqliteStore,
}

impl Store for WrongRanges {
    fn tree_nodes(&self, level: u32, from: u64, to: u64) -> Result<Vec<(u64, Hash)>, LedgerError> {
        Ok(self
            .inner
            .tree_nodes(level, from, to)?
            .into_iter()
            .filter(|(index, _)| index % 2 == 0)
            .map(|(index, mut hash)| {
                hash[0] ^= 1;
                (index, hash)
            })
            .collect())
    }
    forward_store!(append);
    fn records_of_kind(
        &self,
        kind: modelgate::ledger::RecordKind,
    ) -> Result<Vec<modelgate::ledger::StoredRecord>, LedgerError> {
        self.inner.records_of_kind(kind)
    }
    forward_store!(reads);
}

fn ledger_of(n: u64) -> Ledger {
    let mut l = ledger(0);
    l.sealed = l.store.append(&drafts(0..n)).unwrap();
    l
}

/// The range read gives the nodes point reads give, for ranges of every shape, and fails on a
/// corrupt node as a point read does.
#[test]
fn range_reads_of_tree_nodes_are_what_point_reads_give() {
    let l = ledger_of(300);
    let points = PointReads {
        inner: SqliteStore::open_read_only(&l.path).unwrap(),
    };
    let ranges = [
        (0, 0),
        (0, 1),
        (0, 300),
        (17, 45),
        (299, 300),
        (250, 1_000),
        (u64::MAX - 1, u64::MAX),
    ];
    let check = |note: &str| {
        for level in 0..10 {
            for (from, to) in ranges {
                let (from, to) = (from >> level, to >> level);
                let to = to.min(from.saturating_add(1_000)); // the default reads every index one by one
                assert_eq!(
                    l.store.tree_nodes(level, from, to).unwrap(),
                    points.tree_nodes(level, from, to).unwrap(),
                    "{note}: level {level}, {from}..{to}"
                );
            }
        }
    };
    check("intact");
    assert_eq!(l.store.tree_nodes(0, 0, 300).unwrap().len(), 300);
    assert_eq!(l.store.tree_nodes(8, 0, 2).unwrap().len(), 1);

    let conn = raw(&l.path);
    conn.execute("DELETE FROM tree_nodes WHERE level = 1 AND idx = 20", [])
        .unwrap();
    check("a node deleted");
    assert_eq!(l.store.tree_nodes(1, 19, 22).unwrap().len(), 2);

    conn.execute_batch(
        "PRAGMA ignore_check_constraints = ON;
         UPDATE tree_nodes SET hash = x'0102' WHERE level = 2 AND idx = 5;",
    )
    .unwrap();
    for store in [&l.store as &dyn Store, &points] {
        match store.tree_nodes(2, 0, 10) {
            Err(LedgerError::CorruptNode { level, index, .. }) => {
                assert_eq!((level, index), (2, 5));
            }
            other => panic!("expected a corrupt node, got {other:?}"),
        }
    }
}

/// A changed record is reported at its own index wherever it lies in a batch and whichever
/// batch (worker) it is in; with two, the earlier one wins.
#[test]
fn the_first_failure_is_found_wherever_it_lies() {
    let n = VERIFY_BATCH * 5 + 7;
    let l = ledger_of(n);
    assert!(verify(&l.store).is_intact());
    let conn = raw(&l.path);
    let b = VERIFY_BATCH;
    let spots = [
        0,
        1,
        b - 1,
        b,
        b + 1,
        2 * b - 1,
        2 * b,
        3 * b + 100,
        4 * b,
        n - 1,
    ];
    for &at in &spots {
        set_leaf_hash(&conn, at as i64, &[0xab; 32]);
        assert_eq!(first_bad_index(&l.store), at, "tampered at {at}");
        set_leaf_hash(&conn, at as i64, &l.sealed[at as usize].leaf_hash);
    }
    let relabel = |at: u64, kind: &str| {
        conn.execute(
            "UPDATE records SET kind = ?1 WHERE idx = ?2",
            rusqlite::params![kind, at as i64],
        )
        .unwrap();
    };
    for (&first, &second) in spots.iter().zip(&spots[1..]) {
        set_leaf_hash(&conn, first as i64, &[0xab; 32]);
        relabel(second, "retire");
        assert_eq!(first_bad_index(&l.store), first, "{first} before {second}");
        set_leaf_hash(&conn, first as i64, &l.sealed[first as usize].leaf_hash);
        let failure = verify(&l.store).failure.unwrap();
        assert_eq!(failure.index, second, "then {second}");
        assert!(failure.problem.contains("filed as `retire`"), "{failure}");
        relabel(second, draft(second).kind.as_str());
    }
    assert!(verify(&l.store).is_intact());
}

/// A changed interior node is reported at the first record it covers, once its last record is
/// checked; a changed record inside its range is checked first and wins.
#[test]
fn a_changed_tree_node_is_reported_in_record_order() {
    let l = ledger_of(VERIFY_BATCH * 2 + 40);
    let conn = raw(&l.path);
    conn.execute(
        "UPDATE tree_nodes SET hash = ?1 WHERE level = 4 AND idx = 30",
        [&[0x5a; 32][..]],
    )
    .unwrap();
    let failure = verify(&l.store).failure.unwrap();
    assert_eq!(failure.index, 480);
    assert_eq!(
        failure.problem,
        "stored tree node (level 4, index 30) over records 480..=495 does not match the records"
    );
    set_leaf_hash(&conn, 490, &[1; 32]);
    assert_eq!(first_bad_index(&l.store), 490);
    set_leaf_hash(&conn, 490, &l.sealed[490].leaf_hash);
    conn.execute("DELETE FROM tree_nodes WHERE level = 4 AND idx = 30", [])
        .unwrap();
    let failure = verify(&l.store).failure.unwrap();
    assert_eq!(
        (failure.index, failure.problem.as_str()),
        (
            480,
            "tree node (level 4, index 30) over records 480..=495 is missing"
        )
    );
}

/// Range reads only speed things up: when they are wrong, point reads decide, so an intact
/// ledger stays intact and a changed node is still found.
#[test]
fn wrong_range_reads_do_not_change_the_verdict() {
    let l = ledger_of(VERIFY_BATCH + 50);
    let path = l.path.clone();
    let wrong = WrongRanges { inner: l.store };
    let report = verify_store(&wrong).unwrap();
    assert!(report.is_intact(), "{:?}", report.failure);
    assert_eq!(report.size, VERIFY_BATCH + 50);
    raw(&path)
        .execute(
            "UPDATE tree_nodes SET hash = ?1 WHERE level = 0 AND idx = 300",
            [&[0x5a; 32][..]],
        )
        .unwrap();
    let failure = verify_store(&wrong).unwrap().failure.unwrap();
    assert_eq!(failure.index, 300);
    assert!(
        failure.problem.contains("stored tree node of this record"),
        "{failure}"
    );
}
