//! JSON Lines export of the ledger.
//!
//! [`export_jsonl`] writes each stored record's bytes, exactly as stored, followed by `\n`.
//! Canonical JSON never contains a raw newline (strings escape it, there is no whitespace), so
//! every line is one record and [`super::verify_lines`] checks the export byte for byte. The
//! export is a plain copy: it does not verify, so a tampered store exports a tampered file that
//! verification then flags.

use std::io::Write;

use super::store::Store;
use super::LedgerError;

/// Number of records read from the store per query during export.
pub const EXPORT_BATCH: u64 = 256;

/// Writes every record in `store`, in index order, one per line; returns the number of lines.
///
/// Fails without writing the line if a stored record contains a raw newline, since it could
/// not be read back as one record.
pub fn export_jsonl(store: &dyn Store, out: &mut dyn Write) -> Result<u64, LedgerError> {
    let mut next = 0u64;
    let mut written = 0u64;
    loop {
        let rows = store.records(next, EXPORT_BATCH)?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            if row.bytes.contains(&b'\n') {
                return Err(LedgerError::NotExportable(row.index));
            }
            out.write_all(&row.bytes)?;
            out.write_all(b"\n")?;
            written += 1;
            next = row.index.saturating_add(1);
        }
    }
    out.flush()?;
    Ok(written)
}
