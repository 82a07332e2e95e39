//! C2SP signed notes (`c2sp.org/signed-note`) with Ed25519 keys.
//!
//! A signed note is a UTF-8 text ending in a newline, a blank line, then one or more signature
//! lines `— <key name> base64(keyID[4] ‖ signature)`. The signature covers the text bytes
//! including their final newline, not the separating blank line. This is the envelope of the
//! ledger's checkpoints (`c2sp.org/tlog-checkpoint`), and the same format Go's checksum
//! database, Sigstore and Sigsum use, so auditors can check modelgate's notes with their tools.
//!
//! - [`NoteVerifier`]: a trusted (name, Ed25519 key) pair, written as a *vkey* string
//!   `name+hex(keyID)+base64(0x01 ‖ pubkey)` ([`NoteVerifier::from_vkey`],
//!   [`NoteVerifier::to_vkey`]).
//! - [`NoteSigner`]: a name and a [`PrivateKey`]; [`NoteSigner::sign`] returns the whole note.
//! - [`open_note`]: parses a note, verifies the signatures of known keys and answers with an
//!   [`OpenedNote`] (the text, who verified it, the signatures it could not check).
//! - [`key_id`]: `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pubkey)[:4]` as a big-endian `u32`.
//!
//! Every problem is a [`NoteError`] (wrapped in [`AttestError::Note`]); nothing here panics on
//! hostile input.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::{AttestError, PrivateKey, PublicKey};
use crate::digest::sha256;

/// The signature type byte of Ed25519 note signatures (`c2sp.org/signed-note`).
pub const SIG_TYPE_ED25519: u8 = 0x01;

/// The largest note [`open_note`] reads, in bytes.
///
/// Generous on purpose: the spec asks verifiers to accept at least 16 signatures, and
/// post-quantum signatures can approach 5 kB each.
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// The most signature lines [`open_note`] accepts in one note.
pub const MAX_NOTE_SIGNATURES: usize = 100;

/// What starts every signature line: U+2014 EM DASH and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Everything that can be wrong with a signed note, a vkey or a key name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// A key name breaks the C2SP rules.
    #[error("invalid key name `{name}`: {reason}")]
    KeyName {
        /// The offending name.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A verifier key string is not `name+hex(keyID)+base64(0x01 ‖ pubkey)`.
    #[error("invalid verifier key `{vkey}`: {reason}")]
    Vkey {
        /// The string given.
        vkey: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The note is larger than [`MAX_NOTE_BYTES`].
    #[error("note is {size} bytes, more than the {max} accepted")]
    TooLarge {
        /// The note's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The note contains an ASCII control character other than newline (e.g. `\r` from CRLF).
    #[error("note contains control character 0x{byte:02x} at byte {offset}{hint}")]
    ControlCharacter {
        /// The byte value.
        byte: u8,
        /// Its position in the note.
        offset: usize,
        /// Extra help for carriage returns (leading `: `), or empty.
        hint: &'static str,
    },
    /// No blank line separates the text from the signature lines.
    #[error("no blank line separates the note text from its signature lines")]
    MissingSeparator,
    /// Nothing, or an unterminated line, follows the last blank line.
    #[error("malformed signature block: {0}")]
    SignatureBlock(&'static str),
    /// More than [`MAX_NOTE_SIGNATURES`] signature lines.
    #[error("note has more than {max} signature lines")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
    /// One signature line is malformed.
    #[error("malformed signature line {line}: {reason}")]
    SignatureLine {
        /// 1-based position among the signature lines.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Two different trusted keys share the name and key id a signature names.
    #[error("more than one trusted key is named `{name}` with key id {key_id:08x}")]
    AmbiguousVerifier {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// A signature by a trusted key does not verify: the whole note is rejected.
    #[error("signature by trusted key `{name}` ({key_id:08x}) does not verify: {reason}")]
    BadSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
        /// Why (wrong length, or not a valid signature over the text).
        reason: String,
    },
    /// No signature by a trusted key: the text must not be believed.
    #[error("no signature by a trusted key ({unknown} signature(s) by unknown keys ignored)")]
    NotVerified {
        /// How many signatures were by keys not in the trusted list.
        unknown: usize,
    },
    /// The text handed to [`NoteSigner::sign`] cannot be a note text.
    #[error("cannot sign note text: {0}")]
    Text(&'static str),
}

impl From<NoteError> for AttestError {
    fn from(e: NoteError) -> Self {
        AttestError::Note(e)
    }
}

/// Checks a key name: non-empty, no Unicode whitespace, no `+`.
pub fn check_key_name(name: &str) -> Result<(), NoteError> {
    let bad = |reason| NoteError::KeyName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.chars().any(char::is_whitespace) {
        return Err(bad("it contains whitespace"));
    }
    if name.contains('+') {
        return Err(bad("it contains `+`"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("it contains a control character"));
    }
    Ok(())
}

/// The C2SP key id of an Ed25519 key: `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pubkey)[:4]`, big-endian.
pub fn key_id(name: &str, pubkey: &[u8; 32]) -> u32 {
    let mut input = Vec::with_capacity(name.len() + 2 + pubkey.len());
    input.extend_from_slice(name.as_bytes());
    input.push(b'\n');
    input.push(SIG_TYPE_ED25519);
    input.extend_from_slice(pubkey);
    let hash = sha256(&input);
    u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]])
}

/// A trusted note-signing key: a key name and an Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key: PublicKey,
    key_id: u32,
}

impl NoteVerifier {
    /// A verifier for `key` under `name` (checked with [`check_key_name`]).
    pub fn new(name: &str, key: PublicKey) -> Result<Self, AttestError> {
        check_key_name(name)?;
        let key_id = key_id(name, &key.raw());
        Ok(Self {
            name: name.to_owned(),
            key,
            key_id,
        })
    }

    /// Parses a vkey string `name+hex(keyID)+base64(0x01 ‖ pubkey)`.
    ///
    /// The key id must be eight hex digits and must match the one computed from the name and
    /// key; only Ed25519 (type `0x01`) keys are accepted.
    pub fn from_vkey(vkey: &str) -> Result<Self, AttestError> {
        let bad = |reason: String| NoteError::Vkey {
            vkey: vkey.to_owned(),
            reason,
        };
        let (name, rest) = vkey
            .split_once('+')
            .ok_or_else(|| bad("expected `name+keyid+key`".into()))?;
        let (id_hex, key_b64) = rest
            .split_once('+')
            .ok_or_else(|| bad("expected `name+keyid+key`".into()))?;
        check_key_name(name).map_err(|e| bad(e.to_string()))?;
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the key id is not eight hex digits".into()).into());
        }
        let id = u32::from_str_radix(id_hex, 16)
            .map_err(|_| bad("the key id is not eight hex digits".into()))?;
        let key_bytes = B64
            .decode(key_b64)
            .map_err(|_| bad("the key is not standard base64".into()))?;
        let (&sig_type, raw) = key_bytes
            .split_first()
            .ok_or_else(|| bad("the key is empty".into()))?;
        if sig_type != SIG_TYPE_ED25519 {
            return Err(bad(format!(
                "unsupported signature type 0x{sig_type:02x}: only Ed25519 (0x01) keys are accepted"
            ))
            .into());
        }
        let raw: &[u8; 32] = raw.try_into().map_err(|_| {
            bad(format!(
                "an Ed25519 key has 32 bytes, found {}",
                key_bytes.len() - 1
            ))
        })?;
        let key = PublicKey::from_raw(raw).map_err(|e| bad(e.to_string()))?;
        let verifier = Self::new(name, key)?;
        if verifier.key_id != id {
            return Err(bad(format!(
                "the key id should be {:08x} for this name and key",
                verifier.key_id
            ))
            .into());
        }
        Ok(verifier)
    }

    /// The vkey string `name+hex(keyID)+base64(0x01 ‖ pubkey)` (lowercase hex).
    pub fn to_vkey(&self) -> String {
        let mut key = Vec::with_capacity(33);
        key.push(SIG_TYPE_ED25519);
        key.extend_from_slice(&self.key.raw());
        format!("{}+{:08x}+{}", self.name, self.key_id, B64.encode(key))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id (see [`key_id`]).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }
}

/// A note-signing key: a key name and an Ed25519 private key.
pub struct NoteSigner {
    name: String,
    key: Arc<PrivateKey>,
    key_id: u32,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish()
    }
}

impl NoteSigner {
    /// A signer for `name` (checked with [`check_key_name`]); accepts a [`PrivateKey`] or an
    /// `Arc` of one.
    pub fn new(name: &str, key: impl Into<Arc<PrivateKey>>) -> Result<Self, AttestError> {
        check_key_name(name)?;
        let key = key.into();
        let key_id = key_id(name, &key.public_key().raw());
        Ok(Self {
            name: name.to_owned(),
            key,
            key_id,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id (see [`key_id`]).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The verifier for this signer's notes.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key: self.key.public_key(),
            key_id: self.key_id,
        }
    }

    /// Signs `text` and returns the whole note: the text, a blank line and one signature line.
    ///
    /// The text must be non-empty, end in a newline and contain no control character other
    /// than newline: anything else could not be read back by [`open_note`].
    pub fn sign(&self, text: &str) -> Result<String, AttestError> {
        if !text.ends_with('\n') {
            return Err(NoteError::Text("the text must end in a newline").into());
        }
        if text.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(NoteError::Text("the text contains a control character").into());
        }
        if text.len() > MAX_NOTE_BYTES / 2 {
            return Err(NoteError::Text("the text is too large").into());
        }
        let sig = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(4 + sig.len());
        blob.extend_from_slice(&self.key_id.to_be_bytes());
        blob.extend_from_slice(&sig);
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            B64.encode(blob)
        ))
    }
}

/// A signature line of a note, as parsed (not necessarily verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name on the line.
    pub name: String,
    /// The key id (first four bytes of the decoded signature, big-endian).
    pub key_id: u32,
    /// The signature bytes after the key id.
    pub signature: Vec<u8>,
}

/// A note whose signatures by trusted keys all verified (at least one did).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    /// The signed text, including its final newline.
    pub text: String,
    /// Names of the trusted keys whose signatures verified, in order, without repeats.
    pub verified_by: Vec<String>,
    /// Signatures by keys not in the trusted list (ignored, as the spec requires).
    pub unverified: Vec<NoteSignature>,
}

/// Parses `note`, verifies every signature by a key in `verifiers` and returns the text.
///
/// Following `c2sp.org/signed-note`: the text ends at the last blank line (it includes its
/// final newline, not the blank line); signatures by unknown keys (name and key id not both
/// matching a verifier) are ignored; a signature by a known key that does not verify rejects
/// the whole note; at least one known signature must verify. Notes over [`MAX_NOTE_BYTES`],
/// with more than [`MAX_NOTE_SIGNATURES`] signatures, with control characters other than
/// newline (including `\r`), or with malformed signature lines are rejected.
pub fn open_note(note: &str, verifiers: &[NoteVerifier]) -> Result<OpenedNote, AttestError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge {
            size: note.len(),
            max: MAX_NOTE_BYTES,
        }
        .into());
    }
    if let Some((offset, &byte)) = note
        .as_bytes()
        .iter()
        .enumerate()
        .find(|(_, &b)| b < 0x20 && b != b'\n')
    {
        let hint = if byte == b'\r' {
            ": carriage return (CRLF line endings are not allowed)"
        } else {
            ""
        };
        return Err(NoteError::ControlCharacter { byte, offset, hint }.into());
    }
    let split = note.rfind("\n\n").ok_or(NoteError::MissingSeparator)?;
    let text = &note[..split + 1];
    let block = &note[split + 2..];
    if block.is_empty() {
        return Err(NoteError::SignatureBlock("no signature lines after the blank line").into());
    }
    let block = block.strip_suffix('\n').ok_or(NoteError::SignatureBlock(
        "the last signature line does not end in a newline",
    ))?;

    let mut opened = OpenedNote {
        text: text.to_owned(),
        verified_by: Vec::new(),
        unverified: Vec::new(),
    };
    for (i, line) in block.split('\n').enumerate() {
        if i >= MAX_NOTE_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                max: MAX_NOTE_SIGNATURES,
            }
            .into());
        }
        let sig = parse_signature_line(line).map_err(|reason| NoteError::SignatureLine {
            line: i + 1,
            reason,
        })?;
        match find_verifier(verifiers, &sig)? {
            None => opened.unverified.push(sig),
            Some(v) => {
                v.key
                    .verify_strict(text.as_bytes(), &sig.signature)
                    .map_err(|e| NoteError::BadSignature {
                        name: sig.name.clone(),
                        key_id: sig.key_id,
                        reason: e.to_string(),
                    })?;
                if !opened.verified_by.contains(&sig.name) {
                    opened.verified_by.push(sig.name);
                }
            }
        }
    }
    if opened.verified_by.is_empty() {
        return Err(NoteError::NotVerified {
            unknown: opened.unverified.len(),
        }
        .into());
    }
    Ok(opened)
}

/// Parses `— <name> <base64(keyID ‖ sig)>` (without its newline).
fn parse_signature_line(line: &str) -> Result<NoteSignature, String> {
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or_else(|| "it does not start with an em dash (U+2014) and a space".to_owned())?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or_else(|| "no space between the key name and the signature".to_owned())?;
    check_key_name(name).map_err(|e| e.to_string())?;
    let blob = B64
        .decode(b64)
        .map_err(|_| "the signature is not standard base64".to_owned())?;
    if blob.len() < 5 {
        return Err(format!(
            "the signature decodes to {} bytes, too short for a key id and a signature",
            blob.len()
        ));
    }
    let (id, signature) = blob.split_at(4);
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: u32::from_be_bytes([id[0], id[1], id[2], id[3]]),
        signature: signature.to_vec(),
    })
}

/// The verifier with the signature's name and key id, if any; two different keys matching is
/// an error (listing the same key twice is not).
fn find_verifier<'a>(
    verifiers: &'a [NoteVerifier],
    sig: &NoteSignature,
) -> Result<Option<&'a NoteVerifier>, NoteError> {
    let mut found: Option<&NoteVerifier> = None;
    for v in verifiers
        .iter()
        .filter(|v| v.name == sig.name && v.key_id == sig.key_id)
    {
        match found {
            Some(f) if f.key != v.key => {
                return Err(NoteError::AmbiguousVerifier {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                })
            }
            _ => found = Some(v),
        }
    }
    Ok(found)
}
