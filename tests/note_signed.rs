//! C2SP signed notes: the published vectors verify, key ids and vkeys match the spec, notes made
//! here read back, and every malformed or forged note is rejected with a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use modelgate::attest::{
    note_key_id, open_note, AttestError, NoteError, NoteSigner, NoteVerifier, PrivateKey,
    MAX_NOTE_BYTES, MAX_NOTE_SIGNATURES,
};

const VECTORS: &str = include_str!("fixtures/signed-note/signed-note.json");

struct Vector {
    vkey: String,
    note: String,
}

fn vectors() -> Vec<Vector> {
    let doc: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            vkey: v["vkey"].as_str().unwrap().to_owned(),
            note: v["note"].as_str().unwrap().to_owned(),
        })
        .collect()
}

fn note_err(r: Result<impl std::fmt::Debug, AttestError>) -> NoteError {
    match r {
        Err(AttestError::Note(e)) => e,
        other => panic!("expected a note error, got {other:?}"),
    }
}

fn signer(seed: u8, name: &str) -> NoteSigner {
    NoteSigner::new(name, PrivateKey::from_seed(&[seed; 32])).unwrap()
}

/// The spec's example vkey and the Go checksum database's vkey parse and print back unchanged.
#[test]
fn vector_vkeys_parse_and_round_trip() {
    let vs = vectors();
    assert_eq!(vs.len(), 2);
    for v in &vs {
        let verifier = NoteVerifier::from_vkey(&v.vkey).unwrap();
        assert_eq!(verifier.to_vkey(), v.vkey);
    }
    let foo = NoteVerifier::from_vkey(&vs[0].vkey).unwrap();
    assert_eq!(foo.name(), "example.com/foo");
    assert_eq!(foo.key_id(), 0x530d903a);
    let sum = NoteVerifier::from_vkey(&vs[1].vkey).unwrap();
    assert_eq!(sum.name(), "sum.golang.org");
    assert_eq!(sum.key_id(), 0x033de0ae);
}

/// key id = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pubkey)[:4], computed independently here.
#[test]
fn key_id_is_the_spec_hash_prefix() {
    for v in vectors() {
        let verifier = NoteVerifier::from_vkey(&v.vkey).unwrap();
        let raw = verifier.public_key().raw();
        let mut input = verifier.name().as_bytes().to_vec();
        input.push(0x0a);
        input.push(0x01);
        input.extend_from_slice(&raw);
        let h = modelgate::digest::sha256(&input);
        let expected = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        assert_eq!(note_key_id(verifier.name(), &raw), expected);
        assert_eq!(verifier.key_id(), expected);
    }
}

/// Both vector notes verify under their vkeys and yield the exact signed text.
#[test]
fn vector_notes_verify() {
    let vs = vectors();
    let texts = [
        "This is an example message.\n",
        "go.sum database tree\n63096908\n8lHrQPRYe4KT4WQ9/Qk8/taKnD6IRHbFgfN7vQE2Y54=\n",
    ];
    for (v, text) in vs.iter().zip(texts) {
        let verifier = NoteVerifier::from_vkey(&v.vkey).unwrap();
        let opened = open_note(&v.note, std::slice::from_ref(&verifier)).unwrap();
        assert_eq!(opened.text, text);
        assert_eq!(opened.verified_by, vec![verifier.name().to_owned()]);
        assert!(opened.unverified.is_empty());
    }
}

/// A note is accepted when one trusted key verifies, whatever other keys also signed; the
/// other signatures are reported, not trusted.
#[test]
fn unknown_signatures_are_ignored_but_reported() {
    let vs = vectors();
    let both = vectors_verifiers();
    let opened = open_note(&vs[0].note, &both).unwrap();
    assert_eq!(opened.verified_by, vec!["example.com/foo".to_owned()]);

    let a = signer(1, "a.example/log");
    let b = signer(2, "b.example/witness");
    let note = a.sign("hello\n").unwrap();
    let b_line = b.sign("hello\n").unwrap();
    let b_line = b_line.strip_prefix("hello\n\n").unwrap();
    let cosigned = format!("{note}{b_line}");
    let opened = open_note(&cosigned, &[a.verifier()]).unwrap();
    assert_eq!(opened.verified_by, vec!["a.example/log".to_owned()]);
    assert_eq!(opened.unverified.len(), 1);
    assert_eq!(opened.unverified[0].name, "b.example/witness");
    assert_eq!(opened.unverified[0].key_id, b.key_id());
    assert_eq!(opened.unverified[0].signature.len(), 64);
    let opened = open_note(&cosigned, &[a.verifier(), b.verifier()]).unwrap();
    assert_eq!(opened.verified_by.len(), 2);
}

fn vectors_verifiers() -> Vec<NoteVerifier> {
    vectors()
        .iter()
        .map(|v| NoteVerifier::from_vkey(&v.vkey).unwrap())
        .collect()
}

/// A signer from a fixed seed produces the exact documented note (Ed25519 is deterministic),
/// its vkey parses back, and the note verifies under that vkey.
#[test]
fn fixed_seed_signer_round_trips() {
    let s = NoteSigner::new(
        "modelgate.example.com/ledger",
        Arc::new(PrivateKey::from_seed(&[42; 32])),
    )
    .unwrap();
    let text = "modelgate.example.com/ledger\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let note = s.sign(text).unwrap();
    assert!(note.starts_with(&format!("{text}\n\u{2014} modelgate.example.com/ledger ")));
    assert!(note.ends_with('\n'));
    assert_eq!(note, s.sign(text).unwrap(), "signing is deterministic");
    let vkey = s.verifier().to_vkey();
    let verifier = NoteVerifier::from_vkey(&vkey).unwrap();
    assert_eq!(verifier, s.verifier());
    let opened = open_note(&note, &[verifier]).unwrap();
    assert_eq!(opened.text, text);

    // The signature line carries keyID ‖ a 64-byte Ed25519 signature over the text alone.
    let b64 = note.trim_end().rsplit(' ').next().unwrap();
    let blob = B64.decode(b64).unwrap();
    assert_eq!(blob.len(), 68);
    assert_eq!(blob[..4], s.key_id().to_be_bytes());
    let key = PrivateKey::from_seed(&[42; 32]).public_key();
    key.verify_strict(text.as_bytes(), &blob[4..]).unwrap();

    // A text with empty lines inside is fine: the text ends at the last blank line.
    let text = "a\n\nb\n";
    assert_eq!(
        open_note(&s.sign(text).unwrap(), &[s.verifier()])
            .unwrap()
            .text,
        text
    );
}

/// Changing one byte of the signed text makes the trusted signature fail: rejected.
#[test]
fn tampered_text_is_rejected() {
    let v = &vectors()[1];
    let tampered = v.note.replacen("63096908", "63096909", 1);
    let err = note_err(open_note(&tampered, &vectors_verifiers()));
    assert!(
        matches!(err, NoteError::BadSignature { ref name, key_id: 0x033de0ae, .. } if name == "sum.golang.org"),
        "{err}"
    );
}

/// A verifier with the right name but another key has another key id: the signature is by an
/// unknown key, so nothing trusted signed the note.
#[test]
fn wrong_key_is_not_trusted() {
    let v = &vectors()[0];
    let impostor = signer(9, "example.com/foo").verifier();
    let err = note_err(open_note(&v.note, &[impostor]));
    assert_eq!(err, NoteError::NotVerified { unknown: 1 });
}

/// A note signed only by keys not in the trusted list is rejected.
#[test]
fn signature_by_unknown_key_only_is_rejected() {
    let other = signer(3, "other.example");
    let note = other.sign("text\n").unwrap();
    let err = note_err(open_note(&note, &vectors_verifiers()));
    assert_eq!(err, NoteError::NotVerified { unknown: 1 });
    assert!(err.to_string().contains("no signature by a trusted key"));
    // No verifiers at all: same answer.
    assert_eq!(
        note_err(open_note(&note, &[])),
        NoteError::NotVerified { unknown: 1 }
    );
}

/// A signature line naming a trusted key (name and id) whose signature is forged rejects the
/// note even if another line by the same key verifies.
#[test]
fn a_bad_signature_by_a_trusted_key_rejects_the_note() {
    let s = signer(4, "log.example");
    let note = s.sign("text\n").unwrap();
    let mut blob = s.key_id().to_be_bytes().to_vec();
    blob.extend_from_slice(&[0u8; 64]);
    let forged = format!("{note}\u{2014} log.example {}\n", B64.encode(&blob));
    let err = note_err(open_note(&forged, &[s.verifier()]));
    assert!(matches!(err, NoteError::BadSignature { .. }), "{err}");
}

/// A trusted key id with a signature that is not 64 bytes is a failed signature.
#[test]
fn wrong_signature_length_is_rejected() {
    let s = signer(5, "log.example");
    let note = s.sign("text\n").unwrap();
    let b64 = note.trim_end().rsplit(' ').next().unwrap();
    let mut blob = B64.decode(b64).unwrap();
    blob.pop();
    let short = note.replace(b64, &B64.encode(&blob));
    let err = note_err(open_note(&short, &[s.verifier()]));
    match err {
        NoteError::BadSignature { reason, .. } => assert!(reason.contains("64 bytes"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // Four bytes or fewer cannot hold a key id and a signature at all.
    let tiny = note.replace(b64, &B64.encode([1, 2, 3, 4]));
    assert!(matches!(
        note_err(open_note(&tiny, &[s.verifier()])),
        NoteError::SignatureLine { line: 1, .. }
    ));
}

/// A malformed note and a check of the error it must give.
type Case = (String, fn(&NoteError) -> bool);

/// Structural problems: no blank line, nothing after it, unterminated last line, bad base64,
/// a hyphen or en dash for the em dash, a missing space, a name with `+` or a non-breaking
/// space, CRLF line endings, other control characters.
#[test]
fn malformed_notes_are_rejected() {
    let s = signer(6, "log.example");
    let good = s.sign("text\n").unwrap();
    let vs = [s.verifier()];
    let sig = good.strip_prefix("text\n\n").unwrap();
    let cases: Vec<Case> = vec![
        (good.replacen("\n\n", "\n", 1), |e| {
            *e == NoteError::MissingSeparator
        }),
        ("text\n\n".to_owned(), |e| {
            matches!(e, NoteError::SignatureBlock(_))
        }),
        (good.trim_end().to_owned(), |e| {
            matches!(e, NoteError::SignatureBlock(_))
        }),
        (format!("{good}\n"), |e| {
            matches!(e, NoteError::SignatureBlock(_))
        }),
        (good.replacen('=', "!", 1), |e| {
            matches!(e, NoteError::SignatureLine { line: 1, .. })
        }),
        (good.replacen('\u{2014}', "-", 1), |e| {
            matches!(e, NoteError::SignatureLine { .. })
        }),
        (good.replacen('\u{2014}', "\u{2013}", 1), |e| {
            matches!(e, NoteError::SignatureLine { .. })
        }),
        (good.replacen("\u{2014} ", "\u{2014}", 1), |e| {
            matches!(e, NoteError::SignatureLine { .. })
        }),
        (good.replacen("\u{2014} ", "\u{2014}  ", 1), |e| {
            matches!(e, NoteError::SignatureLine { .. })
        }),
        (good.replacen("log.example ", "log.example  ", 1), |e| {
            matches!(e, NoteError::SignatureLine { .. })
        }),
        (good.replacen("log.example", "log+example", 1), |e| {
            matches!(e, NoteError::SignatureLine { .. })
        }),
        (good.replacen("log.example", "log\u{a0}example", 1), |e| {
            matches!(e, NoteError::SignatureLine { .. })
        }),
        (good.replacen("log.example", "log\u{3000}example", 1), |e| {
            matches!(e, NoteError::SignatureLine { .. })
        }),
        (
            format!("{good}{}", sig.replacen("\u{2014} ", "- ", 1)),
            |e| matches!(e, NoteError::SignatureLine { line: 2, .. }),
        ),
        (good.replace('\n', "\r\n"), |e| {
            matches!(
                e,
                NoteError::ControlCharacter {
                    byte: b'\r',
                    offset: 4,
                    ..
                }
            )
        }),
        (good.replacen("text", "te\txt", 1), |e| {
            matches!(e, NoteError::ControlCharacter { byte: b'\t', .. })
        }),
        (good.replacen("text", "te\0xt", 1), |e| {
            matches!(e, NoteError::ControlCharacter { byte: 0, .. })
        }),
    ];
    for (i, (note, ok)) in cases.into_iter().enumerate() {
        let err = note_err(open_note(&note, &vs));
        assert!(ok(&err), "case {i}: unexpected {err:?}");
        assert!(!err.to_string().is_empty());
    }
    let crlf = note_err(open_note(&good.replace('\n', "\r\n"), &vs));
    assert!(crlf.to_string().contains("CRLF"), "{crlf}");
}

/// Limits: more than MAX_NOTE_SIGNATURES lines or more than MAX_NOTE_BYTES are refused, and
/// 16 signatures (the spec's minimum) are accepted.
#[test]
fn size_and_signature_limits() {
    let s = signer(7, "log.example");
    let good = s.sign("text\n").unwrap();
    let line = good.strip_prefix("text\n\n").unwrap();
    let sixteen = format!("{good}{}", line.repeat(15));
    assert!(open_note(&sixteen, &[s.verifier()]).is_ok());
    let too_many = format!("{good}{}", line.repeat(MAX_NOTE_SIGNATURES));
    assert_eq!(
        note_err(open_note(&too_many, &[s.verifier()])),
        NoteError::TooManySignatures {
            max: MAX_NOTE_SIGNATURES
        }
    );
    let huge = format!("{}\n{good}", "x".repeat(MAX_NOTE_BYTES));
    assert!(matches!(
        note_err(open_note(&huge, &[s.verifier()])),
        NoteError::TooLarge { .. }
    ));
}

/// The same trusted key listed twice is not ambiguous; and a vkey cannot claim another key's
/// id, so two different trusted keys can share a name and id only by a SHA-256 prefix collision.
#[test]
fn duplicate_verifiers_are_fine_and_ids_cannot_be_borrowed() {
    let s = signer(8, "log.example");
    let note = s.sign("text\n").unwrap();
    let v = s.verifier();
    assert!(open_note(&note, &[v.clone(), v.clone()]).is_ok());
    let other = signer(10, "log.example").verifier();
    let borrowed = format!(
        "log.example+{:08x}+{}",
        v.key_id(),
        other.to_vkey().rsplit('+').next().unwrap()
    );
    assert!(matches!(
        note_err(NoteVerifier::from_vkey(&borrowed)),
        NoteError::Vkey { .. }
    ));
}

/// vkeys: wrong key id, non-hex or signed id, wrong type byte, wrong length, bad name, missing
/// parts are all refused with the vkey named in the message.
#[test]
fn malformed_vkeys_are_rejected() {
    let good = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    let key_b64 = "AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    let raw = B64.decode(key_b64).unwrap();
    let mut typed = raw.clone();
    typed[0] = 0x02;
    let cases = [
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k".to_owned(),
        "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k".to_owned(),
        "example.com/foo++30d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k".to_owned(),
        "example.com/foo+530d903g+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k".to_owned(),
        format!("example.com/foo+530d903a+{}", B64.encode(&typed)),
        format!("example.com/foo+530d903a+{}", B64.encode(&raw[..32])),
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k=".to_owned(),
        "example.com/foo+530d903a+".to_owned(),
        "example.com/foo+530d903a".to_owned(),
        "example.com/foo".to_owned(),
        "example .com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k".to_owned(),
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k".to_owned(),
        String::new(),
    ];
    for c in &cases {
        match note_err(NoteVerifier::from_vkey(c)) {
            NoteError::Vkey { vkey, .. } => assert_eq!(&vkey, c),
            other => panic!("`{c}`: {other:?}"),
        }
    }
    assert!(NoteVerifier::from_vkey(good).is_ok());
    // Uppercase hex names the same id (Go accepts it too); printing normalises to lowercase.
    let upper = NoteVerifier::from_vkey(&good.replace("530d903a", "530D903A")).unwrap();
    assert_eq!(upper.to_vkey(), good);
}

/// Key names: empty, whitespace (ASCII or Unicode) and `+` are refused for signers.
#[test]
fn signer_names_follow_the_rules() {
    for bad in ["", "a b", "a\tb", "a+b", "a\u{2003}b", "a\u{85}b", "a\nb"] {
        let err = note_err(NoteSigner::new(bad, PrivateKey::from_seed(&[1; 32])));
        assert!(matches!(err, NoteError::KeyName { .. }), "`{bad}`: {err:?}");
    }
    assert!(NoteSigner::new("example.com/log\u{e9}", PrivateKey::from_seed(&[1; 32])).is_ok());
}

/// Texts that could not be read back are refused for signing.
#[test]
fn signing_refuses_unreadable_texts() {
    let s = signer(11, "log.example");
    for bad in ["", "no newline", "crlf\r\n", "tab\t\n"] {
        assert!(
            matches!(note_err(s.sign(bad)), NoteError::Text(_)),
            "`{bad:?}`"
        );
    }
}

/// Hostile input never panics: every prefix and many single-character edits of a valid note
/// give Ok or an error.
#[test]
fn open_note_never_panics_on_mutations() {
    let s = signer(12, "log.example");
    let note = s.sign("origin\n5\nAAAA\n").unwrap();
    let vs = [s.verifier()];
    let chars: Vec<char> = note.chars().collect();
    let mut accepted = 0;
    for i in 0..=chars.len() {
        let prefix: String = chars[..i].iter().collect();
        if open_note(&prefix, &vs).is_ok() {
            accepted += 1;
        }
        for r in ['\n', ' ', '\u{2014}', '+', '=', 'A', '\u{0}', '\u{a0}'] {
            let mut m = chars.clone();
            if i < m.len() {
                m[i] = r;
                let m: String = m.into_iter().collect();
                if m != note {
                    let _ = open_note(&m, &vs);
                }
            }
        }
    }
    assert_eq!(accepted, 1, "only the complete note verifies");
}
