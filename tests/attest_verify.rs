//! Envelope verification: interop with securesystemslib and openssl, and one precise failure per
//! broken rule (tampering, payload type, revocation, validity window, role, unknown key).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use modelgate::attest::{
    pae, verify_envelope, Envelope, EnvelopeSignature, KeyChange, PrivateKey, PublicKey, Role,
    SigFailure, Statement, Subject, TrustStore, VerifyError, IN_TOTO_PAYLOAD_TYPE,
    PREDICATE_APPROVAL,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::macros::datetime;
use time::OffsetDateTime;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/attest");
const T0: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);
const NOW: OffsetDateTime = datetime!(2026-06-01 00:00:00 UTC);

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

fn fixture_key(name: &str) -> PublicKey {
    PublicKey::from_spki_pem(&String::from_utf8(fixture(name)).unwrap()).unwrap()
}

fn key(n: u8) -> PrivateKey {
    PrivateKey::from_seed(&[n; 32])
}

fn store_with(keys: &[(&PrivateKey, &str, &[Role])]) -> TrustStore {
    let mut store = TrustStore::new();
    for (k, principal, roles) in keys {
        let change = KeyChange::add(
            &k.public_key(),
            *principal,
            roles.iter().copied(),
            None,
            None,
        );
        store.apply(&change, T0).unwrap();
    }
    store
}

fn approval_envelope(signers: &[&PrivateKey]) -> Envelope {
    let st = Statement::new(
        vec![Subject::with_sha256("model.safetensors", "ab".repeat(32))],
        PREDICATE_APPROVAL,
        json!({"role": "owner", "environment": "prod"}),
    );
    let mut env = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, st.to_payload(), signers[0]);
    for k in &signers[1..] {
        env.add_signature(k);
    }
    env
}

/// The single problem of a rejected envelope.
fn only_failure(result: Result<modelgate::attest::VerifiedEnvelope, VerifyError>) -> SigFailure {
    match result {
        Err(VerifyError::NoValidSignature { problems }) if problems.len() == 1 => {
            problems[0].problem.clone()
        }
        other => panic!("expected one signature problem, got {other:?}"),
    }
}

#[test]
fn securesystemslib_envelope_verifies_although_its_keyid_is_not_ours() {
    let env = Envelope::from_json(&fixture("securesystemslib-ed25519.envelope.json")).unwrap();
    let pk = fixture_key("securesystemslib-ed25519.pub.pem");
    assert_ne!(
        env.signatures[0].keyid,
        pk.key_id(),
        "the hint follows another convention"
    );
    let mut store = TrustStore::new();
    store
        .apply(
            &KeyChange::add(&pk, "ds@example.com", [Role::ModelAuthor], None, None),
            T0,
        )
        .unwrap();

    let verified = verify_envelope(&env, &store, NOW, &[Role::ModelAuthor]).unwrap();
    assert_eq!(verified.signers.len(), 1);
    assert_eq!(verified.signers[0].key_id, pk.key_id());
    assert_eq!(verified.signers[0].principal, "ds@example.com");
    assert!(verified.problems.is_empty());
    assert_eq!(
        verified.payload_sha256,
        format!("sha256:{}", hex::encode(Sha256::digest(&env.payload)))
    );
    assert_eq!(
        verified.statement.subject[0].sha256(),
        Some("bd2962120d17276cf6e49836e132086a43e350b0c5c05ee23f3bb774422abca9")
    );
}

#[test]
fn envelope_made_with_the_openssl_cli_verifies_and_matches_our_signature() {
    // tests/fixtures/attest/openssl-test-ed25519.envelope.json was produced with the
    // `openssl pkeyutl -sign -rawin` recipe of docs/signing.md.
    let env = Envelope::from_json(&fixture("openssl-test-ed25519.envelope.json")).unwrap();
    let pk = fixture_key("openssl-test-ed25519.pub.pem");
    assert_eq!(env.signatures[0].keyid, pk.key_id());
    let store = {
        let mut s = TrustStore::new();
        s.apply(
            &KeyChange::add(&pk, "ci@example.com", [Role::Pipeline], None, None),
            T0,
        )
        .unwrap();
        s
    };
    verify_envelope(&env, &store, NOW, &[]).unwrap();

    // Ed25519 is deterministic: our signature over the same PAE equals openssl's.
    let sk = PrivateKey::from_pkcs8_pem(
        &String::from_utf8(fixture("openssl-test-ed25519.key.pem")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        sk.sign(&pae(&env.payload_type, &env.payload)).to_vec(),
        env.signatures[0].sig
    );
}

#[test]
fn tampered_payload_byte_is_an_unknown_key_failure() {
    let mut env = Envelope::from_json(&fixture("securesystemslib-ed25519.envelope.json")).unwrap();
    let pk = fixture_key("securesystemslib-ed25519.pub.pem");
    let mut store = TrustStore::new();
    store
        .apply(
            &KeyChange::add(&pk, "ds", [Role::ModelAuthor], None, None),
            T0,
        )
        .unwrap();
    let last = env.payload.len() - 3;
    env.payload[last] ^= 0x01;
    assert_eq!(
        only_failure(verify_envelope(&env, &store, NOW, &[])),
        SigFailure::UnknownKey
    );
}

#[test]
fn wrong_payload_type_is_rejected_before_signatures() {
    let alice = key(1);
    let store = store_with(&[(&alice, "alice", &[Role::Owner])]);
    let env = Envelope::sign(
        "application/json",
        approval_envelope(&[&alice]).payload,
        &alice,
    );
    let err = verify_envelope(&env, &store, NOW, &[]).unwrap_err();
    assert_eq!(
        err,
        VerifyError::WrongPayloadType {
            found: "application/json".into()
        }
    );
    assert!(err.to_string().contains("`application/json`"), "{err}");
}

#[test]
fn changing_the_payload_type_breaks_the_signature() {
    // The type is inside the PAE: relabelling an envelope must not keep its signature valid.
    let alice = key(1);
    let store = store_with(&[(&alice, "alice", &[Role::Owner])]);
    let st = approval_envelope(&[&alice]).payload;
    let mut env = Envelope::sign("application/vnd.other+json", st, &alice);
    env.payload_type = IN_TOTO_PAYLOAD_TYPE.into();
    assert_eq!(
        only_failure(verify_envelope(&env, &store, NOW, &[])),
        SigFailure::UnknownKey
    );
}

#[test]
fn envelope_without_signatures_is_rejected() {
    let alice = key(1);
    let store = store_with(&[(&alice, "alice", &[Role::Owner])]);
    let mut env = approval_envelope(&[&alice]);
    env.signatures.clear();
    let err = verify_envelope(&env, &store, NOW, &[]).unwrap_err();
    assert_eq!(err, VerifyError::NoValidSignature { problems: vec![] });
    assert_eq!(
        err.to_string(),
        "no valid signature: the envelope has no signatures"
    );
}

#[test]
fn key_not_in_the_store_is_unknown_key() {
    let (alice, mallory) = (key(1), key(2));
    let store = store_with(&[(&alice, "alice", &[Role::Owner])]);
    let env = approval_envelope(&[&mallory]);
    let err = verify_envelope(&env, &store, NOW, &[]).unwrap_err();
    assert_eq!(only_failure(Err(err.clone())), SigFailure::UnknownKey);
    let msg = err.to_string();
    assert!(
        msg.contains(&mallory.public_key().key_id()),
        "hint shown: {msg}"
    );
}

#[test]
fn signature_of_bad_length_is_malformed() {
    let alice = key(1);
    let store = store_with(&[(&alice, "alice", &[Role::Owner])]);
    let mut env = approval_envelope(&[&alice]);
    env.signatures[0].sig.pop();
    assert_eq!(
        only_failure(verify_envelope(&env, &store, NOW, &[])),
        SigFailure::Malformed
    );
}

#[test]
fn revoked_key_is_reported_as_revoked_not_unknown() {
    let alice = key(1);
    let mut store = store_with(&[(&alice, "alice", &[Role::Owner])]);
    let id = alice.public_key().key_id();
    store
        .apply(&KeyChange::revoke(&id, "laptop lost"), T0)
        .unwrap();
    let err = verify_envelope(&approval_envelope(&[&alice]), &store, NOW, &[]).unwrap_err();
    assert_eq!(
        only_failure(Err(err.clone())),
        SigFailure::Revoked {
            key_id: id.clone(),
            principal: "alice".into(),
            at: T0,
            reason: "laptop lost".into()
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "no valid signature: signatures[0]: signature by key `{id}` (alice) was made with a \
             revoked key: revoked at 2026-01-01T00:00:00Z: laptop lost"
        )
    );
}

fn windowed_store(alice: &PrivateKey, nb: OffsetDateTime, na: OffsetDateTime) -> TrustStore {
    let mut store = TrustStore::new();
    let change = KeyChange::add(
        &alice.public_key(),
        "alice",
        [Role::Owner],
        Some(nb),
        Some(na),
    );
    store.apply(&change, T0).unwrap();
    store
}

#[test]
fn key_outside_its_validity_window_is_not_yet_valid_or_expired() {
    let alice = key(1);
    let id = alice.public_key().key_id();
    let (nb, na) = (
        datetime!(2026-02-01 00:00:00 UTC),
        datetime!(2026-03-01 00:00:00 UTC),
    );
    let store = windowed_store(&alice, nb, na);
    let env = approval_envelope(&[&alice]);
    assert_eq!(
        only_failure(verify_envelope(
            &env,
            &store,
            datetime!(2026-01-31 23:59:59 UTC),
            &[]
        )),
        SigFailure::NotYetValid {
            key_id: id.clone(),
            principal: "alice".into(),
            not_before: nb
        }
    );
    assert_eq!(
        only_failure(verify_envelope(
            &env,
            &store,
            datetime!(2026-03-01 00:00:01 UTC),
            &[]
        )),
        SigFailure::Expired {
            key_id: id,
            principal: "alice".into(),
            not_after: na
        }
    );
}

#[test]
fn validity_window_bounds_are_inclusive() {
    let alice = key(1);
    let (nb, na) = (
        datetime!(2026-02-01 00:00:00 UTC),
        datetime!(2026-03-01 00:00:00 UTC),
    );
    let store = windowed_store(&alice, nb, na);
    let env = approval_envelope(&[&alice]);
    verify_envelope(&env, &store, nb, &[]).unwrap();
    verify_envelope(&env, &store, na, &[]).unwrap();
}

#[test]
fn key_without_an_accepted_role_is_missing_role() {
    let bob = key(2);
    let store = store_with(&[(&bob, "bob", &[Role::Developer, Role::Pipeline])]);
    let err = verify_envelope(
        &approval_envelope(&[&bob]),
        &store,
        NOW,
        &[Role::RiskOfficer, Role::Owner],
    )
    .unwrap_err();
    assert_eq!(
        only_failure(Err(err.clone())),
        SigFailure::MissingRole {
            key_id: bob.public_key().key_id(),
            principal: "bob".into(),
            needed: vec![Role::Owner, Role::RiskOfficer],
            has: vec![Role::Developer, Role::Pipeline],
        }
    );
    assert!(
        err.to_string()
            .contains("needs one of [owner, risk-officer], the key has [developer, pipeline]"),
        "{err}"
    );
}

#[test]
fn empty_accepted_roles_accept_any_role_and_one_match_suffices() {
    let bob = key(2);
    let store = store_with(&[(&bob, "bob", &[Role::Developer])]);
    let env = approval_envelope(&[&bob]);
    verify_envelope(&env, &store, NOW, &[]).unwrap();
    let v = verify_envelope(&env, &store, NOW, &[Role::Owner, Role::Developer]).unwrap();
    assert_eq!(
        v.signers[0].roles.iter().copied().collect::<Vec<_>>(),
        [Role::Developer]
    );
}

#[test]
fn one_good_signature_suffices_and_the_others_are_reported() {
    let (alice, bob, mallory) = (key(1), key(2), key(3));
    let mut store = store_with(&[
        (&alice, "alice", &[Role::Owner]),
        (&bob, "bob", &[Role::Owner]),
    ]);
    store
        .apply(
            &KeyChange::revoke(bob.public_key().key_id(), "left the company"),
            T0,
        )
        .unwrap();
    let env = approval_envelope(&[&mallory, &alice, &bob]);
    let v = verify_envelope(&env, &store, NOW, &[Role::Owner]).unwrap();
    assert_eq!(v.signers.len(), 1);
    assert_eq!(v.signers[0].principal, "alice");
    let found: Vec<(usize, bool)> = v
        .problems
        .iter()
        .map(|p| (p.index, matches!(p.problem, SigFailure::Revoked { .. })))
        .collect();
    assert_eq!(found, [(0, false), (2, true)]);
}

#[test]
fn misleading_keyid_hint_does_not_matter() {
    let (alice, bob) = (key(1), key(2));
    let store = store_with(&[
        (&alice, "alice", &[Role::Owner]),
        (&bob, "bob", &[Role::Owner]),
    ]);
    let mut env = approval_envelope(&[&alice]);
    env.signatures[0].keyid = bob.public_key().key_id();
    let v = verify_envelope(&env, &store, NOW, &[]).unwrap();
    assert_eq!(v.signers[0].principal, "alice");
    env.signatures[0].keyid = String::new();
    verify_envelope(&env, &store, NOW, &[]).unwrap();
}

#[test]
fn repeated_signature_by_one_key_counts_once() {
    let alice = key(1);
    let store = store_with(&[(&alice, "alice", &[Role::Owner])]);
    let mut env = approval_envelope(&[&alice]);
    let again = env.signatures[0].clone();
    env.signatures.push(EnvelopeSignature {
        keyid: String::new(),
        ..again
    });
    let v = verify_envelope(&env, &store, NOW, &[]).unwrap();
    assert_eq!(v.signers.len(), 1);
    assert!(v.problems.is_empty());
}

#[test]
fn signed_payload_that_is_not_a_statement_is_malformed_statement() {
    let alice = key(1);
    let store = store_with(&[(&alice, "alice", &[Role::Owner])]);
    let env = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, br#"{"_type":"x"}"#.to_vec(), &alice);
    let err = verify_envelope(&env, &store, NOW, &[]).unwrap_err();
    assert!(
        matches!(err, VerifyError::MalformedStatement { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("`_type`"), "{err}");
}

#[test]
fn unsigned_garbage_is_reported_as_unsigned_not_parsed() {
    // Authenticate before parsing: an envelope nobody trusted signed never reaches the parser.
    let (alice, mallory) = (key(1), key(2));
    let store = store_with(&[(&alice, "alice", &[Role::Owner])]);
    let env = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"not json".to_vec(), &mallory);
    assert_eq!(
        only_failure(verify_envelope(&env, &store, NOW, &[])),
        SigFailure::UnknownKey
    );
}

#[test]
fn failures_serialise_with_a_kind_and_rfc3339_times() {
    let alice = key(1);
    let mut store = store_with(&[(&alice, "alice", &[Role::Owner])]);
    let id = alice.public_key().key_id();
    store.apply(&KeyChange::revoke(&id, "lost"), T0).unwrap();
    let err = verify_envelope(&approval_envelope(&[&alice]), &store, NOW, &[]).unwrap_err();
    assert_eq!(
        serde_json::to_value(&err).unwrap(),
        json!({
            "kind": "no_valid_signature",
            "problems": [{
                "index": 0,
                "keyid_hint": id,
                "problem": {
                    "kind": "revoked", "key_id": id, "principal": "alice",
                    "at": "2026-01-01T00:00:00Z", "reason": "lost"
                }
            }]
        })
    );
    let missing = SigFailure::MissingRole {
        key_id: "k".into(),
        principal: "p".into(),
        needed: vec![Role::RiskOfficer],
        has: vec![Role::Owner],
    };
    assert_eq!(
        serde_json::to_value(&missing).unwrap(),
        json!({"kind": "missing_role", "key_id": "k", "principal": "p",
               "needed": ["risk-officer"], "has": ["owner"]})
    );
}
