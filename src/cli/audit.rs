//! `modelgate audit …`: verify, show, tail and export the ledger.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::{exit, CliError, CmdResult};
use crate::engine::audit;
use crate::ledger::{
    export_jsonl, format_consistency_proof, parse_record, verify_lines, verify_store, SqliteStore,
    Store, StoredRecord, VerifyFailure, VerifyReport,
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
    /// Print the C2SP verifier key of the engine (`name+hex(keyID)+base64(0x01 ‖ pubkey)`).
    Vkey,
    /// Sign (if the ledger grew) and print the latest checkpoint.
    Checkpoint {
        /// Also write it to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a `c2sp.org/tlog-proof@v1` for record N against a stored checkpoint.
    Prove {
        /// Record index.
        index: u64,
        /// Size of the checkpoint to prove against (default: the latest).
        #[arg(long)]
        size: Option<u64>,
        /// Write the proof here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the RFC 6962 consistency proof from size OLD to NEW, one base64 hash per line.
    Consistency {
        /// The earlier tree size.
        old: u64,
        /// The later tree size.
        new: u64,
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
            let ws = Workspace::open(home)?;
            let store = SqliteStore::open_read_only(&ws.ledger_path())?;
            let mut r = verify_store(&store)?;
            if r.failure.is_none() {
                let verifier = ws.note_verifier()?;
                if let Some((size, problem)) =
                    audit::verify_checkpoints(&store, &verifier, &ws.config().origin)?
                {
                    r.failure = Some(VerifyFailure {
                        index: size.saturating_sub(1),
                        problem,
                    });
                }
            }
            Ok(report(&r, "workspace ledger"))
        }
        AuditCommand::Vkey => {
            let ws = Workspace::open(home)?;
            say!("{}", ws.note_verifier()?.to_vkey());
            Ok(exit::OK)
        }
        AuditCommand::Checkpoint { out } => {
            let ws = Workspace::open(home)?;
            let mut store = ws.store()?;
            let cp = audit::checkpoint(&mut store, &ws.note_signer()?, &ws.config().origin)?;
            if let Some(path) = out {
                std::fs::write(&path, &cp.note).map_err(|e| {
                    CliError::internal(format!("cannot write `{}`: {e}", path.display()))
                })?;
            }
            say_raw!("{}", cp.note);
            Ok(exit::OK)
        }
        AuditCommand::Prove { index, size, out } => {
            let store = open_store(home)?;
            let proof = audit::prove(&store, index, size)?;
            let text = proof.to_text();
            match out {
                Some(path) => std::fs::write(&path, &text).map_err(|e| {
                    CliError::internal(format!("cannot write `{}`: {e}", path.display()))
                })?,
                None => say_raw!("{text}"),
            }
            Ok(exit::OK)
        }
        AuditCommand::Consistency { old, new } => {
            let store = open_store(home)?;
            let proof = audit::consistency(&store, old, new)?;
            say_raw!("{}", format_consistency_proof(&proof));
            Ok(exit::OK)
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
