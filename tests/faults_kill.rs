//! Processes killed (SIGKILL) while they sign a checkpoint (`audit checkpoint --out`) or build
//! an evidence pack (`evidence build --out`), at staggered moments from 0 to 150 ms: afterwards
//! the ledger verifies, and the `--out` path either does not exist or holds a whole file that
//! verifies (`audit verify --checkpoint`, `evidence verify`); never a partial file. At most a
//! hidden `.modelgate-out-*` temporary is left beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_modelgate"));
    c.env_remove("MODELGATE_HOME");
    c
}

fn mg(home: &Path, args: &[&str]) -> Output {
    bin().arg("--home").arg(home).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

struct Demo {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    outs: PathBuf,
}

impl Demo {
    fn new() -> Demo {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("demo");
        let outs = tmp.path().join("outs");
        std::fs::create_dir_all(&outs).unwrap();
        let o = bin()
            .args(["demo", "--dir", home.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        Demo {
            _tmp: tmp,
            home,
            outs,
        }
    }

    /// Grows the ledger by one decision, so that the next checkpoint or pack has new work.
    fn grow(&self) {
        let req = self
            .home
            .join("requests/credit-risk-scorer-production.json");
        let o = mg(&self.home, &["check", "--request", req.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }

    /// Starts `args`, kills it after `delay`; returns whether it was still running.
    fn kill_after(&self, args: &[&str], delay: Duration) -> bool {
        let mut child = bin()
            .arg("--home")
            .arg(&self.home)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let running = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        child.wait().unwrap();
        running
    }

    fn assert_ledger_verifies(&self, after: &str) {
        let o = mg(&self.home, &["audit", "verify"]);
        assert_eq!(o.status.code(), Some(0), "after {after}: {}", text(&o));
    }

    /// Every file in the output directory is a finished output named in `outs` or a hidden
    /// temporary; returns how many temporaries were left.
    fn leftovers(&self) -> usize {
        let mut temporaries = 0;
        for entry in std::fs::read_dir(&self.outs).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.starts_with(".modelgate-out-") {
                temporaries += 1;
            } else {
                assert!(name.starts_with("out-"), "unexpected file `{name}`");
            }
        }
        temporaries
    }
}

const DELAYS_MS: [u64; 8] = [0, 5, 10, 20, 35, 50, 100, 150];

/// For each of [`DELAYS_MS`]: grows the ledger, runs the command `args(out)` and kills it after
/// the delay; then the ledger verifies (`what` names the command in messages) and an output at
/// `out` that exists passes `verify` (exit 0). Returns (runs killed while running, outputs
/// written).
fn kill_at_each_delay(
    demo: &Demo,
    what: &str,
    extension: &str,
    args: impl Fn(&str) -> Vec<String>,
    verify: impl Fn(&Path) -> Output,
) -> (usize, usize) {
    let (mut killed, mut written) = (0, 0);
    for ms in DELAYS_MS {
        demo.grow();
        let out = demo.outs.join(format!("out-{ms}.{extension}"));
        let args = args(out.to_str().unwrap());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        killed += usize::from(demo.kill_after(&args, Duration::from_millis(ms)));
        demo.assert_ledger_verifies(&format!("{what} killed at {ms} ms"));
        if out.exists() {
            written += 1;
            let o = verify(&out);
            assert_eq!(
                o.status.code(),
                Some(0),
                "the output of {what} written before a kill at {ms} ms does not verify: {}",
                text(&o)
            );
        }
    }
    (killed, written)
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

#[test]
fn a_checkpoint_killed_at_any_moment_leaves_a_verifying_ledger_and_a_whole_note_or_none() {
    let demo = Demo::new();
    let (killed, written) = kill_at_each_delay(
        &demo,
        "a checkpoint",
        "note",
        |out| strings(&["audit", "checkpoint", "--out", out]),
        |out| {
            mg(
                &demo.home,
                &["audit", "verify", "--checkpoint", out.to_str().unwrap()],
            )
        },
    );
    let temporaries = demo.leftovers();
    eprintln!(
        "checkpoint: {killed} of {} killed while running, {written} notes written, {temporaries} temporaries left",
        DELAYS_MS.len()
    );
    assert!(killed > 0, "no checkpoint was killed while running");
}

#[test]
fn an_evidence_build_killed_at_any_moment_leaves_a_verifying_ledger_and_a_whole_pack_or_none() {
    let demo = Demo::new();
    let vkey = String::from_utf8(mg(&demo.home, &["audit", "vkey"]).stdout).unwrap();
    let vkey = vkey.trim();
    let (killed, written) = kill_at_each_delay(
        &demo,
        "an evidence build",
        "tar.gz",
        |out| {
            strings(&[
                "evidence",
                "build",
                "--model",
                "credit-risk-scorer",
                "--out",
                out,
            ])
        },
        |out| {
            bin()
                .args(["evidence", "verify", out.to_str().unwrap(), "--vkey", vkey])
                .output()
                .unwrap()
        },
    );
    let temporaries = demo.leftovers();
    eprintln!(
        "evidence: {killed} of {} killed while running, {written} packs written, {temporaries} temporaries left",
        DELAYS_MS.len()
    );
    assert!(killed > 0, "no build was killed while running");
    // A build left alone finishes and its pack verifies.
    let out = demo.outs.join("out-whole.tar.gz");
    let o = mg(
        &demo.home,
        &[
            "evidence",
            "build",
            "--model",
            "credit-risk-scorer",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = bin()
        .args(["evidence", "verify", out.to_str().unwrap(), "--vkey", vkey])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
