//! The sessions of [`super::PgStore`]: opening one (TLS or not, with the store's settings), and
//! running queries on a session or a transaction through the statements prepared on it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use postgres::types::ToSql;
use postgres::{Client, Config, GenericClient, NoTls, Row, Statement};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::storage;
use crate::ledger::LedgerError;

/// Query parameters.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Statements prepared on one session, by SQL text: each is parsed and planned once per session
/// instead of on every call (one round trip and the server's parse work saved per query).
pub(super) type Statements = HashMap<String, Statement>;

/// What the store's queries run on: a session or a transaction, with the session's prepared
/// statements.
pub(super) trait Sql {
    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, postgres::Error>;
    fn query_opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>, postgres::Error>;
    fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, postgres::Error>;
    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error>;
}

/// A client (session or transaction) and the cache of statements prepared on its session.
pub(super) struct Cached<'a, C: GenericClient> {
    pub(super) client: &'a mut C,
    pub(super) statements: &'a mut Statements,
}

impl<C: GenericClient> Cached<'_, C> {
    fn prepared(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

impl<C: GenericClient> Sql for Cached<'_, C> {
    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.query(&statement, params)
    }

    fn query_opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>, postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.query_opt(&statement, params)
    }

    fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.query_one(&statement, params)
    }

    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error> {
        let statement = self.prepared(sql)?;
        self.client.execute(&statement, params)
    }
}

/// One database session and the statements prepared on it.
pub(super) struct Session {
    pub(super) client: Client,
    pub(super) statements: Statements,
}

impl Sql for Session {
    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, postgres::Error> {
        self.cached().query(sql, params)
    }

    fn query_opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>, postgres::Error> {
        self.cached().query_opt(sql, params)
    }

    fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, postgres::Error> {
        self.cached().query_one(sql, params)
    }

    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error> {
        self.cached().execute(sql, params)
    }
}

impl Session {
    fn cached(&mut self) -> Cached<'_, Client> {
        Cached {
            client: &mut self.client,
            statements: &mut self.statements,
        }
    }
}

/// Settings every session starts with: durable commits, and no transaction left holding the
/// head lock for ever by a frozen client.
const SESSION_SETTINGS: &str = "SET synchronous_commit = on; \
     SET idle_in_transaction_session_timeout = '30s'; \
     SET statement_timeout = '60s'";

/// The rustls connector: server certificates must chain to the CAs in `ca_file` (or, without
/// one, to the Mozilla roots) and name the host connected to.
pub(super) fn tls_connector(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, LedgerError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let bad =
                |problem: String| LedgerError::Tls(format!("`{}`: {problem}", path.display()));
            let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| bad(format!("not a PEM certificate file: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| bad(format!("a certificate in it is not usable: {e}")))?;
            }
            if roots.is_empty() {
                return Err(bad("it holds no certificate".to_owned()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| LedgerError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Opens one session with the store's settings.
pub(super) fn open_session(
    config: &Config,
    tls: Option<&MakeRustlsConnect>,
    read_only: bool,
) -> Result<Session, LedgerError> {
    let connected = match tls {
        Some(tls) => config.connect(tls.clone()),
        None => config.connect(NoTls),
    };
    let mut client = connected.map_err(storage("connecting to PostgreSQL"))?;
    client
        .batch_execute(SESSION_SETTINGS)
        .map_err(storage("configuring the session"))?;
    if read_only {
        client
            .batch_execute("SET default_transaction_read_only = on")
            .map_err(storage("configuring the session"))?;
    }
    Ok(Session {
        client,
        statements: Statements::new(),
    })
}
