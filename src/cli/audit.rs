//! `modelgate audit …`: verify, show, tail and export the ledger.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::{exit, CliError, CmdResult};
use crate::ledger::{
    export_jsonl, parse_record, verify_lines, verify_store, SqliteStore, Store, StoredRecord,
    VerifyFailure, VerifyReport,
};
use crate::workspace::Workspace;

/// `modelgate audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every hash and the chain. Exit 0 intact, 4 with the first bad index.
    Verify {
        /// Verify a JSON Lines export instead of the workspace ledger.
        #[arg(long)]
        from_export: Option<PathBuf>,
        /// With --from-export: the leaf hash the export's last record must have (as printed by
        /// `audit export` or `audit verify`). Without it, a change to the last line or a cut-off
        /// tail cannot be told from an honest shorter export.
        #[arg(long, requires = "from_export")]
        expect_head: Option<String>,
    },
    /// Print record N exactly as stored, with its leaf hash.
    Show {
        /// Record index.
        index: u64,
    },
    /// Summarise the last K records.
    Tail {
        /// How many records.
        #[arg(short = 'n', default_value_t = 10)]
        n: u64,
    },
    /// Write every record, one per line, exactly its stored bytes.
    Export {
        /// Output file (JSON Lines).
        #[arg(long)]
        out: PathBuf,
    },
}

fn open_store(home: &Path) -> Result<SqliteStore, CliError> {
    let ws = Workspace::open(home)?;
    Ok(SqliteStore::open_read_only(&ws.ledger_path())?)
}

fn report(r: &VerifyReport, source: &str) -> i32 {
    match &r.failure {
        None => {
            let head = r.head.map(hex::encode).unwrap_or_else(|| "-".to_string());
            say!(
                "ledger intact: {} records verified ({source}); head {head}",
                r.size
            );
            exit::OK
        }
        Some(f) => {
            say!(
                "LEDGER TAMPERED ({source}): first bad record {}: {}",
                f.index,
                f.problem
            );
            exit::TAMPERED
        }
    }
}

fn summary_line(r: &StoredRecord) -> String {
    match parse_record(&r.bytes) {
        Ok(rec) => {
            let detail = match rec.kind.as_str() {
                "decision" => format!(
                    "{} {} {} -> {}",
                    rec.body
                        .get("decision")
                        .and_then(|v| v.as_str())
                        .unwrap_or("?"),
                    rec.body
                        .pointer("/request/model")
                        .and_then(|v| v.as_str())
                        .unwrap_or("?"),
                    rec.body
                        .pointer("/request/version")
                        .and_then(|v| v.as_str())
                        .unwrap_or("?"),
                    rec.body
                        .pointer("/request/environment")
                        .and_then(|v| v.as_str())
                        .unwrap_or("?"),
                ),
                "key_change" => format!(
                    "{} {}",
                    rec.body.get("op").and_then(|v| v.as_str()).unwrap_or("?"),
                    rec.body
                        .get("principal")
                        .or_else(|| rec.body.get("key_id"))
                        .and_then(|v| v.as_str())
                        .unwrap_or("?"),
                ),
                "bundle_activation" => rec
                    .body
                    .get("bundle_digest")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
                    .to_string(),
                _ => String::new(),
            };
            format!(
                "{:>6}  {}  {:<17} {detail}",
                r.index,
                rec.time,
                rec.kind.as_str()
            )
        }
        Err(e) => format!("{:>6}  unreadable record: {e}", r.index),
    }
}

/// Runs `modelgate audit …`.
pub fn audit(home: &Path, command: AuditCommand) -> CmdResult {
    match command {
        AuditCommand::Verify {
            from_export: Some(path),
            expect_head,
        } => {
            let file = File::open(&path)
                .map_err(|e| CliError::invalid(format!("cannot read `{}`: {e}", path.display())))?;
            let mut r = verify_lines(BufReader::new(file))?;
            if let (Some(expected), None) = (&expect_head, &r.failure) {
                let found = r.head.map(hex::encode).unwrap_or_default();
                if !found.eq_ignore_ascii_case(expected) {
                    r.failure = Some(VerifyFailure {
                        index: r.size.saturating_sub(1),
                        problem: format!(
                            "the last record's leaf hash is `{found}`, expected `{expected}`: the export was altered or cut short"
                        ),
                    });
                }
            }
            Ok(report(&r, &path.display().to_string()))
        }
        AuditCommand::Verify {
            from_export: None, ..
        } => {
            let store = open_store(home)?;
            let r = verify_store(&store)?;
            Ok(report(&r, "workspace ledger"))
        }
        AuditCommand::Show { index } => {
            let store = open_store(home)?;
            let r = store.record(index)?.ok_or_else(|| {
                CliError::invalid(format!(
                    "no record {index}: the ledger holds {} records",
                    store.size().unwrap_or(0)
                ))
            })?;
            let text = String::from_utf8_lossy(&r.bytes);
            say!("{text}");
            eprintln!("leaf hash {}", hex::encode(r.leaf_hash));
            Ok(exit::OK)
        }
        AuditCommand::Tail { n } => {
            let store = open_store(home)?;
            let size = store.size()?;
            let from = size.saturating_sub(n);
            for r in store.records(from, n)? {
                say!("{}", summary_line(&r));
            }
            Ok(exit::OK)
        }
        AuditCommand::Export { out } => {
            let store = open_store(home)?;
            let file = File::create(&out).map_err(|e| {
                CliError::internal(format!("cannot create `{}`: {e}", out.display()))
            })?;
            let mut w = BufWriter::new(file);
            let n = export_jsonl(&store, &mut w)?;
            w.flush()
                .map_err(|e| CliError::internal(format!("`{}`: {e}", out.display())))?;
            let head = store
                .head()?
                .map(|h| hex::encode(h.leaf_hash))
                .unwrap_or_default();
            say!("exported {n} records to {}; head {head}", out.display());
            Ok(exit::OK)
        }
    }
}
