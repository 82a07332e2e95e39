//! The command-line adapter: argument parsing, output formatting and exit codes.
//!
//! [`Cli`] is the clap definition; [`run`] dispatches to one function per command family
//! ([`keys`], [`sign`], [`check`] with its CI formats in [`report`], [`audit`], [`evidence`], [`inventory`], [`policy`],
//! [`lifecycle`], [`demo`]) and maps the outcome to an exit code ([`exit`]). Commands hold no
//! business rules: they read files, call the engine, workspace,
//! attest or ledger APIs, and print.

/// Prints a line to stdout. A closed pipe (`modelgate audit tail | head`) ends the output
/// quietly instead of panicking the way `println!` does; the exit code still tells the outcome.
macro_rules! say {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// [`say!`] without the newline.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

pub mod atomic;
pub mod audit;
pub mod check;
pub mod demo;
pub mod evidence;
pub mod inventory;
pub mod keys;
pub mod lifecycle;
pub mod policy;
pub mod report;
pub mod serve;
pub mod sign;
pub mod storage;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::clock::{Clock, SystemClock};
use crate::workspace::Workspace;

/// Exit codes (stable; pipelines depend on them).
pub mod exit {
    /// Allowed, or the command succeeded.
    pub const OK: i32 = 0;
    /// Internal error (ledger, bundle, I/O): the gate is closed.
    pub const INTERNAL: i32 = 1;
    /// The promotion was denied.
    pub const DENY: i32 = 2;
    /// Invalid or unverifiable input, including bad command-line usage.
    pub const INVALID: i32 = 3;
    /// Verification found tampering.
    pub const TAMPERED: i32 = 4;
}

/// A command failure: what to print and which exit code to use.
#[derive(Debug)]
pub struct CliError {
    /// Exit code ([`exit`]).
    pub code: i32,
    /// Message for stderr.
    pub message: String,
}

impl CliError {
    /// An invalid-input failure (exit 3).
    pub fn invalid(message: impl Into<String>) -> CliError {
        CliError {
            code: exit::INVALID,
            message: message.into(),
        }
    }

    /// An internal failure (exit 1).
    pub fn internal(message: impl std::fmt::Display) -> CliError {
        CliError {
            code: exit::INTERNAL,
            message: message.to_string(),
        }
    }
}

impl From<crate::workspace::WorkspaceError> for CliError {
    fn from(e: crate::workspace::WorkspaceError) -> Self {
        use crate::workspace::WorkspaceError as W;
        let code = match e {
            W::Missing(_) | W::Exists(_) | W::Config { .. } => exit::INVALID,
            _ => exit::INTERNAL,
        };
        CliError {
            code,
            message: e.to_string(),
        }
    }
}

impl From<crate::engine::EngineError> for CliError {
    fn from(e: crate::engine::EngineError) -> Self {
        let code = match e {
            crate::engine::EngineError::Invalid(_) | crate::engine::EngineError::TrustChange(_) => {
                exit::INVALID
            }
            _ => exit::INTERNAL,
        };
        CliError {
            code,
            message: e.to_string(),
        }
    }
}

impl From<crate::ledger::LedgerError> for CliError {
    fn from(e: crate::ledger::LedgerError) -> Self {
        CliError::internal(e)
    }
}

/// What a command returns: an exit code for success-like outcomes (0 or 2), or an error.
pub type CmdResult = Result<i32, CliError>;

/// Output format for commands that print a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// The documented, versioned JSON shape.
    Json,
}

/// modelgate: policy-as-code governance for ML model promotion.
#[derive(Debug, Parser)]
#[command(name = "modelgate", version, about, long_about = None)]
pub struct Cli {
    /// Workspace directory.
    #[arg(
        long,
        global = true,
        env = "MODELGATE_HOME",
        default_value = ".modelgate"
    )]
    pub home: PathBuf,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a workspace: config, engine key, ledger, policy bundle reference.
    Init {
        /// Use this policy bundle directory instead of a copy of the reference bundle.
        #[arg(long)]
        policies: Option<PathBuf>,
        /// Where the ledger lives: `sqlite` (a file in the workspace) or `postgres` (shared by
        /// replicas; docs/deploy/ha.md).
        #[arg(long, value_enum, default_value = "sqlite")]
        storage: crate::workspace::StorageKind,
        /// The PostgreSQL database for `--storage postgres`, written to modelgate.toml. Without
        /// it, MODELGATE_POSTGRES_URL is read at every start (and never written).
        #[arg(long, requires = "storage")]
        postgres_url: Option<String>,
    },
    /// Key management.
    Key {
        /// The key command.
        #[command(subcommand)]
        command: keys::KeyCommand,
    },
    /// The trust store: which keys speak for whom, in which roles.
    Trust {
        /// The trust command.
        #[command(subcommand)]
        command: keys::TrustCommand,
    },
    /// Sign a predicate into a DSSE envelope (in-toto Statement v1).
    Sign(sign::SignArgs),
    /// Approve a model version's metadata for an environment.
    Approve(sign::ApproveArgs),
    /// Decide a promotion request. Exit 0 allow, 2 deny, 3 invalid input, 1 internal error.
    Check(check::CheckArgs),
    /// Inspect and verify the ledger.
    Audit {
        /// The audit command.
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Audit evidence packs: build one for a model, verify one offline.
    Evidence {
        /// The evidence command.
        #[command(subcommand)]
        command: evidence::EvidenceCommand,
    },
    /// The model inventory: deployments, retirements, the completeness report, what expires.
    Inventory {
        /// The inventory command.
        #[command(subcommand)]
        command: inventory::InventoryCommand,
    },
    /// Freeze an environment: promotions are denied except rollbacks to previously allowed
    /// versions, until `unfreeze` or `--until`.
    Freeze(lifecycle::FreezeArgs),
    /// Lift the freeze on an environment.
    Unfreeze(lifecycle::UnfreezeArgs),
    /// Replay ledger record N with what the ledger kept and print it in full. Exit 0 when the
    /// replay reproduces the record, 4 when it does not.
    Explain(lifecycle::ExplainArgs),
    /// Validate a policy bundle and run its test cases.
    Policy {
        /// The policy command.
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Run the HTTP service: pipeline admission API, Kubernetes webhook, auditor API, metrics.
    Serve(serve::ServeArgs),
    /// Ledger storage: copy a SQLite ledger into PostgreSQL.
    Storage {
        /// The storage command.
        #[command(subcommand)]
        command: storage::StorageCommand,
    },
    /// Bearer tokens for the HTTP service.
    Token {
        /// The token command.
        #[command(subcommand)]
        command: serve::TokenCommand,
    },
    /// Build a throwaway workspace, sign sample models, run checks, verify the ledger.
    Demo(demo::DemoArgs),
}

/// Parses `args` and runs the command; returns the process exit code. Usage errors exit 3 so
/// that no pipeline can mistake them for a deny (2).
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => run(cli, Arc::new(SystemClock)),
        Err(e) => {
            let code = if e.use_stderr() {
                exit::INVALID
            } else {
                exit::OK
            };
            let _ = e.print();
            code
        }
    }
}

/// Runs a parsed command with `clock`; prints errors to stderr and returns the exit code.
pub fn run(cli: Cli, clock: Arc<dyn Clock>) -> i32 {
    let result = match cli.command {
        Command::Init {
            policies,
            storage,
            postgres_url,
        } => init(&cli.home, policies.as_deref(), storage, postgres_url, clock),
        Command::Key { command } => keys::key(command),
        Command::Trust { command } => keys::trust(&cli.home, command, clock),
        Command::Sign(args) => sign::sign(&args, clock.as_ref()),
        Command::Approve(args) => sign::approve(&cli.home, &args, clock.as_ref()),
        Command::Check(args) => check::check(&cli.home, &args, clock),
        Command::Audit { command } => audit::audit(&cli.home, command),
        Command::Evidence { command } => evidence::evidence(&cli.home, &command),
        Command::Inventory { command } => inventory::inventory(&cli.home, &command, clock),
        Command::Freeze(args) => lifecycle::freeze(&cli.home, &args, clock),
        Command::Unfreeze(args) => lifecycle::unfreeze(&cli.home, &args, clock),
        Command::Explain(args) => lifecycle::explain(&cli.home, &args),
        Command::Policy { command } => policy::policy(&cli.home, &command),
        Command::Serve(args) => serve::serve(&cli.home, &args, clock),
        Command::Token { command } => serve::token(&cli.home, &command),
        Command::Storage { command } => storage::storage(&command),
        Command::Demo(args) => demo::demo(&args, clock),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", e.message);
            e.code
        }
    }
}

fn init(
    home: &Path,
    policies: Option<&Path>,
    storage: crate::workspace::StorageKind,
    postgres_url: Option<String>,
    clock: Arc<dyn Clock>,
) -> CmdResult {
    let ws = Workspace::init_with(home, policies, storage, postgres_url, clock.clone())?;
    let key = ws.engine_key()?;
    let engine = ws.engine(clock)?;
    say!("initialised workspace {}", ws.home().display());
    say!("  engine key   {}", key.public_key().key_id());
    say!(
        "  policies     {} ({})",
        ws.policy_dir().display(),
        engine.bundle().digest()
    );
    say!("  ledger       {}", ws.ledger_location()?.describe());
    say!("  trust store  empty: add keys with `modelgate trust add`");
    Ok(exit::OK)
}

/// Reads a file, naming it in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path)
        .map_err(|e| CliError::invalid(format!("cannot read `{}`: {e}", path.display())))
}

/// Writes `text` to `out` (whole or not at all, [`atomic::write_file`]), or to stdout when
/// `out` is `None`.
pub fn write_output(out: Option<&Path>, text: &str) -> Result<(), CliError> {
    match out {
        Some(path) => atomic::write_file(path, text.as_bytes(), atomic::Access::Umask),
        None => {
            say!("{text}");
            Ok(())
        }
    }
}
