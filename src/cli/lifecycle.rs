//! `modelgate freeze`, `modelgate unfreeze` and `modelgate explain`: the incident playbook and
//! the replay of any ledger record.

use std::path::Path;
use std::sync::Arc;

use clap::Args;

use super::{exit, CliError, CmdResult, Format};
use crate::clock::{parse_rfc3339, rfc3339, Clock};
use crate::engine::decision::{Decision, DecisionBody, LedgerRef};
use crate::engine::freeze;
use crate::engine::replay::replay;
use crate::workspace::Workspace;

/// `modelgate freeze`
#[derive(Debug, Args)]
pub struct FreezeArgs {
    /// The environment to freeze (as configured in modelgate.toml).
    #[arg(long)]
    pub environment: String,
    /// Why (the incident); recorded in the ledger and in every decision made under the freeze.
    #[arg(long)]
    pub reason: String,
    /// When the freeze lifts by itself (RFC 3339, e.g. 2026-12-01T08:00:00Z); default: until
    /// `modelgate unfreeze`.
    #[arg(long)]
    pub until: Option<String>,
}

/// `modelgate unfreeze`
#[derive(Debug, Args)]
pub struct UnfreezeArgs {
    /// The environment to open again.
    #[arg(long)]
    pub environment: String,
}

/// `modelgate explain`
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The ledger index of the record to replay.
    pub index: u64,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Runs `modelgate freeze`.
pub fn freeze(home: &Path, args: &FreezeArgs, clock: Arc<dyn Clock>) -> CmdResult {
    let until = args
        .until
        .as_deref()
        .map(|t| parse_rfc3339(t).map_err(|e| CliError::invalid(format!("--until `{t}`: {e}"))))
        .transpose()?;
    let ws = Workspace::open(home)?;
    let mut store = ws.store()?;
    let sealed = freeze::freeze(
        &mut *store,
        clock.as_ref(),
        &ws.engine_config(),
        &args.environment,
        &args.reason,
        until,
    )?;
    say!(
        "froze {} {} (ledger record {}): only rollbacks to previously allowed versions pass",
        args.environment,
        until.map_or_else(
            || "until unfrozen".to_owned(),
            |t| format!("until {}", rfc3339(t))
        ),
        sealed.index
    );
    Ok(exit::OK)
}

/// Runs `modelgate unfreeze`.
pub fn unfreeze(home: &Path, args: &UnfreezeArgs, clock: Arc<dyn Clock>) -> CmdResult {
    let ws = Workspace::open(home)?;
    let mut store = ws.store()?;
    let sealed = freeze::unfreeze(
        &mut *store,
        clock.as_ref(),
        &ws.engine_config(),
        &args.environment,
    )?;
    say!(
        "unfroze {} (ledger record {})",
        args.environment,
        sealed.index
    );
    Ok(exit::OK)
}

/// Runs `modelgate explain`: exit 0 when the replay reproduces the record, 4 when it does not.
pub fn explain(home: &Path, args: &ExplainArgs) -> CmdResult {
    let ws = Workspace::open(home)?;
    let store = ws.read_store()?;
    let result = replay(&*store, args.index)?;
    match args.format {
        Format::Json => say!(
            "{}",
            serde_json::to_string_pretty(&result).map_err(CliError::internal)?
        ),
        Format::Text => {
            say!(
                "record {} ({}) at {}",
                result.index,
                result.kind,
                result.record.time
            );
            if let Ok(body) = serde_json::from_value::<DecisionBody>(result.record.body.clone()) {
                let leaf = store
                    .record(args.index)?
                    .map(|r| hex::encode(r.leaf_hash))
                    .unwrap_or_default();
                let decision = Decision {
                    body,
                    ledger: LedgerRef {
                        index: result.index,
                        leaf_hash: leaf,
                    },
                };
                say_raw!("{}", super::check::render_text(&decision));
            } else {
                say!(
                    "{}",
                    serde_json::to_string_pretty(&result.record.body)
                        .map_err(CliError::internal)?
                );
            }
            say!("replay: {}", result.checked);
            if result.reproduced {
                say!("replay: reproduces the recorded outcome");
            } else {
                for d in &result.differences {
                    say!("replay: DIFFERS: {d}");
                }
            }
        }
    }
    Ok(if result.reproduced {
        exit::OK
    } else {
        exit::TAMPERED
    })
}
