//! The workspace: the directory that holds one modelgate installation, and the composition root.
//!
//! A workspace (`--home`, default `./.modelgate`) contains:
//!
//! | file | what |
//! |---|---|
//! | `modelgate.toml` | [`WorkspaceConfig`]: policy bundle, ledger, engine key, environments |
//! | `engine.key` / `engine.pub` | the engine's Ed25519 key (PKCS#8 PEM, mode 0600) / SPKI PEM |
//! | `ledger.db` | the SQLite ledger and attestation store (the trust store is a fold over it) |
//! | `policies/` | a copy of the reference bundle, unless `init --policies DIR` named another |
//!
//! [`Workspace::init`] creates it; [`Workspace::open`] reads it and builds the [`Engine`] and
//! the [`SqliteStore`]. This is the only place that decides which implementations the engine
//! gets (store, clock), so tests can build an engine from the same parts with fakes.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::attest::{NoteSigner, NoteVerifier, PrivateKey, PublicKey};
use crate::clock::Clock;
use crate::engine::audit::AutoCheckpoint;
use crate::engine::{Engine, EngineConfig, EngineError, EnvironmentConfig};
use crate::ledger::{LedgerError, PgStore, RecordKind, SqliteStore, Store};
use crate::policy::{PolicyBundle, PolicyError};

mod location;

pub use location::{LedgerLocation, PostgresUrl, StorageKind, POSTGRES_URL_VAR};

/// The config file name inside a workspace.
pub const CONFIG_FILE: &str = "modelgate.toml";

/// The reference policy bundle shipped with this binary: (file name, contents).
pub const REFERENCE_BUNDLE: &[(&str, &str)] = &[
    (
        "modelgate.cedarschema",
        include_str!("../policies/modelgate.cedarschema"),
    ),
    ("common.cedar", include_str!("../policies/common.cedar")),
    ("tier0.cedar", include_str!("../policies/tier0.cedar")),
    ("tier1.cedar", include_str!("../policies/tier1.cedar")),
    ("tier2.cedar", include_str!("../policies/tier2.cedar")),
];

/// `modelgate.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceConfig {
    /// Config format version (1).
    pub version: u32,
    /// The policy bundle directory (relative paths are relative to the workspace).
    pub policy_dir: PathBuf,
    /// The SQLite ledger file (with `storage = "sqlite"`).
    pub ledger: PathBuf,
    /// Where the ledger lives: `sqlite` (the file `ledger`, the default) or `postgres` (the
    /// database `postgres_url` names; `docs/deploy/ha.md`).
    #[serde(default, skip_serializing_if = "StorageKind::is_default")]
    pub storage: StorageKind,
    /// The PostgreSQL database (`postgres://user@host:port/dbname`) when `storage = "postgres"`.
    /// `MODELGATE_POSTGRES_URL` overrides it; keep passwords there, not in this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres_url: Option<PostgresUrl>,
    /// PEM file of the CA(s) the PostgreSQL server's certificate must chain to (relative to the
    /// workspace): sessions then use TLS, and the certificate must name the URL's host. Add
    /// `sslmode=require` to the URL to refuse a server without TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres_ca_file: Option<PathBuf>,
    /// The engine's private key (PKCS#8 PEM).
    pub engine_key: PathBuf,
    /// Checkpoint origin line and signer name (C2SP), e.g. `modelgate.example.com/ledger`.
    #[serde(default = "default_origin")]
    pub origin: String,
    /// Sign a checkpoint automatically once this many records are not covered (0: off).
    #[serde(default = "default_checkpoint_every_records")]
    pub checkpoint_every_records: u64,
    /// Sign a checkpoint automatically once the newest covered record is this old (0: off).
    #[serde(default = "default_checkpoint_every_seconds")]
    pub checkpoint_every_seconds: u64,
    /// Longest waiver a risk officer may grant, in days, for tiers 0, 1 and 2.
    #[serde(default = "default_waiver_max_days")]
    pub waiver_max_days: [u32; 3],
    /// Environments a request may name.
    pub environments: BTreeMap<String, EnvironmentConfig>,
    /// `modelgate serve` settings.
    #[serde(default, skip_serializing_if = "ServerSettings::is_default")]
    pub server: ServerSettings,
    /// `[[reports]]`: inventory reports `modelgate serve` generates and keeps on a schedule
    /// (`docs/reports.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<crate::inventory::scheduled::ReportSchedule>,
    /// Model inventory settings.
    #[serde(default, skip_serializing_if = "InventorySettings::is_default")]
    pub inventory: InventorySettings,
}

/// The `[inventory]` section of `modelgate.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventorySettings {
    /// `[inventory.mlflow]`: the MLflow registry sync and webhook (`docs/mlflow.md`).
    pub mlflow: MlflowSettings,
}

impl InventorySettings {
    fn is_default(&self) -> bool {
        *self == InventorySettings::default()
    }
}

/// The `[inventory.mlflow]` section: which registry aliases mean "runs in production", the
/// environment such a version is recorded in, and the webhook secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlflowSettings {
    /// Aliases that mark a version as deployed, most authoritative first.
    pub production_aliases: Vec<String>,
    /// The environment such a version is recorded in; unset: the one production environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// A file (mode 0600) holding the webhook signing secret; relative to the workspace.
    /// Unset: the secret comes from `MODELGATE_MLFLOW_WEBHOOK_SECRET`, or the webhook is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret_path: Option<PathBuf>,
}

impl Default for MlflowSettings {
    fn default() -> Self {
        MlflowSettings {
            production_aliases: crate::inventory::mlflow::DEFAULT_PRODUCTION_ALIASES
                .map(str::to_owned)
                .to_vec(),
            environment: None,
            webhook_secret_path: None,
        }
    }
}

/// Shortest web console session `[server] console_session_seconds` accepts.
pub const MIN_CONSOLE_SESSION_SECONDS: u64 = 1;
/// Longest web console session `[server] console_session_seconds` accepts: a day.
pub const MAX_CONSOLE_SESSION_SECONDS: u64 = 86_400;

/// The `[server]` section of `modelgate.toml`: how `modelgate serve` listens and limits work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: String,
    /// Per-request deadline in milliseconds; past it the answer is 503, never an allow.
    pub deadline_ms: u64,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Requests handled at once; more wait (until their deadline).
    pub max_concurrency: usize,
    /// Kubernetes namespace → environment, for admission requests without a
    /// `modelgate.dev/environment` annotation.
    pub namespaces: BTreeMap<String, String>,
    /// Namespaces where every admitted object must carry a `modelgate.dev/model` annotation.
    pub require_model_annotation: Vec<String>,
    /// How long a web console session lasts after sign-in, seconds (never extended).
    pub console_session_seconds: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8080".to_owned(),
            deadline_ms: 2_000,
            max_body_bytes: crate::engine::request::MAX_REQUEST_BYTES,
            max_concurrency: 256,
            namespaces: BTreeMap::new(),
            require_model_annotation: Vec::new(),
            console_session_seconds: 900,
        }
    }
}

impl ServerSettings {
    fn is_default(&self) -> bool {
        *self == ServerSettings::default()
    }
}

/// The origin of a workspace that does not name one.
pub const DEFAULT_ORIGIN: &str = "modelgate.local/ledger";

fn default_origin() -> String {
    DEFAULT_ORIGIN.to_string()
}

fn default_checkpoint_every_records() -> u64 {
    100
}

fn default_checkpoint_every_seconds() -> u64 {
    300
}

fn default_waiver_max_days() -> [u32; 3] {
    crate::engine::waivers::DEFAULT_MAX_DAYS
}

/// Why a workspace could not be created or opened.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// No `modelgate.toml` in the home directory.
    #[error(
        "no workspace at `{0}`: run `modelgate init` first (or pass --home / set MODELGATE_HOME)"
    )]
    Missing(PathBuf),
    /// `init` on a directory that already holds a workspace.
    #[error("a workspace already exists at `{0}`")]
    Exists(PathBuf),
    /// A file could not be read or written.
    #[error("`{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The workspace names a PostgreSQL ledger that holds no records.
    #[error("the ledger in {0} is empty: run `modelgate init --storage postgres` once for the first replica, then copy that workspace (engine key included) to the others; modelgate never starts a new ledger under an existing workspace")]
    LedgerEmpty(String),
    /// `init` on a PostgreSQL database that already holds a ledger.
    #[error("the ledger in {location} already holds {size} records: copy the workspace of the replica that created it (engine key included) instead of initialising a new one")]
    LedgerExists {
        /// Where the ledger is.
        location: String,
        /// Its size.
        size: u64,
    },
    /// The workspace exists but its ledger does not.
    #[error("the ledger `{0}` is missing or empty: restore it from backup; modelgate never starts a new ledger in an existing workspace")]
    LedgerMissing(PathBuf),
    /// `modelgate.toml` does not parse.
    #[error("`{path}` is not a valid workspace config: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// The engine key does not load.
    #[error("engine key `{path}`: {message}")]
    EngineKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The policy bundle does not load.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The ledger does not open.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The engine could not be built.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WorkspaceError + '_ {
    move |source| WorkspaceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to a new file readable only by its owner (0600); fails if it exists.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), WorkspaceError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// An opened workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    home: PathBuf,
    config: WorkspaceConfig,
}

impl Workspace {
    /// Creates a workspace in `home`: config, engine key, ledger, and the policy bundle
    /// reference (`policies`: a directory to use as is; `None`: a copy of the reference bundle).
    /// Records the bundle activation in the new ledger.
    pub fn init(
        home: &Path,
        policies: Option<&Path>,
        clock: Arc<dyn Clock>,
    ) -> Result<Workspace, WorkspaceError> {
        Workspace::init_with(home, policies, StorageKind::Sqlite, None, clock)
    }

    /// Like [`Workspace::init`], with the ledger in `storage`: for PostgreSQL, the database
    /// `postgres_url` names (written to the config) or, when it is `None`,
    /// `MODELGATE_POSTGRES_URL` (read at every open, never written). A PostgreSQL database
    /// that already holds a ledger is refused.
    pub fn init_with(
        home: &Path,
        policies: Option<&Path>,
        storage: StorageKind,
        postgres_url: Option<String>,
        clock: Arc<dyn Clock>,
    ) -> Result<Workspace, WorkspaceError> {
        let config_path = home.join(CONFIG_FILE);
        if config_path.exists() {
            return Err(WorkspaceError::Exists(home.to_path_buf()));
        }
        if storage == StorageKind::Sqlite && postgres_url.is_some() {
            return Err(WorkspaceError::Config {
                path: config_path,
                message: "a PostgreSQL URL was given for a SQLite ledger: add `--storage postgres`"
                    .to_owned(),
            });
        }
        if postgres_url
            .as_deref()
            .is_some_and(crate::ledger::postgres::url_has_password)
        {
            return Err(WorkspaceError::Config {
                path: config_path,
                message: format!(
                    "the PostgreSQL URL holds a password, and modelgate.toml is not a secret file: \
                     give the URL without it, and the URL with its password in {POSTGRES_URL_VAR}"
                ),
            });
        }
        fs::create_dir_all(home).map_err(io_err(home))?;
        let policy_dir = match policies {
            Some(dir) => fs::canonicalize(dir).map_err(io_err(dir))?,
            None => {
                let dir = home.join("policies");
                fs::create_dir_all(&dir).map_err(io_err(&dir))?;
                for (name, text) in REFERENCE_BUNDLE {
                    let path = dir.join(name);
                    fs::write(&path, text).map_err(io_err(&path))?;
                }
                PathBuf::from("policies")
            }
        };
        let config = WorkspaceConfig {
            version: 1,
            policy_dir,
            ledger: PathBuf::from("ledger.db"),
            storage,
            postgres_url: postgres_url.map(PostgresUrl),
            postgres_ca_file: None,
            engine_key: PathBuf::from("engine.key"),
            origin: default_origin(),
            checkpoint_every_records: default_checkpoint_every_records(),
            checkpoint_every_seconds: default_checkpoint_every_seconds(),
            waiver_max_days: default_waiver_max_days(),
            environments: EngineConfig::default().environments,
            server: ServerSettings::default(),
            reports: Vec::new(),
            inventory: InventorySettings::default(),
        };
        let ws = Workspace {
            home: home.to_path_buf(),
            config,
        };
        // Check the bundle and the ledger location before anything else is written.
        let bundle = PolicyBundle::load(&ws.policy_dir())?;
        let mut store = ws.open_store(false)?;
        let size = store.size()?;
        if size > 0 {
            return Err(WorkspaceError::LedgerExists {
                location: ws.ledger_location()?.describe(),
                size,
            });
        }

        let key = PrivateKey::generate();
        let pem = key.to_pkcs8_pem().map_err(|e| WorkspaceError::EngineKey {
            path: ws.engine_key_path(),
            message: e.to_string(),
        })?;
        write_private(&ws.engine_key_path(), pem.as_bytes())?;
        let pub_path = home.join("engine.pub");
        fs::write(&pub_path, key.public_key().to_spki_pem()).map_err(io_err(&pub_path))?;

        let text = toml::to_string_pretty(&ws.config).map_err(|e| WorkspaceError::Config {
            path: config_path.clone(),
            message: e.to_string(),
        })?;
        let text = format!("# modelgate workspace configuration (see docs/workspace.md)\n{text}");
        fs::write(&config_path, text).map_err(io_err(&config_path))?;

        let engine = Engine::new(bundle, ws.engine_config(), clock)?;
        engine.activate_first_bundle(&mut *store)?;
        Ok(ws)
    }

    /// Opens the workspace in `home`.
    pub fn open(home: &Path) -> Result<Workspace, WorkspaceError> {
        let config_path = home.join(CONFIG_FILE);
        if !config_path.exists() {
            return Err(WorkspaceError::Missing(home.to_path_buf()));
        }
        let text = fs::read_to_string(&config_path).map_err(io_err(&config_path))?;
        let config: WorkspaceConfig =
            toml::from_str(&text).map_err(|e| WorkspaceError::Config {
                path: config_path.clone(),
                message: e.to_string(),
            })?;
        if config.version != 1 {
            return Err(WorkspaceError::Config {
                path: config_path,
                message: format!("unsupported config version {}", config.version),
            });
        }
        crate::inventory::scheduled::check_schedules(&config.reports).map_err(|message| {
            WorkspaceError::Config {
                path: config_path.clone(),
                message,
            }
        })?;
        let session = config.server.console_session_seconds;
        if !(MIN_CONSOLE_SESSION_SECONDS..=MAX_CONSOLE_SESSION_SECONDS).contains(&session) {
            return Err(WorkspaceError::Config {
                path: config_path,
                message: format!(
                    "[server] console_session_seconds = {session}: must be from \
                     {MIN_CONSOLE_SESSION_SECONDS} to {MAX_CONSOLE_SESSION_SECONDS} (a day)"
                ),
            });
        }
        Ok(Workspace {
            home: home.to_path_buf(),
            config,
        })
    }

    /// The file holding the hashes of the HTTP API tokens (`modelgate token create`).
    pub fn tokens_path(&self) -> PathBuf {
        self.home.join("tokens.toml")
    }

    /// The workspace directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The parsed config.
    pub fn config(&self) -> &WorkspaceConfig {
        &self.config
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.home.join(p)
        }
    }

    /// The policy bundle directory.
    pub fn policy_dir(&self) -> PathBuf {
        self.resolve(&self.config.policy_dir)
    }

    /// The ledger database file.
    pub fn ledger_path(&self) -> PathBuf {
        self.resolve(&self.config.ledger)
    }

    /// The engine private key file.
    pub fn engine_key_path(&self) -> PathBuf {
        self.resolve(&self.config.engine_key)
    }

    /// The engine configuration from the workspace config.
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            environments: self.config.environments.clone(),
            waivers: crate::engine::WaiverRules {
                max_days: self.config.waiver_max_days,
            },
        }
    }

    /// Where the ledger is: the SQLite file, or the PostgreSQL URL from
    /// `MODELGATE_POSTGRES_URL` or `postgres_url`.
    pub fn ledger_location(&self) -> Result<LedgerLocation, WorkspaceError> {
        match self.config.storage {
            StorageKind::Sqlite => Ok(LedgerLocation::Sqlite(self.ledger_path())),
            StorageKind::Postgres => std::env::var(POSTGRES_URL_VAR)
                .ok()
                .filter(|url| !url.is_empty())
                .or_else(|| self.config.postgres_url.as_ref().map(|u| u.0.clone()))
                .map(LedgerLocation::Postgres)
                .ok_or_else(|| WorkspaceError::Config {
                    path: self.home.join(CONFIG_FILE),
                    message: format!(
                        "`storage = \"postgres\"` needs `postgres_url` or {POSTGRES_URL_VAR}"
                    ),
                }),
        }
    }

    /// Opens the ledger for appending. Only `init` creates it: a ledger that has gone missing
    /// is an error, never silently replaced by an empty one.
    pub fn store(&self) -> Result<Box<dyn Store>, WorkspaceError> {
        if let LedgerLocation::Sqlite(path) = self.ledger_location()? {
            if !path.exists() {
                return Err(WorkspaceError::LedgerMissing(path));
            }
        }
        let store = self.open_store(false)?;
        self.refuse_empty(&*store)?;
        Ok(store)
    }

    /// Opens the ledger for reading only (verification, export, the server's readers).
    pub fn read_store(&self) -> Result<Box<dyn Store>, WorkspaceError> {
        let store = self.open_store(true)?;
        self.refuse_empty(&*store)?;
        Ok(store)
    }

    fn open_store(&self, read_only: bool) -> Result<Box<dyn Store>, WorkspaceError> {
        Ok(match (self.ledger_location()?, read_only) {
            (LedgerLocation::Sqlite(path), false) => Box::new(SqliteStore::open(&path)?),
            (LedgerLocation::Sqlite(path), true) => Box::new(SqliteStore::open_read_only(&path)?),
            (LedgerLocation::Postgres(url), false) => {
                Box::new(PgStore::open_with(&url, &self.postgres_options())?)
            }
            (LedgerLocation::Postgres(url), true) => Box::new(PgStore::open_read_only_with(
                &url,
                &self.postgres_options(),
            )?),
        })
    }

    /// How to reach the PostgreSQL ledger beyond its URL (the CA file for TLS).
    pub fn postgres_options(&self) -> crate::ledger::PgOptions {
        crate::ledger::PgOptions {
            ca_file: self
                .config
                .postgres_ca_file
                .as_deref()
                .map(|p| self.resolve(p)),
        }
    }

    /// `init` always writes the first bundle activation: an empty ledger here is a replaced or
    /// truncated file (or an empty database), not a fresh start.
    fn refuse_empty(&self, store: &dyn Store) -> Result<(), WorkspaceError> {
        if store.size()? > 0 {
            return Ok(());
        }
        Err(match self.ledger_location()? {
            LedgerLocation::Sqlite(path) => WorkspaceError::LedgerMissing(path),
            postgres => WorkspaceError::LedgerEmpty(postgres.describe()),
        })
    }

    /// Loads the policy bundle and builds the engine with `clock`.
    pub fn engine(&self, clock: Arc<dyn Clock>) -> Result<Engine, WorkspaceError> {
        let bundle = PolicyBundle::load(&self.policy_dir())?;
        self.engine_with(bundle, clock)
    }

    /// Builds the engine for deciding against `store`: with the bundle in the policy directory,
    /// or — when that bundle is refused (parse or validation error) — with the bundle last
    /// activated in the ledger, so that a broken edit never replaces a good bundle. The refusal
    /// is returned alongside so that the caller reports it. Without an earlier activation to
    /// fall back on, the refusal is the error.
    pub fn engine_for(
        &self,
        store: &dyn Store,
        clock: Arc<dyn Clock>,
    ) -> Result<(Engine, Option<PolicyError>), WorkspaceError> {
        match PolicyBundle::load(&self.policy_dir()) {
            Ok(bundle) => Ok((self.engine_with(bundle, clock)?, None)),
            Err(refused) => {
                let Some(active) = last_activated(store)? else {
                    return Err(refused.into());
                };
                let bundle = match crate::engine::bundles::load_bundle(store, &active) {
                    Ok(bundle) => bundle,
                    Err(e) => {
                        tracing::error!(error = %e, "the last activated bundle cannot be rebuilt");
                        return Err(refused.into());
                    }
                };
                tracing::warn!(error = %refused, active = %active, "policy bundle refused; keeping the active bundle");
                Ok((self.engine_with(bundle, clock)?, Some(refused)))
            }
        }
    }

    fn engine_with(
        &self,
        bundle: PolicyBundle,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, WorkspaceError> {
        let auto = AutoCheckpoint {
            signer: self.note_signer()?,
            origin: self.config.origin.clone(),
            every_records: self.config.checkpoint_every_records,
            every_seconds: self.config.checkpoint_every_seconds,
        };
        Ok(Engine::new(bundle, self.engine_config(), clock)?.with_auto_checkpoints(auto))
    }

    /// The checkpoint signer: the engine key under the configured origin as its name.
    pub fn note_signer(&self) -> Result<NoteSigner, WorkspaceError> {
        let key = self.engine_key()?;
        NoteSigner::new(&self.config.origin, key).map_err(|e| WorkspaceError::EngineKey {
            path: self.engine_key_path(),
            message: e.to_string(),
        })
    }

    /// The checkpoint verifier (public half of [`Workspace::note_signer`]), from `engine.pub`.
    pub fn note_verifier(&self) -> Result<NoteVerifier, WorkspaceError> {
        let path = self.home.join("engine.pub");
        let pem = fs::read_to_string(&path).map_err(io_err(&path))?;
        let key = PublicKey::from_spki_pem(&pem).map_err(|e| WorkspaceError::EngineKey {
            path: path.clone(),
            message: e.to_string(),
        })?;
        NoteVerifier::new(&self.config.origin, key).map_err(|e| WorkspaceError::EngineKey {
            path,
            message: e.to_string(),
        })
    }

    /// Loads the engine's private key; a key file its group or others may read is refused
    /// ([`crate::secret_file::read_secret_file`]).
    pub fn engine_key(&self) -> Result<PrivateKey, WorkspaceError> {
        let path = self.engine_key_path();
        let key_err = |message: String| WorkspaceError::EngineKey {
            path: path.clone(),
            message,
        };
        let bytes =
            crate::secret_file::read_secret_file(&path).map_err(|e| key_err(e.to_string()))?;
        let pem =
            String::from_utf8(bytes).map_err(|_| key_err("it is not a PEM file".to_owned()))?;
        PrivateKey::from_pkcs8_pem(&pem).map_err(|e| key_err(e.to_string()))
    }
}

impl Workspace {
    /// Builds the evidence pack for `scope` from the workspace ledger. The proofs are made
    /// against the latest stored checkpoint when it covers every record in scope; otherwise a
    /// checkpoint of the current ledger is signed and stored first (through a connection of its
    /// own, so a read-only caller's handle stays read-only).
    pub fn evidence_pack(
        &self,
        scope: &crate::evidence::Scope,
    ) -> Result<crate::evidence::Pack, crate::evidence::EvidenceError> {
        use crate::evidence::{build::PackSigner, build_pack, covering_checkpoint, EvidenceError};
        let fail = |e: WorkspaceError| EvidenceError::Invalid(e.to_string());
        let store = self.store().map_err(fail)?;
        let key = self.engine_key().map_err(fail)?;
        let signer = PackSigner {
            engine_key: &key,
            origin: &self.config.origin,
        };
        let mut checkpoint_for = |needed: u64| -> Result<(u64, String), EvidenceError> {
            if let Some(found) = covering_checkpoint(&*store, needed)? {
                return Ok(found);
            }
            let mut writer = self.store().map_err(fail)?;
            let cp = crate::engine::audit::checkpoint(
                &mut *writer,
                &self.note_signer().map_err(fail)?,
                &self.config.origin,
            )?;
            Ok((cp.size, cp.note))
        };
        build_pack(&*store, scope, signer, &mut checkpoint_for)
    }
}

impl Workspace {
    /// The environments the config marks as production.
    pub fn production_environments(&self) -> std::collections::BTreeSet<String> {
        self.config
            .environments
            .iter()
            .filter(|(_, e)| e.production)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The inventory report as of `options.as_of` (see [`crate::inventory::report`]); calls
    /// `progress(records read, ledger size)` while folding.
    pub fn inventory_report(
        &self,
        options: &crate::inventory::ReportOptions,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<crate::inventory::Report, crate::inventory::InventoryError> {
        use crate::inventory::{build_report, load_with_snapshot, InventoryError};
        let store = self
            .store()
            .map_err(|e| InventoryError::Invalid(e.to_string()))?;
        let as_of = crate::clock::rfc3339(options.as_of);
        let snapshot = self.inventory_snapshot_path();
        let inventory = load_with_snapshot(&*store, Some(&as_of), Some(&snapshot), progress)?;
        let trust = crate::inventory::trust_as_of(&*store, &as_of)?;
        Ok(build_report(&inventory, &trust, options))
    }

    /// The inventory folded from the whole ledger (see [`crate::inventory::load_with_snapshot`]).
    pub fn inventory(
        &self,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<crate::inventory::Inventory, crate::inventory::InventoryError> {
        let store = self
            .store()
            .map_err(|e| crate::inventory::InventoryError::Invalid(e.to_string()))?;
        let snapshot = self.inventory_snapshot_path();
        crate::inventory::load_with_snapshot(&*store, None, Some(&snapshot), progress)
    }

    /// Where the inventory snapshot lives: beside the ledger, `<ledger>.inventory-snapshot`; for
    /// a PostgreSQL ledger, `inventory-snapshot.postgres` in the workspace (a local cache of each
    /// replica: derived data, see [`crate::inventory::snapshot`]).
    pub fn inventory_snapshot_path(&self) -> PathBuf {
        if self.config.storage == StorageKind::Postgres {
            return self.home.join("inventory-snapshot.postgres");
        }
        let mut name = self.ledger_path().into_os_string();
        name.push(".inventory-snapshot");
        PathBuf::from(name)
    }
}

/// The digest named by the latest `bundle_activation` record, if any.
fn last_activated(store: &dyn Store) -> Result<Option<String>, WorkspaceError> {
    let Some(last) = store.records_of_kind(RecordKind::BundleActivation)?.pop() else {
        return Ok(None);
    };
    let record = crate::ledger::parse_record(&last.bytes)?;
    Ok(record
        .body
        .get("bundle_digest")
        .and_then(|d| d.as_str())
        .map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_reference_bundle_is_exactly_the_shipped_policies_directory() {
        // A policy file added to policies/ but not embedded would silently be missing from
        // every new workspace.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let mut on_disk: Vec<(String, String)> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|e| e == "cedar" || e == "cedarschema")
            })
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    fs::read_to_string(&p).unwrap(),
                )
            })
            .collect();
        on_disk.sort();
        let mut embedded: Vec<(String, String)> = REFERENCE_BUNDLE
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }
}
