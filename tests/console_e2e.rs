//! The web console in a real browser: headless Chromium, driven by `tests/e2e/console.mjs`
//! through playwright-core, against two `modelgate serve` processes on a demo workspace (one
//! with a signed checkpoint covering every record, one whose console sessions last 2 s). The
//! script signs in with a wrong role and with an auditor token, filters decisions, opens a
//! denied decision (proof re-checked in the browser, replay), downloads a model's evidence pack,
//! verifies the ledger, lists reports, walks the page with the keyboard, signs out and outlives a
//! session; every page is also checked for browser console errors, CSP violations and the
//! console's security headers. The downloaded evidence pack must then verify offline under the
//! workspace's published key.
//!
//! Screenshots of every page visited go to `<target dir>/console-screenshots`.
//!
//! `scripts/test-deps` installs Debian's Chromium and, with `npm ci`, playwright-core into
//! `target/test-deps/e2e`. Without them the test says why it did not run and passes, unless
//! `MODELGATE_REQUIRE_TEST_DEPS=1` (as `.ci/run` sets) makes that a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serve_support::{mg, Server, BIN};

const CHROMIUM: &str = "/usr/bin/chromium";
/// The lifetime of a session on the second server, seconds; the script waits 3 s.
const SHORT_SESSION_SECONDS: u64 = 2;

/// Where `scripts/test-deps` installs the script's npm packages.
fn e2e_modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-deps/e2e")
}

/// What the browser tests need and is not there, if anything.
fn missing() -> Option<&'static str> {
    if !Path::new(CHROMIUM).is_file() {
        return Some("Chromium (/usr/bin/chromium)");
    }
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        return Some("Node.js (`node`)");
    }
    if !e2e_modules()
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        return Some("playwright-core (target/test-deps/e2e/node_modules)");
    }
    None
}

/// Sets `[server] console_session_seconds` in a workspace's modelgate.toml.
fn shorten_sessions(home: &Path, seconds: u64) {
    let path = home.join("modelgate.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    let line = format!("console_session_seconds = {seconds}\n");
    let config = match config.find("\n[server]\n") {
        Some(at) => {
            let after = at + "\n[server]\n".len();
            format!("{}{line}{}", &config[..after], &config[after..])
        }
        None => format!("{config}\n[server]\n{line}"),
    };
    std::fs::write(&path, config).unwrap();
}

#[test]
fn the_console_works_in_a_real_browser() {
    if let Some(what) = missing() {
        let message = format!(
            "{what} is missing (scripts/test-deps installs Chromium and, into \
             target/test-deps/e2e, playwright-core): the browser tests of the console did not run"
        );
        assert!(
            std::env::var_os("MODELGATE_REQUIRE_TEST_DEPS").is_none(),
            "{message}"
        );
        eprintln!("{message}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("ws");
    mg(Path::new("."), &["demo", "--dir", home.to_str().unwrap()]);
    let token = |role: &str| {
        let name = format!("e2e-{role}");
        let out = mg(&home, &["token", "create", "--role", role, "--name", &name]);
        out.lines().last().unwrap().trim().to_owned()
    };
    let (auditor, pipeline) = (token("auditor"), token("pipeline"));
    // A signed checkpoint covering every demo record: the decision page's inclusion proof
    // verifies against it, on the server and again in the browser.
    mg(&home, &["audit", "checkpoint"]);
    let vkey = mg(&home, &["audit", "vkey"]).trim().to_owned();

    let short_home = dir.path().join("short");
    let copied = Command::new("cp")
        .arg("-r")
        .arg(&home)
        .arg(&short_home)
        .status()
        .unwrap();
    assert!(copied.success(), "cp -r of the demo workspace failed");
    shorten_sessions(&short_home, SHORT_SESSION_SECONDS);

    let server = Server::start(&home);
    let short = Server::start(&short_home);

    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap();
    let out_dir = target.join("console-screenshots");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).unwrap();
    let pack = out_dir.join("credit-risk-scorer-evidence.tar.gz");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/console.mjs");
    let started = Instant::now();
    // The script resolves playwright-core from its working directory.
    let run = Command::new("node")
        .arg(&script)
        .current_dir(e2e_modules())
        .env("BASE", &server.url)
        .env("SHORT_BASE", &short.url)
        .env("AUDITOR", &auditor)
        .env("PIPELINE", &pipeline)
        .env("OUT", &out_dir)
        .env("CHROMIUM", CHROMIUM)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    println!(
        "{}{}node ran {:.1} s",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
        started.elapsed().as_secs_f64()
    );
    for line in server.complaints().iter().chain(&short.complaints()) {
        println!("server: {line}");
    }

    if pack.is_file() {
        let verified = Command::new(BIN)
            .args(["evidence", "verify"])
            .arg(&pack)
            .args(["--vkey", &vkey])
            .output()
            .unwrap();
        assert!(
            verified.status.success(),
            "the evidence pack the browser downloaded does not verify:\n{}{}",
            String::from_utf8_lossy(&verified.stdout),
            String::from_utf8_lossy(&verified.stderr)
        );
        println!("the downloaded evidence pack verifies under {vkey}");
    }
    assert!(
        run.status.success(),
        "the browser tests failed ({}); screenshots in {}",
        run.status,
        out_dir.display()
    );
    assert!(pack.is_file(), "the browser downloaded no evidence pack");
}
