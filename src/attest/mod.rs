//! Signed material: keys, DSSE envelopes, in-toto statements, the trust store and verification.
//!
//! Everything modelgate believes about a model version arrives as a DSSE envelope
//! ([`Envelope`]) whose payload is an in-toto Statement v1 ([`Statement`]). The signature covers
//! the pre-authentication encoding ([`pae`]) of the payload type and the raw payload bytes, so the
//! payload is never re-serialised between signing and verification.
//!
//! Trust comes only from key material: the [`TrustStore`] is rebuilt by replaying the ledger's
//! `key_change` records ([`KeyChange`]), each key carrying a principal, its [`Role`]s, a validity
//! window and possibly a [`Revocation`]. [`verify_envelope`] checks every signature of an envelope
//! against that store and answers with a [`VerifiedEnvelope`] (the statement, who signed it, and
//! why the other signatures did not count) or a [`VerifyError`] saying which check failed.
//!
//! This is the only module that imports signature crates: [`PublicKey`] and [`PrivateKey`] in
//! `keys` wrap Ed25519 (`ed25519-dalek`, always `verify_strict`); everything else works through
//! them. See `docs/signing.md` for the formats and how to produce envelopes with other tools.

mod dsse;
mod json;
mod keys;
mod note;
mod statement;
mod trust;
mod verify;

pub use dsse::{pae, Envelope, EnvelopeSignature, IN_TOTO_PAYLOAD_TYPE};
pub use keys::{random_bytes, PrivateKey, PublicKey};
pub use note::{
    check_key_name, key_id as note_key_id, open_note, NoteError, NoteSignature, NoteSigner,
    NoteVerifier, OpenedNote, MAX_NOTE_BYTES, MAX_NOTE_SIGNATURES, SIG_TYPE_ED25519,
};
pub use statement::{
    Statement, Subject, PREDICATE_APPROVAL, PREDICATE_MODEL_METADATA, PREDICATE_WAIVER,
    STATEMENT_TYPE,
};
pub use trust::{KeyChange, Revocation, Role, TrustStore, TrustedKey};
pub use verify::{
    verify_envelope, verify_signatures, SigFailure, SignatureProblem, Signatures, Signer,
    VerifiedEnvelope, VerifyError,
};

/// Errors from parsing keys, envelopes and statements and from changing the trust store.
///
/// Verification outcomes are not errors of this type: they are reported as [`VerifyError`] and
/// [`SigFailure`] so that a caller can tell which check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestError {
    /// The text is not a PEM document.
    #[error("malformed PEM: {0}")]
    Pem(String),
    /// The PEM document has another label than the one expected.
    #[error("expected a PEM block labelled `{expected}`, found `{found}`{hint}")]
    PemLabel {
        /// The label required here (`PUBLIC KEY`, `PRIVATE KEY`).
        expected: &'static str,
        /// The label found in the document.
        found: String,
        /// Extra help for well-known labels (leading `: `), or empty.
        hint: &'static str,
    },
    /// The key is not an Ed25519 key.
    #[error(
        "unsupported key algorithm `{oid}` ({name}): only Ed25519 (1.3.101.112) keys are accepted"
    )]
    UnsupportedAlgorithm {
        /// The algorithm object identifier found in the key.
        oid: String,
        /// A human name for that identifier (`unknown algorithm` when not known).
        name: &'static str,
    },
    /// The key structure is not valid DER or not a valid Ed25519 key.
    #[error("malformed {what}: {reason}")]
    MalformedKey {
        /// What was being parsed (`public key`, `private key`).
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The key could not be encoded.
    #[error("cannot encode key: {0}")]
    KeyEncoding(String),
    /// A signature does not have the 64 bytes of an Ed25519 signature.
    #[error("malformed signature: expected 64 bytes, found {0}")]
    SignatureLength(usize),
    /// The signature does not verify under the key.
    #[error("signature does not verify")]
    BadSignature,
    /// The envelope JSON is not valid or a field is wrong.
    #[error("invalid envelope: `{field}`: {reason}")]
    Envelope {
        /// The JSON path of the offending field (`payload`, `signatures[1].sig`), or `$` for the
        /// document as a whole.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The statement JSON is not valid or a field is wrong.
    #[error("invalid in-toto statement: `{field}`: {reason}")]
    Statement {
        /// The JSON path of the offending field (`_type`, `subject[0].digest.sha256`), or `$`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A role name is not one of the known roles.
    #[error("unknown role `{found}`: expected one of {valid}")]
    UnknownRole {
        /// The name given.
        found: String,
        /// The valid role names, comma separated.
        valid: String,
    },
    /// A key change is not acceptable (the message says which rule it breaks).
    #[error("key change rejected for key `{key_id}`: {reason}")]
    KeyChange {
        /// The key id the change is about.
        key_id: String,
        /// The broken rule.
        reason: String,
    },
    /// A C2SP signed note, vkey or key name is malformed, or the note does not verify.
    #[error("signed note: {0}")]
    Note(NoteError),
}
