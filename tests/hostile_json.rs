//! Hostile JSON as a promotion request, through the `check` command (the real binary) and
//! through `POST /v1/decisions` (the router): deep nesting, numbers beyond a double, duplicate
//! keys at the top and inside an envelope, invalid UTF-8, a 10 MB string, a body over the size
//! limit, fields the schema forbids, an empty body, bare scalars and trailing garbage. Each is
//! refused as invalid input naming the problem (exit 3; 400/413/422 in the shared error shape),
//! nothing is appended to the ledger, and the binary's peak resident memory on the largest and
//! deepest inputs stays bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod http_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{artifact, code, complete, mg, stderr, Fixture};
use http_support::Api;
use modelgate::engine::request::MAX_REQUEST_BYTES;

/// A well-formed request (one signed metadata envelope, no approvals) with `extra` spliced in
/// as its last members.
fn document(extra: &str) -> String {
    let (md, _) = complete("m", "1.0.0", 2);
    format!(
        r#"{{"model":"m","version":"1.0.0","environment":"production","artifact_digest":"{}","attestations":[{}],"requested_by":"ci@example.com"{extra}}}"#,
        artifact("m", "1.0.0"),
        md.to_json_value()
    )
}

/// [`document`] with `before` inserted at the start of the envelope's members.
fn in_envelope(before: &str) -> Vec<u8> {
    let doc = document("");
    assert!(doc.contains(r#"[{"payload":"#));
    doc.replacen(r#"[{"payload":"#, &format!(r#"[{{{before}"payload":"#), 1)
        .into_bytes()
}

/// One hostile input and the fragment its refusal must contain.
struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    /// In the CLI's stderr (and in the HTTP message unless `http` overrides it).
    says: &'static str,
    /// Status and message fragment of the HTTP answer.
    http: (u16, &'static str),
}

const TEN_MB: usize = 10 * 1024 * 1024;

fn deep_nesting() -> Vec<u8> {
    vec![b'['; 100_000]
}

fn ten_mb_string() -> Vec<u8> {
    document(&format!(r#","change_ticket":"{}""#, "a".repeat(TEN_MB))).into_bytes()
}

fn cases() -> Vec<Case> {
    let too_deep = "nests deeper than 128 arrays or objects";
    let mut invalid_utf8 = document("").into_bytes();
    let at = invalid_utf8.iter().position(|b| *b == b'm').unwrap() + 1;
    invalid_utf8.splice(at..at, [0xff, 0xfe]);
    let mut over_limit = document(r#","change_ticket":""#).into_bytes();
    over_limit.resize(MAX_REQUEST_BYTES + 1, b'x');
    vec![
        Case {
            name: "100,000 nested arrays",
            bytes: deep_nesting(),
            says: too_deep,
            http: (422, too_deep),
        },
        Case {
            name: "100,000 nested arrays as a field's value",
            bytes: document(&format!(r#","change_ticket":{}"#, "[".repeat(100_000))).into_bytes(),
            says: too_deep,
            http: (422, too_deep),
        },
        Case {
            name: "1e400",
            bytes: document(r#","change_ticket":1e400"#).into_bytes(),
            says: "number `1e400` is outside the range of a double",
            http: (422, "outside the range of a double"),
        },
        Case {
            name: "-1e400",
            bytes: document(r#","change_ticket":-1e400"#).into_bytes(),
            says: "number `-1e400` is outside the range of a double",
            http: (422, "outside the range of a double"),
        },
        Case {
            name: "a 5,000-digit integer",
            bytes: document(&format!(r#","change_ticket":{}"#, "9".repeat(5_000))).into_bytes(),
            says: "is outside the range of a double",
            http: (422, "outside the range of a double"),
        },
        Case {
            name: "a 1,000,000-digit number",
            bytes: document(&format!(r#","change_ticket":{}"#, "7".repeat(1_000_000))).into_bytes(),
            says: "is outside the range of a double",
            http: (422, "outside the range of a double"),
        },
        Case {
            name: "a duplicate 500 KB key",
            bytes: document(&format!(r#","{k}":1,"{k}":2"#, k = "k".repeat(500_000))).into_bytes(),
            says: "duplicate key `kkkk",
            http: (422, "duplicate key `kkkk"),
        },
        Case {
            name: "a 900 KB model name",
            bytes: document("")
                .replacen(
                    r#""model":"m""#,
                    &format!(r#""model":"{}""#, "m".repeat(900_000)),
                    1,
                )
                .into_bytes(),
            says: "longer than 128 characters",
            http: (422, "longer than 128 characters"),
        },
        Case {
            name: "a 900 KB unknown field",
            bytes: document(&format!(r#","{}":true"#, "u".repeat(900_000))).into_bytes(),
            says: "uuuu",
            http: (422, "uuuu"),
        },
        Case {
            name: "a duplicate top-level key",
            bytes: document(r#","model":"other""#).into_bytes(),
            says: "duplicate key `model`",
            http: (422, "duplicate key `model`"),
        },
        Case {
            name: "a duplicate key inside an envelope",
            bytes: in_envelope(r#""payloadType":"text/plain","#),
            says: "duplicate key `payloadType`",
            http: (422, "duplicate key `payloadType`"),
        },
        Case {
            name: "invalid UTF-8",
            bytes: invalid_utf8,
            says: "invalid UTF-8",
            http: (422, "invalid UTF-8"),
        },
        Case {
            name: "a 10 MB string",
            bytes: ten_mb_string(),
            says: "over the 1048576-byte limit",
            http: (413, "over the 1048576-byte limit"),
        },
        Case {
            name: "one byte over the size limit",
            bytes: over_limit,
            says: "over the 1048576-byte limit",
            http: (413, "over the 1048576-byte limit"),
        },
        Case {
            // (Only the request object forbids unknown members; inside an envelope they are
            // ignored, as the DSSE parsing rules say.)
            name: "a field the schema forbids",
            bytes: document(r#","surprise":true"#).into_bytes(),
            says: "surprise",
            http: (422, "surprise"),
        },
        Case {
            name: "an empty body",
            bytes: Vec::new(),
            says: "unexpected end of input",
            http: (422, "unexpected end of input"),
        },
        Case {
            name: "a number",
            bytes: b"42".to_vec(),
            says: "object",
            http: (422, "object"),
        },
        Case {
            name: "a string",
            bytes: br#""a promotion request""#.to_vec(),
            says: "object",
            http: (422, "object"),
        },
        Case {
            name: "null",
            bytes: b"null".to_vec(),
            says: "object",
            http: (422, "object"),
        },
        Case {
            name: "trailing garbage",
            bytes: format!("{} garbage", document("")).into_bytes(),
            says: "trailing characters after the document",
            http: (422, "trailing characters after the document"),
        },
        Case {
            name: "a second document",
            bytes: format!("{}{{}}", document("")).into_bytes(),
            says: "trailing characters after the document",
            http: (422, "trailing characters after the document"),
        },
    ]
}

/// The cases are hostile only in the way they say: the plain document is a valid request
/// (decided: a deny for want of an owner approval).
#[test]
fn the_plain_document_the_cases_start_from_is_a_valid_request() {
    let mut f = Fixture::new();
    let d = f.decide_bytes(document("").as_bytes()).unwrap();
    assert!(!d.is_allow());
}

#[test]
fn check_refuses_each_hostile_request_with_exit_3_naming_the_problem_and_records_nothing() {
    let f = Fixture::new();
    let before = f.size();
    for case in cases() {
        let file = f.dir.path().join("hostile.json");
        std::fs::write(&file, &case.bytes).unwrap();
        let out = mg(
            f.dir.path(),
            &["check", "--request", file.to_str().unwrap()],
        );
        let err = stderr(&out);
        assert_eq!(
            code(&out),
            3,
            "{}: exit {}; stderr: {err:.2000}",
            case.name,
            code(&out)
        );
        assert!(
            err.contains(case.says),
            "{}: want {:?} in stderr: {err:.2000}",
            case.name,
            case.says
        );
        assert!(
            err.len() < 64 * 1024,
            "{}: {} bytes of stderr",
            case.name,
            err.len()
        );
        assert_eq!(f.size(), before, "{}: the ledger grew", case.name);
    }
}

#[tokio::test]
async fn post_decisions_refuses_each_hostile_request_in_the_shared_shape_and_records_nothing() {
    let api = Api::new();
    let before = api.fx.size();
    for case in cases() {
        let (status, says) = case.http;
        // `send` checks the shared error shape of every 4xx answer.
        let answer = api
            .send(
                "POST",
                "/v1/decisions",
                Some(&api.pipeline),
                Some(case.bytes),
            )
            .await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "{}: {:.2000}",
            case.name,
            String::from_utf8_lossy(&answer.body)
        );
        let body = answer.json();
        let text = body.to_string();
        assert!(
            text.contains(says),
            "{}: want {says:?} in {text:.2000}",
            case.name
        );
        assert!(
            text.len() < 64 * 1024,
            "{}: a {}-byte answer",
            case.name,
            text.len()
        );
        assert_eq!(api.fx.size(), before, "{}: the ledger grew", case.name);
    }
}

// ---- bounded memory --------------------------------------------------------------------------

/// The peak resident set (VmHWM, in KiB) of `check` on `request`, sampled from
/// `/proc/PID/status` until the process exits; and its exit code.
fn peak_rss_of_check(home: &Path, request: &Path) -> (u64, i32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .arg("--home")
        .arg(home)
        .args(["check", "--request"])
        .arg(request)
        .env_remove("MODELGATE_HOME")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let (mut peak, mut samples) = (0u64, 0u32);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            if let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kib);
                samples += 1;
            }
        }
        if let Some(exit) = child.try_wait().unwrap() {
            assert!(samples > 0, "the process ended before it could be sampled");
            return (peak, exit.code().unwrap());
        }
        assert!(
            Instant::now() < deadline,
            "check did not finish within 60 s"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// The 10 MB string and 100,000 nested arrays cost the binary well under 300 MB at its peak.
#[test]
fn check_stays_within_bounded_memory_on_the_largest_and_deepest_inputs() {
    let f = Fixture::new();
    let before = f.size();
    for (name, bytes) in [
        ("10 MB string", ten_mb_string()),
        ("100,000 nested arrays", deep_nesting()),
    ] {
        let file = f.dir.path().join("hostile.json");
        std::fs::write(&file, &bytes).unwrap();
        let (peak_kib, exit) = peak_rss_of_check(f.dir.path(), &file);
        eprintln!("check on a {name}: peak RSS {} MiB", peak_kib / 1024);
        assert_eq!(exit, 3, "{name}");
        assert!(peak_kib < 300 * 1024, "{name}: peak RSS {peak_kib} KiB");
    }
    assert_eq!(f.size(), before);
}
