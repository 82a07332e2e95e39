//! `modelgate evidence build|verify`: audit evidence packs (see `docs/evidence.md`).
//!
//! `build` writes the pack through a temporary file in the target directory and renames it
//! into place, so an interrupted build leaves no partial pack. `verify` reads the archive into
//! memory and exits 0 when every check passes, 4 when any fails.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{exit, read_file, CliError, CmdResult, Format};
use crate::digest::sha256_hex;
use crate::evidence::verify::{KeySource, VerifyOutcome};
use crate::evidence::{verify_pack, EvidenceError, Scope};
use crate::workspace::Workspace;

/// `modelgate evidence …`
#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Build the evidence pack for a model: its decisions, the records they depend on, proofs
    /// against a signed checkpoint, attestations, policy bundles, keys, inventory entry and a
    /// human summary, in one signed, deterministic .tar.gz.
    Build(BuildArgs),
    /// Verify a pack offline: manifest signature, every file digest, proofs, checkpoint,
    /// consistency, attestation signatures and a replay of every decision. Exit 0 when every
    /// check passes, 4 when any fails.
    Verify(VerifyArgs),
}

/// `modelgate evidence build`
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The model.
    #[arg(long)]
    pub model: String,
    /// Only this version.
    #[arg(long)]
    pub version: Option<String>,
    /// Only decisions at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Only decisions at or before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// Where to write the pack (.tar.gz).
    #[arg(long)]
    pub out: PathBuf,
}

/// `modelgate evidence verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The pack (`-` reads it from stdin).
    pub pack: PathBuf,
    /// The engine's verifier key as the operator publishes it (`modelgate audit vkey`). Without
    /// it the key inside the pack is used, which proves integrity but not origin.
    #[arg(long, value_name = "VKEY", conflicts_with = "vkey_file")]
    pub vkey: Option<String>,
    /// Like --vkey, read from a file holding that one line.
    #[arg(long, value_name = "PATH")]
    pub vkey_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Runs an evidence command.
pub fn evidence(home: &Path, command: &EvidenceCommand) -> CmdResult {
    match command {
        EvidenceCommand::Build(args) => build(home, args),
        EvidenceCommand::Verify(args) => verify(args),
    }
}

impl From<EvidenceError> for CliError {
    fn from(e: EvidenceError) -> Self {
        let code = match e {
            EvidenceError::Invalid(_) | EvidenceError::NothingInScope(_) => exit::INVALID,
            EvidenceError::Inconsistent(_) => exit::TAMPERED,
            _ => exit::INTERNAL,
        };
        CliError {
            code,
            message: e.to_string(),
        }
    }
}

fn build(home: &Path, args: &BuildArgs) -> CmdResult {
    let scope = Scope::new(
        &args.model,
        args.version.as_deref(),
        args.since.as_deref(),
        args.until.as_deref(),
    )?;
    let ws = Workspace::open(home)?;
    let pack = ws.evidence_pack(&scope)?;
    let bytes = pack.to_tar_gz()?;
    write_atomically(&args.out, &bytes)?;
    say!(
        "evidence pack for `{}`: {} records ({} decisions), {} files, proofs against checkpoint size {}",
        scope.model,
        pack.records,
        pack.decisions,
        pack.files.len(),
        pack.manifest.checkpoint.size
    );
    say!("  {}  {}", sha256_hex(&bytes), args.out.display());
    Ok(exit::OK)
}

/// Writes the pack to `path` whole or not at all, readable by its owner only.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    super::atomic::write_file(path, bytes, super::atomic::Access::Owner)
}

/// Builds the pack for every decision about `model` into `out` and verifies it against the
/// workspace's own engine key; returns a short account (the demo's last step).
pub fn build_and_verify(ws: &Workspace, model: &str, out: &Path) -> Result<String, CliError> {
    let pack = ws.evidence_pack(&Scope::new(model, None, None, None)?)?;
    let bytes = pack.to_tar_gz()?;
    write_atomically(out, &bytes)?;
    let vkey = ws.note_verifier()?.to_vkey();
    let outcome = verify_pack(&bytes, Some(&vkey));
    let mut text = format!(
        "   {}: {} records ({} decisions), {} files, {} bytes\n",
        out.display(),
        pack.records,
        pack.decisions,
        pack.files.len(),
        bytes.len()
    );
    for c in &outcome.checks {
        text.push_str(&format!(
            "   {} {:<13} {}\n",
            if c.ok { "ok  " } else { "FAIL" },
            c.check,
            printable(&c.detail)
        ));
    }
    if !outcome.ok {
        return Err(CliError {
            code: exit::TAMPERED,
            message: format!("{text}the demo's evidence pack did not verify"),
        });
    }
    Ok(text.trim_end().to_owned())
}

fn verify(args: &VerifyArgs) -> CmdResult {
    let vkey = match (&args.vkey, &args.vkey_file) {
        (Some(v), _) => Some(v.clone()),
        (None, Some(path)) => Some(
            String::from_utf8(read_file(path)?)
                .map_err(|_| CliError::invalid(format!("`{}` is not UTF-8", path.display())))?
                .trim()
                .to_owned(),
        ),
        (None, None) => None,
    };
    let bytes = if args.pack.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|e| CliError::invalid(format!("cannot read the pack from stdin: {e}")))?;
        buf
    } else {
        read_file(&args.pack)?
    };
    let outcome = verify_pack(&bytes, vkey.as_deref());
    match args.format {
        Format::Text => say_raw!("{}", render_text(&outcome, &args.pack)),
        Format::Json => say!(
            "{}",
            serde_json::to_string_pretty(&outcome).map_err(CliError::internal)?
        ),
    }
    Ok(if outcome.ok { exit::OK } else { exit::TAMPERED })
}

fn render_text(o: &VerifyOutcome, pack: &Path) -> String {
    let mut out = format!(
        "evidence pack {}{}\n",
        pack.display(),
        o.model
            .as_deref()
            .map(|m| format!(
                " (model `{m}`, {} records, {} decisions)",
                o.records, o.decisions
            ))
            .unwrap_or_default()
    );
    match o.key_source {
        Some(KeySource::Pack) => out.push_str("key: verified against the key inside the pack (no --vkey given): this shows the pack is intact, not who made it\n"),
        Some(KeySource::Given) => out.push_str("key: verified against the given --vkey\n"),
        None => {}
    }
    for c in &o.checks {
        out.push_str(&format!(
            "{} {:<13} {}\n",
            if c.ok { "ok  " } else { "FAIL" },
            c.check,
            printable(&c.detail)
        ));
    }
    let failed = o.failures().count();
    if failed == 0 {
        out.push_str("result: every check passed\n");
    } else {
        out.push_str(&format!(
            "result: {failed} check(s) failed: the pack must not be relied on\n"
        ));
    }
    out
}

/// `s` with control characters escaped: details can quote names from the pack, which must never
/// drive the terminal (erase lines, hide the result).
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
