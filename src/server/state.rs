//! What every handler shares: the engine (swappable on bundle reload), the group-commit
//! appender, a pool of read connections, the token table, settings and metrics.
//!
//! [`AppState::open`] composes the default (the appender writes to the workspace's SQLite
//! ledger); [`AppState::open_with`] takes the appender's store from the caller, for example a
//! [`crate::ledger::FaultyStore`] in a fault drill.

use std::sync::{Arc, Mutex, RwLock};

use super::auth::{TokenFile, TokenTable};
use super::error::ApiError;
use super::metrics::Metrics;
use crate::attest::PrivateKey;
use crate::clock::Clock;
use crate::engine::Engine;
use crate::ledger::{GroupCommit, Store};
use crate::workspace::{ServerSettings, Workspace};

/// Shared server state.
pub struct AppState {
    /// The workspace (paths, environments, settings).
    pub ws: Workspace,
    /// The engine deciding now; replaced whole on bundle reload.
    engine: RwLock<Arc<Engine>>,
    /// The one writer of decisions.
    pub appender: GroupCommit,
    /// Read connections, checked out per request.
    pub readers: ReaderPool,
    /// A write connection for the rare non-decision writes (attestation filing, freezes).
    pub writer: Mutex<Box<dyn Store>>,
    /// Token hashes → caller.
    tokens: RwLock<TokenTable>,
    /// Serialises changes to `tokens.toml` (read, change, write) made through the API.
    token_changes: Mutex<()>,
    /// The engine key (receipts).
    pub engine_key: PrivateKey,
    /// `[server]` settings.
    pub settings: ServerSettings,
    /// The clock decisions are made with.
    pub clock: Arc<dyn Clock>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The web console's sessions and page caches.
    pub console: super::console::ConsoleState,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("home", &self.ws.home())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state for `ws`: opens the ledger (one writer for the appender, one for other
    /// writes, readers on demand), builds the engine, activates its bundle, loads the tokens.
    pub fn open(ws: Workspace, clock: Arc<dyn Clock>) -> Result<AppState, ApiError> {
        let appender_store = ws.store().map_err(|e| ApiError::internal(e.to_string()))?;
        AppState::open_with(ws, clock, appender_store)
    }

    /// Like [`AppState::open`], with `appender_store` as the store the group-commit appender
    /// writes decisions to. It must be a handle on the workspace's ledger (reads, trust and the
    /// other writes go to the ledger file directly), e.g. the workspace's store wrapped in a
    /// [`crate::ledger::FaultyStore`].
    pub fn open_with(
        ws: Workspace,
        clock: Arc<dyn Clock>,
        appender_store: Box<dyn Store>,
    ) -> Result<AppState, ApiError> {
        let fail = |e: &dyn std::fmt::Display| ApiError::internal(e.to_string());
        let mut writer = ws.store().map_err(|e| fail(&e))?;
        let (engine, refused) = ws
            .engine_for(&*writer, clock.clone())
            .map_err(|e| fail(&e))?;
        if let Some(refused) = refused {
            tracing::warn!(error = %refused, "policy bundle refused; the active bundle keeps deciding");
        }
        engine.activate_bundle(&mut *writer)?;
        let metrics = Arc::new(Metrics::new());
        let batch_metrics = Arc::clone(&metrics);
        let options = crate::ledger::GroupOptions {
            after_batch: engine.checkpoint_hook(),
            on_batch: Some(Box::new(move |report| batch_metrics.batch(report))),
            ..crate::ledger::GroupOptions::default()
        };
        let appender = GroupCommit::start(appender_store, options)?;
        let tokens = TokenFile::load(&ws.tokens_path()).map_err(|e| fail(&e))?;
        let engine_key = ws.engine_key().map_err(|e| fail(&e))?;
        let settings = ws.config().server.clone();
        Ok(AppState {
            readers: ReaderPool::new(ws.clone(), settings.max_concurrency),
            engine: RwLock::new(Arc::new(engine)),
            appender,
            writer: Mutex::new(writer),
            tokens: RwLock::new(TokenTable::from(&tokens)),
            token_changes: Mutex::new(()),
            engine_key,
            settings,
            clock,
            metrics,
            console: super::console::ConsoleState::default(),
            ws,
        })
    }

    /// The engine deciding now.
    pub fn engine(&self) -> Arc<Engine> {
        match self.engine.read() {
            Ok(e) => Arc::clone(&e),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the engine (bundle reload).
    pub fn set_engine(&self, engine: Engine) {
        match self.engine.write() {
            Ok(mut e) => *e = Arc::new(engine),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(engine),
        }
    }

    /// The token table.
    pub fn tokens(&self) -> TokenTable {
        self.tokens.read().map(|t| t.clone()).unwrap_or_default()
    }

    /// The name and role of the stored token whose SHA-256 is `digest`, read under the table's
    /// lock without copying the table (console sessions look their token up on every request).
    pub fn lookup_token(&self, digest: &[u8; 32]) -> Option<(String, super::auth::ApiRole)> {
        // As `tokens()`: a poisoned table knows no token (fail closed).
        self.tokens.read().ok().and_then(|t| t.lookup(digest))
    }

    /// Reloads the token table from `tokens.toml`.
    pub fn reload_tokens(&self) -> Result<(), ApiError> {
        let file = TokenFile::load(&self.ws.tokens_path())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        // A revocation must hold even if a thread once panicked holding the lock.
        match self.tokens.write() {
            Ok(mut t) => *t = TokenTable::from(&file),
            Err(poisoned) => *poisoned.into_inner() = TokenTable::from(&file),
        }
        Ok(())
    }

    /// Reads `tokens.toml`, applies `change`, writes it back and reloads the token table, so the
    /// change holds from the next request on. Changes made through the API are serialised.
    pub fn change_tokens<T>(
        &self,
        change: impl FnOnce(&mut TokenFile) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let _one_at_a_time = self
            .token_changes
            .lock()
            .map_err(|_| ApiError::internal("the token file lock is unavailable"))?;
        let path = self.ws.tokens_path();
        let mut file = TokenFile::load(&path).map_err(|e| ApiError::internal(e.to_string()))?;
        let out = change(&mut file)?;
        file.save(&path)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        self.reload_tokens()?;
        Ok(out)
    }

    /// The non-decision writer.
    pub fn writer(&self) -> Result<std::sync::MutexGuard<'_, Box<dyn Store>>, ApiError> {
        self.writer
            .lock()
            .map_err(|_| ApiError::internal("the ledger writer is unavailable"))
    }
}

/// Read-only connections to the ledger, reused across requests.
pub struct ReaderPool {
    ws: Workspace,
    /// Readers kept open for reuse (`[server] max_concurrency`): as many as requests can be
    /// handled at once, so a steady load never closes and reopens one; beyond it a returned
    /// reader is closed.
    max_idle: usize,
    idle: Mutex<Vec<Box<dyn Store>>>,
}

impl std::fmt::Debug for ReaderPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderPool").finish_non_exhaustive()
    }
}

/// A checked-out reader; goes back to the pool when dropped.
pub struct Reader<'a> {
    pool: &'a ReaderPool,
    store: Option<Box<dyn Store>>,
}

impl ReaderPool {
    fn new(ws: Workspace, max_idle: usize) -> ReaderPool {
        ReaderPool {
            ws,
            max_idle,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle reader, or a new one.
    pub fn checkout(&self) -> Result<Reader<'_>, ApiError> {
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        let store = match idle {
            Some(store) => store,
            None => self
                .ws
                .read_store()
                .map_err(|e| ApiError::internal(e.to_string()))?,
        };
        Ok(Reader {
            pool: self,
            store: Some(store),
        })
    }
}

impl Reader<'_> {
    /// The connection as a store.
    pub fn store(&self) -> Result<&dyn Store, ApiError> {
        self.store
            .as_deref()
            .ok_or_else(|| ApiError::internal("reader already returned"))
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let (Some(store), Ok(mut idle)) = (self.store.take(), self.pool.idle.lock()) {
            if idle.len() < self.pool.max_idle {
                idle.push(store);
            }
        }
    }
}
