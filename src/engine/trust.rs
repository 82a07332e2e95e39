//! The trust store as a fold over the ledger.
//!
//! There is no separate trust file: every trust change is a `key_change` ledger record, and
//! [`load_trust`] replays them in order. The trust history is therefore as tamper-evident as the
//! decisions that depended on it. [`change_trust`] validates a change against the current state
//! before appending it.
//!
//! Before a `key_change` record is believed, its place in the chain is checked: its stored leaf
//! hash must be the hash of its bytes, and the next record (or the head) must point at it. A
//! row edited in place is therefore refused at decision time, not only by a later
//! `audit verify`. (Someone able to rewrite every later record as well is caught by signed
//! checkpoints, not here.)

use super::EngineError;
use crate::attest::{KeyChange, TrustStore};
use crate::clock::{parse_rfc3339, Clock};
use crate::ledger::{leaf_hash, parse_record, RecordDraft, RecordKind, SealedRecord, Store};

/// Rebuilds the trust store from the `key_change` records of the ledger.
pub fn load_trust(store: &dyn Store) -> Result<TrustStore, EngineError> {
    load_trust_before(store, u64::MAX)
}

/// The trust store as it stood before record `end`: the `key_change` records below `end` (and
/// below the head read at the start), replayed in order.
pub fn load_trust_before(store: &dyn Store, end: u64) -> Result<TrustStore, EngineError> {
    let mut trust = TrustStore::new();
    // One snapshot: records appended after this head are outside this trust store (a guarded
    // append then refuses to record a decision made with it).
    let Some(head) = store.head()? else {
        return Ok(trust);
    };
    for stored in store.records_of_kind(RecordKind::KeyChange)? {
        if stored.index >= head.size || stored.index >= end {
            break;
        }
        let broken = |what: String| EngineError::TrustHistory {
            index: stored.index,
            problem: what,
        };
        if leaf_hash(&stored.bytes) != stored.leaf_hash {
            return Err(broken(
                "its bytes do not hash to its stored leaf hash".into(),
            ));
        }
        let linked = if stored.index + 1 == head.size {
            head.leaf_hash == stored.leaf_hash
        } else {
            store.record(stored.index + 1)?.is_some_and(|next| {
                parse_record(&next.bytes).is_ok_and(|r| r.prev == hex::encode(stored.leaf_hash))
            })
        };
        if !linked {
            return Err(broken(
                "the chain does not point at it (the record was altered)".into(),
            ));
        }
        let record = parse_record(&stored.bytes).map_err(|e| broken(e.to_string()))?;
        if record.kind != RecordKind::KeyChange || record.index != stored.index {
            return Err(broken(format!(
                "its stored kind or position disagrees with its bytes (kind `{}`, index {})",
                record.kind, record.index
            )));
        }
        let change: KeyChange =
            serde_json::from_value(record.body).map_err(|e| broken(e.to_string()))?;
        let at = parse_rfc3339(&record.time).map_err(|e| broken(e.to_string()))?;
        trust
            .apply(&change, at)
            .map_err(|e| broken(e.to_string()))?;
    }
    Ok(trust)
}

/// Applies `change` to the current trust store (rejecting it if it does not apply) and
/// appends it to the ledger as a `key_change` record.
pub fn change_trust(
    store: &mut dyn Store,
    clock: &dyn Clock,
    change: &KeyChange,
) -> Result<SealedRecord, EngineError> {
    let now = clock.now();
    // Guarded like decisions: two concurrent changes of the same key cannot both land and leave
    // a trust history that no longer replays.
    let size = store.size()?;
    let mut trust = load_trust(store)?;
    trust.apply(change, now).map_err(EngineError::TrustChange)?;
    let body = serde_json::to_value(change).map_err(|e| EngineError::Internal(e.to_string()))?;
    let sealed = store.append_unless(
        RecordKind::KeyChange,
        size,
        &[RecordDraft {
            kind: RecordKind::KeyChange,
            time: now,
            body,
        }],
    )?;
    sealed.into_iter().next().ok_or_else(|| {
        EngineError::Internal("the ledger did not return the appended record".into())
    })
}
