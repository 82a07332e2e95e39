//! `modelgate check --format text|json|junit|sarif|github` and `--fail-on-warn`, run as the
//! binary a pipeline runs: every format for an allow, a deny, an allow with a warning (with and
//! without `--fail-on-warn`) and an invalid request, with the exit codes 0 / 2 / 3. JUnit XML is
//! validated against the Jenkins / Surefire `junit-10.xsd`, SARIF against the SARIF 2.1.0 schema.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{
    approval_issued_at, artifact, assert_valid_junit, assert_valid_sarif, code, mg, request,
    sign_metadata, stderr, stdout, with, Fixture, OLIVIA, RITA, VICTOR,
};
use modelgate::attest::Role;
use modelgate::cli::demo::full_metadata;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

const FORMATS: [&str; 5] = ["text", "json", "junit", "sarif", "github"];

/// The binary reads the wall clock, so approvals and validation dates are relative to it.
fn wall() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn date(t: OffsetDateTime) -> String {
    let d = t.date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Writes a production request for `name` at `tier` whose validation falls due in `due_days`,
/// approved by `approvers` (each for `ttl` days, issued yesterday), into `file` under the
/// fixture directory.
fn write_request(
    f: &Fixture,
    file: &str,
    name: &str,
    tier: i64,
    due_days: i64,
    approvers: &[((&str, u8), Role)],
    ttl: i64,
) -> PathBuf {
    let meta = full_metadata(
        name,
        "1.0.0",
        tier,
        &artifact(name, "1.0.0"),
        &date(wall() + Duration::days(due_days)),
    );
    let md = sign_metadata(meta, &artifact(name, "1.0.0"), common::ALICE.1);
    let approvals: Vec<_> = approvers
        .iter()
        .map(|(who, role)| {
            approval_issued_at(
                &md,
                *who,
                *role,
                "production",
                wall() - Duration::days(1),
                ttl,
            )
        })
        .collect();
    let req = request(name, "1.0.0", "production", &with(&md, &approvals));
    let path = f.dir.path().join(file);
    std::fs::write(&path, serde_json::to_vec(&req).unwrap()).unwrap();
    path
}

/// A tier-2 request with the owner's approval: allowed, no warnings.
fn allow_request(f: &Fixture) -> PathBuf {
    write_request(
        f,
        "allow.json",
        "churn",
        2,
        200,
        &[(OLIVIA, Role::Owner)],
        365,
    )
}

/// A tier-2 request without approvals: denied by `tier2.owner-approval`.
fn deny_request(f: &Fixture) -> PathBuf {
    write_request(f, "deny.json", "churn", 2, 200, &[], 365)
}

/// A complete tier-0 request whose validation is due in 10 days: allowed with the warning
/// `tier0.validation-due-soon`.
fn warned_request(f: &Fixture) -> PathBuf {
    let approvers = [
        (OLIVIA, Role::Owner),
        (VICTOR, Role::Validator),
        (RITA, Role::RiskOfficer),
    ];
    write_request(f, "warned.json", "scorer", 0, 10, &approvers, 90)
}

fn check(f: &Fixture, request: &Path, format: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "check",
        "--request",
        request.to_str().unwrap(),
        "--format",
        format,
    ];
    args.extend_from_slice(extra);
    mg(f.ws.home(), &args)
}

fn sarif(o: &Output) -> Value {
    let log: Value = serde_json::from_str(&stdout(o)).unwrap();
    assert_valid_sarif(&log);
    log
}

fn results(log: &Value) -> &Vec<Value> {
    log["runs"][0]["results"].as_array().unwrap()
}

/// Every GitHub workflow command line: `(command, properties, message)`.
fn commands(o: &Output) -> Vec<(String, String, String)> {
    stdout(o)
        .lines()
        .map(|line| {
            let rest = line
                .strip_prefix("::")
                .unwrap_or_else(|| panic!("not a workflow command: {line:?}"));
            let (head, message) = rest.split_once("::").unwrap();
            let (command, props) = head.split_once(' ').unwrap_or((head, ""));
            (command.to_owned(), props.to_owned(), message.to_owned())
        })
        .collect()
}

/// Guards the allow contract in every format: exit 0, no failures, no SARIF results.
#[test]
fn an_allow_exits_0_in_every_format() {
    let f = Fixture::new();
    let req = allow_request(&f);
    for format in FORMATS {
        let o = check(&f, &req, format, &[]);
        assert_eq!(code(&o), 0, "{format}: {}{}", stdout(&o), stderr(&o));
        match format {
            "text" => assert!(stdout(&o).starts_with("ALLOW churn 1.0.0 -> production (tier 2)")),
            "json" => {
                let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
                assert_eq!(v["decision"], "allow");
            }
            "junit" => {
                let xml = stdout(&o);
                assert_valid_junit(&xml);
                assert!(
                    xml.contains(r#"<testcase name="common.permit-promotion""#),
                    "{xml}"
                );
                assert!(
                    xml.contains(r#"failures="0""#) && !xml.contains("<failure"),
                    "{xml}"
                );
                assert!(
                    xml.contains(r#"<property name="decision" value="allow"/>"#),
                    "{xml}"
                );
            }
            "sarif" => {
                let log = sarif(&o);
                assert!(results(&log).is_empty(), "{log:#}");
                assert_eq!(log["runs"][0]["invocations"][0]["exitCode"], 0);
                assert_eq!(
                    log["runs"][0]["properties"]["decision"]["decision"],
                    "allow"
                );
            }
            _ => {
                let cmds = commands(&o);
                assert_eq!(cmds.len(), 1, "{cmds:?}");
                assert_eq!(cmds[0].0, "notice");
                assert!(
                    cmds[0].2.starts_with("ALLOW churn 1.0.0 -> production"),
                    "{cmds:?}"
                );
            }
        }
    }
}

/// Guards the deny contract in every format: exit 2; each deny reason becomes a JUnit failure, a
/// SARIF result (rule = policy id, message with the compared values, controls) and an `::error`.
#[test]
fn a_deny_exits_2_and_reports_each_reason_in_every_format() {
    let f = Fixture::new();
    let req = deny_request(&f);
    for format in FORMATS {
        let o = check(&f, &req, format, &[]);
        assert_eq!(code(&o), 2, "{format}: {}{}", stdout(&o), stderr(&o));
        match format {
            "text" => assert!(stdout(&o).contains("✗ tier2.owner-approval")),
            "json" => {
                let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
                assert_eq!(v["decision"], "deny");
            }
            "junit" => {
                let xml = stdout(&o);
                assert_valid_junit(&xml);
                assert!(
                    xml.contains(r#"<testcase name="tier2.owner-approval""#),
                    "{xml}"
                );
                assert!(xml.contains(r#"<failure type="forbid" message="#), "{xml}");
                assert!(xml.contains("context.approved_roles = []"), "{xml}");
            }
            "sarif" => {
                let log = sarif(&o);
                let run = &log["runs"][0];
                assert_eq!(run["invocations"][0]["exitCode"], 2);
                let found = results(&log);
                assert_eq!(found.len(), 1, "{log:#}");
                let r = &found[0];
                assert_eq!(r["ruleId"], "tier2.owner-approval");
                assert_eq!(r["level"], "error");
                let rule =
                    &run["tool"]["driver"]["rules"][r["ruleIndex"].as_u64().unwrap() as usize];
                assert_eq!(rule["id"], "tier2.owner-approval");
                let text = r["message"]["text"].as_str().unwrap();
                assert!(text.contains("context.approved_roles = []"), "{text}");
                assert!(!r["properties"]["controls"].as_array().unwrap().is_empty());
                assert!(
                    r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                        .as_str()
                        .unwrap()
                        .ends_with("deny.json")
                );
                // Every policy of the bundle is a rule.
                let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
                assert!(rules.iter().any(|r| r["id"] == "tier0.validation-due-soon"
                    && r["defaultConfiguration"]["level"] == "warning"));
                assert!(rules.len() > 40);
            }
            _ => {
                let cmds = commands(&o);
                let errors: Vec<_> = cmds.iter().filter(|c| c.0 == "error").collect();
                assert_eq!(errors.len(), 1, "{cmds:?}");
                assert!(
                    errors[0]
                        .1
                        .contains("title=modelgate deny%3A tier2.owner-approval (forbid)"),
                    "{cmds:?}"
                );
                assert!(
                    errors[0].2.contains("%0Acontrols%3A") || errors[0].2.contains("%0Acontrols: ")
                );
                assert!(cmds.last().unwrap().2.starts_with("DENY churn"), "{cmds:?}");
            }
        }
    }
}

/// Guards `--fail-on-warn`: an allow with a warning exits 0 without it and 2 with it, in every
/// format; the CI formats show the warning as a warning, or as a failure under the flag, and the
/// recorded decision stays an allow.
#[test]
fn a_warned_allow_fails_only_with_fail_on_warn() {
    let f = Fixture::new();
    let req = warned_request(&f);
    for format in FORMATS {
        for strict in [false, true] {
            let extra: &[&str] = if strict { &["--fail-on-warn"] } else { &[] };
            let o = check(&f, &req, format, extra);
            let want = if strict { 2 } else { 0 };
            assert_eq!(
                code(&o),
                want,
                "{format} {strict}: {}{}",
                stdout(&o),
                stderr(&o)
            );
            if strict {
                assert!(stderr(&o).contains("--fail-on-warn"), "{}", stderr(&o));
            }
            match format {
                "text" => {
                    assert!(stdout(&o).starts_with("ALLOW scorer"), "{}", stdout(&o));
                    assert!(stdout(&o).contains("! tier0.validation-due-soon"));
                }
                "json" => {
                    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
                    assert_eq!(v["decision"], "allow");
                    assert_eq!(v["warnings"][0]["policy_id"], "tier0.validation-due-soon");
                }
                "junit" => {
                    let xml = stdout(&o);
                    assert_valid_junit(&xml);
                    assert!(xml.contains(r#"<testcase name="tier0.validation-due-soon""#));
                    assert_eq!(xml.contains(r#"<failure type="warning""#), strict, "{xml}");
                    if !strict {
                        assert!(xml.contains("<system-out>warning: "), "{xml}");
                    }
                }
                "sarif" => {
                    let log = sarif(&o);
                    assert_eq!(log["runs"][0]["invocations"][0]["exitCode"], want);
                    let found = results(&log);
                    assert_eq!(found.len(), 1, "{log:#}");
                    assert_eq!(found[0]["ruleId"], "tier0.validation-due-soon");
                    assert_eq!(found[0]["level"], if strict { "error" } else { "warning" });
                }
                _ => {
                    let cmds = commands(&o);
                    let warned: Vec<_> = cmds
                        .iter()
                        .filter(|c| c.1.contains("tier0.validation-due-soon"))
                        .collect();
                    assert_eq!(warned.len(), 1, "{cmds:?}");
                    assert_eq!(warned[0].0, if strict { "error" } else { "warning" });
                }
            }
        }
    }
}

/// Guards invalid input in every format: exit 3, nothing decided, each problem reported with
/// its JSON pointer (a JUnit error, a SARIF `modelgate.invalid-request` result, an `::error`).
#[test]
fn an_invalid_request_exits_3_in_every_format() {
    let f = Fixture::new();
    let req = f.dir.path().join("moon.json");
    let mut body: Value =
        serde_json::from_slice(&std::fs::read(allow_request(&f)).unwrap()).unwrap();
    body["environment"] = "moon".into();
    std::fs::write(&req, serde_json::to_vec(&body).unwrap()).unwrap();
    let before = f.size();
    for format in FORMATS {
        let o = check(&f, &req, format, &[]);
        assert_eq!(code(&o), 3, "{format}: {}{}", stdout(&o), stderr(&o));
        assert!(stderr(&o).contains("invalid request"), "{}", stderr(&o));
        match format {
            "text" => assert!(stdout(&o).is_empty()),
            "json" => {
                let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
                assert_eq!(v["problems"][0]["pointer"], "/environment");
            }
            "junit" => {
                let xml = stdout(&o);
                assert_valid_junit(&xml);
                assert!(xml.contains(r#"<testcase name="/environment""#), "{xml}");
                assert!(xml.contains(r#"<error type="invalid-request""#), "{xml}");
                assert!(xml.contains(r#"errors="1""#), "{xml}");
            }
            "sarif" => {
                let log = sarif(&o);
                assert_eq!(log["runs"][0]["invocations"][0]["exitCode"], 3);
                let found = results(&log);
                assert_eq!(found[0]["ruleId"], "modelgate.invalid-request");
                assert_eq!(found[0]["properties"]["pointer"], "/environment");
            }
            _ => {
                let cmds = commands(&o);
                assert_eq!(cmds.len(), 1, "{cmds:?}");
                assert_eq!(cmds[0].0, "error");
                assert!(cmds[0].2.starts_with("/environment: "), "{cmds:?}");
            }
        }
    }
    assert_eq!(f.size(), before, "an invalid request must not be recorded");
}

/// Guards the escaping: a request path full of XML markup and of GitHub's separators still gives
/// valid JUnit and SARIF, and workflow commands whose properties cannot be split or cut short.
#[test]
fn hostile_request_paths_are_escaped_in_every_ci_format() {
    let f = Fixture::new();
    let dir = f.dir.path().join("a<b>&\"c'");
    std::fs::create_dir(&dir).unwrap();
    let plain = deny_request(&f);
    let req = dir.join("x:y,z%0A.json");
    std::fs::rename(plain, &req).unwrap();

    let o = check(&f, &req, "junit", &[]);
    assert_eq!(code(&o), 2);
    assert_valid_junit(&stdout(&o));
    assert!(
        stdout(&o).contains("a&lt;b&gt;&amp;&quot;c&apos;"),
        "{}",
        stdout(&o)
    );

    let o = check(&f, &req, "sarif", &[]);
    let log = sarif(&o);
    let uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
        ["uri"]
        .as_str()
        .unwrap();
    assert!(
        uri.ends_with("/a%3Cb%3E%26%22c%27/x%3Ay%2Cz%250A.json"),
        "{uri}"
    );

    let o = check(&f, &req, "github", &[]);
    for (_, props, _) in commands(&o) {
        let file = props.strip_prefix("file=").unwrap();
        let (file, title) = file.split_once(",title=").unwrap();
        assert!(file.ends_with("/a<b>&\"c'/x%3Ay%2Cz%250A.json"), "{file}");
        assert!(!title.contains(','), "{title}");
    }
}

/// Guards the validators themselves: documents that break the schemas are rejected, so the
/// checks above cannot pass by accepting anything.
#[test]
fn the_schema_validators_reject_broken_reports() {
    let errors = common::junit_schema_errors(
        "<?xml version=\"1.0\"?>\n<testsuites><testsuite name=\"x\"><testcase/></testsuite></testsuites>\n",
    );
    assert!(!errors.is_empty());
    let errors = common::sarif_schema_errors(&serde_json::json!({
        "version": "2.0.0",
        "runs": [{ "tool": { "driver": {} }, "results": [{ "message": {} }] }],
    }));
    assert!(errors.len() >= 2, "{errors:?}");
}
