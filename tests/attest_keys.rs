//! Ed25519 key handling: PEM interoperability with openssl and Python, key ids, known answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use modelgate::attest::{AttestError, PrivateKey, PublicKey};
use sha2::{Digest, Sha256};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/attest");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

/// Decodes a PEM body independently of the code under test.
fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .unwrap()
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

const RFC8032_TEST1_SECRET: &str =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC8032_TEST1_PUBLIC: &str =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const RFC8032_TEST1_SIGNATURE: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

/// PKCS#8 v1 DER prefix for an Ed25519 seed (RFC 8410 §7).
const PKCS8_V1_PREFIX: &str = "302e020100300506032b657004220420";

#[test]
fn openssl_key_pair_parses_and_the_halves_agree() {
    let private = PrivateKey::from_pkcs8_pem(&fixture("openssl-test-ed25519.key.pem")).unwrap();
    let public = PublicKey::from_spki_pem(&fixture("openssl-test-ed25519.pub.pem")).unwrap();
    assert_eq!(private.public_key(), public);
}

#[test]
fn key_id_is_sha256_of_the_spki_der() {
    for name in [
        "openssl-test-ed25519.pub.pem",
        "securesystemslib-ed25519.pub.pem",
    ] {
        let text = fixture(name);
        let der = pem_body(&text);
        let key = PublicKey::from_spki_pem(&text).unwrap();
        assert_eq!(key.spki_der(), der, "{name}");
        assert_eq!(key.key_id(), hex::encode(Sha256::digest(&der)), "{name}");
        assert_eq!(key.raw().as_slice(), &der[12..], "{name}");
    }
}

#[test]
fn pem_written_by_us_is_byte_identical_to_openssl() {
    let key_pem = fixture("openssl-test-ed25519.key.pem");
    let pub_pem = fixture("openssl-test-ed25519.pub.pem");
    let private = PrivateKey::from_pkcs8_pem(&key_pem).unwrap();
    assert_eq!(private.to_pkcs8_pem().unwrap(), key_pem);
    assert_eq!(private.public_key().to_spki_pem(), pub_pem);
}

#[test]
fn securesystemslib_public_key_round_trips() {
    let text = fixture("securesystemslib-ed25519.pub.pem");
    let key = PublicKey::from_spki_pem(&text).unwrap();
    assert_eq!(key.to_spki_pem().trim(), text.trim());
    assert_eq!(PublicKey::from_spki_pem(&key.to_spki_pem()).unwrap(), key);
}

#[test]
fn generated_private_key_round_trips_as_pkcs8_v1() {
    let key = PrivateKey::generate();
    let pem_text = key.to_pkcs8_pem().unwrap();
    assert!(pem_text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let der = pem_body(&pem_text);
    assert_eq!(der.len(), 48, "PKCS#8 v1 without the public key");
    assert_eq!(hex::encode(&der[..16]), PKCS8_V1_PREFIX);
    let back = PrivateKey::from_pkcs8_pem(&pem_text).unwrap();
    assert_eq!(back.public_key(), key.public_key());
    assert_eq!(back.sign(b"m"), key.sign(b"m"));
}

#[test]
fn two_generated_keys_differ() {
    // Guards against a constant or badly seeded generator.
    assert_ne!(
        PrivateKey::generate().public_key(),
        PrivateKey::generate().public_key()
    );
}

#[test]
fn openssl_key_signs_and_its_public_key_verifies() {
    let private = PrivateKey::from_pkcs8_pem(&fixture("openssl-test-ed25519.key.pem")).unwrap();
    let public = PublicKey::from_spki_pem(&fixture("openssl-test-ed25519.pub.pem")).unwrap();
    let sig = private.sign(b"promote churn-classifier 3.1.0");
    public
        .verify_strict(b"promote churn-classifier 3.1.0", &sig)
        .unwrap();
    assert_eq!(
        public.verify_strict(b"promote churn-classifier 3.1.1", &sig),
        Err(AttestError::BadSignature)
    );
}

#[test]
fn rfc8032_test1_known_answer_through_pkcs8() {
    let der = hex::decode(format!("{PKCS8_V1_PREFIX}{RFC8032_TEST1_SECRET}")).unwrap();
    let key = PrivateKey::from_pkcs8_pem(&pem("PRIVATE KEY", &der)).unwrap();
    assert_eq!(hex::encode(key.public_key().raw()), RFC8032_TEST1_PUBLIC);
    assert_eq!(hex::encode(key.sign(b"")), RFC8032_TEST1_SIGNATURE);
    let sig = hex::decode(RFC8032_TEST1_SIGNATURE).unwrap();
    key.public_key().verify_strict(b"", &sig).unwrap();
}

#[test]
fn rfc8032_test1_known_answer_through_from_seed() {
    let seed: [u8; 32] = hex::decode(RFC8032_TEST1_SECRET)
        .unwrap()
        .try_into()
        .unwrap();
    let key = PrivateKey::from_seed(&seed);
    assert_eq!(hex::encode(key.sign(b"")), RFC8032_TEST1_SIGNATURE);
}

#[test]
fn pkcs8_v2_with_matching_public_key_is_accepted_and_mismatch_rejected() {
    // OneAsymmetricKey v2 (RFC 8410 §10.3 layout): version 1, [1] publicKey.
    let v2 = |public_hex: &str| {
        hex::decode(format!(
            "3051020101300506032b657004220420{RFC8032_TEST1_SECRET}812100{public_hex}"
        ))
        .unwrap()
    };
    let ok = PrivateKey::from_pkcs8_pem(&pem("PRIVATE KEY", &v2(RFC8032_TEST1_PUBLIC))).unwrap();
    assert_eq!(hex::encode(ok.public_key().raw()), RFC8032_TEST1_PUBLIC);

    let other = hex::encode(PrivateKey::from_seed(&[9; 32]).public_key().raw());
    let err = PrivateKey::from_pkcs8_pem(&pem("PRIVATE KEY", &v2(&other))).unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");
}

#[test]
fn non_ed25519_public_key_is_rejected_naming_the_algorithm() {
    let err = PublicKey::from_spki_pem(&fixture("openssl-test-p256.pub.pem")).unwrap_err();
    assert!(
        matches!(&err, AttestError::UnsupportedAlgorithm { oid, .. } if oid == "1.2.840.10045.2.1"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("1.2.840.10045.2.1") && msg.contains("ECDSA"),
        "{msg}"
    );
}

#[test]
fn swapped_pem_kinds_are_rejected_with_a_hint() {
    let err = PublicKey::from_spki_pem(&fixture("openssl-test-ed25519.key.pem")).unwrap_err();
    assert!(
        matches!(&err, AttestError::PemLabel { found, .. } if found == "PRIVATE KEY"),
        "{err:?}"
    );
    assert!(err.to_string().contains("openssl pkey -pubout"), "{err}");

    let err = PrivateKey::from_pkcs8_pem(&fixture("openssl-test-ed25519.pub.pem")).unwrap_err();
    assert!(
        matches!(
            &err,
            AttestError::PemLabel {
                expected: "PRIVATE KEY",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn encrypted_private_key_is_rejected_with_a_hint() {
    let text =
        fixture("openssl-test-ed25519.key.pem").replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY");
    let err = PrivateKey::from_pkcs8_pem(&text).unwrap_err();
    assert!(err.to_string().contains("encrypted"), "{err}");
}

#[test]
fn garbage_and_truncated_keys_are_errors_not_panics() {
    assert!(matches!(
        PublicKey::from_spki_pem("not a pem"),
        Err(AttestError::Pem(_))
    ));
    let der = pem_body(&fixture("openssl-test-ed25519.pub.pem"));
    let err = PublicKey::from_spki_pem(&pem("PUBLIC KEY", &der[..40])).unwrap_err();
    assert!(matches!(err, AttestError::MalformedKey { .. }), "{err:?}");
    let err = PublicKey::from_spki_der(&[]).unwrap_err();
    assert!(matches!(err, AttestError::MalformedKey { .. }), "{err:?}");
}

#[test]
fn crlf_line_endings_and_surrounding_whitespace_are_accepted() {
    let text = fixture("openssl-test-ed25519.pub.pem").replace('\n', "\r\n");
    let key = PublicKey::from_spki_pem(&format!("\n  {text}\n")).unwrap();
    assert_eq!(
        key,
        PublicKey::from_spki_pem(&fixture("openssl-test-ed25519.pub.pem")).unwrap()
    );
}

#[test]
fn small_order_public_key_is_rejected() {
    // The identity point: every signature with R = identity and S = 0 would verify under a
    // non-strict verifier, so such a key must never enter the trust store.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let err = PublicKey::from_raw(&identity).unwrap_err();
    assert!(err.to_string().contains("small-order"), "{err}");
}
