//! The inventory snapshot: the folded [`Inventory`] of the first `size` records of a ledger,
//! saved beside it so the next fold reads only the records appended since.
//!
//! A snapshot is derived data: deleting it only makes the next report fold the whole ledger
//! again. It names the ledger size it covers and the RFC 6962 tree root at that size; [`read`]
//! uses it only when its format version matches and the ledger's root at that size is the same
//! (so a replaced or rewritten ledger is never read through an old snapshot), and ignores it
//! otherwise — missing, unreadable, another format or another ledger is never an error.
//! [`write`] saves one atomically (a temporary file in the same directory, then a rename).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::fold::{Inventory, ModelEntry};
use crate::ledger::{LedgerError, Store};

/// The snapshot format this build writes and reads.
pub const FORMAT: u32 = 1;

/// Why a snapshot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The file could not be written or renamed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The inventory did not serialize.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// The ledger's tree root could not be computed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The path has no file name or directory.
    #[error("`{0}` is not a file path")]
    Path(String),
}

/// What is saved.
#[derive(Serialize, Deserialize)]
struct Saved {
    format: u32,
    size: u64,
    root: String,
    records: u64,
    newest: Option<String>,
    models: BTreeMap<String, ModelEntry>,
    /// `decision_times` as (seconds, nanoseconds within the second, allows, denies).
    decision_times: Vec<(i64, u32, u64, u64)>,
}

/// The inventory saved at `path` and the ledger size it covers, when the snapshot is of this
/// format, covers at most `size` records of `store` with the same tree root, and `as_of` (when
/// given) is not before its newest record; `None` otherwise.
pub fn read(
    path: &Path,
    store: &dyn Store,
    size: u64,
    as_of: Option<&str>,
) -> Option<(Inventory, u64)> {
    let bytes = std::fs::read(path).ok()?;
    let saved: Saved = serde_json::from_slice(&bytes).ok()?;
    if saved.format != FORMAT || saved.size > size || saved.size == 0 {
        return None;
    }
    if let (Some(a), Some(n)) = (as_of, saved.newest.as_deref()) {
        if a < n {
            return None;
        }
    }
    let root = store.tree_root(saved.size).ok()?;
    if hex::encode(root) != saved.root {
        return None;
    }
    let mut decision_times = BTreeMap::new();
    for (secs, nanos, allow, deny) in saved.decision_times {
        decision_times.insert(
            i128::from(secs) * 1_000_000_000 + i128::from(nanos),
            [allow, deny],
        );
    }
    let inv = Inventory {
        models: saved.models,
        records: saved.records,
        newest: saved.newest,
        as_of: None,
        decision_times,
        skipped: false,
    };
    Some((inv, saved.size))
}

/// Saves `inv`, the fold of the first `size` records of `store`, at `path` (atomically). An
/// empty ledger is not saved.
pub fn write(
    path: &Path,
    store: &dyn Store,
    size: u64,
    inv: &Inventory,
) -> Result<(), SnapshotError> {
    if size == 0 {
        return Ok(());
    }
    let root = hex::encode(store.tree_root(size)?);
    let mut decision_times = Vec::with_capacity(inv.decision_times.len());
    for (nanos, [allow, deny]) in &inv.decision_times {
        let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(i64::MAX);
        let within = u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0);
        decision_times.push((secs, within, *allow, *deny));
    }
    let saved = SavedRef {
        format: FORMAT,
        size,
        root,
        records: inv.records,
        newest: inv.newest.as_deref(),
        models: &inv.models,
        decision_times,
    };
    let dir = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .ok_or_else(|| SnapshotError::Path(path.display().to_string()))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    {
        let mut out = std::io::BufWriter::new(file.as_file_mut());
        serde_json::to_writer(&mut out, &saved)?;
        out.flush()?;
    }
    file.persist(path).map_err(|e| SnapshotError::Io(e.error))?;
    Ok(())
}

/// [`Saved`] by reference, for writing.
#[derive(Serialize)]
struct SavedRef<'a> {
    format: u32,
    size: u64,
    root: String,
    records: u64,
    newest: Option<&'a str>,
    models: &'a BTreeMap<String, ModelEntry>,
    decision_times: Vec<(i64, u32, u64, u64)>,
}
