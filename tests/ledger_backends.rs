//! The [`Store`] contract, one suite run against every backend: SQLite on a temporary file and
//! PostgreSQL on a fresh database of the throwaway server (`tests/pg_support`; skipped, with a
//! line on standard error, when PostgreSQL is not installed).
//!
//! Each contract test is a function taking an [`Opener`]; `on_both_backends!` turns it into
//! `sqlite::NAME` and `postgres::NAME`. What a test checks comes from the trait documentation
//! (src/ledger/store.rs) and from computations written here independently of the crate: leaf
//! hashes with `sha2`, and the RFC 6962 tree (MTH, PATH, SUBPROOF) straight from the RFC text.
//! Every test stays within a few dozen commits, since PostgreSQL flushes its log on each.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ledger_support;
mod pg_support;

use std::path::PathBuf;

use ledger_support::{draft, drafts, independent_leaf_hash};
use modelgate::digest::sha256_prefixed;
use modelgate::ledger::{
    parse_record, verify_consistency, verify_inclusion, verify_store, AppendGuard, AppendRequest,
    Hash, LedgerError, PgStore, RecordDraft, RecordKind, SealedRecord, SqliteStore, Store,
    GENESIS_PREV, MAX_RECORD_BYTES,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

// ---- backends ---------------------------------------------------------------------------

/// Where a test ledger lives, for opening more handles on it and for writing behind its back.
enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

/// A fresh, empty ledger on one backend and a writable handle on it.
struct Fresh {
    store: Box<dyn Store>,
    at: Location,
    _dir: Option<TempDir>,
}

/// Makes a fresh ledger, or `None` when the backend cannot run here (PostgreSQL absent).
type Opener = fn() -> Option<Fresh>;

fn sqlite_ledger() -> Option<Fresh> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    Some(Fresh {
        store: Box::new(SqliteStore::open(&path).unwrap()),
        at: Location::Sqlite(path),
        _dir: Some(dir),
    })
}

fn postgres_ledger() -> Option<Fresh> {
    let url = pg_support::server()?.fresh_database();
    Some(Fresh {
        store: Box::new(PgStore::open(&url).unwrap()),
        at: Location::Postgres(url),
        _dir: None,
    })
}

impl Fresh {
    /// Another writable handle on the same ledger (another replica, for PostgreSQL).
    fn handle(&self) -> Box<dyn Store> {
        match &self.at {
            Location::Sqlite(path) => Box::new(SqliteStore::open(path).unwrap()),
            Location::Postgres(url) => Box::new(PgStore::open(url).unwrap()),
        }
    }

    /// A read-only handle on the same ledger.
    fn read_only(&self) -> Box<dyn Store> {
        match &self.at {
            Location::Sqlite(path) => Box::new(SqliteStore::open_read_only(path).unwrap()),
            Location::Postgres(url) => Box::new(PgStore::open_read_only(url).unwrap()),
        }
    }

    /// Inserts an attestation row directly, bypassing the store's digest check (tampering).
    fn forge_attestation(&self, digest: &str, bytes: &[u8]) {
        let sql = "INSERT INTO attestations (digest, bytes) VALUES";
        match &self.at {
            Location::Sqlite(path) => {
                let n = rusqlite::Connection::open(path)
                    .unwrap()
                    .execute(&format!("{sql} (?1, ?2)"), rusqlite::params![digest, bytes])
                    .unwrap();
                assert_eq!(n, 1);
            }
            Location::Postgres(url) => {
                let n = ::postgres::Client::connect(url, ::postgres::NoTls)
                    .unwrap()
                    .execute(&format!("{sql} ($1, $2)"), &[&digest, &bytes])
                    .unwrap();
                assert_eq!(n, 1);
            }
        }
    }
}

/// `mod sqlite { #[test] fn NAME() }` and `mod postgres { #[test] fn NAME() }` for each contract
/// test `NAME(opener)`.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $test() { super::$test(super::sqlite_ledger) } )*
        }
        mod postgres {
            $( #[test] fn $test() { super::$test(super::postgres_ledger) } )*
        }
    };
}

on_both_backends!(
    appends_and_batches_seal_consecutive_indices_and_chain_prev,
    a_tripped_guard_refuses_only_its_own_request,
    a_conflicting_attestation_is_refused_per_request,
    attestations_are_kept_by_digest_and_filed_by_model_and_version,
    decisions_by_model_and_the_last_record_of_kinds,
    roots_and_proofs_match_the_rfc_6962_definitions_for_every_size_up_to_70,
    checkpoints_follow_the_storage_rules,
    a_read_only_handle_reads_everything_and_refuses_every_write,
    probe_write_succeeds_without_touching_the_ledger,
);

// ---- independent references -------------------------------------------------------------

fn sha(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Largest power of two strictly less than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 §2.1 MTH.
fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => sha(&[]),
        1 => d[0],
        n => {
            let k = split(n);
            sha(&[&[1], &mth(&d[..k]), &mth(&d[k..])])
        }
    }
}

/// RFC 6962 §2.1.1 PATH(m, D[n]).
fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    if d.len() == 1 {
        return Vec::new();
    }
    let k = split(d.len());
    let (mut p, sibling) = if m < k {
        (path(m, &d[..k]), mth(&d[k..]))
    } else {
        (path(m - k, &d[k..]), mth(&d[..k]))
    };
    p.push(sibling);
    p
}

/// RFC 6962 §2.1.2 SUBPROOF(m, D[n], b).
fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(d)] };
    }
    let k = split(n);
    let (mut p, sibling) = if m <= k {
        (subproof(m, &d[..k], b), mth(&d[k..]))
    } else {
        (subproof(m - k, &d[k..], false), mth(&d[..k]))
    };
    p.push(sibling);
    p
}

/// RFC 6962 §2.1.2 PROOF(m, D[n]) (empty for m = 0 and m = n).
fn consistency(m: usize, d: &[Hash]) -> Vec<Hash> {
    if m == 0 || m == d.len() {
        Vec::new()
    } else {
        subproof(m, d, true)
    }
}

// ---- helpers ----------------------------------------------------------------------------

fn records(drafts: Vec<RecordDraft>) -> AppendRequest {
    AppendRequest::records(drafts)
}

fn of_kind(kind: RecordKind, seq: u64) -> RecordDraft {
    RecordDraft { kind, ..draft(seq) }
}

fn guarded(kinds: &'static [RecordKind], since: u64, seq: u64) -> AppendRequest {
    AppendRequest {
        guard: Some(AppendGuard { kinds, since }),
        ..records(vec![draft(seq)])
    }
}

fn indices(sealed: &[SealedRecord]) -> Vec<u64> {
    sealed.iter().map(|r| r.index).collect()
}

fn assert_intact(store: &dyn Store, size: u64) {
    let report = verify_store(store).unwrap();
    assert!(report.is_intact(), "{:?}", report.failure);
    assert_eq!(report.size, size);
    assert_eq!(report.root, store.tree_root(size).unwrap());
}

/// Every stored record: at its index, with the leaf hash of its bytes, linked to the one
/// before, of the kind it is filed under. Returns them.
fn assert_chain(store: &dyn Store) -> Vec<modelgate::ledger::StoredRecord> {
    let all = store.records(0, u64::MAX).unwrap();
    let mut prev = GENESIS_PREV;
    for (i, stored) in all.iter().enumerate() {
        let record = parse_record(&stored.bytes).unwrap();
        assert_eq!(stored.index, i as u64);
        assert_eq!(record.index, i as u64);
        assert_eq!(record.kind, stored.kind);
        assert_eq!(record.prev, hex::encode(prev), "prev of {i}");
        assert_eq!(stored.leaf_hash, independent_leaf_hash(&stored.bytes));
        prev = stored.leaf_hash;
    }
    let head = store.head().unwrap();
    assert_eq!(
        head.map(|h| (h.size, h.leaf_hash)),
        all.last().map(|r| (r.index + 1, r.leaf_hash))
    );
    assert_eq!(store.size().unwrap(), all.len() as u64);
    all
}

// ---- the contract -----------------------------------------------------------------------

/// Single appends, multi-record appends and multi-request batches (with an empty request)
/// through two handles: consecutive indices from 0, each `prev` the leaf hash before, what was
/// acknowledged is what is stored, reads by position and kind agree.
fn appends_and_batches_seal_consecutive_indices_and_chain_prev(open: Opener) {
    let Some(mut l) = open() else { return };
    assert_eq!(l.store.size().unwrap(), 0);
    assert_eq!(l.store.head().unwrap(), None);
    assert!(l.store.records(0, 10).unwrap().is_empty());
    assert!(l.store.append(&[]).unwrap().is_empty());
    assert!(l.store.append_batch(&[]).unwrap().is_empty());
    assert_eq!(l.store.size().unwrap(), 0);
    assert_intact(l.store.as_ref(), 0);

    let mut acked = Vec::new();
    acked.extend(l.store.append(&[draft(0)]).unwrap());
    acked.extend(l.store.append(&drafts(1..5)).unwrap());
    let outcomes = l
        .store
        .append_batch(&[
            records(drafts(5..7)),
            records(vec![draft(7)]),
            AppendRequest::default(),
            records(drafts(8..11)),
        ])
        .unwrap();
    assert_eq!(outcomes.len(), 4);
    let outcomes: Vec<Vec<SealedRecord>> = outcomes.into_iter().map(Result::unwrap).collect();
    assert_eq!(indices(&outcomes[0]), [5, 6]);
    assert_eq!(indices(&outcomes[1]), [7]);
    assert!(outcomes[2].is_empty());
    assert_eq!(indices(&outcomes[3]), [8, 9, 10]);
    acked.extend(outcomes.into_iter().flatten());

    // A second handle continues the chain, and the first one continues after it.
    let mut other = l.handle();
    assert_eq!(other.size().unwrap(), 11);
    acked.extend(other.append(&drafts(11..13)).unwrap());
    acked.extend(l.store.append(&[draft(13)]).unwrap());
    assert_eq!(indices(&acked), (0..14).collect::<Vec<_>>());

    for store in [l.store.as_ref(), other.as_ref()] {
        let all = assert_chain(store);
        assert_eq!(all.len(), 14);
        for (stored, sealed) in all.iter().zip(&acked) {
            assert_eq!(stored.bytes, sealed.bytes);
            assert_eq!(stored.leaf_hash, sealed.leaf_hash);
            let record = parse_record(&stored.bytes).unwrap();
            assert_eq!(record.kind, draft(stored.index).kind);
            assert_eq!(record.body["seq"], json!(stored.index));
            assert_eq!(store.record(stored.index).unwrap().as_ref(), Some(stored));
        }
        assert_eq!(indices_of(&store.records(3, 4).unwrap()), [3, 4, 5, 6]);
        assert!(store.records(14, 10).unwrap().is_empty());
        assert!(store.records(0, 0).unwrap().is_empty());
        assert_eq!(store.record(14).unwrap(), None);
        assert_eq!(store.record(u64::MAX).unwrap(), None);
        let evens: Vec<u64> = (0..14).step_by(2).collect();
        let odds: Vec<u64> = (1..14).step_by(2).collect();
        let decisions = store.records_of_kind(RecordKind::Decision).unwrap();
        assert_eq!(indices_of(&decisions), evens);
        let observations = store.records_of_kind(RecordKind::Observation).unwrap();
        assert_eq!(indices_of(&observations), odds);
        assert!(store
            .records_of_kind(RecordKind::Freeze)
            .unwrap()
            .is_empty());
        assert_intact(store, 14);
    }
}

fn indices_of(records: &[modelgate::ledger::StoredRecord]) -> Vec<u64> {
    records.iter().map(|r| r.index).collect()
}

/// In one batch, a request whose guard trips (on a record filed earlier in the same batch or
/// already stored) is refused with `Raced`, as are an oversized record and a wrong or malformed
/// digest; the refused requests write nothing, not even their attestations, and the others get
/// consecutive indices.
fn a_tripped_guard_refuses_only_its_own_request(open: Opener) {
    const KEYS: &[RecordKind] = &[RecordKind::KeyChange];
    let Some(mut l) = open() else { return };
    l.store.append(&drafts(0..3)).unwrap();
    let envelope = b"{\"payload\":\"e30=\"}".to_vec();
    let raced_envelope = b"{\"payload\":\"raced\"}".to_vec();
    let mut big = draft(13);
    big.body = json!({ "blob": "x".repeat(MAX_RECORD_BYTES) });
    let batch = [
        guarded(KEYS, 0, 10),                              // no key change yet → 3
        records(vec![of_kind(RecordKind::KeyChange, 11)]), // → 4
        AppendRequest {
            attestations: vec![(sha256_prefixed(&raced_envelope), raced_envelope.clone())],
            ..guarded(KEYS, 3, 12) // raced by 4, in this batch
        },
        guarded(KEYS, 5, 14), // read after the change → 5
        records(vec![big]),   // too large
        AppendRequest {
            attestations: vec![(sha256_prefixed(b"something else"), envelope.clone())],
            ..records(vec![draft(15)]) // digest mismatch
        },
        AppendRequest {
            attestations: vec![("sha256:XYZ".to_owned(), envelope.clone())],
            ..records(vec![draft(16)]) // malformed digest
        },
        AppendRequest {
            attestations: vec![(sha256_prefixed(&envelope), envelope.clone())],
            ..records(vec![draft(17), draft(18)]) // → 6, 7
        },
    ];
    let outcomes = l.store.append_batch(&batch).unwrap();
    assert_eq!(outcomes.len(), batch.len());
    let ok = |i: usize| indices(outcomes[i].as_ref().unwrap());
    assert_eq!(ok(0), [3]);
    assert_eq!(ok(1), [4]);
    assert_eq!(ok(3), [5]);
    assert_eq!(ok(7), [6, 7]);
    assert!(
        matches!(
            outcomes[2],
            Err(LedgerError::Raced {
                kind: RecordKind::KeyChange,
                index: 4
            })
        ),
        "{:?}",
        outcomes[2]
    );
    assert!(
        matches!(outcomes[4], Err(LedgerError::RecordTooLarge { .. })),
        "{:?}",
        outcomes[4]
    );
    assert!(
        matches!(
            outcomes[5],
            Err(LedgerError::AttestationDigestMismatch { .. })
        ),
        "{:?}",
        outcomes[5]
    );
    assert!(
        matches!(outcomes[6], Err(LedgerError::InvalidDigest(_))),
        "{:?}",
        outcomes[6]
    );
    assert_eq!(l.store.size().unwrap(), 8);
    assert_eq!(
        l.store.attestation(&sha256_prefixed(&envelope)).unwrap(),
        Some(envelope.clone())
    );
    assert_eq!(
        l.store
            .attestation(&sha256_prefixed(&raced_envelope))
            .unwrap(),
        None
    );
    let seqs: Vec<u64> = assert_chain(l.store.as_ref())
        .iter()
        .map(|r| {
            parse_record(&r.bytes).unwrap().body["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, [0, 1, 2, 10, 11, 14, 17, 18]);

    // A guard tripped by a stored record, beside one that is not, in another batch (and through
    // another handle: the guard is checked against the database, not the handle's memory).
    let mut other = l.handle();
    let outcomes = other
        .append_batch(&[guarded(KEYS, 4, 20), guarded(KEYS, 8, 21)])
        .unwrap();
    assert!(matches!(
        outcomes[0],
        Err(LedgerError::Raced { index: 4, .. })
    ));
    assert_eq!(indices(outcomes[1].as_ref().unwrap()), [8]);
    // A guard over several kinds trips on the first record of any of them.
    let outcomes = l
        .store
        .append_batch(&[guarded(&[RecordKind::Freeze, RecordKind::KeyChange], 0, 22)])
        .unwrap();
    assert!(matches!(
        outcomes[0],
        Err(LedgerError::Raced {
            kind: RecordKind::KeyChange,
            index: 4
        })
    ));
    // append_unless is the one-request form.
    assert!(matches!(
        l.store
            .append_unless(RecordKind::KeyChange, 4, &[draft(23)]),
        Err(LedgerError::Raced {
            kind: RecordKind::KeyChange,
            index: 4
        })
    ));
    let sealed = l
        .store
        .append_unless(RecordKind::KeyChange, 5, &[draft(24)])
        .unwrap();
    assert_eq!(indices(&sealed), [9]);
    assert_chain(l.store.as_ref());
    assert_intact(l.store.as_ref(), 10);
}

/// Different bytes already stored under a digest (possible only behind the store's back) refuse
/// the request that brings the genuine bytes, and only that one; the single-attestation calls
/// refuse too, and the forged row is never returned as if it matched.
fn a_conflicting_attestation_is_refused_per_request(open: Opener) {
    let Some(mut l) = open() else { return };
    let genuine = b"genuine envelope".to_vec();
    let digest = sha256_prefixed(&genuine);
    l.forge_attestation(&digest, b"forged bytes");
    let fine = b"another envelope".to_vec();
    let fine_digest = sha256_prefixed(&fine);
    let outcomes = l
        .store
        .append_batch(&[
            AppendRequest {
                attestations: vec![(digest.clone(), genuine.clone())],
                ..records(vec![draft(0)])
            },
            AppendRequest {
                attestations: vec![(fine_digest.clone(), fine.clone())],
                ..records(vec![draft(1)])
            },
            AppendRequest {
                attestations: vec![
                    (fine_digest.clone(), fine.clone()),
                    (digest.clone(), genuine.clone()),
                ],
                ..records(vec![draft(2)])
            },
        ])
        .unwrap();
    assert!(
        matches!(&outcomes[0], Err(LedgerError::AttestationConflict(d)) if *d == digest),
        "{:?}",
        outcomes[0]
    );
    assert_eq!(indices(outcomes[1].as_ref().unwrap()), [0]);
    assert!(matches!(&outcomes[2], Err(LedgerError::AttestationConflict(d)) if *d == digest));
    assert_eq!(l.store.size().unwrap(), 1);
    assert_eq!(l.store.attestation(&fine_digest).unwrap(), Some(fine));

    assert!(matches!(
        l.store.put_attestation(&digest, &genuine),
        Err(LedgerError::AttestationConflict(d)) if d == digest
    ));
    assert!(matches!(
        l.store.file_attestation("m", "1", &digest, &genuine),
        Err(LedgerError::AttestationConflict(d)) if d == digest
    ));
    assert!(l.store.filed_attestations("m", "1").unwrap().is_empty());
    assert!(l.store.attestation_filings().unwrap().is_empty());
    assert!(matches!(
        l.store.attestation(&digest),
        Err(LedgerError::Inconsistent(_))
    ));
    assert_intact(l.store.as_ref(), 1);
}

/// put/get by digest (idempotent, checked), filing under model and version (idempotent, in
/// first-filing order), and the listings `storage migrate` copies.
fn attestations_are_kept_by_digest_and_filed_by_model_and_version(open: Opener) {
    let Some(mut l) = open() else { return };
    let (a, b, c) = (
        b"envelope a".to_vec(),
        b"envelope b".to_vec(),
        b"envelope c".to_vec(),
    );
    let (da, db, dc) = (
        sha256_prefixed(&a),
        sha256_prefixed(&b),
        sha256_prefixed(&c),
    );
    let s = &mut l.store;
    assert_eq!(s.attestation(&da).unwrap(), None);
    assert!(matches!(
        s.attestation("sha256:nothex"),
        Err(LedgerError::InvalidDigest(_))
    ));
    assert!(s.attestation_digests().unwrap().is_empty());

    s.put_attestation(&da, &a).unwrap();
    s.put_attestation(&da, &a).unwrap();
    assert_eq!(s.attestation(&da).unwrap(), Some(a.clone()));
    assert!(matches!(
        s.put_attestation(&db, &a),
        Err(LedgerError::AttestationDigestMismatch { claimed, actual }) if claimed == db && actual == da
    ));
    assert_eq!(s.attestation(&db).unwrap(), None);
    let md5ish = format!("md5:{}", &da["sha256:".len()..]);
    assert!(matches!(
        s.put_attestation(&md5ish, &a),
        Err(LedgerError::InvalidDigest(_))
    ));

    // Filing stores the bytes too; filing again is a no-op; order is that of first filing.
    s.file_attestation("m", "1", &dc, &c).unwrap();
    assert_eq!(s.attestation(&dc).unwrap(), Some(c.clone()));
    s.file_attestation("m", "1", &da, &a).unwrap();
    s.file_attestation("m", "1", &dc, &c).unwrap();
    s.file_attestation("m", "2", &da, &a).unwrap();
    s.file_attestation("n", "1", &db, &b).unwrap();
    assert!(matches!(
        s.file_attestation("m", "1", &db, &a),
        Err(LedgerError::AttestationDigestMismatch { .. })
    ));

    let mut sorted = vec![da.clone(), db.clone(), dc.clone()];
    sorted.sort();
    let filings = [
        ("m", "1", &dc),
        ("m", "1", &da),
        ("m", "2", &da),
        ("n", "1", &db),
    ]
    .map(|(m, v, d)| (m.to_owned(), v.to_owned(), d.clone()));
    let ro = l.read_only();
    for store in [l.store.as_ref(), ro.as_ref()] {
        assert_eq!(
            store.filed_attestations("m", "1").unwrap(),
            [c.clone(), a.clone()]
        );
        assert_eq!(store.filed_attestations("m", "2").unwrap(), [&a[..]]);
        assert_eq!(store.filed_attestations("n", "1").unwrap(), [&b[..]]);
        assert!(store.filed_attestations("n", "2").unwrap().is_empty());
        assert!(store.filed_attestations("x", "1").unwrap().is_empty());
        assert_eq!(store.attestation_digests().unwrap(), sorted);
        assert_eq!(store.attestation_filings().unwrap(), filings);
        // Attestations are not records.
        assert_eq!(store.size().unwrap(), 0);
    }
}

/// `decisions_for_model` answers `body.request.model` of decisions only, in index order, and
/// `decisions_for_model_before` a page of them newest first; `last_of_kinds` the newest index
/// among the kinds.
fn decisions_by_model_and_the_last_record_of_kinds(open: Opener) {
    let Some(mut l) = open() else { return };
    assert_eq!(
        l.store.last_of_kinds(&[RecordKind::Decision]).unwrap(),
        None
    );
    assert!(l.store.decisions_for_model("a").unwrap().is_empty());
    let at = |kind, seq, body: serde_json::Value| RecordDraft {
        kind,
        body,
        ..draft(seq)
    };
    use RecordKind::{Decision, Freeze, KeyChange, Observation, Retire};
    l.store
        .append(&[
            at(
                Decision,
                0,
                json!({"request": {"model": "a", "version": "1"}}),
            ),
            at(Decision, 1, json!({"request": {"model": "b"}})),
            at(Observation, 2, json!({"request": {"model": "a"}})),
            at(
                Decision,
                3,
                json!({"request": {"model": "a", "version": "2"}}),
            ),
        ])
        .unwrap();
    let outcomes = l
        .store
        .append_batch(&[
            records(vec![at(KeyChange, 4, json!({"principal": "a"}))]),
            records(vec![
                at(Decision, 5, json!({"seq": 5})),
                at(Decision, 6, json!({"request": {"model": 7}})),
                at(Decision, 7, json!({"model": "a"})),
            ]),
            records(vec![at(Decision, 8, json!({"request": {"model": "a"}}))]),
            records(vec![at(Freeze, 9, json!({"request": {"model": "a"}}))]),
        ])
        .unwrap();
    assert!(outcomes.iter().all(Result::is_ok));
    let ro = l.read_only();
    for store in [l.store.as_ref(), ro.as_ref()] {
        let a = store.decisions_for_model("a").unwrap();
        assert_eq!(indices_of(&a), [0, 3, 8]);
        for r in &a {
            assert_eq!(Some(r), store.record(r.index).unwrap().as_ref());
        }
        assert_eq!(indices_of(&store.decisions_for_model("b").unwrap()), [1]);
        // One page at a time, newest first, below an index.
        let page = |before, limit| {
            indices_of(
                &store
                    .decisions_for_model_before("a", before, limit)
                    .unwrap(),
            )
        };
        assert_eq!(page(u64::MAX, 10), [8, 3, 0]);
        assert_eq!(page(u64::MAX, 2), [8, 3]);
        assert_eq!(page(8, 2), [3, 0]);
        assert_eq!(page(3, 5), [0]);
        assert!(page(0, 5).is_empty());
        assert!(page(9, 0).is_empty());
        assert!(store.decisions_for_model("7").unwrap().is_empty());
        assert!(store.decisions_for_model("c").unwrap().is_empty());
        assert_eq!(store.last_of_kinds(&[]).unwrap(), None);
        assert_eq!(store.last_of_kinds(&[Retire]).unwrap(), None);
        assert_eq!(store.last_of_kinds(&[Decision]).unwrap(), Some(8));
        assert_eq!(store.last_of_kinds(&[KeyChange]).unwrap(), Some(4));
        assert_eq!(
            store.last_of_kinds(&[Observation, KeyChange]).unwrap(),
            Some(4)
        );
        assert_eq!(
            store.last_of_kinds(&[KeyChange, Freeze, Retire]).unwrap(),
            Some(9)
        );
        assert_eq!(store.last_of_kinds(&RecordKind::ALL).unwrap(), Some(9));
    }
}

/// 70 records appended in batches of growing size; for every size the root, and audit paths and
/// consistency proofs (all of them around powers of two, a sample elsewhere), equal the RFC 6962
/// definitions computed here from the stored bytes, and verify with the hash-only verifiers.
fn roots_and_proofs_match_the_rfc_6962_definitions_for_every_size_up_to_70(open: Opener) {
    const MAX: u64 = 70;
    let Some(mut l) = open() else { return };
    assert_eq!(l.store.tree_root(0).unwrap(), sha(&[]));
    let (mut next, mut width) = (0, 1);
    while next < MAX {
        let end = (next + width).min(MAX);
        if width % 2 == 0 {
            l.store.append(&drafts(next..end)).unwrap();
        } else {
            // The same records as one request each, in one batch.
            let batch: Vec<_> = (next..end).map(|s| records(vec![draft(s)])).collect();
            assert!(l
                .store
                .append_batch(&batch)
                .unwrap()
                .iter()
                .all(Result::is_ok));
        }
        (next, width) = (end, width + 1);
    }
    let leaves: Vec<Hash> = assert_chain(l.store.as_ref())
        .iter()
        .map(|r| independent_leaf_hash(&r.bytes))
        .collect();
    assert_eq!(leaves.len() as u64, MAX);

    let s = l.store.as_ref();
    let roots: Vec<Hash> = (0..=MAX as usize).map(|n| mth(&leaves[..n])).collect();
    for n in 0..=MAX {
        let d = &leaves[..n as usize];
        assert_eq!(s.tree_root(n).unwrap(), roots[n as usize], "root of {n}");
        // Every leaf and every older size for the sizes around powers of two (and the largest);
        // the ends and the middle for the others (each proof is a few queries on PostgreSQL).
        let every = n <= 9 || [15, 16, 17, 31, 32, 33, 63, 64, 65, MAX].contains(&n);
        let some = |upto: u64| -> Vec<u64> {
            if every {
                (0..upto).collect()
            } else {
                let mut at = vec![0, 1, n / 2, upto - 2, upto - 1];
                at.dedup();
                at
            }
        };
        for i in some(n) {
            let proof = s.inclusion_proof(i, n).unwrap();
            assert_eq!(proof, path(i as usize, d), "audit path of {i} in {n}");
            verify_inclusion(&leaves[i as usize], i, n, &proof, &roots[n as usize]).unwrap();
        }
        for m in some(n + 1) {
            let proof = s.consistency_proof(m, n).unwrap();
            assert_eq!(proof, consistency(m as usize, d), "consistency {m} → {n}");
            verify_consistency(m, n, &roots[m as usize], &roots[n as usize], &proof).unwrap();
        }
    }
    assert!(matches!(
        s.tree_root(MAX + 1),
        Err(LedgerError::TreeBeyondLedger {
            requested: 71,
            size: 70
        })
    ));
    assert!(matches!(
        s.inclusion_proof(70, 70),
        Err(LedgerError::Tree(_))
    ));
    assert!(matches!(
        s.inclusion_proof(3, 71),
        Err(LedgerError::TreeBeyondLedger { .. })
    ));
    assert!(matches!(
        s.consistency_proof(5, 4),
        Err(LedgerError::Tree(_))
    ));
    assert!(matches!(
        s.consistency_proof(3, 80),
        Err(LedgerError::TreeBeyondLedger { .. })
    ));
    // A read-only handle reads the same tree.
    let ro = l.read_only();
    for n in [1, 31, 32, 33, 64, 70] {
        assert_eq!(ro.tree_root(n).unwrap(), roots[n as usize]);
    }
    assert_eq!(ro.inclusion_proof(40, 70).unwrap(), path(40, &leaves));
    assert_eq!(
        ro.consistency_proof(33, 70).unwrap(),
        consistency(33, &leaves)
    );
    assert_intact(l.store.as_ref(), MAX);
}

/// Size 0 and sizes beyond the ledger are refused; the identical note again is a no-op, a
/// different one a conflict that keeps the first; latest, the list and the first checkpoint
/// covering an index; the latest `n`, largest first.
fn checkpoints_follow_the_storage_rules(open: Opener) {
    let Some(mut l) = open() else { return };
    let s = &mut l.store;
    assert!(matches!(
        s.put_checkpoint(0, "n0"),
        Err(LedgerError::EmptyCheckpoint)
    ));
    assert!(matches!(
        s.put_checkpoint(1, "n1"),
        Err(LedgerError::TreeBeyondLedger {
            requested: 1,
            size: 0
        })
    ));
    assert_eq!(s.latest_checkpoint().unwrap(), None);
    assert_eq!(s.first_checkpoint_after(0).unwrap(), None);
    s.append(&drafts(0..10)).unwrap();
    assert!(matches!(
        s.put_checkpoint(0, "n0"),
        Err(LedgerError::EmptyCheckpoint)
    ));
    assert!(matches!(
        s.put_checkpoint(11, "n11"),
        Err(LedgerError::TreeBeyondLedger {
            requested: 11,
            size: 10
        })
    ));
    s.lock_checkpoints().unwrap();
    s.put_checkpoint(4, "note 4\n").unwrap();
    s.put_checkpoint(4, "note 4\n").unwrap();
    assert!(matches!(
        s.put_checkpoint(4, "note 4, forked\n"),
        Err(LedgerError::CheckpointConflict(4))
    ));
    s.put_checkpoint(10, "note 10\n").unwrap();
    s.put_checkpoint(7, "note 7\n").unwrap();
    s.unlock_checkpoints().unwrap();

    let ro = l.read_only();
    for store in [l.store.as_ref(), ro.as_ref()] {
        assert_eq!(store.checkpoint(4).unwrap().as_deref(), Some("note 4\n"));
        assert_eq!(store.checkpoint(5).unwrap(), None);
        assert_eq!(store.checkpoint(u64::MAX).unwrap(), None);
        assert_eq!(
            store.latest_checkpoint().unwrap(),
            Some((10, "note 10\n".to_owned()))
        );
        assert_eq!(
            store.checkpoints().unwrap(),
            [(4, "note 4\n"), (7, "note 7\n"), (10, "note 10\n")].map(|(s, n)| (s, n.to_owned()))
        );
        let latest = |n| -> Vec<u64> {
            store
                .latest_checkpoints(n)
                .unwrap()
                .into_iter()
                .map(|(s, _)| s)
                .collect()
        };
        assert_eq!(latest(2), [10, 7]);
        assert_eq!(latest(5), [10, 7, 4]);
        assert!(latest(0).is_empty());
        let first_after = |i| store.first_checkpoint_after(i).unwrap().map(|(s, _)| s);
        assert_eq!(first_after(0), Some(4));
        assert_eq!(first_after(3), Some(4));
        assert_eq!(first_after(4), Some(7));
        assert_eq!(first_after(6), Some(7));
        assert_eq!(first_after(7), Some(10));
        assert_eq!(first_after(9), Some(10));
        assert_eq!(first_after(10), None);
        assert_eq!(first_after(u64::MAX), None);
    }
    assert_intact(l.store.as_ref(), 10);
}

/// A read-only handle answers every read like the writer and refuses every write with
/// `ReadOnly`, leaving the ledger as it was.
fn a_read_only_handle_reads_everything_and_refuses_every_write(open: Opener) {
    let Some(mut l) = open() else { return };
    let env = b"envelope".to_vec();
    let digest = sha256_prefixed(&env);
    l.store.append(&drafts(0..3)).unwrap();
    l.store.file_attestation("m", "1", &digest, &env).unwrap();
    l.store.put_checkpoint(2, "note 2\n").unwrap();

    let mut ro = l.read_only();
    let read_only = |r: Result<_, LedgerError>| matches!(r, Err(LedgerError::ReadOnly));
    assert!(read_only(ro.append(&[draft(3)]).map(drop)));
    assert!(read_only(
        ro.append_unless(RecordKind::KeyChange, 0, &[draft(3)])
            .map(drop)
    ));
    assert!(read_only(
        ro.append_batch(&[records(vec![draft(3)])]).map(drop)
    ));
    let other = b"other".to_vec();
    assert!(read_only(
        ro.put_attestation(&sha256_prefixed(&other), &other)
    ));
    assert!(read_only(ro.file_attestation("m", "2", &digest, &env)));
    assert!(read_only(ro.put_checkpoint(3, "note 3\n")));
    assert!(read_only(ro.put_checkpoint(1, "note 1\n")));
    assert!(read_only(ro.probe_write()));

    assert_eq!(ro.size().unwrap(), 3);
    assert_eq!(ro.head().unwrap(), l.store.head().unwrap());
    assert_eq!(ro.records(0, 10).unwrap(), l.store.records(0, 10).unwrap());
    assert_eq!(ro.attestation(&digest).unwrap(), Some(env.clone()));
    assert_eq!(ro.attestation(&sha256_prefixed(&other)).unwrap(), None);
    assert_eq!(ro.filed_attestations("m", "1").unwrap(), [env]);
    assert!(ro.filed_attestations("m", "2").unwrap().is_empty());
    assert_eq!(ro.checkpoints().unwrap(), [(2, "note 2\n".to_owned())]);
    assert_eq!(ro.tree_root(3).unwrap(), l.store.tree_root(3).unwrap());
    assert_intact(ro.as_ref(), 3);

    // The writer goes on, and the reader sees it.
    l.store.append(&[draft(3)]).unwrap();
    assert_eq!(ro.size().unwrap(), 4);
    assert_intact(ro.as_ref(), 4);
}

/// The write probe succeeds on a healthy store and changes nothing the ledger shows.
fn probe_write_succeeds_without_touching_the_ledger(open: Opener) {
    let Some(mut l) = open() else { return };
    l.store.probe_write().unwrap();
    assert_eq!(l.store.size().unwrap(), 0);
    l.store.append(&drafts(0..5)).unwrap();
    l.store.put_checkpoint(5, "note 5\n").unwrap();
    let before = (
        l.store.head().unwrap(),
        l.store.records(0, 10).unwrap(),
        l.store.tree_root(5).unwrap(),
        l.store.checkpoints().unwrap(),
    );
    l.store.probe_write().unwrap();
    l.store.probe_write().unwrap();
    let after = (
        l.store.head().unwrap(),
        l.store.records(0, 10).unwrap(),
        l.store.tree_root(5).unwrap(),
        l.store.checkpoints().unwrap(),
    );
    assert_eq!(before, after);
    assert_eq!(indices(&l.store.append(&[draft(5)]).unwrap()), [5]);
    assert_intact(l.store.as_ref(), 6);
}
