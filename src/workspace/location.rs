//! Where a workspace's ledger is: which database (`storage`), the PostgreSQL URL (which may hold
//! a password, so it never prints itself) and its description for messages.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The environment variable that overrides `postgres_url`.
pub const POSTGRES_URL_VAR: &str = "MODELGATE_POSTGRES_URL";

/// Which database holds the ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// One SQLite file beside the config (embedded, one machine).
    #[default]
    Sqlite,
    /// A PostgreSQL database shared by several replicas.
    Postgres,
}

impl StorageKind {
    pub(super) fn is_default(&self) -> bool {
        *self == StorageKind::default()
    }
}

/// Where a workspace's ledger is, resolved from the config and the environment.
#[derive(Clone, PartialEq, Eq)]
pub enum LedgerLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (may hold a password: never print it; see
    /// [`LedgerLocation::describe`]).
    Postgres(String),
}

impl std::fmt::Debug for LedgerLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl LedgerLocation {
    /// The location for messages: the file, or `postgres host:port/dbname` (no credentials).
    pub fn describe(&self) -> String {
        match self {
            LedgerLocation::Sqlite(path) => path.display().to_string(),
            LedgerLocation::Postgres(url) => format!("postgres {}", describe_postgres_url(url)),
        }
    }
}

fn describe_postgres_url(url: &str) -> String {
    crate::ledger::postgres::describe_url(url).unwrap_or_else(|| "(unparsable URL)".to_owned())
}

/// A PostgreSQL connection URL as `modelgate.toml` holds it. A URL may carry a password, so it
/// never prints itself: `Debug` shows `host:port/dbname` only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PostgresUrl(pub String);

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresUrl({})", describe_postgres_url(&self.0))
    }
}
