//! JSON Lines export: lines are the stored bytes, the export verifies on its own, and a changed
//! line is reported at its index.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ledger_support;

use ledger_support::*;
use modelgate::ledger::{export_jsonl, verify_lines, LedgerError, Store};

fn export(store: &dyn Store) -> Vec<u8> {
    let mut out = Vec::new();
    export_jsonl(store, &mut out).unwrap();
    out
}

fn lines(export: &[u8]) -> Vec<Vec<u8>> {
    export
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn export_lines_are_exactly_the_stored_bytes() {
    let l = ledger(5);
    let mut out = Vec::new();
    assert_eq!(export_jsonl(&l.store, &mut out).unwrap(), 5);
    let mut expected = Vec::new();
    for sealed in &l.sealed {
        expected.extend_from_slice(&sealed.bytes);
        expected.push(b'\n');
    }
    assert_eq!(out, expected);
}

#[test]
fn export_round_trips_through_verify_lines() {
    let l = ledger(7);
    let from_store = verify(&l.store);
    let from_lines = verify_lines(&export(&l.store)[..]).unwrap();
    assert!(from_lines.is_intact(), "{:?}", from_lines.failure);
    assert_eq!(from_lines, from_store);
    assert_eq!(from_lines.size, 7);
}

#[test]
fn empty_ledger_exports_nothing_and_verifies() {
    let l = ledger(0);
    assert!(export(&l.store).is_empty());
    let report = verify_lines(&b""[..]).unwrap();
    assert!(report.is_intact());
    assert_eq!((report.size, report.head), (0, None));
}

/// A line changed so that it no longer is record N at position N is caught at N.
#[test]
fn modified_export_line_is_reported_at_its_index() {
    let l = ledger(5);
    let mut lines = lines(&export(&l.store));
    let text = String::from_utf8(lines[2].clone()).unwrap();
    lines[2] = text.replacen("\"index\":2", "\"index\":9", 1).into_bytes();
    assert_ne!(lines[2], text.as_bytes());
    let failure = verify_lines(&lines.concat()[..]).unwrap().failure.unwrap();
    assert_eq!(failure.index, 2, "{failure}");
}

/// An export has no stored leaf column: a changed body is caught by the next record's prev,
/// and a changed last line only by comparing the reported head with a trusted one.
#[test]
fn modified_export_body_is_caught_by_the_chain_or_the_head() {
    let l = ledger(5);
    let original = lines(&export(&l.store));

    let mut lines = original.clone();
    lines[2] = String::from_utf8(lines[2].clone())
        .unwrap()
        .replacen("prod", "prud", 1)
        .into_bytes();
    let failure = verify_lines(&lines.concat()[..]).unwrap().failure.unwrap();
    assert_eq!(failure.index, 3, "{failure}");
    assert!(failure.problem.contains("record 2"), "{failure}");

    let mut lines = original;
    lines[4] = String::from_utf8(lines[4].clone())
        .unwrap()
        .replacen("prod", "prud", 1)
        .into_bytes();
    let report = verify_lines(&lines.concat()[..]).unwrap();
    assert!(report.is_intact());
    assert_ne!(report.head, verify(&l.store).head);
}

/// Dropping a line shifts every later record: caught at the dropped position.
#[test]
fn dropped_export_line_is_reported_at_its_position() {
    let l = ledger(5);
    let mut lines = lines(&export(&l.store));
    lines.remove(2);
    let failure = verify_lines(&lines.concat()[..]).unwrap().failure.unwrap();
    assert_eq!(failure.index, 2, "{failure}");
}

#[test]
fn blank_unterminated_and_crlf_lines_are_failures_at_their_position() {
    let l = ledger(4);
    let good = lines(&export(&l.store));

    let mut blank = good.clone();
    blank.insert(2, b"\n".to_vec());
    let failure = verify_lines(&blank.concat()[..]).unwrap().failure.unwrap();
    assert_eq!(failure.to_string(), "record 2: line is blank");

    let mut cut = good.concat();
    cut.pop();
    let failure = verify_lines(&cut[..]).unwrap().failure.unwrap();
    assert_eq!(failure.index, 3);
    assert!(failure.problem.contains("newline"), "{failure}");

    let mut crlf = good.clone();
    let before_newline = crlf[1].len() - 1;
    crlf[1].insert(before_newline, b'\r');
    assert_eq!(
        verify_lines(&crlf.concat()[..])
            .unwrap()
            .failure
            .unwrap()
            .index,
        1
    );

    let mut garbage = good;
    garbage[0] = b"not json\n".to_vec();
    assert_eq!(
        verify_lines(&garbage.concat()[..])
            .unwrap()
            .failure
            .unwrap()
            .index,
        0
    );
}

#[test]
fn overlong_line_is_a_failure_not_an_allocation() {
    let mut input = vec![b'x'; modelgate::ledger::MAX_RECORD_BYTES + 10];
    input.push(b'\n');
    let failure = verify_lines(&input[..]).unwrap().failure.unwrap();
    assert_eq!(failure.index, 0);
    assert!(failure.problem.contains("longer"), "{failure}");
}

/// A stored record with a raw newline would split into two lines: export refuses it.
#[test]
fn export_refuses_a_record_with_a_raw_newline() {
    let l = ledger(3);
    let conn = raw(&l.path);
    let mut bytes = stored_bytes(&conn, 1);
    bytes.insert(1, b'\n');
    set_bytes(&conn, 1, &bytes);
    let mut out = Vec::new();
    assert!(matches!(
        export_jsonl(&l.store, &mut out),
        Err(LedgerError::NotExportable(1))
    ));
}
