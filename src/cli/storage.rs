//! `modelgate storage migrate`: copy a SQLite ledger into PostgreSQL and prove the copy.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Subcommand;

use super::{exit, CliError, CmdResult};
use crate::ledger::migrate::{migrate as copy_ledger, MigrationReport};
use crate::ledger::{PgOptions, PgStore, SqliteStore};
use crate::workspace::{LedgerLocation, POSTGRES_URL_VAR};

/// `modelgate storage …`
#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Copy a ledger (records, attestations, filings, checkpoints) into PostgreSQL and prove the
    /// copy: the same RFC 6962 root at the same size. Stop every writer of both first. Exit 0
    /// proven, 4 when the roots differ.
    Migrate {
        /// The source: `sqlite:PATH`.
        #[arg(long)]
        from: String,
        /// The target: `postgres:URL` or the URL itself (`postgres://user@host:port/dbname`), or
        /// `postgres` alone for the URL in MODELGATE_POSTGRES_URL (keeps a password off the
        /// command line).
        #[arg(long)]
        to: String,
        /// PEM file of the CA(s) the PostgreSQL server's certificate must chain to: connect with
        /// TLS (add `sslmode=require` to the URL to refuse a server without it).
        #[arg(long, value_name = "PEM")]
        postgres_ca_file: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `storage` command.
pub fn storage(command: &StorageCommand) -> CmdResult {
    match command {
        StorageCommand::Migrate {
            from,
            to,
            postgres_ca_file,
            json,
        } => migrate(from, to, postgres_ca_file.as_deref(), *json),
    }
}

fn parse_from(from: &str) -> Result<PathBuf, CliError> {
    match from.strip_prefix("sqlite:") {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => Err(CliError::invalid(format!(
            "--from `{from}`: expected `sqlite:PATH` (the ledger file to copy)"
        ))),
    }
}

fn parse_to(to: &str) -> Result<String, CliError> {
    // A plain URL (`postgres://…`, `postgresql://…`) is taken as it is.
    if to.starts_with("postgres://") || to.starts_with("postgresql://") {
        return Ok(to.to_owned());
    }
    let url = match to.strip_prefix("postgres:") {
        Some(url) if !url.is_empty() => url.to_owned(),
        _ if to == "postgres" || to == "postgres:" => std::env::var(POSTGRES_URL_VAR)
            .ok()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                CliError::invalid(format!("--to postgres: {POSTGRES_URL_VAR} is not set"))
            })?,
        _ => {
            return Err(CliError::invalid(
                "--to: expected `postgres:URL` or `postgres` (URL from MODELGATE_POSTGRES_URL)",
            ))
        }
    };
    Ok(url)
}

fn migrate(from: &str, to: &str, ca_file: Option<&std::path::Path>, json: bool) -> CmdResult {
    let path = parse_from(from)?;
    let url = parse_to(to)?;
    let source = SqliteStore::open_read_only(&path)?;
    let options = PgOptions {
        ca_file: ca_file.map(std::path::Path::to_path_buf),
    };
    let mut target = PgStore::open_with(&url, &options)?;
    let where_to = LedgerLocation::Postgres(url).describe();
    let show = std::io::stderr().is_terminal();
    let mut progress = |done: u64, total: u64| {
        if show {
            eprint!("\rcopied {done}/{total} records");
        }
    };
    let report = copy_ledger(&source, &mut target, &mut progress)?;
    if show {
        eprintln!();
    }
    if json {
        say!("{}", report_json(&report, &path, &where_to));
    } else {
        say!("{}", report_text(&report, &path, &where_to));
    }
    Ok(if report.proven() {
        exit::OK
    } else {
        eprintln!(
            "error: the copy is not the same ledger: the roots differ at size {}",
            report.size
        );
        exit::TAMPERED
    })
}

fn report_text(r: &MigrationReport, from: &std::path::Path, to: &str) -> String {
    let verdict = if r.proven() { "proven" } else { "NOT proven" };
    format!(
        "migrated {} -> {to}\n  records       {} copied ({} were already there), size {}\n  \
         attestations  {}\n  filings       {}\n  checkpoints   {}\n  source root   {}\n  \
         target root   {}\n  copy          {verdict}: same size, {} root",
        from.display(),
        r.records,
        r.already_there,
        r.size,
        r.attestations,
        r.filings,
        r.checkpoints,
        hex::encode(r.source_root),
        hex::encode(r.target_root),
        if r.proven() { "same" } else { "different" },
    )
}

fn report_json(r: &MigrationReport, from: &std::path::Path, to: &str) -> serde_json::Value {
    serde_json::json!({
        "from": from.display().to_string(),
        "to": to,
        "size": r.size,
        "records_copied": r.records,
        "records_already_there": r.already_there,
        "attestations": r.attestations,
        "filings": r.filings,
        "checkpoints": r.checkpoints,
        "source_root": hex::encode(r.source_root),
        "target_root": hex::encode(r.target_root),
        "proven": r.proven(),
    })
}
