//! Checkpoint, tlog-proof and consistency-proof text formats: the Go checksum database's real
//! checkpoint parses, what modelgate signs reads back, and malformed texts are refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use modelgate::attest::{AttestError, NoteError, NoteSigner, NoteVerifier, PrivateKey};
use modelgate::ledger::checkpoint::{MAX_CONSISTENCY_HASHES, MAX_INCLUSION_HASHES};
use modelgate::ledger::{
    format_consistency_proof, open_checkpoint, parse_consistency_proof, sign_checkpoint,
    verify_tlog_proof, Checkpoint, CheckpointError, TlogProof,
};

const SUMDB_VKEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
const SUMDB_NOTE: &str = "go.sum database tree\n63096908\n8lHrQPRYe4KT4WQ9/Qk8/taKnD6IRHbFgfN7vQE2Y54=\n\n\u{2014} sum.golang.org Az3gri/oVBN1jAhNZ/iS+W31psFAWRT20/GyrhpU6taFwulQGetBkH5S7wpGXdS935jiIGiUUAXBVHzT/P6fYhqAmAk=\n";
const ORIGIN: &str = "modelgate.example.com/ledger";

fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, PrivateKey::from_seed(&[42; 32])).unwrap()
}

fn cp(size: u64) -> Checkpoint {
    Checkpoint {
        origin: ORIGIN.to_owned(),
        size,
        root: [7; 32],
        extensions: Vec::new(),
    }
}

/// The Go checksum database checkpoint (signed by another implementation) opens as a
/// Checkpoint with its size and root.
#[test]
fn go_sumdb_checkpoint_opens() {
    let v = NoteVerifier::from_vkey(SUMDB_VKEY).unwrap();
    let c = open_checkpoint(
        SUMDB_NOTE,
        std::slice::from_ref(&v),
        Some("go.sum database tree"),
    )
    .unwrap();
    assert_eq!(c.origin, "go.sum database tree");
    assert_eq!(c.size, 63096908);
    assert_eq!(
        B64.encode(c.root),
        "8lHrQPRYe4KT4WQ9/Qk8/taKnD6IRHbFgfN7vQE2Y54="
    );
    assert!(c.extensions.is_empty());
    let err = open_checkpoint(SUMDB_NOTE, &[v], Some(ORIGIN)).unwrap_err();
    assert!(
        matches!(err, CheckpointError::OriginMismatch { .. }),
        "{err}"
    );
}

/// The C2SP spec's example checkpoint text parses, and prints back byte for byte.
#[test]
fn spec_example_text_round_trips() {
    let text =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let c = Checkpoint::parse(text).unwrap();
    assert_eq!(c.size, 20852163);
    assert_eq!(c.to_text(), text);
    let with_ext = Checkpoint {
        extensions: vec!["ext one".into(), "\u{e9}x2".into()],
        ..c
    };
    assert_eq!(Checkpoint::parse(&with_ext.to_text()).unwrap(), with_ext);
}

/// Signing then opening with the signer's vkey gives the same checkpoint; a checkpoint of
/// another log, a wrong key or a tampered size are rejected.
#[test]
fn signed_checkpoint_round_trips() {
    let s = signer();
    let c = cp(3);
    let note = sign_checkpoint(&c, &s).unwrap();
    assert!(note.starts_with(&c.to_text()));
    let v = NoteVerifier::from_vkey(&s.verifier().to_vkey()).unwrap();
    assert_eq!(
        open_checkpoint(&note, std::slice::from_ref(&v), Some(ORIGIN)).unwrap(),
        c
    );
    assert_eq!(
        open_checkpoint(&note, std::slice::from_ref(&v), None).unwrap(),
        c
    );

    let other = NoteSigner::new(ORIGIN, PrivateKey::from_seed(&[43; 32])).unwrap();
    let err = open_checkpoint(&note, &[other.verifier()], Some(ORIGIN)).unwrap_err();
    assert_eq!(
        err,
        CheckpointError::Note(AttestError::Note(NoteError::NotVerified { unknown: 1 }))
    );
    let tampered = note.replacen("\n3\n", "\n4\n", 1);
    let err = open_checkpoint(&tampered, &[v], Some(ORIGIN)).unwrap_err();
    assert!(
        matches!(
            err,
            CheckpointError::Note(AttestError::Note(NoteError::BadSignature { .. }))
        ),
        "{err}"
    );
}

/// Size 0 is never signed; texts that would not read back (newline in the origin, empty
/// extension) are not signed either.
#[test]
fn unsignable_checkpoints_are_refused() {
    let s = signer();
    let err = sign_checkpoint(&cp(0), &s).unwrap_err();
    assert_eq!(err, CheckpointError::EmptyTree);
    assert!(err
        .to_string()
        .contains("never publish a size-0 checkpoint"));
    let mut c = cp(1);
    c.origin = "a\nb".into();
    assert!(matches!(
        sign_checkpoint(&c, &s),
        Err(CheckpointError::Malformed(_))
    ));
    let mut c = cp(1);
    c.origin = String::new();
    assert!(matches!(
        sign_checkpoint(&c, &s),
        Err(CheckpointError::Malformed(_))
    ));
    let mut c = cp(1);
    c.extensions = vec![String::new()];
    assert!(matches!(
        sign_checkpoint(&c, &s),
        Err(CheckpointError::Malformed(_))
    ));
    // A size-0 text is a valid checkpoint to read (the spec allows it), only not to sign.
    assert_eq!(Checkpoint::parse(&cp(0).to_text()).unwrap().size, 0);
}

/// Strict parsing: leading zeros, signs, spaces, non-ASCII digits, overflow, wrong root
/// length, non-canonical or URL-safe base64, blank lines, missing lines, CR, no final newline.
#[test]
fn malformed_checkpoint_texts_are_refused() {
    let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
    let ok = format!("o\n12\n{root}\n");
    assert!(Checkpoint::parse(&ok).is_ok());
    let bad_sizes = [
        "012",
        "00",
        "+12",
        "-1",
        " 12",
        "12 ",
        "1_2",
        "\u{661}\u{662}",
        "\u{ff11}\u{ff12}",
        "",
        "18446744073709551616",
        "0x10",
        "1e3",
    ];
    for size in bad_sizes {
        let text = format!("o\n{size}\n{root}\n");
        let err = Checkpoint::parse(&text).unwrap_err();
        assert!(
            matches!(err, CheckpointError::Malformed(_)),
            "`{size}`: {err}"
        );
    }
    assert_eq!(
        Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n"))
            .unwrap()
            .size,
        u64::MAX
    );
    let bad_texts = [
        format!("o\n12\n{}\n", B64.encode([1u8; 31])),
        format!("o\n12\n{}\n", B64.encode([1u8; 33])),
        format!("o\n12\n{}\n", root.trim_end_matches('=')),
        format!("o\n12\n{}\n", root.replace("2I=", "2J=")),
        format!("o\n12\n{}\n", root.replace('/', "_")),
        format!("o\n12\n {root}\n"),
        format!("\n12\n{root}\n"),
        format!("o\n12\n{root}\n\next\n"),
        format!("o\n12\n{root}\n\n"),
        format!("o\n12\n{root}"),
        "o\n12\n".to_owned(),
        format!("o\r\n12\r\n{root}\r\n"),
        format!("o\n12\r\n{root}\n"),
        String::new(),
    ];
    for text in &bad_texts {
        let err = Checkpoint::parse(text).unwrap_err();
        assert!(
            matches!(err, CheckpointError::Malformed(_)),
            "{text:?}: {err}"
        );
    }
}

fn proof(extra: Option<Vec<u8>>, hashes: usize) -> TlogProof {
    TlogProof {
        extra,
        index: 5,
        hashes: (0..hashes).map(|i| [i as u8; 32]).collect(),
        checkpoint: sign_checkpoint(&cp(9), &signer()).unwrap(),
    }
}

/// tlog-proof files print in the spec's layout and parse back, with and without extra data
/// and with an empty inclusion proof.
#[test]
fn tlog_proof_round_trips() {
    for p in [
        proof(None, 4),
        proof(Some(b"context".to_vec()), 2),
        proof(None, 0),
    ] {
        let text = p.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\n"));
        assert!(text.ends_with(&p.checkpoint));
        assert_eq!(TlogProof::parse(&text).unwrap(), p);
    }
    let text = proof(Some(vec![1, 2, 3]), 1).to_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "extra AQID");
    assert_eq!(lines[2], "index 5");
    assert_eq!(lines[3], B64.encode([0u8; 32]));
    assert_eq!(lines[4], "");
    assert_eq!(lines[5], ORIGIN);
}

/// Malformed tlog-proof files: wrong header, extra after index, bad index, bad hash lines,
/// no blank line, no checkpoint, too many hashes, CRLF.
#[test]
fn malformed_tlog_proofs_are_refused() {
    let good = proof(Some(vec![9]), 2).to_text();
    assert!(TlogProof::parse(&good).is_ok());
    let h0 = B64.encode([0u8; 32]);
    let mut cases = vec![
        good.replacen("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2", 1),
        good.replacen("c2sp.org/tlog-proof@v1\n", "", 1),
        good.replacen("extra CQ==\nindex 5\n", "index 5\nextra CQ==\n", 1),
        good.replacen("extra CQ==", "extra CQ", 1),
        good.replacen("index 5", "index 05", 1),
        good.replacen("index 5", "index  5", 1),
        good.replacen("index 5", "index -5", 1),
        good.replacen("index 5", "Index 5", 1),
        good.replacen("index 5", "index", 1),
        good.replacen(&h0, &B64.encode([0u8; 31]), 1),
        good.replacen(&h0, "not base64!", 1),
        good.replacen(&format!("{h0}\n"), &format!("{h0} \n"), 1),
        good.replace('\n', "\r\n"),
        "c2sp.org/tlog-proof@v1\nindex 5\n".to_owned(),
        "c2sp.org/tlog-proof@v1\nindex 5\n\n".to_owned(),
        "c2sp.org/tlog-proof@v1".to_owned(),
        String::new(),
    ];
    let mut many = proof(None, MAX_INCLUSION_HASHES);
    assert!(TlogProof::parse(&many.to_text()).is_ok());
    many.hashes.push([1; 32]);
    cases.push(many.to_text());
    for text in &cases {
        let err = TlogProof::parse(text).unwrap_err();
        assert!(
            matches!(err, CheckpointError::MalformedProof(_)),
            "{text:?}: {err}"
        );
    }
}

type Call = ([u8; 32], u64, u64, Vec<[u8; 32]>, [u8; 32]);

/// verify_tlog_proof checks the checkpoint signature and origin, the index range, and hands
/// the inclusion check exactly RFC 6962's leaf hash, index, size, path and root.
#[test]
fn verify_tlog_proof_wires_the_inclusion_check() {
    let s = signer();
    let record = br#"{"index":5}"#;
    let p = proof(None, 3);
    let text = p.to_text();
    let calls: RefCell<Vec<Call>> = RefCell::new(Vec::new());
    let record_call = |answer: bool| {
        let calls = &calls;
        move |leaf: &[u8; 32], i: u64, n: u64, path: &[[u8; 32]], root: &[u8; 32]| {
            calls.borrow_mut().push((*leaf, i, n, path.to_vec(), *root));
            answer
        }
    };
    let vs = [s.verifier()];
    let ok = verify_tlog_proof(&text, record, &vs, ORIGIN, record_call(true)).unwrap();
    assert_eq!(ok.index, 5);
    assert_eq!(ok.checkpoint, cp(9));
    let mut leaf_input = vec![0u8];
    leaf_input.extend_from_slice(record);
    let expected_leaf = modelgate::digest::sha256(&leaf_input);
    assert_eq!(
        calls.borrow()[0],
        (expected_leaf, 5, 9, p.hashes.clone(), [7; 32])
    );

    let err = verify_tlog_proof(&text, record, &vs, ORIGIN, record_call(false)).unwrap_err();
    assert_eq!(err, CheckpointError::NotIncluded { index: 5, size: 9 });

    let calls_before = calls.borrow().len();
    let err =
        verify_tlog_proof(&text, record, &vs, "other.example/log", record_call(true)).unwrap_err();
    assert!(matches!(err, CheckpointError::OriginMismatch { .. }));
    let stranger = NoteSigner::new(ORIGIN, PrivateKey::from_seed(&[1; 32])).unwrap();
    let err = verify_tlog_proof(
        &text,
        record,
        &[stranger.verifier()],
        ORIGIN,
        record_call(true),
    )
    .unwrap_err();
    assert!(matches!(err, CheckpointError::Note(_)));
    let mut far = p.clone();
    far.index = 9;
    let err =
        verify_tlog_proof(&far.to_text(), record, &vs, ORIGIN, record_call(true)).unwrap_err();
    assert_eq!(err, CheckpointError::IndexOutOfRange { index: 9, size: 9 });
    assert_eq!(
        calls.borrow().len(),
        calls_before,
        "no inclusion check before the checkpoint is trusted"
    );
}

/// Consistency proofs: one base64 hash per line, round trip, empty proof, tolerated missing
/// final newline; blank lines, bad hashes and too many lines refused.
#[test]
fn consistency_proof_text() {
    let hashes: Vec<[u8; 32]> = (0..3u8).map(|i| [i; 32]).collect();
    let text = format_consistency_proof(&hashes);
    assert_eq!(text.lines().count(), 3);
    assert_eq!(text.lines().next().unwrap(), B64.encode([0u8; 32]));
    assert_eq!(parse_consistency_proof(&text).unwrap(), hashes);
    assert_eq!(parse_consistency_proof(text.trim_end()).unwrap(), hashes);
    assert_eq!(format_consistency_proof(&[]), "");
    assert!(parse_consistency_proof("").unwrap().is_empty());
    let h = B64.encode([5u8; 32]);
    let too_many = format!("{h}\n").repeat(MAX_CONSISTENCY_HASHES + 1);
    for bad in [
        format!("{h}\n\n{h}\n"),
        format!("\n{h}\n"),
        "\n".to_owned(),
        format!("{h}\n{h}\n\n"),
        format!("{h} \n"),
        format!("{h}\r\n"),
        B64.encode([5u8; 16]),
        too_many,
    ] {
        let err = parse_consistency_proof(&bad).unwrap_err();
        assert!(
            matches!(err, CheckpointError::MalformedConsistency(_)),
            "{bad:?}: {err}"
        );
    }
}

const DOC_VKEY: &str =
    "modelgate.example.com/ledger+337c392a+ARl/ayPhbIUyxqvIOPrNXqeJvgx2spIDNAOb+os9No1h";
const DOC_NOTE: &str = "modelgate.example.com/ledger\n2\nxSdoRP810sxNrOANToIUuFnMZcAJ98b80oAw9oEiiEI=\n\n\u{2014} modelgate.example.com/ledger M3w5KodQacW6fYj2XKEBnEqgulnFWLIewxPMv9f4Qrwo2eSzH4JeOsEsR98aK1XjRSuHKNgkATGOyWxjJmamO5/1Vws=\n";
const DOC_RECORD_1: &str = r#"{"body":{"environment":"prod","reason":"incident closed"},"index":1,"kind":"unfreeze","prev":"1688fb28b5d61e190d1cbaedcf9596cc05bb696bce403b147a77e39b7ec2daa8","time":"2026-11-27T11:02:00Z","v":1}"#;

/// The worked example of docs/checkpoints.md is exactly what this code produces from the
/// documented seed, and its proof file verifies (with a two-leaf RFC 6962 check written out
/// here, standing in for the ledger's Merkle module).
#[test]
fn docs_worked_example_is_reproducible() {
    let s = signer();
    assert_eq!(s.verifier().to_vkey(), DOC_VKEY);
    let root: [u8; 32] = B64
        .decode("xSdoRP810sxNrOANToIUuFnMZcAJ98b80oAw9oEiiEI=")
        .unwrap()
        .try_into()
        .unwrap();
    let c = Checkpoint {
        origin: ORIGIN.to_owned(),
        size: 2,
        root,
        extensions: Vec::new(),
    };
    assert_eq!(sign_checkpoint(&c, &s).unwrap(), DOC_NOTE);

    let leaf0: [u8; 32] = B64
        .decode("Foj7KLXWHhkNHLrtz5WWzAW7aWvOQDsUenfjm37C2qg=")
        .unwrap()
        .try_into()
        .unwrap();
    let proof = TlogProof {
        extra: None,
        index: 1,
        hashes: vec![leaf0],
        checkpoint: DOC_NOTE.to_owned(),
    };
    let text = proof.to_text();
    assert_eq!(
        text,
        format!("c2sp.org/tlog-proof@v1\nindex 1\nFoj7KLXWHhkNHLrtz5WWzAW7aWvOQDsUenfjm37C2qg=\n\n{DOC_NOTE}")
    );
    let two_leaf = |leaf: &[u8; 32], i: u64, n: u64, path: &[[u8; 32]], root: &[u8; 32]| {
        let (left, right) = match (i, path) {
            (0, [sib]) => (leaf, sib),
            (1, [sib]) => (sib, leaf),
            _ => return false,
        };
        let mut node = vec![1u8];
        node.extend_from_slice(left);
        node.extend_from_slice(right);
        n == 2 && modelgate::digest::sha256(&node) == *root
    };
    let v = NoteVerifier::from_vkey(DOC_VKEY).unwrap();
    let ok = verify_tlog_proof(
        &text,
        DOC_RECORD_1.as_bytes(),
        std::slice::from_ref(&v),
        ORIGIN,
        two_leaf,
    );
    assert_eq!(ok.unwrap().checkpoint, c);
    let other_record = DOC_RECORD_1.replace("closed", "open");
    let err = verify_tlog_proof(&text, other_record.as_bytes(), &[v], ORIGIN, two_leaf);
    assert_eq!(
        err.unwrap_err(),
        CheckpointError::NotIncluded { index: 1, size: 2 }
    );
}
