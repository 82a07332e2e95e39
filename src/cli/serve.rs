//! `modelgate serve` and `modelgate token`: run the HTTP service, manage its bearer tokens.
//!
//! [`init_logging`] installs the process's log subscriber: JSON lines on stderr for `serve`
//! (one `request` line per request, fields from its span; see docs/http.md), plain text for
//! every other command. `MODELGATE_LOG` (an `EnvFilter` directive) overrides the level.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::{exit, CliError, CmdResult};
use crate::clock::Clock;
use crate::server::auth::{ApiRole, TokenFile};
use crate::server::state::AppState;
use crate::server::{serve as run_server, ServeOptions};
use crate::workspace::Workspace;

/// `modelgate serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default: `[server] listen` in modelgate.toml, 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// `modelgate token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for one role; prints it once, on its own line. Only its SHA-256 is kept.
    Create {
        /// `pipeline`, `auditor` or `admin`.
        #[arg(long)]
        role: String,
        /// A unique name for who or what holds it (default: `<role>-<n>`).
        #[arg(long)]
        name: Option<String>,
    },
    /// List token names and roles.
    List,
    /// Withdraw a token (a running server picks it up at its next admin token change or restart).
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// Runs `modelgate serve` until SIGINT/SIGTERM.
pub fn serve(home: &Path, args: &ServeArgs, clock: Arc<dyn Clock>) -> CmdResult {
    let ws = Workspace::open(home)?;
    let listen = match args.listen {
        Some(addr) => addr,
        None => ws.config().server.listen.parse().map_err(|e| {
            CliError::invalid(format!(
                "[server] listen `{}` is not an address: {e}",
                ws.config().server.listen
            ))
        })?,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some((c.clone(), k.clone())),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::internal(format!("cannot start the runtime: {e}")))?;
    let state = AppState::open(ws, clock).map_err(|e| CliError::internal(e.message))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    runtime
        .block_on(run_server(state, ServeOptions { listen, tls }, |addr| {
            tracing::info!(
                address = %addr,
                url = %format!("{scheme}://{addr}"),
                "modelgate serving (Ctrl-C or SIGTERM to stop)"
            );
        }))
        .map_err(|e| CliError::internal(e.message))?;
    Ok(exit::OK)
}

/// Log level when `MODELGATE_LOG` is unset: `info` for the server (its request lines), `warn`
/// for the other commands.
pub fn default_log_level(serving: bool) -> &'static str {
    if serving {
        "info"
    } else {
        "warn"
    }
}

/// Installs the process's log subscriber on stderr: JSON lines when `serving` (each event
/// flattened, with the fields of its request span under `span`), plain text otherwise.
/// `MODELGATE_LOG` overrides the level. Does nothing if a subscriber is already installed.
pub fn init_logging(serving: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MODELGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log_level(serving)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = if serving {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
    // A second installation (a test harness that set one) keeps the first.
    let _ = installed;
}

/// Runs `modelgate token …`.
pub fn token(home: &Path, command: &TokenCommand) -> CmdResult {
    let ws = Workspace::open(home)?;
    let path = ws.tokens_path();
    let mut file = TokenFile::load(&path).map_err(CliError::internal)?;
    match command {
        TokenCommand::Create { role, name } => {
            let role: ApiRole = role.parse().map_err(CliError::invalid)?;
            let name = name.clone().unwrap_or_else(|| {
                let n = file.tokens.iter().filter(|t| t.role == role).count() + 1;
                format!("{}-{n}", role.as_str())
            });
            let secret = file
                .create(&name, role)
                .map_err(|e| CliError::invalid(e.to_string()))?;
            file.save(&path).map_err(CliError::internal)?;
            eprintln!(
                "created {} token `{name}`; it is shown once, keep it secret:",
                role.as_str()
            );
            say!("{secret}");
        }
        TokenCommand::List => {
            for t in &file.tokens {
                say!("{}\t{}", t.name, t.role.as_str());
            }
        }
        TokenCommand::Revoke { name } => {
            let gone = file
                .revoke(name)
                .map_err(|e| CliError::invalid(e.to_string()))?;
            file.save(&path).map_err(CliError::internal)?;
            say!("revoked {} token `{}`", gone.role.as_str(), gone.name);
        }
    }
    Ok(exit::OK)
}
