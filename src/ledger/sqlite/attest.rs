//! The attestation store of [`super::SqliteStore`]: content-addressed envelope bytes
//! (`attestations`) and their filing by model and version (`attestation_index`). Every read
//! re-checks that the bytes hash to their digest.

use super::{params, storage, Connection, OptionalExtension, TransactionBehavior};
use crate::digest::parse_prefixed;
pub(super) use crate::ledger::store::check_attestation as check;
use crate::ledger::store::verified_attestation as verified;
use crate::ledger::LedgerError;

/// The stored bytes of attestation `digest`, if any (unchecked).
pub(super) fn select(conn: &Connection, digest: &str) -> Result<Option<Vec<u8>>, LedgerError> {
    conn.query_row(
        "SELECT bytes FROM attestations WHERE digest = ?1",
        [digest],
        |row| row.get(0),
    )
    .optional()
    .map_err(storage("reading an attestation"))
}

/// Stores `bytes` under `digest` (checked by the caller) unless the identical bytes are there,
/// and files it under `filed_as` (model, version) if given; one transaction.
pub(super) fn put(
    conn: &mut Connection,
    filed_as: Option<(&str, &str)>,
    digest: &str,
    bytes: &[u8],
) -> Result<(), LedgerError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(storage("starting an attestation insert"))?;
    match select(&tx, digest)? {
        Some(stored) if stored != bytes => {
            return Err(LedgerError::AttestationConflict(digest.to_owned()))
        }
        Some(_) if filed_as.is_none() => return Ok(()),
        Some(_) => {}
        None => {
            tx.execute(
                "INSERT INTO attestations (digest, bytes) VALUES (?1, ?2)",
                params![digest, bytes],
            )
            .map_err(storage("inserting an attestation"))?;
        }
    }
    if let Some((model, version)) = filed_as {
        tx.execute(
            "INSERT INTO attestation_index (model, version, digest) VALUES (?1, ?2, ?3) \
             ON CONFLICT (model, version, digest) DO NOTHING",
            params![model, version, digest],
        )
        .map_err(storage("filing an attestation"))?;
    }
    tx.commit().map_err(storage("committing an attestation"))
}

/// The attestation stored under `digest`, if any.
pub(super) fn get(conn: &Connection, digest: &str) -> Result<Option<Vec<u8>>, LedgerError> {
    if parse_prefixed(digest).is_none() {
        return Err(LedgerError::InvalidDigest(digest.to_owned()));
    }
    select(conn, digest)?
        .map(|bytes| verified(digest, bytes))
        .transpose()
}

/// The attestations filed under `model` and `version`, in filing order.
pub(super) fn filed(
    conn: &Connection,
    model: &str,
    version: &str,
) -> Result<Vec<Vec<u8>>, LedgerError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT i.digest, a.bytes FROM attestation_index i \
             JOIN attestations a ON a.digest = i.digest \
             WHERE i.model = ?1 AND i.version = ?2 ORDER BY i.seq",
        )
        .map_err(storage("preparing the attestation index query"))?;
    let rows = stmt
        .query_map(params![model, version], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
        })
        .map_err(storage("reading the attestation index"))?;
    let mut out = Vec::new();
    for row in rows {
        let (digest, bytes) = row.map_err(storage("reading the attestation index"))?;
        out.push(verified(&digest, bytes)?);
    }
    Ok(out)
}

/// Every stored digest, in digest order.
pub(super) fn digests(conn: &Connection) -> Result<Vec<String>, LedgerError> {
    let mut stmt = conn
        .prepare("SELECT digest FROM attestations ORDER BY digest")
        .map_err(storage("listing attestations"))?;
    let rows = stmt
        .query_map([], |row| row.get(0))
        .map_err(storage("listing attestations"))?;
    rows.collect::<Result<_, _>>()
        .map_err(storage("listing attestations"))
}

/// Every filing `(model, version, digest)`, in filing order.
pub(super) fn filings(conn: &Connection) -> Result<Vec<(String, String, String)>, LedgerError> {
    let mut stmt = conn
        .prepare("SELECT model, version, digest FROM attestation_index ORDER BY seq")
        .map_err(storage("listing attestation filings"))?;
    let rows = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .map_err(storage("listing attestation filings"))?;
    rows.collect::<Result<_, _>>()
        .map_err(storage("listing attestation filings"))
}
