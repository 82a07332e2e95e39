//! `modelgate audit …`: verify, show, tail and export the ledger; checkpoints and proofs.
//!
//! [`AuditCommand`] lists the subcommands and [`audit()`] runs them; `audit verify` takes
//! [`VerifyArgs`]. The checks themselves live in [`crate::ledger`]: this file reads files and
//! keys, calls them and prints.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::atomic::{self, Access};
use super::{exit, read_file, CliError, CmdResult, Format};
use crate::attest::NoteVerifier;
use crate::engine::audit;
use crate::ledger::{
    export_jsonl, format_consistency_proof, open_checkpoint, parse_record, verify_lines_against,
    verify_store_against, Checkpoint, Store, StoredRecord, VerifyFailure, VerifyReport,
};
use crate::workspace::{Workspace, WorkspaceError};

/// `modelgate audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every record, the chain, the tree and every checkpoint. Exit 0 intact, 4 with
    /// the first bad index (or checkpoint size) and what failed.
    Verify(VerifyArgs),
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

/// `modelgate audit verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify a JSON Lines export instead of the workspace ledger.
    #[arg(long, value_name = "FILE")]
    pub from_export: Option<PathBuf>,
    /// With --from-export: the leaf hash the export's last record must have (as printed by
    /// `audit export` or `audit verify`). Without it (or a checkpoint of the full size), a change
    /// to the last line or a cut-off tail cannot be told from an honest shorter export.
    #[arg(long, requires = "from_export")]
    pub expect_head: Option<String>,
    /// A signed checkpoint note, as `audit checkpoint --out` writes it, that the records must
    /// reproduce (its root over its size); repeatable. One beyond the last record means the tail
    /// was cut off. It must verify under the vkey, whose name is the log origin.
    #[arg(long = "checkpoint", value_name = "FILE")]
    pub checkpoints: Vec<PathBuf>,
    /// The verifier key the checkpoints (given and stored) must be signed with, exactly as
    /// `audit vkey` prints it: `origin+keyid+key`. Default: the workspace engine's key.
    #[arg(long, value_name = "VKEY", conflicts_with = "vkey_file")]
    pub vkey: Option<String>,
    /// Like --vkey, read from a file holding that one line (`modelgate audit vkey > ledger.vkey`).
    #[arg(long, value_name = "PATH")]
    pub vkey_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Runs `modelgate audit verify`: the workspace ledger (records, tree, head, every stored
/// checkpoint) or an export, and the given checkpoints in both cases.
pub fn verify(home: &Path, args: &VerifyArgs) -> CmdResult {
    let pinned = pinned_verifier(args)?;
    let (report, source) = match &args.from_export {
        Some(path) => (
            verify_export(home, path, pinned, args)?,
            path.display().to_string(),
        ),
        None => (
            verify_workspace(home, pinned, args)?,
            "workspace ledger".to_owned(),
        ),
    };
    match args.format {
        Format::Text => say_raw!("{}", render_text(&report, &source)),
        Format::Json => say!(
            "{}",
            serde_json::to_string_pretty(&render_json(&report, &source))
                .map_err(CliError::internal)?
        ),
    }
    Ok(if report.is_intact() {
        exit::OK
    } else {
        exit::TAMPERED
    })
}

fn verify_workspace(
    home: &Path,
    pinned: Option<NoteVerifier>,
    args: &VerifyArgs,
) -> Result<VerifyReport, CliError> {
    let ws = Workspace::open(home)?;
    let verifier = match pinned {
        Some(v) => v,
        None => ws.note_verifier()?,
    };
    let given = open_given(&args.checkpoints, &verifier)?;
    let store = ws.read_store()?;
    Ok(verify_store_against(&*store, &verifier, &given)?)
}

fn verify_export(
    home: &Path,
    path: &Path,
    pinned: Option<NoteVerifier>,
    args: &VerifyArgs,
) -> Result<VerifyReport, CliError> {
    let given = match pinned {
        _ if args.checkpoints.is_empty() && pinned.is_some() => {
            return Err(CliError::invalid(
                "an export holds no signatures: --vkey needs --checkpoint FILE to check",
            ))
        }
        _ if args.checkpoints.is_empty() => Vec::new(),
        Some(v) => open_given(&args.checkpoints, &v)?,
        None => open_given(&args.checkpoints, &workspace_verifier(home)?)?,
    };
    let file = File::open(path)
        .map_err(|e| CliError::invalid(format!("cannot read `{}`: {e}", path.display())))?;
    let mut report = verify_lines_against(BufReader::new(file), &given)?;
    if let Some(expected) = &args.expect_head {
        check_expected_head(&mut report, expected);
    }
    Ok(report)
}

/// The verifier from --vkey or --vkey-file, if one was given.
fn pinned_verifier(args: &VerifyArgs) -> Result<Option<NoteVerifier>, CliError> {
    let text = match (&args.vkey, &args.vkey_file) {
        (Some(vkey), _) => vkey.clone(),
        (None, Some(path)) => String::from_utf8(read_file(path)?)
            .map_err(|_| CliError::invalid(format!("`{}` is not UTF-8", path.display())))?,
        (None, None) => return Ok(None),
    };
    NoteVerifier::from_vkey(text.trim())
        .map(Some)
        .map_err(|e| CliError::invalid(format!("--vkey: {e}")))
}

/// The workspace engine's verifier, for checkpoints given with an export and no --vkey.
fn workspace_verifier(home: &Path) -> Result<NoteVerifier, CliError> {
    match Workspace::open(home) {
        Ok(ws) => Ok(ws.note_verifier()?),
        Err(WorkspaceError::Missing(_)) => Err(CliError::invalid(format!(
            "no workspace at `{}` to take the checkpoint key from: pass --vkey VKEY or --vkey-file PATH (what `modelgate audit vkey` prints)",
            home.display()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Reads and opens each checkpoint note. One that does not verify is unusable input (exit 3),
/// not evidence about the ledger.
fn open_given(paths: &[PathBuf], verifier: &NoteVerifier) -> Result<Vec<Checkpoint>, CliError> {
    paths
        .iter()
        .map(|path| {
            let note = String::from_utf8(read_file(path)?)
                .map_err(|_| CliError::invalid(format!("`{}` is not UTF-8", path.display())))?;
            open_checkpoint(&note, std::slice::from_ref(verifier), Some(verifier.name())).map_err(
                |e| {
                    CliError::invalid(format!(
                        "checkpoint `{}` does not verify under the key `{}`: {e}",
                        path.display(),
                        verifier.name()
                    ))
                },
            )
        })
        .collect()
}

/// Turns an intact report whose last leaf hash is not `expected` into a finding at the last
/// record.
fn check_expected_head(report: &mut VerifyReport, expected: &str) {
    if report.failure.is_some() {
        return;
    }
    let found = report.head.map(hex::encode).unwrap_or_default();
    if !found.eq_ignore_ascii_case(expected) {
        report.failure = Some(VerifyFailure::record(
            report.size.saturating_sub(1),
            format!(
                "the last record's leaf hash is `{found}`, expected `{expected}`: the export was altered or cut short"
            ),
        ));
    }
}

fn render_text(r: &VerifyReport, source: &str) -> String {
    match &r.failure {
        Some(f) if f.checkpoint.is_some() => format!("LEDGER TAMPERED ({source}): {f}\n"),
        Some(f) => format!(
            "LEDGER TAMPERED ({source}): first bad record {}: {}\n",
            f.index, f.problem
        ),
        None => render_intact(r, source),
    }
}

fn render_intact(r: &VerifyReport, source: &str) -> String {
    let head = r.head.map(hex::encode).unwrap_or_else(|| "-".to_owned());
    let mut out = format!(
        "ledger intact: {} records verified ({source}); head {head}\n",
        r.size
    );
    if let Some(latest) = r.stored_checkpoints.last() {
        let n = r.stored_checkpoints.len();
        out.push_str(&format!(
            "stored checkpoints verified: {n}, the latest of size {latest}\n"
        ));
    }
    if !r.given_checkpoints.is_empty() {
        let sizes: Vec<String> = r.given_checkpoints.iter().map(u64::to_string).collect();
        out.push_str(&format!(
            "given checkpoints matched, by size: {}\n",
            sizes.join(", ")
        ));
    }
    out
}

/// The `--format json` object (`https://modelgate.dev/audit-verify/v1`, see `docs/cli.md`).
fn render_json(r: &VerifyReport, source: &str) -> Value {
    let failure = r.failure.as_ref().map(|f| {
        json!({
            "index": f.index,
            "problem": f.problem,
            "message": f.to_string(),
            "checkpoint": f.checkpoint.map(|c| json!({
                "size": c.size,
                "records": c.records.map(|(first, last)| json!({"first": first, "last": last})),
            })),
        })
    });
    json!({
        "schema": "https://modelgate.dev/audit-verify/v1",
        "source": source,
        "intact": r.is_intact(),
        "records": r.size,
        "head": r.head.map(hex::encode),
        "root": hex::encode(r.root),
        "checkpoints": {"stored": r.stored_checkpoints, "given": r.given_checkpoints},
        "failure": failure,
    })
}

fn open_store(home: &Path) -> Result<Box<dyn Store>, CliError> {
    Ok(Workspace::open(home)?.read_store()?)
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
        AuditCommand::Verify(args) => verify(home, &args),
        AuditCommand::Vkey => {
            let ws = Workspace::open(home)?;
            say!("{}", ws.note_verifier()?.to_vkey());
            Ok(exit::OK)
        }
        AuditCommand::Checkpoint { out } => {
            let ws = Workspace::open(home)?;
            let mut store = ws.store()?;
            let cp = audit::checkpoint(&mut *store, &ws.note_signer()?, &ws.config().origin)?;
            if let Some(path) = out {
                atomic::write_file(&path, cp.note.as_bytes(), Access::Umask)?;
            }
            say_raw!("{}", cp.note);
            Ok(exit::OK)
        }
        AuditCommand::Prove { index, size, out } => {
            let store = open_store(home)?;
            let proof = audit::prove(&*store, index, size)?;
            let text = proof.to_text();
            match out {
                Some(path) => atomic::write_file(&path, text.as_bytes(), Access::Umask)?,
                None => say_raw!("{text}"),
            }
            Ok(exit::OK)
        }
        AuditCommand::Consistency { old, new } => {
            let store = open_store(home)?;
            let proof = audit::consistency(&*store, old, new)?;
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
            let n =
                atomic::write_file_with(&out, Access::Umask, |w| Ok(export_jsonl(&*store, w)?))?;
            let head = store
                .head()?
                .map(|h| hex::encode(h.leaf_hash))
                .unwrap_or_default();
            say!("exported {n} records to {}; head {head}", out.display());
            Ok(exit::OK)
        }
    }
}
