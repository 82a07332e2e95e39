//! [`PgStore`]: the ledger store on PostgreSQL, for several modelgate replicas writing one
//! linear ledger (the only file tree that imports the `postgres` client).
//!
//! The store implements the same [`Store`] contract as [`super::SqliteStore`], table for table
//! (`records`, `head`, `attestations`, `attestation_index`, `tree_nodes`, `checkpoints`,
//! `probe`), so the engine, verification, evidence and inventory code run unchanged on it.
//!
//! **Serialisation.** Every append (a group-commit batch of one replica) is one `READ
//! COMMITTED` transaction that first locks the single `head` row with `SELECT … FOR UPDATE`:
//! appenders on any number of replicas queue on that row lock, and each reads the head, the
//! guard records and the Merkle frontier only once it holds the lock, so indices stay gap-free,
//! `prev` links linear and the tree nodes consistent. Group commit still batches per replica;
//! the head row is the one serialisation point across replicas (`docs/deploy/ha.md` measures
//! what it costs).
//!
//! **Durability.** A commit returns after PostgreSQL has flushed its write-ahead log: the store
//! sets `synchronous_commit = on` for its sessions and refuses a server running with
//! `fsync = off`. A replica answers only after its batch's `COMMIT` returned.
//!
//! **Append-only in the database too.** Triggers refuse `UPDATE`, `DELETE` and `TRUNCATE` on the
//! record, tree, checkpoint and attestation tables (only the head row moves), so a bug or a
//! compromised replica cannot rewrite history through SQL without first disabling them as the
//! table owner, which verification then detects anyway.
//!
//! **Checkpoints.** [`Store::lock_checkpoints`] takes a session advisory lock, so one replica at a
//! time signs; every replica reads the latest from the table.
//!
//! **TLS.** With a CA file (`postgres_ca_file` in the workspace, [`PgOptions::ca_file`]) the
//! sessions speak TLS (rustls) and the server's certificate must chain to that CA and name the
//! host of the URL; `sslmode=require` in the URL then refuses a server that does not offer TLS.
//! Without a CA file, `sslmode=require` verifies against the Mozilla roots (`webpki-roots`), and
//! the default (`prefer`) or `disable` connect without TLS, as for a server on the same host.
//!
//! **Connections.** One handle is one session; a handle whose connection broke (the database
//! restarted, the network dropped) reconnects on its next call, and a call that fails meanwhile is
//! an error: the gate fails closed. Sessions carry `idle_in_transaction_session_timeout` so that a
//! frozen replica cannot hold the head lock for ever. The synchronous client runs its own
//! runtime per connection: call it from plain or blocking threads, never from async code.

use std::cell::{RefCell, RefMut};
use std::time::Duration;

use std::path::PathBuf;

use postgres::config::SslMode;
use postgres::{Config, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::merkle::{Hash, NodeSource};
use super::record::{RecordDraft, RecordKind, SealedRecord};
use super::store::{append_one, AppendOutcome, AppendRequest, Head, Store, StoredRecord};
use super::LedgerError;

mod batch;
mod schema;
mod session;

use session::{open_session, tls_connector, Cached, Params, Session, Sql};

pub use schema::SCHEMA_VERSION;

/// Bytes [`Store::probe_write`] writes (as the SQLite store).
const PROBE_BYTES: i64 = 256 * 1024;

/// How long connecting may take before the call fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The advisory lock key of the checkpoint signer (`hashtext('modelgate.checkpoint')` is not
/// stable across versions, so a constant): "mgck" in ASCII.
const CHECKPOINT_LOCK: i64 = 0x6d67_636b;

const SELECT_RECORD: &str = "SELECT idx, kind, leaf_hash, bytes FROM records";

/// How to reach the database beyond its URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgOptions {
    /// PEM file of the CA(s) the server's certificate must chain to; sessions use TLS when set.
    pub ca_file: Option<PathBuf>,
}

/// A ledger in one PostgreSQL database.
pub struct PgStore {
    config: Config,
    /// The TLS connector, when sessions use TLS.
    tls: Option<MakeRustlsConnect>,
    /// Where the database is, for messages (no password).
    target: String,
    session: RefCell<Session>,
    read_only: bool,
    /// Whether this handle holds the checkpoint signer lock (a session lock: lost with the
    /// connection, which a reconnect must then report rather than hide).
    signer_lock: std::cell::Cell<bool>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

/// A driver error, with the server's message and SQLSTATE when there is one.
#[derive(Debug)]
struct PgError(String);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PgError {}

fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn storage(context: &'static str) -> impl FnOnce(postgres::Error) -> LedgerError {
    move |e| LedgerError::Storage {
        context,
        source: Box::new(PgError(describe(&e))),
    }
}

/// `host:port/dbname` of a config, for messages; never the password.
fn describe_target(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("(default database)");
    format!("{host}:{port}/{db}")
}

/// `host:port/dbname` of a PostgreSQL URL, for messages (never the password); `None` when the
/// URL does not parse.
pub fn describe_url(url: &str) -> Option<String> {
    url.parse::<Config>().ok().map(|c| describe_target(&c))
}

/// Whether a PostgreSQL URL carries a password.
pub fn url_has_password(url: &str) -> bool {
    url.parse::<Config>()
        .is_ok_and(|c| c.get_password().is_some())
}

fn sql_index(index: u64) -> Result<i64, LedgerError> {
    i64::try_from(index).map_err(|_| LedgerError::IndexOutOfRange(index))
}

fn to_u64(value: i64, what: &str) -> Result<u64, LedgerError> {
    u64::try_from(value)
        .map_err(|_| LedgerError::Inconsistent(format!("{what} {value} is negative")))
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/dbname`, or the
    /// key-value form) for appending, applying any schema migration this build brings.
    ///
    /// Fails if the server does not flush commits (`fsync = off`), or if the database holds a
    /// newer schema.
    pub fn open(url: &str) -> Result<PgStore, LedgerError> {
        PgStore::open_with(url, &PgOptions::default())
    }

    /// [`PgStore::open`] with `options` (TLS).
    pub fn open_with(url: &str, options: &PgOptions) -> Result<PgStore, LedgerError> {
        let mut store = PgStore::connect(url, options, false)?;
        schema::check_durability(&mut store.session.get_mut().client)?;
        schema::migrate(&mut store.session.get_mut().client)?;
        Ok(store)
    }

    /// Connects for reading only (verification, export, the server's readers). The database
    /// must already hold a ledger; the session is read-only and appends fail with
    /// [`LedgerError::ReadOnly`].
    pub fn open_read_only(url: &str) -> Result<PgStore, LedgerError> {
        PgStore::open_read_only_with(url, &PgOptions::default())
    }

    /// [`PgStore::open_read_only`] with `options` (TLS).
    pub fn open_read_only_with(url: &str, options: &PgOptions) -> Result<PgStore, LedgerError> {
        let mut store = PgStore::connect(url, options, true)?;
        let target = store.target.clone();
        schema::expect_current(&mut store.session.get_mut().client, &target)?;
        Ok(store)
    }

    fn connect(url: &str, options: &PgOptions, read_only: bool) -> Result<PgStore, LedgerError> {
        let mut config: Config = url.parse().map_err(|e: postgres::Error| {
            LedgerError::Storage {
                context: "reading the PostgreSQL URL",
                // The parser's message never repeats the URL (which may hold a password).
                source: Box::new(PgError(describe(&e))),
            }
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("modelgate");
        }
        // A dead peer or a partition must not leave a session (and the head or signer lock it
        // may hold) waiting for the operating system's two-hour default.
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(10))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(60));
        if options.ca_file.is_some() {
            // A CA file means TLS: never fall back to plaintext when the server (or someone in
            // between) declines it.
            config.ssl_mode(SslMode::Require);
        }
        let target = describe_target(&config);
        let tls = match (&options.ca_file, config.get_ssl_mode()) {
            (Some(ca), _) => Some(tls_connector(Some(ca))?),
            (None, SslMode::Require) => Some(tls_connector(None)?),
            (None, _) => None,
        };
        let session = open_session(&config, tls.as_ref(), read_only)?;
        Ok(PgStore {
            config,
            tls,
            target,
            session: RefCell::new(session),
            read_only,
            signer_lock: std::cell::Cell::new(false),
        })
    }

    /// The connection broke while `COMMIT` was in flight: the server may have committed the batch
    /// or not. Looks (on a new session) for the batch's last record: there with the expected leaf
    /// hash, the batch is durable and its outcomes stand; absent, nothing of it was committed
    /// (the transaction was atomic). If the store cannot be read, the outcome stays unknown and is
    /// an error — the gate stays closed — naming the records to look for.
    fn settle_unknown_commit(
        &self,
        outcomes: Vec<AppendOutcome>,
        (index, leaf_hash): (u64, [u8; 32]),
        error: LedgerError,
    ) -> Result<Vec<AppendOutcome>, LedgerError> {
        match self.record(index) {
            Ok(Some(stored)) if stored.leaf_hash == leaf_hash => {
                tracing::warn!(index, %error, "the connection broke during COMMIT, which had landed");
                Ok(outcomes)
            }
            Ok(_) => Err(error),
            Err(check) => Err(LedgerError::Inconsistent(format!(
                "the connection broke during COMMIT ({error}) and the ledger could not be read to \
                 tell whether the batch up to record {index} (leaf hash {}) landed ({check}); look \
                 for that record before acting on the decisions of this batch",
                hex::encode(leaf_hash)
            ))),
        }
    }

    /// Where this store's database is (`host:port/dbname`), for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The session, reconnected (with a fresh statement cache) first if the connection broke
    /// since the last call.
    fn client(&self) -> Result<RefMut<'_, Session>, LedgerError> {
        let mut session = self.session.try_borrow_mut().map_err(|_| {
            LedgerError::Inconsistent("the PostgreSQL session is in use".to_owned())
        })?;
        if session.client.is_closed() {
            tracing::warn!(target = %self.target, "PostgreSQL connection lost; reconnecting");
            let mut fresh = open_session(&self.config, self.tls.as_ref(), self.read_only)?;
            // The server may be another one now (a failover): hold it to what the first open
            // checked.
            if !self.read_only {
                schema::check_durability(&mut fresh.client)?;
            }
            schema::expect_current(&mut fresh.client, &self.target)?;
            *session = fresh;
            if self.signer_lock.replace(false) {
                return Err(LedgerError::Inconsistent(
                    "the checkpoint signer lock was lost with the database connection".to_owned(),
                ));
            }
        }
        Ok(session)
    }

    fn writable(&self) -> Result<(), LedgerError> {
        if self.read_only {
            Err(LedgerError::ReadOnly)
        } else {
            Ok(())
        }
    }

    fn query_records(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        let rows = self
            .client()?
            .query(sql, params)
            .map_err(storage("reading records"))?;
        rows.iter().map(decode_row).collect()
    }

    /// Appends already-sealed `records` copied from another store after the head, in one
    /// transaction, checking that each sits at the next index, hashes to its leaf hash and links
    /// to the one before (`modelgate storage migrate`). The tree nodes are computed, not copied.
    pub fn import(&mut self, records: &[StoredRecord]) -> Result<(), LedgerError> {
        self.writable()?;
        batch::import(&mut *self.client()?, records)
    }
}

/// Converts one row; a damaged row is [`LedgerError::CorruptRow`] at its index.
fn decode_row(row: &Row) -> Result<StoredRecord, LedgerError> {
    let idx: i64 = row.try_get(0).map_err(storage("reading a record index"))?;
    let index = to_u64(idx, "record index")?;
    let corrupt = |problem: String| LedgerError::CorruptRow { index, problem };
    let kind: String = row.try_get(1).map_err(storage("reading a record kind"))?;
    let kind = kind
        .parse::<RecordKind>()
        .map_err(|_| corrupt(format!("stored kind `{kind}` is not a record kind")))?;
    let leaf: Vec<u8> = row.try_get(2).map_err(storage("reading a leaf hash"))?;
    let leaf_hash = <[u8; 32]>::try_from(leaf.as_slice())
        .map_err(|_| corrupt(format!("stored leaf hash is {} bytes, not 32", leaf.len())))?;
    let bytes: Vec<u8> = row.try_get(3).map_err(storage("reading record bytes"))?;
    Ok(StoredRecord {
        index,
        kind,
        bytes,
        leaf_hash,
    })
}

/// The head row (`size` 0 reads as an empty ledger).
fn read_head(client: &mut impl Sql, lock: bool) -> Result<Option<Head>, LedgerError> {
    let sql = if lock {
        "SELECT size, leaf_hash FROM head WHERE id = 0 FOR UPDATE"
    } else {
        "SELECT size, leaf_hash FROM head WHERE id = 0"
    };
    let row = client
        .query_opt(sql, &[])
        .map_err(storage("reading the head"))?;
    let Some(row) = row else {
        return Err(LedgerError::Inconsistent(
            "the head row is missing".to_owned(),
        ));
    };
    let size: i64 = row.try_get(0).map_err(storage("reading the head"))?;
    let size = to_u64(size, "head size")?;
    if size == 0 {
        return Ok(None);
    }
    let hash: Vec<u8> = row.try_get(1).map_err(storage("reading the head"))?;
    let leaf_hash = <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| {
        LedgerError::Inconsistent(format!("head leaf hash is {} bytes, not 32", hash.len()))
    })?;
    Ok(Some(Head { size, leaf_hash }))
}

/// Perfect node `(level, index)` from `tree_nodes`.
fn read_node(client: &mut impl Sql, level: u32, index: u64) -> Result<Hash, LedgerError> {
    let missing = LedgerError::MissingNode { level, index };
    let (Ok(lvl), Ok(idx)) = (i32::try_from(level), i64::try_from(index)) else {
        return Err(missing);
    };
    let row = client
        .query_opt(
            "SELECT hash FROM tree_nodes WHERE level = $1 AND idx = $2",
            &[&lvl, &idx],
        )
        .map_err(storage("reading a tree node"))?;
    let Some(row) = row else {
        return Err(missing);
    };
    let hash: Vec<u8> = row.try_get(0).map_err(storage("reading a tree node"))?;
    node_hash(level, index, &hash)
}

/// A stored node hash, which must be 32 bytes ([`LedgerError::CorruptNode`] otherwise).
fn node_hash(level: u32, index: u64, hash: &[u8]) -> Result<Hash, LedgerError> {
    <[u8; 32]>::try_from(hash).map_err(|_| LedgerError::CorruptNode {
        level,
        index,
        problem: format!("hash is {} bytes, not 32", hash.len()),
    })
}

impl Store for PgStore {
    fn append(&mut self, drafts: &[RecordDraft]) -> Result<Vec<SealedRecord>, LedgerError> {
        append_one(self, AppendRequest::records(drafts.to_vec()))
    }

    fn append_unless(
        &mut self,
        kind: RecordKind,
        since: u64,
        drafts: &[RecordDraft],
    ) -> Result<Vec<SealedRecord>, LedgerError> {
        append_one(self, AppendRequest::guarded(kind, since, drafts))
    }

    /// One transaction, serialised across replicas on the head row, one WAL flush.
    fn append_batch(&mut self, batch: &[AppendRequest]) -> Result<Vec<AppendOutcome>, LedgerError> {
        if batch.iter().all(AppendRequest::is_empty) {
            return Ok(batch.iter().map(|_| Ok(Vec::new())).collect());
        }
        self.writable()?;
        let committed = batch::commit(&mut *self.client()?, batch);
        match committed {
            Ok(outcomes) => Ok(outcomes),
            Err(batch::CommitError::Failed(e)) => Err(e),
            Err(batch::CommitError::Unknown {
                outcomes,
                last,
                error,
            }) => self.settle_unknown_commit(outcomes, last, error),
        }
    }

    /// Rewrites the one `probe` row with [`PROBE_BYTES`] of fresh random bytes (made by the
    /// server, incompressible) in a durable transaction; the ledger's tables are not touched.
    fn probe_write(&mut self) -> Result<(), LedgerError> {
        self.writable()?;
        self.client()?
            .execute(
                "INSERT INTO probe (id, filler) \
                 SELECT 1, decode(string_agg(md5(random()::text || g::text), ''), 'hex') \
                 FROM generate_series(1, $1::bigint / 16) AS g \
                 ON CONFLICT (id) DO UPDATE SET filler = excluded.filler",
                &[&PROBE_BYTES],
            )
            .map_err(storage("writing the probe"))?;
        Ok(())
    }

    fn size(&self) -> Result<u64, LedgerError> {
        Ok(read_head(&mut *self.client()?, false)?.map_or(0, |h| h.size))
    }

    fn record(&self, index: u64) -> Result<Option<StoredRecord>, LedgerError> {
        let Ok(idx) = i64::try_from(index) else {
            return Ok(None);
        };
        let sql = format!("{SELECT_RECORD} WHERE idx = $1");
        Ok(self.query_records(&sql, &[&idx])?.into_iter().next())
    }

    fn records(&self, from: u64, limit: u64) -> Result<Vec<StoredRecord>, LedgerError> {
        let Ok(from) = i64::try_from(from) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!("{SELECT_RECORD} WHERE idx >= $1 ORDER BY idx LIMIT $2");
        self.query_records(&sql, &[&from, &limit])
    }

    fn records_of_kind(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, LedgerError> {
        let sql = format!("{SELECT_RECORD} WHERE kind = $1 ORDER BY idx");
        self.query_records(&sql, &[&kind.as_str()])
    }

    /// One indexed query on the `model` column the append fills for decisions.
    fn decisions_for_model(&self, model: &str) -> Result<Vec<StoredRecord>, LedgerError> {
        let sql = format!("{SELECT_RECORD} WHERE kind = 'decision' AND model = $1 ORDER BY idx");
        self.query_records(&sql, &[&model])
    }

    fn decisions_for_model_before(
        &self,
        model: &str,
        before: u64,
        limit: u64,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        let sql = format!(
            "{SELECT_RECORD} WHERE kind = 'decision' AND model = $1 AND idx < $2 \
             ORDER BY idx DESC LIMIT $3"
        );
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_records(&sql, &[&model, &before, &limit])
    }

    /// One index seek per kind, in one query.
    fn last_of_kinds(&self, kinds: &[RecordKind]) -> Result<Option<u64>, LedgerError> {
        let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let row = self
            .client()?
            .query_one(
                "SELECT MAX(last) FROM unnest($1::text[]) AS k(kind), \
                 LATERAL (SELECT MAX(idx) AS last FROM records r WHERE r.kind = k.kind) m",
                &[&names],
            )
            .map_err(storage("reading the last record of a kind"))?;
        let last: Option<i64> = row
            .try_get(0)
            .map_err(storage("reading the last record of a kind"))?;
        last.map(|i| to_u64(i, "record index")).transpose()
    }

    fn head(&self) -> Result<Option<Head>, LedgerError> {
        read_head(&mut *self.client()?, false)
    }

    fn put_attestation(&mut self, digest: &str, bytes: &[u8]) -> Result<(), LedgerError> {
        super::store::check_attestation(digest, bytes)?;
        self.writable()?;
        batch::put_attestation(&mut *self.client()?, None, digest, bytes)
    }

    fn attestation(&self, digest: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        if crate::digest::parse_prefixed(digest).is_none() {
            return Err(LedgerError::InvalidDigest(digest.to_owned()));
        }
        let row = self
            .client()?
            .query_opt(
                "SELECT bytes FROM attestations WHERE digest = $1",
                &[&digest],
            )
            .map_err(storage("reading an attestation"))?;
        row.map(|row| {
            let bytes: Vec<u8> = row.try_get(0).map_err(storage("reading an attestation"))?;
            super::store::verified_attestation(digest, bytes)
        })
        .transpose()
    }

    fn file_attestation(
        &mut self,
        model: &str,
        version: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(), LedgerError> {
        super::store::check_attestation(digest, bytes)?;
        self.writable()?;
        batch::put_attestation(&mut *self.client()?, Some((model, version)), digest, bytes)
    }

    fn filed_attestations(&self, model: &str, version: &str) -> Result<Vec<Vec<u8>>, LedgerError> {
        let rows = self
            .client()?
            .query(
                "SELECT i.digest, a.bytes FROM attestation_index i \
                 JOIN attestations a ON a.digest = i.digest \
                 WHERE i.model = $1 AND i.version = $2 ORDER BY i.seq",
                &[&model, &version],
            )
            .map_err(storage("reading the attestation index"))?;
        rows.iter()
            .map(|row| {
                let digest: String = row
                    .try_get(0)
                    .map_err(storage("reading the attestation index"))?;
                let bytes: Vec<u8> = row
                    .try_get(1)
                    .map_err(storage("reading the attestation index"))?;
                super::store::verified_attestation(&digest, bytes)
            })
            .collect()
    }

    fn attestation_digests(&self) -> Result<Vec<String>, LedgerError> {
        let rows = self
            .client()?
            .query("SELECT digest FROM attestations ORDER BY digest", &[])
            .map_err(storage("listing attestations"))?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(storage("listing attestations")))
            .collect()
    }

    fn attestation_filings(&self) -> Result<Vec<(String, String, String)>, LedgerError> {
        let rows = self
            .client()?
            .query(
                "SELECT model, version, digest FROM attestation_index ORDER BY seq",
                &[],
            )
            .map_err(storage("listing attestation filings"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)
                        .map_err(storage("listing attestation filings"))?,
                    r.try_get(1)
                        .map_err(storage("listing attestation filings"))?,
                    r.try_get(2)
                        .map_err(storage("listing attestation filings"))?,
                ))
            })
            .collect()
    }

    /// One indexed read of `tree_nodes`.
    fn tree_node(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        read_node(&mut *self.client()?, level, index)
    }

    /// One range read of `tree_nodes`.
    fn tree_nodes(&self, level: u32, from: u64, to: u64) -> Result<Vec<(u64, Hash)>, LedgerError> {
        let (Ok(lvl), Ok(lo)) = (i32::try_from(level), i64::try_from(from)) else {
            return Ok(Vec::new());
        };
        let hi = i64::try_from(to).unwrap_or(i64::MAX);
        if lo >= hi {
            return Ok(Vec::new());
        }
        let rows = self
            .client()?
            .query(
                "SELECT idx, hash FROM tree_nodes WHERE level = $1 AND idx >= $2 AND idx < $3 \
                 ORDER BY idx",
                &[&lvl, &lo, &hi],
            )
            .map_err(storage("reading tree nodes"))?;
        rows.iter()
            .map(|row| {
                let idx: i64 = row.try_get(0).map_err(storage("reading a tree node"))?;
                let index = to_u64(idx, "tree node index")?;
                let hash: Vec<u8> = row.try_get(1).map_err(storage("reading a tree node"))?;
                Ok((index, node_hash(level, index, &hash)?))
            })
            .collect()
    }

    fn put_checkpoint(&mut self, size: u64, note: &str) -> Result<(), LedgerError> {
        self.writable()?;
        batch::put_checkpoint(&mut *self.client()?, size, note)
    }

    fn lock_checkpoints(&mut self) -> Result<(), LedgerError> {
        self.client()?
            .execute("SELECT pg_advisory_lock($1)", &[&CHECKPOINT_LOCK])
            .map_err(storage("taking the checkpoint signer lock"))?;
        self.signer_lock.set(true);
        Ok(())
    }

    fn try_lock_checkpoints(&mut self) -> Result<bool, LedgerError> {
        let taken: bool = self
            .client()?
            .query_one("SELECT pg_try_advisory_lock($1)", &[&CHECKPOINT_LOCK])
            .and_then(|row| row.try_get(0))
            .map_err(storage("taking the checkpoint signer lock"))?;
        self.signer_lock.set(taken);
        Ok(taken)
    }

    fn unlock_checkpoints(&mut self) -> Result<(), LedgerError> {
        if !self.signer_lock.replace(false) {
            // Not held (never taken, or lost with a connection, already reported).
            return Ok(());
        }
        let released: bool = self
            .client()?
            .query_one("SELECT pg_advisory_unlock($1)", &[&CHECKPOINT_LOCK])
            .and_then(|row| row.try_get(0))
            .map_err(storage("releasing the checkpoint signer lock"))?;
        if released {
            Ok(())
        } else {
            Err(LedgerError::Inconsistent(
                "the checkpoint signer lock was not held by this session any more".to_owned(),
            ))
        }
    }

    fn checkpoint(&self, size: u64) -> Result<Option<String>, LedgerError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(None);
        };
        let row = self
            .client()?
            .query_opt("SELECT note FROM checkpoints WHERE size = $1", &[&size])
            .map_err(storage("reading a checkpoint"))?;
        row.map(|r| r.try_get(0).map_err(storage("reading a checkpoint")))
            .transpose()
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, LedgerError> {
        Ok(self
            .read_checkpoints(
                "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                &[],
            )?
            .pop())
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, LedgerError> {
        self.read_checkpoints("SELECT size, note FROM checkpoints ORDER BY size", &[])
    }

    fn latest_checkpoints(&self, n: u64) -> Result<Vec<(u64, String)>, LedgerError> {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.read_checkpoints(
            "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT $1",
            &[&n],
        )
    }

    fn first_checkpoint_after(&self, index: u64) -> Result<Option<(u64, String)>, LedgerError> {
        let Ok(index) = i64::try_from(index) else {
            return Ok(None);
        };
        Ok(self
            .read_checkpoints(
                "SELECT size, note FROM checkpoints WHERE size > $1 ORDER BY size LIMIT 1",
                &[&index],
            )?
            .pop())
    }
}

impl PgStore {
    fn read_checkpoints(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<(u64, String)>, LedgerError> {
        let rows = self
            .client()?
            .query(sql, params)
            .map_err(storage("reading checkpoints"))?;
        rows.iter()
            .map(|row| {
                let size: i64 = row.try_get(0).map_err(storage("reading checkpoints"))?;
                let note: String = row.try_get(1).map_err(storage("reading checkpoints"))?;
                Ok((to_u64(size, "checkpoint size")?, note))
            })
            .collect()
    }
}

impl NodeSource for PgStore {
    fn perfect_node(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        self.tree_node(level, index)
    }
}
