//! TLS to the PostgreSQL ledger: with a CA file the store's sessions are encrypted and the
//! server's certificate must chain to that CA and name the host; a certificate from another CA,
//! or one for another host, is refused before any query; `sslmode=require` without a CA file
//! checks against the public roots, which a private CA is not among. The throwaway server of this
//! test process (`tests/pg_support`) is switched to TLS once, with a CA and a server certificate
//! made here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ledger_support;
mod pg_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ledger_support::drafts;
use modelgate::ledger::{LedgerError, PgOptions, PgStore, Store};

/// A CA and a certificate it signed, as PEM.
struct Issued {
    ca: String,
    cert: String,
    key: String,
}

fn issue(names: &[&str]) -> Issued {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "modelgate test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    Issued {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// The server of this process, switched to TLS with a certificate for 127.0.0.1 and localhost;
/// returns the CA file that issued it.
fn tls_server() -> Option<(&'static pg_support::PgServer, &'static Path)> {
    static CA: OnceLock<Option<PathBuf>> = OnceLock::new();
    let server = pg_support::server()?;
    let ca = CA.get_or_init(|| {
        let issued = issue(&["127.0.0.1", "localhost"]);
        let dir = server.dir();
        let owner = std::fs::metadata(dir).unwrap();
        let (cert, key, ca) = (dir.join("tls.crt"), dir.join("tls.key"), dir.join("ca.pem"));
        std::fs::write(&cert, &issued.cert).unwrap();
        std::fs::write(&key, &issued.key).unwrap();
        std::fs::write(&ca, &issued.ca).unwrap();
        for file in [&cert, &key] {
            std::os::unix::fs::chown(file, Some(owner.uid()), Some(owner.gid())).unwrap();
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let mut admin = server.admin();
        for setting in [
            format!("ALTER SYSTEM SET ssl_cert_file = '{}'", cert.display()),
            format!("ALTER SYSTEM SET ssl_key_file = '{}'", key.display()),
            "ALTER SYSTEM SET ssl = on".to_owned(),
            "SELECT pg_reload_conf()".to_owned(),
        ] {
            admin.batch_execute(&setting).unwrap();
        }
        // The reload is asynchronous: wait until new sessions see it.
        for _ in 0..100 {
            let on: String = server.admin().query_one("SHOW ssl", &[]).unwrap().get(0);
            if on == "on" {
                return Some(ca);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the test server did not switch to TLS");
    });
    Some((server, ca.as_deref()?))
}

fn with_ca(ca: &Path) -> PgOptions {
    PgOptions {
        ca_file: Some(ca.to_path_buf()),
    }
}

/// Whether every session of `application_name = 'modelgate'` on `db` is encrypted, and how many
/// there are.
fn encrypted_sessions(server: &pg_support::PgServer, db: &str) -> (bool, i64) {
    let row = server
        .admin()
        .query_one(
            "SELECT bool_and(s.ssl), count(*) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'modelgate' AND a.datname = $1",
            &[&db],
        )
        .unwrap();
    (row.get::<_, Option<bool>>(0).unwrap_or(false), row.get(1))
}

#[test]
fn with_the_ca_file_sessions_are_encrypted_and_appends_work() {
    let Some((server, ca)) = tls_server() else {
        return;
    };
    let url = format!("{}?sslmode=require", server.fresh_database());
    let db = url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let mut store = PgStore::open_with(&url, &with_ca(ca)).unwrap();
    store.append(&drafts(0..5)).unwrap();
    let reader = PgStore::open_read_only_with(&url, &with_ca(ca)).unwrap();
    assert_eq!(reader.size().unwrap(), 5);
    let (encrypted, sessions) = encrypted_sessions(server, &db);
    assert_eq!(sessions, 2, "the writer and the reader");
    assert!(encrypted, "every modelgate session uses TLS");
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let Some((server, _)) = tls_server() else {
        return;
    };
    let other = issue(&["127.0.0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, other.ca).unwrap();
    let url = server.fresh_database();
    let err = PgStore::open_with(&url, &with_ca(&other_ca)).unwrap_err();
    assert!(
        matches!(err, LedgerError::Storage { .. }) && err_text(&err).contains("certificate"),
        "{}",
        err_text(&err)
    );
}

#[test]
fn a_certificate_for_another_host_is_refused() {
    let Some((server, ca)) = tls_server() else {
        return;
    };
    // The certificate names 127.0.0.1 and localhost; connect to the same address under another
    // name (`hostaddr` gives the address, the host name is what the certificate must name).
    let url = format!(
        "{}?hostaddr=127.0.0.1",
        server.fresh_database().replace("127.0.0.1", "db.example")
    );
    let err = PgStore::open_with(&url, &with_ca(ca)).unwrap_err();
    assert!(err_text(&err).contains("certificate"), "{}", err_text(&err));
}

#[test]
fn require_without_a_ca_file_checks_the_public_roots() {
    let Some((server, _)) = tls_server() else {
        return;
    };
    let url = format!("{}?sslmode=require", server.fresh_database());
    let err = PgStore::open(&url).unwrap_err();
    assert!(err_text(&err).contains("certificate"), "{}", err_text(&err));
}

#[test]
fn a_ca_file_that_is_not_pem_is_named_in_the_error() {
    let Some((server, _)) = tls_server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("ca.pem");
    std::fs::write(&bogus, "not a certificate\n").unwrap();
    let err = PgStore::open_with(&server.fresh_database(), &with_ca(&bogus)).unwrap_err();
    assert!(matches!(err, LedgerError::Tls(_)), "{err:?}");
    assert!(err.to_string().contains("ca.pem"), "{err}");
}

/// The error and its sources, as one line.
fn err_text(err: &LedgerError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
