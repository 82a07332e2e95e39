//! `notes`: the text formats of the transparency log. The first byte picks the format:
//!
//! - `c`: [`Checkpoint::parse`]; a parsed checkpoint prints back to exactly the input;
//! - `p`: [`TlogProof::parse`] of the text before `\n====\n` and [`verify_tlog_proof`] of it
//!   for the record after; a parsed proof survives printing and parsing, and a verified proof
//!   is one whose inclusion really checks out under its checkpoint's root;
//! - `k`: [`parse_consistency_proof`]; a parsed proof prints back to the input (up to the
//!   tolerated missing final newline);
//! - `v`: [`NoteVerifier::from_vkey`]; a parsed vkey survives printing and parsing;
//! - `n`: [`open_note`] against the golden pack's engine key and the two C2SP vectors' keys;
//!   an opened note is verified by a trusted key, its text is a prefix of the note ending in a
//!   newline, and changing one byte of that text makes it fail to open.

use std::sync::OnceLock;

use modelgate::attest::{open_note, NoteVerifier};
use modelgate::ledger::{
    format_consistency_proof, leaf_hash, parse_consistency_proof, verify_inclusion,
    verify_tlog_proof, Checkpoint, TlogProof,
};

/// The golden pack's engine key and origin.
const ENGINE_VKEY: &str = include_str!("../../../evidence/golden/engine.vkey");
const ORIGIN: &str = "modelgate.local/ledger";
const VECTORS: &str = include_str!("../../../tests/fixtures/signed-note/signed-note.json");

fn verifiers() -> &'static [NoteVerifier] {
    static ALL: OnceLock<Vec<NoteVerifier>> = OnceLock::new();
    ALL.get_or_init(|| {
        let vectors: serde_json::Value =
            serde_json::from_str(VECTORS).unwrap_or_else(|e| panic!("vectors: {e}"));
        let mut vkeys = vec![ENGINE_VKEY.trim().to_owned()];
        for v in vectors["vectors"].as_array().into_iter().flatten() {
            if let Some(k) = v["vkey"].as_str() {
                vkeys.push(k.to_owned());
            }
        }
        vkeys
            .iter()
            .map(|k| NoteVerifier::from_vkey(k).unwrap_or_else(|e| panic!("vkey `{k}`: {e}")))
            .collect()
    })
}

/// The target.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        b'c' => checkpoint(rest),
        b'p' => proof(rest),
        b'k' => consistency(rest),
        b'v' => vkey(rest),
        b'n' => note(rest),
        _ => {}
    }
}

fn checkpoint(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cp) = Checkpoint::parse(text) {
        assert_eq!(
            cp.to_text(),
            text,
            "a checkpoint does not print back to its text"
        );
        assert_eq!(Checkpoint::parse(&cp.to_text()).ok(), Some(cp));
    }
}

fn proof(data: &[u8]) {
    let (proof, record) = super::split_pair(data);
    let Ok(text) = std::str::from_utf8(proof) else {
        return;
    };
    let Ok(parsed) = TlogProof::parse(text) else {
        return;
    };
    assert_eq!(
        TlogProof::parse(&parsed.to_text()).ok().as_ref(),
        Some(&parsed),
        "a tlog proof does not survive printing and parsing"
    );
    let check = |leaf: &[u8; 32], index, size, hashes: &[[u8; 32]], root: &[u8; 32]| {
        verify_inclusion(leaf, index, size, hashes, root).is_ok()
    };
    if let Ok(verified) = verify_tlog_proof(text, record, verifiers(), ORIGIN, check) {
        let cp = &verified.checkpoint;
        assert_eq!(verified.index, parsed.index);
        assert!(verified.index < cp.size);
        assert_eq!(cp.origin, ORIGIN);
        assert!(
            verify_inclusion(
                &leaf_hash(record),
                parsed.index,
                cp.size,
                &parsed.hashes,
                &cp.root
            )
            .is_ok(),
            "a verified proof does not include its record"
        );
        assert!(
            open_note(&parsed.checkpoint, verifiers()).is_ok(),
            "a verified proof's checkpoint does not open"
        );
    }
}

fn consistency(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(hashes) = parse_consistency_proof(text) {
        let printed = format_consistency_proof(&hashes);
        assert!(
            printed == text || printed == format!("{text}\n"),
            "a consistency proof does not print back to its text"
        );
        assert_eq!(parse_consistency_proof(&printed).ok(), Some(hashes));
    }
}

fn vkey(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = NoteVerifier::from_vkey(text) {
        assert_eq!(NoteVerifier::from_vkey(&v.to_vkey()).ok(), Some(v.clone()));
        assert!(
            v.to_vkey().eq_ignore_ascii_case(text),
            "a vkey prints back to something else than its text"
        );
    }
}

fn note(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let verifiers = verifiers();
    let Ok(opened) = open_note(text, verifiers) else {
        return;
    };
    assert!(
        !opened.verified_by.is_empty(),
        "opened without a verified signature"
    );
    for name in &opened.verified_by {
        assert!(
            verifiers.iter().any(|v| v.name() == name),
            "verified by unknown `{name}`"
        );
    }
    assert!(text.starts_with(&opened.text) && opened.text.ends_with('\n'));
    assert_eq!(text.as_bytes().get(opened.text.len()), Some(&b'\n'));
    // One printable ASCII byte of the signed text changed: no trusted signature may cover it.
    let mut forged = text.as_bytes().to_vec();
    if let Some(at) = forged[..opened.text.len()]
        .iter()
        .position(|b| (0x20..0x7f).contains(b))
    {
        forged[at] ^= 0x01;
        if let Ok(forged) = String::from_utf8(forged) {
            assert!(
                open_note(&forged, verifiers).is_err(),
                "a note still opens after its signed text was changed"
            );
        }
    }
}
