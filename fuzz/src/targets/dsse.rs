//! `dsse`: [`Envelope::from_json`] then [`verify_envelope`] against a fixed trust store.
//!
//! Invariants: a parsed envelope survives its JSON form unchanged; an accepted envelope has an
//! in-toto payload type, its statement is the payload's, and every signer counted is a trusted,
//! unrevoked key inside its validity window (holding an accepted role) with a signature in the
//! envelope that really verifies over the PAE; conversely, an envelope with such a signature
//! and a valid statement is accepted.

use std::sync::OnceLock;

use modelgate::attest::{
    pae, verify_envelope, Envelope, KeyChange, PublicKey, Role, Statement, TrustStore, TrustedKey,
    IN_TOTO_PAYLOAD_TYPE,
};
use modelgate::digest::sha256_prefixed;
use time::{Duration, OffsetDateTime};

use super::personas::{key, now, trust_changes, MALLORY};

const SSLIB_PUB: &str =
    include_str!("../../../tests/fixtures/attest/securesystemslib-ed25519.pub.pem");
const OPENSSL_PUB: &str =
    include_str!("../../../tests/fixtures/attest/openssl-test-ed25519.pub.pem");

/// The trust store: the personas, the two fixture keys (one with a window that has ended), and
/// a revoked key.
fn trust() -> &'static TrustStore {
    static TRUST: OnceLock<TrustStore> = OnceLock::new();
    TRUST.get_or_init(|| {
        let mut trust = TrustStore::new();
        let at = now() - Duration::days(30);
        let pem = |text: &str| match PublicKey::from_spki_pem(text) {
            Ok(k) => k,
            Err(e) => panic!("fixture key: {e}"),
        };
        let mut changes = trust_changes();
        changes.push(KeyChange::add(
            &pem(SSLIB_PUB),
            "securesystemslib@example.com",
            [Role::ModelAuthor],
            None,
            None,
        ));
        changes.push(KeyChange::add(
            &pem(OPENSSL_PUB),
            "openssl@example.com",
            [Role::Owner],
            Some(at - Duration::days(60)),
            Some(at),
        ));
        let revoked = key(MALLORY.1).public_key();
        changes.push(KeyChange::add(
            &revoked,
            MALLORY.0,
            [Role::Owner],
            None,
            None,
        ));
        changes.push(KeyChange::revoke(revoked.key_id(), "compromised"));
        for change in &changes {
            if let Err(e) = trust.apply(change, at) {
                panic!("trust change: {e}");
            }
        }
        trust
    })
}

/// Whether `k` may count at `now` with one of `roles` (empty: any role).
fn counts(k: &TrustedKey, now: OffsetDateTime, roles: &[Role]) -> bool {
    k.revoked.is_none()
        && k.not_before.is_none_or(|nb| nb <= now)
        && k.not_after.is_none_or(|na| now <= na)
        && (roles.is_empty() || roles.iter().any(|r| k.roles.contains(r)))
}

/// Whether some signature of `env` verifies under `k` over the PAE.
fn signed_by(env: &Envelope, k: &TrustedKey) -> bool {
    let msg = pae(&env.payload_type, &env.payload);
    env.signatures
        .iter()
        .any(|s| k.public_key.verify_strict(&msg, &s.sig).is_ok())
}

/// The target.
pub fn run(data: &[u8]) {
    let Ok(env) = Envelope::from_json(data) else {
        return;
    };
    assert_eq!(
        Envelope::from_value(&env.to_json_value()).ok().as_ref(),
        Some(&env),
        "an envelope does not survive its own JSON form"
    );
    let trust = trust();
    let now = now();
    for roles in [&[][..], &[Role::Owner, Role::Validator][..]] {
        check(&env, trust, now, roles);
    }
}

fn check(env: &Envelope, trust: &TrustStore, now: OffsetDateTime, roles: &[Role]) {
    let should_count: Vec<&TrustedKey> = trust
        .keys()
        .filter(|k| counts(k, now, roles) && signed_by(env, k))
        .collect();
    match verify_envelope(env, trust, now, roles) {
        Ok(v) => {
            assert_eq!(env.payload_type, IN_TOTO_PAYLOAD_TYPE);
            assert_eq!(v.payload_sha256, sha256_prefixed(&env.payload));
            assert_eq!(
                Statement::from_payload(&env.payload).ok(),
                Some(v.statement)
            );
            assert!(!v.signers.is_empty(), "accepted without a signer");
            for signer in &v.signers {
                let Some(k) = trust.get(&signer.key_id) else {
                    panic!("signer `{}` is not in the trust store", signer.key_id);
                };
                assert!(
                    counts(k, now, roles),
                    "signer `{}` may not count now with {roles:?}",
                    signer.key_id
                );
                assert!(
                    signed_by(env, k),
                    "no signature by `{}` verifies over the PAE",
                    signer.key_id
                );
                assert_eq!(signer.principal, k.principal);
            }
            let mut counted: Vec<&str> = v.signers.iter().map(|s| s.key_id.as_str()).collect();
            counted.sort_unstable();
            let mut expected: Vec<&str> = should_count.iter().map(|k| k.key_id.as_str()).collect();
            expected.sort_unstable();
            assert_eq!(
                counted, expected,
                "the signers counted are not the valid ones"
            );
        }
        Err(e) => {
            let well_formed = env.payload_type == IN_TOTO_PAYLOAD_TYPE
                && Statement::from_payload(&env.payload).is_ok();
            assert!(
                !well_formed || should_count.is_empty(),
                "refused ({e}) although a valid signature by a trusted key verifies"
            );
        }
    }
}
