//! Ed25519 keys: [`PublicKey`] (SPKI PEM, key id, `verify_strict`) and [`PrivateKey`] (PKCS#8).
//!
//! Keys travel as PEM: public keys as SubjectPublicKeyInfo (`PUBLIC KEY`, RFC 8410 §4), private
//! keys as PKCS#8 (`PRIVATE KEY`, RFC 8410 §7), the forms that `openssl genpkey -algorithm
//! ed25519`, Python `cryptography` and securesystemslib write. A key's id is the lowercase hex
//! SHA-256 of its SPKI DER, which for Ed25519 is always the 12-byte prefix
//! `302a300506032b6570032100` followed by the 32 raw key bytes.
//!
//! Verification always uses `verify_strict`, which rejects small-order keys and non-canonical
//! signature encodings, so one message cannot carry two different valid signatures that other
//! Ed25519 verifiers would disagree about.

use std::fmt;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::spki::der::{self, Decode};
use ed25519_dalek::pkcs8::spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};
use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes, PrivateKeyInfo};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::AttestError;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID 1.3.101.112 },
/// BIT STRING (33 bytes, 0 unused bits) }, followed by the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The Ed25519 algorithm identifier (RFC 8410).
const ED25519_OID: &str = "1.3.101.112";

const PUBLIC_LABEL: &str = "PUBLIC KEY";
const PRIVATE_LABEL: &str = "PRIVATE KEY";

/// An Ed25519 public key.
///
/// Equality is equality of the key bytes. `Debug` shows the key id.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    key: VerifyingKey,
}

impl PublicKey {
    /// Parses an SPKI PEM (`-----BEGIN PUBLIC KEY-----`) holding an Ed25519 key.
    ///
    /// Keys of other algorithms are rejected with an error naming the algorithm's OID.
    pub fn from_spki_pem(pem: &str) -> Result<Self, AttestError> {
        let der = decode_pem(pem, PUBLIC_LABEL)?;
        Self::from_spki_der(&der)
    }

    /// Parses a DER SubjectPublicKeyInfo holding an Ed25519 key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, AttestError> {
        let malformed = |reason: String| AttestError::MalformedKey {
            what: "public key",
            reason,
        };
        let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(|e| malformed(e.to_string()))?;
        check_algorithm(spki.algorithm.oid)?;
        if spki.algorithm.parameters.is_some() {
            return Err(malformed(
                "Ed25519 algorithm identifier must not carry parameters".into(),
            ));
        }
        let bytes: [u8; 32] = spki
            .subject_public_key
            .as_bytes()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| malformed("Ed25519 public key must be 32 bytes".into()))?;
        Self::from_raw(&bytes)
    }

    /// Builds a key from its 32 raw bytes (a compressed Edwards point).
    ///
    /// Small-order points are rejected: `verify_strict` would refuse every signature by such a
    /// key anyway, and a trust store should not hold a key that can never sign.
    pub fn from_raw(bytes: &[u8; 32]) -> Result<Self, AttestError> {
        let malformed = |reason: &str| AttestError::MalformedKey {
            what: "public key",
            reason: reason.to_owned(),
        };
        let key = VerifyingKey::from_bytes(bytes)
            .map_err(|_| malformed("not a valid Ed25519 curve point"))?;
        if key.is_weak() {
            return Err(malformed("a small-order point is not a usable Ed25519 key"));
        }
        Ok(Self { key })
    }

    /// The key as SPKI PEM, 64-column base64 and LF line endings (as `openssl pkey -pubout`).
    pub fn to_spki_pem(&self) -> String {
        use base64::Engine as _;
        let body = base64::engine::general_purpose::STANDARD.encode(self.spki_der());
        format!("-----BEGIN {PUBLIC_LABEL}-----\n{body}\n-----END {PUBLIC_LABEL}-----\n")
    }

    /// The key as DER SubjectPublicKeyInfo (44 bytes).
    pub fn spki_der(&self) -> Vec<u8> {
        let mut der = Vec::with_capacity(ED25519_SPKI_PREFIX.len() + 32);
        der.extend_from_slice(&ED25519_SPKI_PREFIX);
        der.extend_from_slice(self.key.as_bytes());
        der
    }

    /// The key id: lowercase hex SHA-256 of [`Self::spki_der`].
    pub fn key_id(&self) -> String {
        crate::digest::sha256_hex(&self.spki_der())
    }

    /// The 32 raw key bytes.
    pub fn raw(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Verifies an Ed25519 signature over `msg` with `verify_strict`.
    ///
    /// A signature that is not 64 bytes long is [`AttestError::SignatureLength`]; one that does
    /// not verify is [`AttestError::BadSignature`].
    pub fn verify_strict(&self, msg: &[u8], sig: &[u8]) -> Result<(), AttestError> {
        let sig =
            Signature::from_slice(sig).map_err(|_| AttestError::SignatureLength(sig.len()))?;
        self.key
            .verify_strict(msg, &sig)
            .map_err(|_| AttestError::BadSignature)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("key_id", &self.key_id())
            .finish()
    }
}

/// An Ed25519 private key.
///
/// `Debug` shows only the public key id; the secret is wiped from memory when the value is
/// dropped. Not `Clone` on purpose: share it behind an `Arc` rather than copying the secret.
pub struct PrivateKey {
    key: SigningKey,
}

impl PrivateKey {
    /// Generates a fresh key from the operating system's random number generator.
    pub fn generate() -> Self {
        Self {
            key: SigningKey::generate(&mut rand_core::OsRng),
        }
    }

    /// Builds a key from its 32-byte RFC 8032 seed.
    ///
    /// For known-answer tests and fixtures only: real keys come from [`Self::generate`] or a
    /// PKCS#8 file.
    #[doc(hidden)]
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// Parses an unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) holding an Ed25519 key.
    ///
    /// Accepts PKCS#8 v1 and v2 (v2 carries the public key too, which must then match the
    /// secret). Encrypted and OpenSSH-format keys are rejected with a hint how to convert them.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, AttestError> {
        let der = der::zeroize::Zeroizing::new(decode_pem(pem, PRIVATE_LABEL)?);
        let malformed = |reason: String| AttestError::MalformedKey {
            what: "private key",
            reason,
        };
        let info = PrivateKeyInfo::from_der(&der).map_err(|e| malformed(e.to_string()))?;
        check_algorithm(info.algorithm.oid)?;
        let pair = KeypairBytes::try_from(info).map_err(|e| malformed(e.to_string()))?;
        let key = SigningKey::from_bytes(&pair.secret_key);
        if let Some(public) = &pair.public_key {
            if public.to_bytes() != key.verifying_key().to_bytes() {
                return Err(malformed(
                    "the embedded public key does not belong to the private key".into(),
                ));
            }
        }
        Ok(Self { key })
    }

    /// The key as PKCS#8 v1 PEM (`PRIVATE KEY`), the form `openssl genpkey` writes.
    pub fn to_pkcs8_pem(&self) -> Result<String, AttestError> {
        let pair = KeypairBytes {
            secret_key: self.key.to_bytes(),
            public_key: None,
        };
        let pem = pair
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| AttestError::KeyEncoding(e.to_string()))?;
        Ok(String::from(pem.as_str()))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key: self.key.verifying_key(),
        }
    }

    /// Signs `msg` (pure Ed25519, RFC 8032).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_id", &self.public_key().key_id())
            .finish_non_exhaustive()
    }
}

/// Decodes a PEM document and checks its label, with hints for common wrong inputs.
fn decode_pem(pem: &str, expected: &'static str) -> Result<Vec<u8>, AttestError> {
    if !pem.trim_start().starts_with("-----BEGIN ") {
        return Err(AttestError::Pem(
            "the text does not start with a `-----BEGIN` line".into(),
        ));
    }
    let (label, der) =
        der::pem::decode_vec(pem.trim().as_bytes()).map_err(|e| AttestError::Pem(e.to_string()))?;
    if label == expected {
        return Ok(der);
    }
    let hint = match label {
        "ENCRYPTED PRIVATE KEY" => {
            ": encrypted private keys are not supported, decrypt it with `openssl pkey`"
        }
        "OPENSSH PRIVATE KEY" => ": the OpenSSH key format is not supported, export PKCS#8",
        "RSA PRIVATE KEY" | "RSA PUBLIC KEY" | "EC PRIVATE KEY" => {
            ": only Ed25519 keys are accepted"
        }
        "CERTIFICATE" => ": extract the key with `openssl x509 -pubkey -noout`",
        "PRIVATE KEY" => {
            ": this is a private key, derive the public key with `openssl pkey -pubout`"
        }
        _ => "",
    };
    Err(AttestError::PemLabel {
        expected,
        found: label.to_owned(),
        hint,
    })
}

fn check_algorithm(oid: ObjectIdentifier) -> Result<(), AttestError> {
    let oid = oid.to_string();
    if oid == ED25519_OID {
        return Ok(());
    }
    let name = match oid.as_str() {
        "1.2.840.113549.1.1.1" => "RSA",
        "1.2.840.113549.1.1.10" => "RSA-PSS",
        "1.2.840.10045.2.1" => "ECDSA/ECDH elliptic curve",
        "1.2.840.10040.4.1" => "DSA",
        "1.3.101.110" => "X25519",
        "1.3.101.111" => "X448",
        "1.3.101.113" => "Ed448",
        _ => "unknown algorithm",
    };
    Err(AttestError::UnsupportedAlgorithm { oid, name })
}

/// `N` bytes from the operating system's random number generator (token secrets, nonces).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use rand_core::RngCore as _;
    let mut out = [0u8; N];
    rand_core::OsRng.fill_bytes(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_private_key_shows_no_secret() {
        let key = PrivateKey::from_seed(&[7u8; 32]);
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.public_key().key_id()));
        assert!(!shown.contains(&hex::encode([7u8; 32])));
        assert!(!shown.contains("07, 07"));
    }

    #[test]
    fn spki_prefix_matches_the_der_encoder() {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        let key = PrivateKey::from_seed(&[1u8; 32]).public_key();
        let reference = key.key.to_public_key_der().unwrap();
        assert_eq!(key.spki_der(), reference.as_bytes());
    }

    #[test]
    fn signature_of_wrong_length_is_an_error_not_a_panic() {
        let key = PrivateKey::from_seed(&[1u8; 32]).public_key();
        assert_eq!(
            key.verify_strict(b"m", &[0u8; 63]),
            Err(AttestError::SignatureLength(63))
        );
        assert_eq!(
            key.verify_strict(b"m", &[]),
            Err(AttestError::SignatureLength(0))
        );
    }
}
