//! The tamper-evident audit ledger.
//!
//! Every decision, bundle activation, freeze and other governance event becomes a [`Record`]:
//! a JSON object serialised once in RFC 8785 canonical form ([`crate::canonical`]) and stored as
//! exactly those bytes. Records are numbered from 0 without gaps; each names the leaf hash
//! (SHA-256 of `0x00 ‖ bytes`, see [`leaf_hash`]) of its predecessor in `prev`, which makes the
//! sequence a hash chain.
//!
//! How the pieces connect:
//!
//! - [`record`]: the [`Record`] format, [`RecordKind`], [`RecordDraft`] (what a caller wants to
//!   log) and [`seal`] (draft + index + prev → canonical bytes and leaf hash).
//! - [`store`]: the [`Store`] trait — append a batch atomically and durably, read records back,
//!   keep attestations by digest. There is deliberately no update or delete operation.
//! - [`sqlite`]: [`SqliteStore`], the embedded implementation (WAL, `synchronous=FULL`,
//!   `BEGIN IMMEDIATE`). It is the only file that knows about SQLite.
//! - [`group`]: [`GroupCommit`], the appender thread that batches concurrent appends into one
//!   durable transaction each ([`Store::append_batch`]), and remembers the last batch that
//!   failed ([`CommitFailure`]) until one commits again.
//! - [`faults`]: [`FaultyStore`], a store wrapper whose writes fail on command ([`Faults`]),
//!   to prove that no answer is given without a durable record.
//! - [`merkle`]: the RFC 6962 Merkle tree over the leaf hashes, stored as perfect subtree
//!   nodes ([`NodeSource`]); roots, inclusion and consistency proofs from `O(log n)` node reads,
//!   and [`verify_inclusion`] / [`verify_consistency`], which need only hashes.
//! - [`verify`]: [`verify_store`] and [`verify_lines`] recompute every hash and the chain (and,
//!   for a store, the tree) and report the first bad index.
//! - [`export`]: [`export_jsonl`] writes the ledger as JSON Lines that verify byte for byte.
//!
//! The format, the durability argument and the limits of verification without signed
//! checkpoints are described in `docs/ledger.md`.

pub mod checkpoint;
pub mod export;
pub mod faults;
pub mod group;
pub mod merkle;
pub mod migrate;
pub mod postgres;
pub mod record;
pub mod sqlite;
pub mod store;
pub mod verify;

pub use self::postgres::{PgOptions, PgStore};
pub use checkpoint::{
    format_consistency_proof, open_checkpoint, parse_consistency_proof, sign_checkpoint,
    verify_tlog_proof, Checkpoint, CheckpointError, TlogProof, VerifiedProof, TLOG_PROOF_HEADER,
};
pub use export::export_jsonl;
pub use faults::{Arming, Fault, FaultCounts, Faults, FaultyStore};
pub use group::{CommitFailure, GroupCommit, GroupOptions, GroupStats};
pub use merkle::{
    node_hash, verify_consistency, verify_inclusion, Frontier, Hash, MemoryNodes, NodeSource,
    Overlay, ProofError, EMPTY_ROOT,
};
pub use record::{
    leaf_hash, parse_record, seal, Record, RecordDraft, RecordKind, SealedRecord, GENESIS_PREV,
    MAX_RECORD_BYTES, RECORD_VERSION,
};
pub use sqlite::SqliteStore;
pub use store::{
    append_one, first_at_or_after, AppendGuard, AppendOutcome, AppendRequest, Head, Store,
    StoredRecord,
};
pub use verify::{
    verify_lines, verify_lines_against, verify_store, verify_store_against, CheckpointFinding,
    VerifyFailure, VerifyReport,
};

use crate::canonical::CanonicalError;

/// Everything that can go wrong while writing, reading, verifying or exporting the ledger.
///
/// A verification *finding* (a tampered record) is not an error: it is reported in
/// [`VerifyReport::failure`]. Errors are reserved for failures to do the work at all.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A guarded append found records of the guarded kind appended after the caller's read.
    #[error(
        "a `{kind}` record was appended at index {index} after the state this append was based on"
    )]
    Raced {
        /// The guarded kind.
        kind: RecordKind,
        /// Index of the first such record.
        index: u64,
    },
    /// The record has no canonical JSON form (e.g. an integer beyond 2^53 − 1 in the body).
    #[error("record cannot be canonicalised: {0}")]
    Canonical(#[from] CanonicalError),
    /// The canonical record is larger than one log entry may be.
    #[error("record at index {index} is {size} bytes, over the {limit}-byte limit for one ledger entry; keep large material in the attestation store and reference it by digest")]
    RecordTooLarge {
        /// Index the record would have had.
        index: u64,
        /// Its canonical size in bytes.
        size: usize,
        /// [`MAX_RECORD_BYTES`].
        limit: usize,
    },
    /// Bytes that are not a well-formed version-1 record.
    #[error("malformed record: {0}")]
    MalformedRecord(String),
    /// A record kind name that this version does not know.
    #[error("unknown record kind `{0}`")]
    UnknownKind(String),
    /// An attestation digest that is not of the form `sha256:<64 lowercase hex>`.
    #[error("attestation digest `{0}` is not of the form `sha256:<64 lowercase hex>`")]
    InvalidDigest(String),
    /// The attestation's bytes do not hash to the digest it was filed under.
    #[error("attestation filed as `{claimed}` has digest `{actual}`")]
    AttestationDigestMismatch {
        /// The digest given by the caller.
        claimed: String,
        /// SHA-256 of the bytes actually supplied.
        actual: String,
    },
    /// The attestation store already holds different bytes under this digest.
    #[error("attestation `{0}` is already stored with different bytes")]
    AttestationConflict(String),
    /// The ledger's own bookkeeping contradicts itself; nothing is appended until it is repaired.
    #[error("ledger is inconsistent: {0}")]
    Inconsistent(String),
    /// A stored row cannot even be read as a record (wrong column type or hash length).
    /// Verification reports it as a failure at `index`.
    #[error("stored row for record {index} is corrupt: {problem}")]
    CorruptRow {
        /// The row's index.
        index: u64,
        /// What is wrong with it.
        problem: String,
    },
    /// The database was written by a newer modelgate.
    #[error("ledger schema version {found} is newer than the supported version {supported}; upgrade modelgate")]
    SchemaTooNew {
        /// `user_version` found in the file.
        found: i64,
        /// Highest version this build understands.
        supported: i64,
    },
    /// The file exists but is not a modelgate ledger.
    #[error("`{0}` is not a modelgate ledger (schema version 0)")]
    NotALedger(String),
    /// A durability setting did not take effect, so acknowledgements could not be trusted.
    #[error("sqlite refused `PRAGMA {pragma} = {expected}` (it reports `{found}`)")]
    PragmaNotApplied {
        /// The pragma name.
        pragma: &'static str,
        /// The value requested.
        expected: &'static str,
        /// The value the database reports.
        found: String,
    },
    /// A read-only ledger file that does not exist.
    #[error("ledger file `{0}` does not exist")]
    Missing(String),
    /// A write was attempted through a read-only handle.
    #[error("ledger is open read-only")]
    ReadOnly,
    /// An index that does not fit the store's integer type.
    #[error("record index {0} is out of range")]
    IndexOutOfRange(u64),
    /// A stored record cannot be written as one JSON Lines line.
    #[error("record {0} contains a raw newline and cannot be exported as one line")]
    NotExportable(u64),
    /// The storage backend failed.
    #[error("ledger storage failed while {context}: {source}")]
    Storage {
        /// What the store was doing.
        context: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A perfect tree node that should exist is not stored (verification reports it as a
    /// failure at the node's first record).
    #[error("tree node at level {level}, index {index} is missing")]
    MissingNode {
        /// The node's level (0 = leaf).
        level: u32,
        /// The node's index within its level.
        index: u64,
    },
    /// A stored tree node cannot be read as a hash.
    #[error("stored tree node at level {level}, index {index} is corrupt: {problem}")]
    CorruptNode {
        /// The node's level (0 = leaf).
        level: u32,
        /// The node's index within its level.
        index: u64,
        /// What is wrong with it.
        problem: String,
    },
    /// A tree size, leaf index or proof request that makes no sense.
    #[error("{0}")]
    Tree(#[from] ProofError),
    /// A tree size beyond the records the ledger holds.
    #[error("the ledger holds {size} records, so there is no tree of size {requested}")]
    TreeBeyondLedger {
        /// The size asked for.
        requested: u64,
        /// The ledger's size.
        size: u64,
    },
    /// A checkpoint for size 0, which is never stored or published.
    #[error("a checkpoint must cover at least one record")]
    EmptyCheckpoint,
    /// A different checkpoint note is already stored for this size.
    #[error("a different checkpoint is already stored for size {0}")]
    CheckpointConflict(u64),
    /// The operation is not offered by this store.
    #[error("this ledger store does not support {0}")]
    Unsupported(&'static str),
    /// A read-only handle on a ledger whose schema predates a feature it was asked for.
    #[error("ledger schema version {found} has no {feature}; open the ledger for writing once to migrate it to version {required}")]
    NeedsMigration {
        /// `user_version` found in the file.
        found: i64,
        /// Version that brings the feature.
        required: i64,
        /// The missing feature.
        feature: &'static str,
    },
    /// The batch this append was committed with failed as a whole; nothing of it is
    /// acknowledged.
    #[error("the batch holding this append was not committed: {0}")]
    BatchFailed(#[source] std::sync::Arc<LedgerError>),
    /// The group-commit appender thread has stopped; nothing more can be appended through it.
    #[error("the ledger appender has stopped")]
    AppenderStopped,
    /// The TLS settings of a database connection cannot be used (e.g. the CA file does not
    /// read as PEM certificates).
    #[error("ledger database TLS: {0}")]
    Tls(String),
    /// The database would not keep a commit through a crash (e.g. PostgreSQL with
    /// `fsync = off`); the store refuses to append to it.
    #[error("ledger storage is not durable: {0}")]
    NotDurable(String),
    /// Reading an export or writing one failed.
    #[error("ledger i/o failed: {0}")]
    Io(#[from] std::io::Error),
}
