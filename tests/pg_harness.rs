//! The throwaway PostgreSQL server the PostgreSQL ledger tests run against
//! (`tests/pg_support`): it starts, hands out distinct usable databases, keeps production
//! durability settings, goes away with the test process, and says clearly when it cannot run.
//! Without PostgreSQL installed the server tests say they were skipped and pass, unless
//! `MODELGATE_REQUIRE_TEST_DEPS` is set (as in CI); `scripts/test-deps` installs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pg_support;

use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pg_support::{locate_binaries, server, unavailable, NO_INITDB, REQUIRE_VAR};

/// Set in the child process of `the_server_goes_away_with_the_test_process`.
const CHILD_VAR: &str = "PG_HARNESS_CHILD";

#[test]
fn the_server_starts_and_answers_as_the_superuser() {
    let Some(pg) = server() else { return };
    println!(
        "pg_harness: PostgreSQL from {} answered after {:.2} s (initdb included)",
        pg.binaries().postgres.display(),
        pg.startup_time().as_secs_f64()
    );
    let mut admin = pg.admin();
    let row = admin
        .query_one(
            "SELECT current_user::text, rolsuper, version() FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), pg_support::SUPERUSER);
    assert!(row.get::<_, bool>(1));
    assert!(row.get::<_, &str>(2).starts_with("PostgreSQL "));
    assert!(pg
        .url("x")
        .ends_with(&format!("@127.0.0.1:{}/x", pg.port())));
    let addr = admin
        .query_one("SELECT host(inet_server_addr())", &[])
        .unwrap();
    assert_eq!(addr.get::<_, &str>(0), "127.0.0.1");
}

#[test]
fn fresh_databases_are_distinct_and_usable() {
    let Some(pg) = server() else { return };
    let started = Instant::now();
    let urls = [pg.fresh_database(), pg.fresh_database()];
    println!(
        "pg_harness: fresh_database() took {:.0} ms on average",
        started.elapsed().as_secs_f64() * 1000.0 / 2.0
    );
    assert_ne!(urls[0], urls[1]);
    let mut names = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
        client
            .batch_execute("CREATE TABLE t (id bigint PRIMARY KEY, v text NOT NULL)")
            .unwrap();
        let value = format!("value in database {i}");
        client
            .execute("INSERT INTO t VALUES ($1, $2)", &[&(i as i64), &value])
            .unwrap();
        let rows = client.query("SELECT id, v FROM t", &[]).unwrap();
        assert_eq!(rows.len(), 1, "each database holds only its own row");
        assert_eq!(rows[0].get::<_, i64>(0), i as i64);
        assert_eq!(rows[0].get::<_, String>(1), value);
        let name: String = client
            .query_one("SELECT current_database()::text", &[])
            .unwrap()
            .get(0);
        assert!(url.ends_with(&format!("/{name}")));
        names.push(name);
    }
    assert_ne!(names[0], names[1]);
}

#[test]
fn durability_settings_are_those_of_production() {
    let Some(pg) = server() else { return };
    let mut admin = pg.admin();
    for (setting, expected) in [
        ("fsync", "on"),
        ("synchronous_commit", "on"),
        ("full_page_writes", "on"),
        ("listen_addresses", "127.0.0.1"),
        ("max_connections", "200"),
    ] {
        let value: String = admin
            .query_one(&format!("SHOW {setting}"), &[])
            .unwrap()
            .get(0);
        assert_eq!(value, expected, "{setting}");
    }
}

/// With no binaries anywhere, discovery finds nothing, and the report is a clear skip line, or a
/// failure naming the variable when `MODELGATE_REQUIRE_TEST_DEPS` asks for one.
#[test]
fn missing_postgresql_is_a_clear_skip_or_a_failure_under_ci() {
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        locate_binaries(Some(empty.path().as_os_str()), &empty.path().join("none")),
        None
    );
    assert_eq!(locate_binaries(None, empty.path()), None);

    assert_eq!(
        unavailable(NO_INITDB, false).unwrap(),
        "PostgreSQL tests skipped: no initdb found on PATH nor under /usr/lib/postgresql/*/bin \
         (install Debian's postgresql package; scripts/test-deps does)"
    );
    let failure = unavailable(NO_INITDB, true).unwrap_err();
    assert!(failure.contains(REQUIRE_VAR), "{failure}");
    assert!(failure.contains("scripts/test-deps"), "{failure}");
}

/// Debian's layout: the highest version that has both executables wins, ordered as numbers
/// (10 after 9.6); `initdb` on PATH wins over it, with `postgres` beside it.
#[test]
fn discovery_prefers_path_then_the_highest_debian_version() {
    let root = tempfile::tempdir().unwrap();
    let fake = |dir: &Path, names: &[&str]| {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::create_dir_all(dir).unwrap();
        for name in names {
            let file = dir.join(name);
            std::fs::write(&file, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    };
    let debian = root.path().join("lib");
    fake(&debian.join("9.6/bin"), &["initdb", "postgres"]);
    fake(&debian.join("10/bin"), &["initdb", "postgres"]);
    fake(&debian.join("17/bin"), &["initdb"]); // no server: not a candidate
    fake(&debian.join("latest/bin"), &["initdb", "postgres"]); // not a version
    let found = locate_binaries(Some("".as_ref()), &debian).unwrap();
    assert_eq!(found.initdb, debian.join("10/bin/initdb"));
    assert_eq!(found.postgres, debian.join("10/bin/postgres"));

    let on_path = root.path().join("path");
    fake(&on_path, &["initdb", "postgres"]);
    let path = std::env::join_paths([root.path().join("elsewhere"), on_path.clone()]).unwrap();
    let found = locate_binaries(Some(&path), &debian).unwrap();
    assert_eq!(found.initdb, on_path.join("initdb"));
    assert_eq!(found.postgres, on_path.join("postgres"));
}

/// Run as a child by the test below: starts the server, says where it is, and ends the process.
#[test]
fn child_process_that_starts_a_server_and_exits() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    let pg = server().unwrap();
    println!("PG_DIR={}", pg.dir().display());
    println!("PG_PORT={}", pg.port());
}

/// The server and its directory do not outlive the process that started them, although the
/// static holding them is never dropped.
#[test]
fn the_server_goes_away_with_the_test_process() {
    if std::env::var_os(CHILD_VAR).is_some() || server().is_none() {
        return;
    }
    let started = Instant::now();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_that_starts_a_server_and_exits",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| {
        // Test names and printed lines may share a line under --nocapture.
        let (_, rest) = stdout
            .split_once(&format!("{name}="))
            .unwrap_or_else(|| panic!("no {name} in:\n{stdout}"));
        rest.lines().next().unwrap().to_string()
    };
    let dir = PathBuf::from(field("PG_DIR"));
    let port: u16 = field("PG_PORT").parse().unwrap();
    println!(
        "pg_harness: a child process started a server and exited in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    let exited = Instant::now();
    let deadline = exited + Duration::from_secs(20);
    loop {
        let listening = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok();
        let running = processes_mentioning(&dir);
        if !dir.exists() && !listening && running.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "20 s after the child exited: directory present {}, port {port} listening \
             {listening}, processes {running:?}",
            dir.exists()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "pg_harness: its server and directory were gone {:.2} s after it exited",
        exited.elapsed().as_secs_f64()
    );
}

/// Command lines of the running processes that name `dir`.
fn processes_mentioning(dir: &Path) -> Vec<String> {
    let needle = dir.to_str().unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            entry.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(needle).then_some(cmdline)
        })
        .collect()
}
