//! Enforces the import rules of ARCHITECTURE.md: which module may use which crate or module.
//! A failure here means a boundary was crossed; move the code, do not loosen the rule.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Source files as (path relative to src/, code with comment lines removed).
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let code: String = fs::read_to_string(&p)
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            (rel, code)
        })
        .collect()
}

fn assert_only(allowed: impl Fn(&str) -> bool, needles: &[&str], rule: &str) {
    let mut offenders = Vec::new();
    for (path, code) in sources() {
        if allowed(&path) {
            continue;
        }
        for needle in needles {
            if code.contains(needle) {
                offenders.push(format!("{path} uses `{needle}`"));
            }
        }
    }
    assert!(offenders.is_empty(), "{rule}:\n{}", offenders.join("\n"));
}

#[test]
fn only_attest_touches_signature_crates() {
    assert_only(
        |p| p.starts_with("attest/"),
        &[
            "ed25519_dalek",
            "ed25519::",
            "pkcs8::",
            "spki::",
            "rand_core",
            "OsRng",
        ],
        "only attest may import signature crates",
    );
}

#[test]
fn only_policy_touches_cedar() {
    assert_only(
        |p| p.starts_with("policy/"),
        &["cedar_policy"],
        "only policy may import cedar_policy",
    );
}

#[test]
fn only_the_sqlite_store_touches_rusqlite() {
    assert_only(
        |p| p == "ledger/sqlite.rs" || p.starts_with("ledger/sqlite/"),
        &["rusqlite"],
        "only ledger::sqlite may import rusqlite",
    );
}

#[test]
fn only_the_postgres_store_touches_the_postgres_client() {
    assert_only(
        |p| p == "ledger/postgres.rs" || p.starts_with("ledger/postgres/"),
        &[
            "use postgres",
            " postgres::",
            "(postgres::",
            "<postgres::",
            "tokio_postgres",
        ],
        "only ledger::postgres may import the PostgreSQL client",
    );
}

#[test]
fn only_the_evidence_archive_touches_tar_and_gzip() {
    assert_only(
        |p| p == "evidence/archive.rs",
        &["tar::", "flate2"],
        "only evidence::archive may import the archive crates",
    );
}

#[test]
fn only_the_mlflow_client_touches_http_clients_and_hmac() {
    assert_only(
        |p| p == "inventory/mlflow.rs" || p.starts_with("inventory/mlflow/"),
        &["ureq", "hmac::", "Hmac"],
        "only inventory::mlflow may import the HTTP client and HMAC crates",
    );
}

#[test]
fn only_the_console_renders_html_with_maud() {
    assert_only(
        |p| p.starts_with("server/console/"),
        &["maud::", "use maud"],
        "only server::console may import maud",
    );
}

#[test]
fn policy_does_no_io_after_load_and_checks_no_signatures() {
    assert_only(
        |p| !p.starts_with("policy/") || p == "policy/bundle.rs" || p == "policy/cases.rs",
        &["std::fs", "fs::read", "File::open"],
        "policy does file I/O only while loading a bundle or cases",
    );
    assert_only(
        |p| !p.starts_with("policy/"),
        &["crate::attest"],
        "policy never checks signatures",
    );
}

#[test]
fn the_wall_clock_is_read_only_in_clock() {
    assert_only(
        |p| p == "clock.rs",
        &["now_utc", "SystemTime::now", "Instant::now"],
        "read time through the injected Clock",
    );
}

#[test]
fn the_ledger_is_append_only() {
    assert_only(
        |p| !p.starts_with("ledger/"),
        &[
            "DELETE FROM",
            "UPDATE records",
            "fn delete",
            "fn update",
            "fn remove",
        ],
        "the ledger has no delete or update",
    );
}

#[test]
fn lower_layers_do_not_know_the_adapters() {
    let lower = |p: &str| {
        !(p.starts_with("cli/")
            || p.starts_with("server/")
            || p == "workspace.rs"
            || p == "main.rs"
            || p == "lib.rs")
    };
    assert_only(
        |p| !lower(p),
        &["crate::cli", "crate::workspace", "crate::server"],
        "engine and below must not import adapters",
    );
    let core = |p: &str| {
        [
            "attest/",
            "metadata/",
            "policy/",
            "ledger/",
            "canonical.rs",
            "digest.rs",
            "clock.rs",
            "doc.rs",
        ]
        .iter()
        .any(|m| p.starts_with(m))
    };
    assert_only(
        |p| !core(p),
        &["crate::engine"],
        "core modules must not import the engine",
    );
    assert_only(
        |p| !(core(p) || p.starts_with("engine/") || p.starts_with("inventory/")),
        &["crate::evidence"],
        "the engine, the core modules and the inventory must not import evidence",
    );
    assert_only(
        |p| !(core(p) || p.starts_with("engine/")),
        &["crate::inventory"],
        "the engine and the core modules must not import the inventory",
    );
}

#[test]
fn adapters_hold_no_crypto_cedar_or_sql() {
    assert_only(
        |p| !(p.starts_with("cli/") || p.starts_with("server/") || p == "main.rs"),
        &[
            "cedar_policy",
            "ed25519",
            "rusqlite",
            "use postgres",
            " postgres::",
            "Sha256",
        ],
        "adapters call the library, they do not reimplement it",
    );
}

#[test]
fn the_product_never_depends_on_the_benchmark_runner() {
    assert_only(
        |_| false,
        &["regorus", "modelgate_bench"],
        "the peers and the runner stay in bench/",
    );
    let manifest: toml::Value = toml::from_str(
        &fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap(),
    )
    .unwrap();
    let members = &manifest["workspace"]["default-members"];
    assert_eq!(
        members.as_array().map(|m| m.len()),
        Some(1),
        "only the product is a default member: {members}"
    );
    assert_eq!(members[0].as_str(), Some("."));
    for table in ["dependencies", "dev-dependencies"] {
        let deps = manifest[table].as_table().unwrap();
        for peer in ["regorus", "modelgate-bench"] {
            assert!(
                !deps.contains_key(peer),
                "{peer} in the product's [{table}]"
            );
        }
    }
}
