//! Checkpoint, inclusion-proof and consistency-proof text formats.
//!
//! These are the byte formats an auditor gets from modelgate and can check with any C2SP
//! implementation (see `docs/checkpoints.md`):
//!
//! - [`Checkpoint`]: a `c2sp.org/tlog-checkpoint` note text — origin, decimal tree size,
//!   base64 RFC 6962 root hash, optional extension lines. [`sign_checkpoint`] wraps it in a
//!   signed note (never for size 0), [`open_checkpoint`] verifies and parses one.
//! - [`TlogProof`]: a `c2sp.org/tlog-proof@v1` file — the record's index, its inclusion proof
//!   and the checkpoint note verbatim. [`verify_tlog_proof`] checks one end to end, given the
//!   Merkle inclusion check as a function so this module holds no tree code.
//! - [`format_consistency_proof`] / [`parse_consistency_proof`]: one base64 hash per line, the
//!   output of `modelgate audit consistency OLD NEW`.
//!
//! Parsing is strict (canonical base64, decimal numbers without leading zeros, no blank lines
//! where the formats have none) and every problem is a [`CheckpointError`].

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::record::leaf_hash;
use crate::attest::{open_note, AttestError, NoteSigner, NoteVerifier};

/// The first line of every `c2sp.org/tlog-proof@v1` file.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// The most hashes an inclusion proof can have (a tree of at most 2^64 leaves).
pub const MAX_INCLUSION_HASHES: usize = 64;

/// The most hashes a consistency proof can have.
pub const MAX_CONSISTENCY_HASHES: usize = 128;

/// Everything that can be wrong with a checkpoint, a proof file or a consistency proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The signed note is malformed or does not verify.
    #[error(transparent)]
    Note(#[from] AttestError),
    /// The checkpoint text breaks the `c2sp.org/tlog-checkpoint` format.
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    /// Asked to sign a checkpoint of an empty tree.
    #[error("refusing to sign a checkpoint of size 0: never publish a size-0 checkpoint")]
    EmptyTree,
    /// The checkpoint is for another log.
    #[error("checkpoint origin is `{found}`, expected `{expected}`")]
    OriginMismatch {
        /// The origin wanted.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
    /// The proof file breaks the `c2sp.org/tlog-proof@v1` format.
    #[error("malformed tlog-proof: {0}")]
    MalformedProof(String),
    /// The consistency proof text is not one base64 SHA-256 hash per line.
    #[error("malformed consistency proof: {0}")]
    MalformedConsistency(String),
    /// The proof's index is not inside the checkpointed tree.
    #[error("proof index {index} is not below the checkpoint size {size}")]
    IndexOutOfRange {
        /// The index in the proof.
        index: u64,
        /// The checkpoint's tree size.
        size: u64,
    },
    /// The record is not at that index in the checkpointed tree.
    #[error("inclusion proof for index {index} does not lead to the root of the checkpoint of size {size}")]
    NotIncluded {
        /// The index in the proof.
        index: u64,
        /// The checkpoint's tree size.
        size: u64,
    },
}

/// The body of a `c2sp.org/tlog-checkpoint` note: a signed Merkle tree head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `modelgate.example.com/ledger`.
    pub origin: String,
    /// The number of records in the tree.
    pub size: u64,
    /// The RFC 6962 Merkle tree hash over the first `size` records.
    pub root: [u8; 32],
    /// Extension lines (opaque, non-empty; modelgate writes none).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text: `origin\nsize\nbase64(root)\n` then one line per extension.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for ext in &self.extensions {
            text.push_str(ext);
            text.push('\n');
        }
        text
    }

    /// Parses a checkpoint note text (the signed text, without the signature lines).
    ///
    /// Strict: at least three lines, each non-empty and ending in a newline; a non-empty
    /// origin; the size in ASCII decimal without leading zeros (except `0`); the root as
    /// canonical standard base64 of exactly 32 bytes; no control characters.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let bad = |m: String| CheckpointError::Malformed(m);
        if let Some(b) = text.bytes().find(|&b| b < 0x20 && b != b'\n') {
            return Err(bad(format!("contains control character 0x{b:02x}")));
        }
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("the text does not end in a newline".into()))?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(bad(format!(
                "expected at least 3 lines (origin, size, root), found {}",
                lines.len()
            )));
        }
        if let Some(n) = lines.iter().position(|l| l.is_empty()) {
            return Err(bad(format!("line {} is empty", n + 1)));
        }
        let size = parse_decimal(lines[1]).map_err(|e| bad(format!("tree size: {e}")))?;
        let root = decode_hash(lines[2]).map_err(|e| bad(format!("root hash: {e}")))?;
        Ok(Self {
            origin: lines[0].to_owned(),
            size,
            root,
            extensions: lines[3..].iter().map(|l| (*l).to_owned()).collect(),
        })
    }
}

/// Signs `cp` as a C2SP checkpoint note with `signer`.
///
/// Refuses size 0 ([`CheckpointError::EmptyTree`]) and a checkpoint whose text would not read
/// back as the same checkpoint (e.g. an origin containing a newline).
pub fn sign_checkpoint(cp: &Checkpoint, signer: &NoteSigner) -> Result<String, CheckpointError> {
    if cp.size == 0 {
        return Err(CheckpointError::EmptyTree);
    }
    let text = cp.to_text();
    if Checkpoint::parse(&text)? != *cp {
        return Err(CheckpointError::Malformed(
            "origin or extension lines would not read back unchanged".into(),
        ));
    }
    Ok(signer.sign(&text)?)
}

/// Verifies a checkpoint note against `verifiers` and parses its text.
///
/// With `expected_origin`, a checkpoint of another log is rejected.
pub fn open_checkpoint(
    note: &str,
    verifiers: &[NoteVerifier],
    expected_origin: Option<&str>,
) -> Result<Checkpoint, CheckpointError> {
    let opened = open_note(note, verifiers)?;
    let cp = Checkpoint::parse(&opened.text)?;
    if let Some(expected) = expected_origin {
        if cp.origin != expected {
            return Err(CheckpointError::OriginMismatch {
                expected: expected.to_owned(),
                found: cp.origin,
            });
        }
    }
    Ok(cp)
}

/// A `c2sp.org/tlog-proof@v1` file: a record's inclusion proof with the checkpoint it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Unauthenticated application data (the optional `extra` line); modelgate writes none.
    pub extra: Option<Vec<u8>>,
    /// Zero-based index of the record in the log.
    pub index: u64,
    /// The RFC 6962 inclusion proof, from the leaf's sibling up to the root's child.
    pub hashes: Vec<[u8; 32]>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl TlogProof {
    /// The file text: header, optional `extra` line, `index N`, one base64 hash per line, a
    /// blank line and the checkpoint note.
    pub fn to_text(&self) -> String {
        let mut out = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", B64.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.hashes {
            out.push_str(&B64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses a proof file. The checkpoint is kept verbatim and not verified here (see
    /// [`verify_tlog_proof`]).
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let bad = |m: String| CheckpointError::MalformedProof(m);
        let mut rest = text;
        let mut next_line = |what: &str| -> Result<&str, CheckpointError> {
            let (line, tail) = rest
                .split_once('\n')
                .ok_or_else(|| bad(format!("ends before the {what}")))?;
            rest = tail;
            Ok(line)
        };
        let header = next_line("header line")?;
        if header != TLOG_PROOF_HEADER {
            return Err(bad(format!("the first line must be `{TLOG_PROOF_HEADER}`")));
        }
        let mut line = next_line("index line")?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            let data = B64
                .decode(b64)
                .map_err(|_| bad("the extra data is not standard base64".into()))?;
            extra = Some(data);
            line = next_line("index line")?;
        }
        let index = line
            .strip_prefix("index ")
            .ok_or_else(|| bad("expected an `index N` line".into()))?;
        let index = parse_decimal(index).map_err(|e| bad(format!("index: {e}")))?;
        let mut hashes = Vec::new();
        loop {
            let line = next_line("blank line before the checkpoint")?;
            if line.is_empty() {
                break;
            }
            if hashes.len() == MAX_INCLUSION_HASHES {
                return Err(bad(format!(
                    "more than {MAX_INCLUSION_HASHES} inclusion proof hashes"
                )));
            }
            let h = decode_hash(line)
                .map_err(|e| bad(format!("inclusion proof line {}: {e}", hashes.len() + 1)))?;
            hashes.push(h);
        }
        if rest.is_empty() {
            return Err(bad("no checkpoint after the blank line".into()));
        }
        Ok(Self {
            extra,
            index,
            hashes,
            checkpoint: rest.to_owned(),
        })
    }
}

/// What a verified proof establishes: the record is at `index` in the tree of `checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The record's index.
    pub index: u64,
    /// The verified checkpoint it is included in.
    pub checkpoint: Checkpoint,
}

/// Verifies a `c2sp.org/tlog-proof@v1` file for `record` (its exact stored bytes).
///
/// Checks, in order: the file format; the checkpoint signature against `verifiers` and its
/// origin against `origin`; `index < size`; and that `verify_inclusion(leaf, index, size,
/// hashes, root)` accepts the RFC 6962 leaf hash of `record`. Pass the ledger's RFC 6962
/// inclusion check (`merkle::verify_inclusion`) as `verify_inclusion`.
pub fn verify_tlog_proof<F>(
    proof_text: &str,
    record: &[u8],
    verifiers: &[NoteVerifier],
    origin: &str,
    verify_inclusion: F,
) -> Result<VerifiedProof, CheckpointError>
where
    F: Fn(&[u8; 32], u64, u64, &[[u8; 32]], &[u8; 32]) -> bool,
{
    let proof = TlogProof::parse(proof_text)?;
    let checkpoint = open_checkpoint(&proof.checkpoint, verifiers, Some(origin))?;
    if proof.index >= checkpoint.size {
        return Err(CheckpointError::IndexOutOfRange {
            index: proof.index,
            size: checkpoint.size,
        });
    }
    let leaf = leaf_hash(record);
    if !verify_inclusion(
        &leaf,
        proof.index,
        checkpoint.size,
        &proof.hashes,
        &checkpoint.root,
    ) {
        return Err(CheckpointError::NotIncluded {
            index: proof.index,
            size: checkpoint.size,
        });
    }
    Ok(VerifiedProof {
        index: proof.index,
        checkpoint,
    })
}

/// A consistency proof as text: one base64 hash per line, each ending in a newline.
pub fn format_consistency_proof(hashes: &[[u8; 32]]) -> String {
    let mut out = String::with_capacity(hashes.len() * 45);
    for h in hashes {
        out.push_str(&B64.encode(h));
        out.push('\n');
    }
    out
}

/// Parses the text of [`format_consistency_proof`] (empty text: an empty proof); a missing
/// final newline is tolerated (shells strip it), blank lines and anything but canonical base64
/// of 32 bytes are not.
pub fn parse_consistency_proof(text: &str) -> Result<Vec<[u8; 32]>, CheckpointError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut hashes = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        if i == MAX_CONSISTENCY_HASHES {
            return Err(CheckpointError::MalformedConsistency(format!(
                "more than {MAX_CONSISTENCY_HASHES} hashes"
            )));
        }
        let h = decode_hash(line)
            .map_err(|e| CheckpointError::MalformedConsistency(format!("line {}: {e}", i + 1)))?;
        hashes.push(h);
    }
    Ok(hashes)
}

/// Parses ASCII decimal without sign or leading zeros (except `0` itself).
pub(crate) fn parse_decimal(s: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{s}` is not an ASCII decimal number"));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(format!("`{s}` has a leading zero"));
    }
    s.parse::<u64>()
        .map_err(|_| format!("`{s}` does not fit in 64 bits"))
}

/// Decodes canonical standard base64 of exactly 32 bytes.
fn decode_hash(s: &str) -> Result<[u8; 32], String> {
    let bytes = B64
        .decode(s)
        .map_err(|_| format!("`{s}` is not standard base64"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("`{s}` decodes to {} bytes, expected 32", bytes.len()))
}
