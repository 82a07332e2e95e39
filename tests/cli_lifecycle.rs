//! `modelgate freeze`, `unfreeze` and `explain` as an operator runs them, on the demo workspace:
//! exit codes, what they print, and that `check` obeys a freeze.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::mg;

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
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
}

fn demo() -> Demo {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("demo");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .args(["demo", "--dir", home.to_str().unwrap()])
        .env_remove("MODELGATE_HOME")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    Demo { _tmp: tmp, home }
}

fn size(home: &std::path::Path) -> u64 {
    let out = mg(home, &["audit", "verify"]);
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    t.split(" records verified")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no record count in {t:?}"))
}

#[test]
fn explain_replays_every_record_of_the_demo_ledger() {
    let d = demo();
    let n = size(&d.home);
    assert!(n > 10);
    for index in 0..n {
        let out = mg(&d.home, &["explain", &index.to_string()]);
        assert_eq!(code(&out), 0, "record {index}: {}", text(&out));
        assert!(
            text(&out).contains("replay: reproduces the recorded outcome"),
            "{}",
            text(&out)
        );
    }
    let json = mg(&d.home, &["explain", "0", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["reproduced"], true);
    let missing = mg(&d.home, &["explain", "99999"]);
    assert_eq!(code(&missing), 3, "{}", text(&missing));
    assert!(text(&missing).contains("there is no record 99999"));
}

#[test]
fn a_decision_explained_prints_its_reasons_in_full() {
    let d = demo();
    let req = d.home.join("requests/fraud-detector-production.json");
    let denied = mg(&d.home, &["check", "--request", req.to_str().unwrap()]);
    assert_eq!(code(&denied), 2, "{}", text(&denied));
    let index = String::from_utf8_lossy(&denied.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("ledger index "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let out = mg(&d.home, &["explain", &index]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("DENY fraud-detector"), "{t}");
    assert!(t.contains("controls:"), "{t}");
    assert!(t.contains("re-evaluated the stored policy input"), "{t}");
}

#[test]
fn check_obeys_a_freeze_until_unfreeze() {
    let d = demo();
    let req = d.home.join("requests/credit-risk-scorer-production.json");
    let req = req.to_str().unwrap();
    assert_eq!(code(&mg(&d.home, &["check", "--request", req])), 0);

    let frozen = mg(
        &d.home,
        &[
            "freeze",
            "--environment",
            "production",
            "--reason",
            "INC-9: scoring outage",
        ],
    );
    assert_eq!(code(&frozen), 0, "{}", text(&frozen));
    assert!(text(&frozen).contains("froze production until unfrozen"));

    let denied = mg(&d.home, &["check", "--request", req]);
    assert_eq!(code(&denied), 2, "{}", text(&denied));
    assert!(
        text(&denied).contains("common.environment-frozen"),
        "{}",
        text(&denied)
    );

    let open = mg(&d.home, &["unfreeze", "--environment", "production"]);
    assert_eq!(code(&open), 0, "{}", text(&open));
    assert_eq!(code(&mg(&d.home, &["check", "--request", req])), 0);
    assert_eq!(code(&mg(&d.home, &["audit", "verify"])), 0);
}

#[test]
fn bad_freeze_commands_exit_3_and_record_nothing() {
    let d = demo();
    let before = size(&d.home);
    let cases: [(&[&str], &str); 4] = [
        (
            &["freeze", "--environment", "prod", "--reason", "x"],
            "unknown environment `prod`",
        ),
        (
            &[
                "freeze",
                "--environment",
                "production",
                "--reason",
                "x",
                "--until",
                "tomorrow",
            ],
            "--until `tomorrow`",
        ),
        (
            &["unfreeze", "--environment", "production"],
            "`production` is not frozen",
        ),
        (&["freeze", "--environment", "production"], "--reason"),
    ];
    for (args, expected) in cases {
        let out = mg(&d.home, args);
        assert_eq!(code(&out), 3, "{args:?}: {}", text(&out));
        assert!(text(&out).contains(expected), "{args:?}: {}", text(&out));
    }
    assert_eq!(size(&d.home), before);
}

/// A broken edit to the policy directory is refused with the exact error, and the bundle that
/// was active keeps deciding (it is rebuilt from the ledger by digest); fixing the edit
/// activates the new bundle.
#[test]
fn an_invalid_bundle_is_refused_and_the_active_bundle_keeps_deciding() {
    let d = demo();
    let req = d.home.join("requests/credit-risk-scorer-production.json");
    let req = req.to_str().unwrap();
    let digest = |o: &Output| {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["bundle_digest"].as_str().unwrap().to_owned()
    };
    let before = mg(&d.home, &["check", "--request", req, "--format", "json"]);
    assert_eq!(code(&before), 0, "{}", text(&before));

    let policies = d.home.join("policies");
    for (file, bad, expected) in [
        (
            "broken.cedar",
            "forbid (principal, action, resource",
            "broken.cedar",
        ),
        (
            "dup.cedar",
            "@id(\"common.permit-promotion\")\n@reason(\"x\")\n@control(\"ORG:1\")\n\
             permit (principal, action, resource);\n",
            "common.permit-promotion",
        ),
        (
            "mode.cedar",
            "@id(\"x.y\")\n@reason(\"x\")\n@control(\"ORG:1\")\n@mode(\"audit\")\n\
             forbid (principal, action, resource);\n",
            "audit",
        ),
    ] {
        std::fs::write(policies.join(file), bad).unwrap();
        let out = mg(&d.home, &["check", "--request", req, "--format", "json"]);
        assert_eq!(code(&out), 0, "{file}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("is refused, so the active bundle"),
            "{stderr}"
        );
        assert!(stderr.contains(expected), "{file}: {stderr}");
        assert_eq!(digest(&out), digest(&before), "{file}");
        std::fs::remove_file(policies.join(file)).unwrap();
    }

    std::fs::write(
        policies.join("extra.cedar"),
        "@id(\"extra.note\")\n@reason(\"x\")\n@control(\"ORG:1\")\n@mode(\"shadow\")\n\
         forbid (principal, action, resource) when { context.environment.production };\n",
    )
    .unwrap();
    let after = mg(&d.home, &["check", "--request", req, "--format", "json"]);
    assert_eq!(code(&after), 0, "{}", text(&after));
    assert!(String::from_utf8_lossy(&after.stderr).is_empty());
    assert_ne!(
        digest(&after),
        digest(&before),
        "the valid edit is activated"
    );
}

/// The bundle a decision names can be written back out from the ledger by its digest, and the
/// files reproduce that digest.
#[test]
fn a_decided_with_bundle_is_exported_by_digest() {
    let d = demo();
    let req = d.home.join("requests/credit-risk-scorer-production.json");
    let out = mg(
        &d.home,
        &[
            "check",
            "--request",
            req.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest = v["bundle_digest"].as_str().unwrap().to_owned();
    let dir = d.home.join("exported-bundle");
    let exported = mg(
        &d.home,
        &["policy", "export", &digest, "--out", dir.to_str().unwrap()],
    );
    assert_eq!(code(&exported), 0, "{}", text(&exported));
    let validated = mg(
        &d.home,
        &["policy", "validate", "--bundle", dir.to_str().unwrap()],
    );
    assert_eq!(code(&validated), 0, "{}", text(&validated));
    assert!(text(&validated).contains(&digest), "{}", text(&validated));

    let again = mg(
        &d.home,
        &["policy", "export", &digest, "--out", dir.to_str().unwrap()],
    );
    assert_eq!(code(&again), 3, "{}", text(&again));
    let unknown = mg(
        &d.home,
        &[
            "policy",
            "export",
            &format!("sha256:{}", "0".repeat(64)),
            "--out",
            d.home.join("nope").to_str().unwrap(),
        ],
    );
    assert_eq!(code(&unknown), 3, "{}", text(&unknown));
    assert!(
        text(&unknown).contains("cannot be retrieved"),
        "{}",
        text(&unknown)
    );
}
