//! The SQLite side of the Merkle tree and of checkpoints (part of [`super::SqliteStore`]).
//!
//! - `tree_nodes(level, idx, hash)`: one row per perfect subtree node, keyed by
//!   `(level, idx)` (a `WITHOUT ROWID` table, so a node read is one B-tree lookup). [`SqlNodes`]
//!   reads it as a [`NodeSource`]; [`nodes_in_range`] reads one level over an index range (for
//!   verification); [`insert_nodes`] adds the nodes an append completes, inside the append's
//!   transaction.
//! - [`backfill`]: migration 2 builds the table once from the stored leaf hashes of a version-1
//!   ledger, keeping only the `O(log n)` frontier in memory.
//! - `checkpoints(size, note)`: opaque checkpoint notes by tree size.

use rusqlite::types::ValueRef;

use super::{params, sql_index, storage, Connection, OptionalExtension, SqlValue};
use crate::ledger::merkle::{Frontier, Hash, NodeSource};
use crate::ledger::LedgerError;

/// Migration 2: the tree node and checkpoint tables.
pub(super) const MIGRATION_2: &str = "
    CREATE TABLE tree_nodes (
        level INTEGER NOT NULL CHECK (level >= 0 AND level < 64),
        idx INTEGER NOT NULL CHECK (idx >= 0),
        hash BLOB NOT NULL CHECK (length(hash) = 32),
        PRIMARY KEY (level, idx)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE checkpoints (
        size INTEGER PRIMARY KEY CHECK (size > 0),
        note TEXT NOT NULL
    ) STRICT;
";

/// Perfect nodes read from the `tree_nodes` table of `conn` (a connection or a transaction).
pub(super) struct SqlNodes<'c>(pub(super) &'c Connection);

impl NodeSource for SqlNodes<'_> {
    fn perfect_node(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        let Ok(idx) = i64::try_from(index) else {
            return Err(LedgerError::MissingNode { level, index });
        };
        let mut stmt = self
            .0
            .prepare_cached("SELECT hash FROM tree_nodes WHERE level = ?1 AND idx = ?2")
            .map_err(storage("preparing a tree node read"))?;
        let value: Option<SqlValue> = stmt
            .query_row(params![level, idx], |row| row.get(0))
            .optional()
            .map_err(storage("reading a tree node"))?;
        let corrupt = |problem: String| LedgerError::CorruptNode {
            level,
            index,
            problem,
        };
        match value {
            None => Err(LedgerError::MissingNode { level, index }),
            Some(SqlValue::Blob(b)) => <[u8; 32]>::try_from(b.as_slice())
                .map_err(|_| corrupt(format!("hash is {} bytes, not 32", b.len()))),
            Some(_) => Err(corrupt("hash is not a blob".to_owned())),
        }
    }
}

/// The stored nodes of `level` with index in `[from, to)`, in index order, in one query (one
/// read snapshot). A stored hash that is not 32 bytes fails with
/// [`LedgerError::CorruptNode`], as a point read of it would.
pub(super) fn nodes_in_range(
    conn: &Connection,
    level: u32,
    from: u64,
    to: u64,
) -> Result<Vec<(u64, Hash)>, LedgerError> {
    let Ok(lo) = i64::try_from(from) else {
        return Ok(Vec::new());
    };
    let hi = i64::try_from(to).unwrap_or(i64::MAX);
    if lo >= hi {
        return Ok(Vec::new());
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT idx, hash FROM tree_nodes WHERE level = ?1 AND idx >= ?2 AND idx < ?3 ORDER BY idx",
        )
        .map_err(storage("preparing a tree node range read"))?;
    let mut rows = stmt
        .query(params![level, lo, hi])
        .map_err(storage("reading tree nodes"))?;
    let mut nodes = Vec::new();
    while let Some(row) = rows.next().map_err(storage("reading tree nodes"))? {
        let idx: i64 = row.get(0).map_err(storage("reading a tree node index"))?;
        let index = u64::try_from(idx)
            .map_err(|_| LedgerError::Inconsistent(format!("tree node index {idx} is negative")))?;
        let corrupt = |problem: String| LedgerError::CorruptNode {
            level,
            index,
            problem,
        };
        let hash = match row.get_ref(1).map_err(storage("reading a tree node"))? {
            ValueRef::Blob(b) => <[u8; 32]>::try_from(b)
                .map_err(|_| corrupt(format!("hash is {} bytes, not 32", b.len())))?,
            _ => return Err(corrupt("hash is not a blob".to_owned())),
        };
        nodes.push((index, hash));
    }
    Ok(nodes)
}

/// Inserts perfect nodes `(level, index, hash)`; part of the caller's transaction.
pub(super) fn insert_nodes(
    conn: &Connection,
    nodes: &[(u32, u64, Hash)],
) -> Result<(), LedgerError> {
    let mut insert = conn
        .prepare_cached("INSERT INTO tree_nodes (level, idx, hash) VALUES (?1, ?2, ?3)")
        .map_err(storage("preparing the tree node insert"))?;
    for &(level, index, hash) in nodes {
        insert
            .execute(params![level, sql_index(index)?, &hash[..]])
            .map_err(storage("inserting a tree node"))?;
    }
    Ok(())
}

/// Fills `tree_nodes` from the stored leaf hashes of every record the head announces, in one
/// pass. Refuses a ledger whose records do not run from 0 to the head without gaps: a tree over
/// a broken ledger would vouch for it.
pub(super) fn backfill(conn: &Connection, size: u64) -> Result<(), LedgerError> {
    let mut stmt = conn
        .prepare("SELECT idx, leaf_hash FROM records WHERE idx < ?1 ORDER BY idx")
        .map_err(storage("preparing the tree migration"))?;
    let mut rows = stmt
        .query([sql_index(size)?])
        .map_err(storage("reading leaf hashes for the tree migration"))?;
    let mut frontier = Frontier::new();
    while let Some(row) = rows
        .next()
        .map_err(storage("reading leaf hashes for the tree migration"))?
    {
        let idx: i64 = row.get(0).map_err(storage("reading a record index"))?;
        let leaf: SqlValue = row.get(1).map_err(storage("reading a leaf hash"))?;
        let expected = frontier.size();
        if u64::try_from(idx).ok() != Some(expected) {
            return Err(LedgerError::Inconsistent(format!(
                "record {expected} is missing; the tree cannot be built (verify the ledger)"
            )));
        }
        let leaf = match leaf {
            SqlValue::Blob(b) => <[u8; 32]>::try_from(b.as_slice()).ok(),
            _ => None,
        }
        .ok_or_else(|| LedgerError::CorruptRow {
            index: expected,
            problem: "stored leaf hash is not 32 bytes".to_owned(),
        })?;
        let nodes = frontier.push(leaf)?;
        insert_nodes(conn, &nodes)?;
    }
    if frontier.size() != size {
        return Err(LedgerError::Inconsistent(format!(
            "head says {size} records but only {} are stored; the tree cannot be built",
            frontier.size()
        )));
    }
    Ok(())
}

/// Stores checkpoint `note` for `size` in the caller's transaction (see
/// [`crate::ledger::Store::put_checkpoint`] for the rules); `ledger_size` is the current size.
pub(super) fn put_checkpoint(
    conn: &Connection,
    ledger_size: u64,
    size: u64,
    note: &str,
) -> Result<(), LedgerError> {
    if size == 0 {
        return Err(LedgerError::EmptyCheckpoint);
    }
    if size > ledger_size {
        return Err(LedgerError::TreeBeyondLedger {
            requested: size,
            size: ledger_size,
        });
    }
    match checkpoint(conn, size)? {
        Some(stored) if stored == note => return Ok(()),
        Some(_) => return Err(LedgerError::CheckpointConflict(size)),
        None => {}
    }
    conn.execute(
        "INSERT INTO checkpoints (size, note) VALUES (?1, ?2)",
        params![sql_index(size)?, note],
    )
    .map_err(storage("inserting a checkpoint"))?;
    Ok(())
}

/// The checkpoint stored for `size`, if any.
pub(super) fn checkpoint(conn: &Connection, size: u64) -> Result<Option<String>, LedgerError> {
    let Ok(size) = i64::try_from(size) else {
        return Ok(None);
    };
    conn.query_row(
        "SELECT note FROM checkpoints WHERE size = ?1",
        [size],
        |row| row.get(0),
    )
    .optional()
    .map_err(storage("reading a checkpoint"))
}

/// The smallest checkpoint with size above `index` (a primary-key range read).
pub(super) fn first_checkpoint_after(
    conn: &Connection,
    index: u64,
) -> Result<Option<(u64, String)>, LedgerError> {
    let Ok(index) = i64::try_from(index) else {
        return Ok(None);
    };
    let row: Option<(i64, String)> = conn
        .query_row(
            "SELECT size, note FROM checkpoints WHERE size > ?1 ORDER BY size LIMIT 1",
            [index],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(storage("reading a checkpoint"))?;
    row.map(|(size, note)| {
        u64::try_from(size)
            .map(|size| (size, note))
            .map_err(|_| LedgerError::Inconsistent(format!("checkpoint size {size} is negative")))
    })
    .transpose()
}

/// Checkpoints by increasing size; only the largest when `latest_only`.
pub(super) fn checkpoints(
    conn: &Connection,
    latest: Option<u64>,
) -> Result<Vec<(u64, String)>, LedgerError> {
    let (sql, limit) = match latest {
        Some(n) => (
            "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT ?1",
            i64::try_from(n).unwrap_or(i64::MAX),
        ),
        None => (
            "SELECT size, note FROM checkpoints ORDER BY size LIMIT ?1",
            -1,
        ),
    };
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(storage("preparing a checkpoint query"))?;
    let rows = stmt
        .query_map([limit], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(storage("reading checkpoints"))?;
    let mut out = Vec::new();
    for row in rows {
        let (size, note) = row.map_err(storage("reading checkpoints"))?;
        let size = u64::try_from(size).map_err(|_| {
            LedgerError::Inconsistent(format!("checkpoint size {size} is negative"))
        })?;
        out.push((size, note));
    }
    Ok(out)
}
