//! No input makes a promotion allowed unless every required signature still verifies.
//!
//! Starting from a valid, allowed signed request of each tier (metadata by the author plus
//! exactly the approvals the tier needs), random sequences of one to three mutations are
//! applied: dropping, duplicating or reordering envelopes, flipping bytes of a signature, a
//! payload, a keyid or a payloadType (decoded or in the base64 text), re-signing with an
//! untrusted key or another trusted person's key, changing an approval's role, moving its times
//! outside its validity window, editing the metadata, swapping signatures between envelopes,
//! emptying an envelope's signatures. An oracle written here decides, with `ed25519-dalek`
//! directly (its lenient `verify`, so that it errs towards "still valid"), whether every
//! original envelope is still present with its payload, payload type and a signature by a
//! persona entitled to sign it (the approver for an approval; any trusted metadata signer for
//! the metadata); when it is not, the engine must not allow. Cases where a mutation re-signed
//! a readable statement with the key of a persona entitled to sign it are genuinely signed new
//! statements the oracle cannot judge, and are only counted. A smaller sample goes through the
//! `check` command, which must exit non-zero.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod prop_support;

use std::cell::RefCell;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clap::Parser as _;
use common::*;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use modelgate::attest::{Envelope, Statement};
use modelgate::clock::rfc3339;
use prop_support::{config, Mix};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::Value;
use time::Duration;

/// A required envelope of the base request: what must survive for an allow to be legitimate.
#[derive(Clone)]
struct Required {
    payload_type: String,
    payload: Vec<u8>,
    /// Personas whose signature makes the envelope count: the approver for an approval; for
    /// the metadata, every persona trusted in a role that may sign metadata (alice as
    /// model-author, olivia as owner; see `METADATA_SIGNER_ROLES`).
    signers: Vec<u8>,
}

/// One base request per tier and the envelopes it requires.
struct Base {
    request: Value,
    required: Vec<Required>,
}

fn base(tier: i64) -> Base {
    let name = format!("prop-t{tier}");
    let (md, approvals) = complete(&name, "1.0.0", tier);
    let mut required = vec![Required {
        payload_type: md.payload_type.clone(),
        payload: md.payload.clone(),
        signers: vec![ALICE.1, OLIVIA.1],
    }];
    for (approval, (who, _)) in approvals.iter().zip(approvers_for(tier)) {
        required.push(Required {
            payload_type: approval.payload_type.clone(),
            payload: approval.payload.clone(),
            signers: vec![who.1],
        });
    }
    Base {
        request: request(&name, "1.0.0", "production", &with(&md, &approvals)),
        required,
    }
}

// ---- the oracle ------------------------------------------------------------------------------

/// DSSE pre-authentication encoding, from the DSSE v1 specification.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

fn verifying_key(seed: u8) -> VerifyingKey {
    VerifyingKey::from_bytes(&key(seed).public_key().raw()).unwrap()
}

/// Whether `request` still carries every required envelope with a signature by one of its
/// signers.
fn every_required_signature_verifies(request: &Value, required: &[Required]) -> bool {
    let Some(attestations) = request.get("attestations").and_then(Value::as_array) else {
        return false;
    };
    required.iter().all(|r| {
        let message = pae(&r.payload_type, &r.payload);
        let signers: Vec<VerifyingKey> = r.signers.iter().map(|s| verifying_key(*s)).collect();
        attestations.iter().any(|a| {
            let same_type = a.get("payloadType").and_then(Value::as_str) == Some(&r.payload_type);
            let same_payload = a
                .get("payload")
                .and_then(Value::as_str)
                .and_then(|p| STANDARD.decode(p).ok())
                .is_some_and(|p| p == r.payload);
            let signed = a
                .get("signatures")
                .and_then(Value::as_array)
                .is_some_and(|sigs| {
                    sigs.iter().any(|s| {
                        s.get("sig")
                            .and_then(Value::as_str)
                            .and_then(|b| STANDARD.decode(b).ok())
                            .and_then(|b| Signature::from_slice(&b).ok())
                            .is_some_and(|sig| {
                                signers.iter().any(|k| k.verify(&message, &sig).is_ok())
                            })
                    })
                });
            same_type && same_payload && signed
        })
    })
}

// ---- mutations -------------------------------------------------------------------------------

const KINDS: u8 = 17;

fn envelopes(request: &mut Value) -> &mut Vec<Value> {
    request["attestations"].as_array_mut().unwrap()
}

/// The bytes of a base64 field, if an earlier mutation left them readable and non-empty.
fn decode(v: &Value) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(v.as_str()?).ok()?;
    (!bytes.is_empty()).then_some(bytes)
}

/// The envelope `v`, if an earlier mutation left it readable.
fn as_envelope(v: &Value) -> Option<Envelope> {
    Envelope::from_json(&serde_json::to_vec(v).unwrap()).ok()
}

/// The envelope with its statement's predicate changed by `edit`, signed by `signer` (unchanged
/// if an earlier mutation left its statement unreadable).
fn resigned(v: &Value, signer: u8, edit: impl FnOnce(&mut Value)) -> Value {
    let Some(envelope) = as_envelope(v) else {
        return v.clone();
    };
    let Ok(mut statement) = Statement::from_payload(&envelope.payload) else {
        return v.clone();
    };
    edit(&mut statement.predicate);
    sign(&statement, signer).to_json_value()
}

/// Flips one bit of the character at `at` of a base64 string, keeping it in the alphabet.
fn flip_base64_char(text: &str, at: u64, bit: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = text.as_bytes().to_vec();
    let data_len = bytes.iter().take_while(|b| **b != b'=').count();
    if data_len == 0 {
        return "A".to_owned();
    }
    let i = (at % data_len as u64) as usize;
    let pos = ALPHABET.iter().position(|c| *c == bytes[i]).unwrap();
    bytes[i] = ALPHABET[pos ^ (1 << (bit % 6))];
    String::from_utf8(bytes).unwrap()
}

/// Whether `persona` is entitled to sign the statement of envelope `v`: the approver an approval
/// names, or a trusted metadata signer for metadata. A re-signature by such a persona is a new,
/// genuinely signed statement, which the oracle cannot judge (its content may be as good as the
/// original's).
fn entitled(v: &Value, persona: u8) -> bool {
    let Some(statement) = as_envelope(v).and_then(|e| Statement::from_payload(&e.payload).ok())
    else {
        return false;
    };
    let principal = [ALICE, OLIVIA, VICTOR, RITA, BOB, MALLORY]
        .into_iter()
        .find(|p| p.1 == persona)
        .map_or("", |p| p.0);
    match statement.predicate.get("approver").and_then(Value::as_str) {
        Some(approver) => approver == principal,
        None => persona == ALICE.1 || persona == OLIVIA.1,
    }
}

/// Applies mutation `kind` (with random choices from `mix`) to `request` and says what it did;
/// sets `genuine` when it re-signed a statement with the key of a persona entitled to sign it
/// without making the statement invalid (see [`entitled`]).
fn mutate(request: &mut Value, kind: u8, mix: &mut Mix, genuine: &mut bool) -> String {
    let list = envelopes(request);
    if list.is_empty() {
        return "nothing left to mutate".into();
    }
    let i = mix.below(list.len() as u64) as usize;
    let nsigs = list[i]["signatures"].as_array().map_or(0, Vec::len);
    let j = if nsigs == 0 {
        0
    } else {
        mix.below(nsigs as u64) as usize
    };
    match kind {
        0 => {
            list.remove(i);
            format!("drop envelope {i}")
        }
        1 if nsigs > 0 => {
            let Some(mut sig) = decode(&list[i]["signatures"][j]["sig"]) else {
                return format!("signature {j} of envelope {i} unreadable");
            };
            let at = mix.below(sig.len() as u64) as usize;
            sig[at] ^= 1 << mix.below(8);
            list[i]["signatures"][j]["sig"] = STANDARD.encode(sig).into();
            format!("flip byte {at} of signature {j} of envelope {i}")
        }
        2 => {
            let Some(mut payload) = decode(&list[i]["payload"]) else {
                return format!("payload of envelope {i} unreadable");
            };
            let at = mix.below(payload.len() as u64) as usize;
            payload[at] ^= 1 << mix.below(8);
            list[i]["payload"] = STANDARD.encode(payload).into();
            format!("flip byte {at} of the payload of envelope {i}")
        }
        3 if nsigs > 0 => {
            let keyid = list[i]["signatures"][j]["keyid"]
                .as_str()
                .unwrap()
                .to_owned();
            let new = match mix.below(3) {
                0 => String::new(),
                1 => key(MALLORY.1).public_key().key_id(),
                _ => flip_base64_char(&keyid, mix.next(), mix.next()),
            };
            list[i]["signatures"][j]["keyid"] = new.into();
            format!("change keyid of signature {j} of envelope {i}")
        }
        4 => {
            let mut t = list[i]["payloadType"].as_str().unwrap().as_bytes().to_vec();
            let at = mix.below(t.len() as u64) as usize;
            t[at] ^= 1 << mix.below(7);
            list[i]["payloadType"] = String::from_utf8_lossy(&t).into_owned().into();
            format!("flip byte {at} of the payloadType of envelope {i}")
        }
        5 => {
            let Some(e) = as_envelope(&list[i]) else {
                return format!("envelope {i} unreadable");
            };
            let mallory = key(MALLORY.1);
            let mut forged = Envelope::sign(&e.payload_type, e.payload.clone(), &mallory);
            if mix.one_in(2) {
                // Claim the original signer's key id.
                forged.signatures[0].keyid = e
                    .signatures
                    .first()
                    .map(|s| s.keyid.clone())
                    .unwrap_or_default();
            }
            list[i] = forged.to_json_value();
            format!("re-sign envelope {i} with an untrusted key")
        }
        6 => {
            let Some(e) = as_envelope(&list[i]) else {
                return format!("envelope {i} unreadable");
            };
            let other = [ALICE.1, OLIVIA.1, VICTOR.1, RITA.1, BOB.1][mix.below(5) as usize];
            *genuine |= entitled(&list[i], other);
            list[i] =
                Envelope::sign(&e.payload_type, e.payload.clone(), &key(other)).to_json_value();
            format!("re-sign envelope {i} with the key of persona {other}")
        }
        7 => {
            let Some(e) = as_envelope(&list[i]) else {
                return format!("envelope {i} unreadable");
            };
            let mut extra = e.clone();
            extra.signatures.clear();
            extra.add_signature(&key(MALLORY.1));
            list[i]["signatures"]
                .as_array_mut()
                .unwrap()
                .push(extra.to_json_value()["signatures"][0].clone());
            format!("add an untrusted signature to envelope {i}")
        }
        8 if nsigs > 0 => {
            let copy = list[i]["signatures"][j].clone();
            list[i]["signatures"].as_array_mut().unwrap().push(copy);
            format!("duplicate signature {j} of envelope {i}")
        }
        9 => {
            let copy = list[i].clone();
            list.push(copy);
            format!("duplicate envelope {i}")
        }
        10 => {
            let k = mix.below(list.len() as u64) as usize;
            list.swap(i, k);
            format!("swap envelopes {i} and {k}")
        }
        11 => {
            let k = mix.below(list.len() as u64) as usize;
            let a = list[i]["signatures"].clone();
            list[i]["signatures"] = list[k]["signatures"].clone();
            list[k]["signatures"] = a;
            format!("swap the signatures of envelopes {i} and {k}")
        }
        12 => {
            list[i]["signatures"] = Value::Array(Vec::new());
            format!("remove the signatures of envelope {i}")
        }
        13 => {
            // Re-signed by the approver with another role (one the approver does not hold, or
            // one the tier's policy does not ask for).
            let signer = signer_of(&list[i]);
            let roles = [
                "owner",
                "validator",
                "risk-officer",
                "business-owner",
                "developer",
            ];
            let role = roles[mix.below(roles.len() as u64) as usize];
            let mut changed = false;
            list[i] = resigned(&list[i], signer, |p| {
                if p.get("role").is_some_and(|r| r != role) {
                    p["role"] = role.into();
                    changed = true;
                }
            });
            if changed {
                format!("approval {i} re-signed with role {role}")
            } else {
                *genuine |= entitled(&list[i], signer);
                format!("envelope {i} re-signed unchanged")
            }
        }
        14 => {
            let signer = signer_of(&list[i]);
            let future = mix.one_in(2);
            let mut changed = false;
            list[i] = resigned(&list[i], signer, |p| {
                if p.get("issued_at").is_some() {
                    changed = true;
                    if future {
                        p["issued_at"] = rfc3339(now() + Duration::days(2)).into();
                    } else {
                        p["expires"] = rfc3339(now() - Duration::seconds(1)).into();
                    }
                }
            });
            if changed {
                format!("approval {i} re-signed outside its validity window (future: {future})")
            } else {
                *genuine |= entitled(&list[i], signer);
                format!("envelope {i} re-signed unchanged")
            }
        }
        15 if nsigs > 0 => {
            let text = list[i]["signatures"][j]["sig"].as_str().unwrap().to_owned();
            list[i]["signatures"][j]["sig"] =
                flip_base64_char(&text, mix.next(), mix.next()).into();
            format!("flip a base64 character of signature {j} of envelope {i}")
        }
        16 => {
            let text = list[i]["payload"].as_str().unwrap().to_owned();
            list[i]["payload"] = flip_base64_char(&text, mix.next(), mix.next()).into();
            format!("flip a base64 character of the payload of envelope {i}")
        }
        _ => {
            // The metadata edited and re-signed by its author: the approvals no longer bind.
            let signer = signer_of(&list[i]);
            let mut edited = false;
            let new = resigned(&list[i], signer, |p| {
                if let Some(model) = p.get_mut("model").and_then(Value::as_object_mut) {
                    model.insert("change_summary".into(), "edited after approval".into());
                    edited = true;
                }
            });
            if !edited {
                return format!("envelope {i} is not metadata; left as it is");
            }
            list[i] = new;
            format!("metadata {i} edited and re-signed by its signer")
        }
    }
}

/// The persona whose key signed `env` first (the author for metadata), found by key id.
fn signer_of(env: &Value) -> u8 {
    let keyid = env["signatures"][0]["keyid"].as_str().unwrap_or("");
    [ALICE.1, OLIVIA.1, VICTOR.1, RITA.1, BOB.1, MALLORY.1]
        .into_iter()
        .find(|s| key(*s).public_key().key_id() == keyid)
        .unwrap_or(MALLORY.1)
}

fn mutation() -> impl Strategy<Value = (u8, u64)> {
    (0..KINDS + 1, any::<u64>())
}

/// The engine's answer to `request`: `Some(true)` for an allow, `Some(false)` for a deny,
/// `None` for a refusal as invalid input.
fn judge(f: &mut Fixture, bytes: &[u8]) -> Option<bool> {
    match f.decide_bytes(bytes) {
        Ok(d) => Some(d.is_allow()),
        Err(modelgate::engine::EngineError::Invalid(_)) => None,
        Err(other) => panic!("neither a decision nor invalid input: {other:?}"),
    }
}

#[test]
fn no_mutation_that_breaks_a_required_signature_is_allowed() {
    let fixture = RefCell::new(Fixture::new());
    let bases: Vec<Base> = (0..3).map(base).collect();
    for b in &bases {
        let bytes = serde_json::to_vec(&b.request).unwrap();
        assert_eq!(
            judge(&mut fixture.borrow_mut(), &bytes),
            Some(true),
            "base allowed"
        );
        assert!(every_required_signature_verifies(&b.request, &b.required));
    }
    let broken = RefCell::new(0usize);
    let intact = RefCell::new(0usize);
    let resigned_genuinely = RefCell::new(0usize);
    let cli_sample: RefCell<Vec<Vec<u8>>> = RefCell::new(Vec::new());
    let strategy = (
        0usize..3,
        prop::collection::vec(mutation(), 1..=3),
        any::<u64>(),
    );
    let mut runner = TestRunner::new(config(1000, 0x5167_0001));
    runner
        .run(&strategy, |(tier, mutations, seed)| {
            let b = &bases[tier];
            let mut request = b.request.clone();
            let mut mix = Mix(seed);
            let mut genuine = false;
            let applied: Vec<String> = mutations
                .iter()
                .map(|(kind, s)| {
                    mix.0 ^= s;
                    mutate(&mut request, *kind, &mut mix, &mut genuine)
                })
                .collect();
            let bytes = serde_json::to_vec(&request).unwrap();
            let verdict = judge(&mut fixture.borrow_mut(), &bytes);
            if genuine {
                *resigned_genuinely.borrow_mut() += 1;
            } else if every_required_signature_verifies(&request, &b.required) {
                *intact.borrow_mut() += 1;
            } else {
                *broken.borrow_mut() += 1;
                prop_assert_ne!(verdict, Some(true), "allowed after {:?}", applied);
                if cli_sample.borrow().len() < 8 && seed % 8 == 0 {
                    cli_sample.borrow_mut().push(bytes);
                }
            }
            Ok(())
        })
        .unwrap();
    let (broken, intact) = (broken.into_inner(), intact.into_inner());
    eprintln!(
        "{broken} mutated requests broke a required signature, {intact} left them intact, {} were \
         re-signed by a persona entitled to sign them",
        resigned_genuinely.into_inner()
    );
    assert!(broken >= 200, "too few breaking mutations: {broken}");
    assert!(intact >= 10, "too few harmless mutations: {intact}");

    // The `check` command on a sample of them: never exit 0 (the base request does).
    let f = fixture.into_inner();
    let sample = cli_sample.into_inner();
    assert!(sample.len() >= 4, "cli sample of {}", sample.len());
    let home = f.dir.path().to_path_buf();
    let run_check = |bytes: &[u8]| -> i32 {
        let file = home.join("request.json");
        std::fs::write(&file, bytes).unwrap();
        let cli = modelgate::cli::Cli::try_parse_from([
            "modelgate".as_ref(),
            "--home".as_ref(),
            home.as_os_str(),
            "check".as_ref(),
            "--request".as_ref(),
            file.as_os_str(),
        ])
        .unwrap();
        modelgate::cli::run(cli, Arc::new(modelgate::clock::FixedClock(now())))
    };
    assert_eq!(
        run_check(&serde_json::to_vec(&bases[1].request).unwrap()),
        0
    );
    for bytes in &sample {
        let code = run_check(bytes);
        assert!(code == 2 || code == 3, "check exited {code}");
    }
}
