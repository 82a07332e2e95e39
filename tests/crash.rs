//! Crash safety through the real binary: `check` processes are killed (SIGKILL) at staggered
//! moments while they decide and append. Whatever the moment, the ledger must verify afterwards,
//! and every decision a killed-or-not process managed to print (acknowledge) must be in the
//! ledger with the leaf hash it printed: no acknowledged decision is ever lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::time::Duration;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_modelgate"));
    c.env_remove("MODELGATE_HOME");
    c
}

#[test]
fn killed_check_processes_never_lose_an_acknowledged_decision_or_break_the_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let demo = bin()
        .args(["demo", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let home = dir.to_str().unwrap();
    let requests = [
        dir.join("requests/credit-risk-scorer-production.json"),
        dir.join("requests/fraud-detector-production.json"),
    ];

    let mut acknowledged = Vec::new();
    let mut killed = 0;
    for i in 0..24u64 {
        let req = &requests[(i % 2) as usize];
        let mut child = bin()
            .args(["--home", home, "check", "--request", req.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(i * 4));
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(line) = text.lines().find(|l| l.starts_with("ledger index ")) {
            let parts: Vec<&str> = line.split_whitespace().collect();
            acknowledged.push((parts[2].to_string(), parts[4].to_string()));
        }
    }

    eprintln!(
        "{killed} of 24 killed before they finished, {} acknowledged",
        acknowledged.len()
    );
    let verify = bin()
        .args(["--home", home, "audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "ledger broken after {killed} kills: {}",
        String::from_utf8_lossy(&verify.stdout)
    );
    assert!(
        !acknowledged.is_empty(),
        "no check finished: the schedule is too tight"
    );
    for (index, leaf) in &acknowledged {
        let show = bin()
            .args(["--home", home, "audit", "show", index])
            .output()
            .unwrap();
        assert!(
            show.status.success(),
            "acknowledged record {index} is missing"
        );
        assert!(
            String::from_utf8_lossy(&show.stderr).contains(leaf.as_str()),
            "record {index} does not have the acknowledged leaf hash {leaf}"
        );
    }
}
