//! `modelgate inventory sync` and `inventory write-back`: the MLflow registry side of the
//! inventory (`docs/mlflow.md`). The client, the sync and the write-back rules live in
//! [`crate::inventory::mlflow`]; this file reads arguments and prints.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;

use crate::cli::{exit, CliError, CmdResult};
use crate::clock::Clock;
use crate::inventory::mlflow::{
    resolve_environment, sync_with_progress, write_back_decision, ClientOptions, MlflowClient,
    MlflowError, Progress, Registry as _, SyncOptions,
};
use crate::workspace::Workspace;

/// `modelgate inventory sync`
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The MLflow tracking server's base URL (e.g. `http://mlflow:5000`).
    #[arg(long, value_name = "URL")]
    pub mlflow: String,
    /// Bearer token for the tracking server.
    #[arg(long, env = "MODELGATE_MLFLOW_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The longest one request to the server may take, seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout_secs: u64,
}

impl From<MlflowError> for CliError {
    fn from(e: MlflowError) -> Self {
        let code = match e {
            MlflowError::Url { .. } | MlflowError::Config(_) | MlflowError::Invalid(_) => {
                exit::INVALID
            }
            MlflowError::Fold(_) => exit::TAMPERED,
            _ => exit::INTERNAL,
        };
        CliError {
            code,
            message: e.to_string(),
        }
    }
}

pub(super) fn sync(ws: &Workspace, args: &SyncArgs, clock: &dyn Clock) -> CmdResult {
    let settings = &ws.config().inventory.mlflow;
    let environments = ws.config().environments.keys().cloned().collect();
    let options = SyncOptions {
        production_aliases: settings.production_aliases.clone(),
        environment: resolve_environment(
            settings.environment.as_deref(),
            &environments,
            &ws.production_environments(),
        )?,
    };
    let client = client(args)?;
    let mut store = ws.store()?;
    let tty = std::io::stderr().is_terminal();
    let mut progress = |p: Progress| {
        if tty {
            eprint!(
                "\rreading {}: {} models, {} versions",
                client.url(),
                p.models,
                p.versions
            );
        }
    };
    let done = sync_with_progress(&mut *store, &client, &options, clock.now(), &mut progress);
    if tty {
        eprintln!();
    }
    let s = done?;
    say!(
        "synced {}: {} models, {} versions, {} deployed in {} (aliases: {})",
        s.url,
        s.models,
        s.versions,
        s.deployed,
        options.environment,
        options.production_aliases.join(", ")
    );
    for (d, index) in &s.recorded {
        say!(
            "recorded: {} {} runs in {} (alias `{}`), ledger #{index}",
            d.model,
            d.version,
            options.environment,
            d.alias
        );
    }
    say!(
        "sync record: ledger #{}, snapshot {}; {} new deployments",
        s.sync_index,
        s.snapshot,
        s.recorded.len()
    );
    Ok(exit::OK)
}

fn client(args: &SyncArgs) -> Result<MlflowClient, CliError> {
    Ok(MlflowClient::new(
        &args.mlflow,
        ClientOptions {
            token: args.token.clone().filter(|t| !t.is_empty()),
            timeout: Duration::from_secs(args.timeout_secs),
            ..ClientOptions::default()
        },
    )?)
}

pub(super) fn write_back(ws: &Workspace, index: u64, args: &SyncArgs) -> CmdResult {
    let client = client(args)?;
    let store = ws.store()?;
    let mut checkpoint = |_needed: u64| -> Result<u64, MlflowError> {
        let mut writer = ws.store().map_err(|e| MlflowError::Config(e.to_string()))?;
        let signer = ws
            .note_signer()
            .map_err(|e| MlflowError::Config(e.to_string()))?;
        crate::engine::audit::checkpoint(&mut *writer, &signer, &ws.config().origin)
            .map(|cp| cp.size)
            .map_err(|e| MlflowError::Config(e.to_string()))
    };
    let done = write_back_decision(
        &*store,
        &client,
        index,
        &ws.production_environments(),
        &mut checkpoint,
    )?;
    say!(
        "tagged {} {} in {}: gov.decision=allow gov.ledger_index={} gov.checkpoint_size={}",
        done.model,
        done.version,
        client.url(),
        done.index,
        done.checkpoint_size
    );
    Ok(exit::OK)
}
