//! JUnit XML for `check`: [`decision`] and [`invalid`].
//!
//! One `<testsuites>` holding one `<testsuite>` named after the request (`model version ->
//! environment`), with the decision, tier, bundle digest and ledger position as properties:
//!
//! - a deny: one failing test case per reason (`<failure type="forbid|error|not-permitted">`);
//! - an allow: one passing test case per permit that applied;
//! - each warning: a test case that passes with the warning in `<system-out>`, or fails
//!   (`type="warning"`) under `--fail-on-warn`;
//! - an invalid request: one test case per problem, each an `<error type="invalid-request">`.
//!
//! The shape validates against the Jenkins / Maven Surefire JUnit schema (`junit-10.xsd`).

use super::xml::Xml;
use super::{problem_line, reason_details, reason_message, subject, ReportContext};
use crate::engine::{Decision, Problem};
use crate::policy::Reason;

const CLASSNAME: &str = "modelgate.check";

fn counts(tests: usize, failures: usize, errors: usize) -> Vec<(&'static str, String)> {
    vec![
        ("tests", tests.to_string()),
        ("failures", failures.to_string()),
        ("errors", errors.to_string()),
    ]
}

/// One test case for `r`; `failure` is the failure type, or `None` for a passing case that
/// carries `note` (when given) in `<system-out>`.
fn reason_case(
    x: &mut Xml,
    classname: &str,
    r: &Reason,
    failure: Option<&str>,
    note: Option<&str>,
) {
    x.start(
        "testcase",
        &[
            ("name", r.policy_id.clone()),
            ("classname", classname.to_owned()),
            ("time", "0".to_owned()),
        ],
    );
    match failure {
        Some(kind) => x.element(
            "failure",
            &[("type", kind.to_owned()), ("message", reason_message(r))],
            &reason_details(r),
        ),
        None => {
            if let Some(note) = note {
                x.element("system-out", &[], &format!("{note}: {}", reason_details(r)));
            }
        }
    }
    x.end();
}

/// The JUnit report of `d`.
pub fn decision(d: &Decision, ctx: &ReportContext<'_>) -> String {
    let b = &d.body;
    let deny = !d.is_allow();
    let tests = b.reasons.len() + b.warnings.len();
    let failures = if deny { b.reasons.len() } else { 0 }
        + if ctx.fail_on_warn {
            b.warnings.len()
        } else {
            0
        };
    let name = subject(d);

    let mut x = Xml::new();
    let mut attrs = vec![("name", "modelgate check".to_owned())];
    attrs.extend(counts(tests, failures, 0));
    attrs.push(("time", "0".to_owned()));
    x.start("testsuites", &attrs);

    let mut attrs = vec![("name", name)];
    attrs.extend(counts(tests, failures, 0));
    attrs.extend([
        ("skipped", "0".to_owned()),
        ("time", "0".to_owned()),
        ("timestamp", b.time.clone()),
    ]);
    x.start("testsuite", &attrs);

    x.start("properties", &[]);
    let tier = b
        .tier
        .map_or_else(|| "unknown".to_owned(), |t| t.to_string());
    for (key, value) in [
        ("decision", b.decision.as_str().to_owned()),
        ("tier", tier),
        ("request", ctx.request.display().to_string()),
        ("bundle_digest", b.bundle_digest.clone()),
        ("input_digest", b.input_digest.clone()),
        ("ledger_index", d.ledger.index.to_string()),
        ("ledger_leaf_hash", d.ledger.leaf_hash.clone()),
    ] {
        x.empty("property", &[("name", key.to_owned()), ("value", value)]);
    }
    x.end();

    for r in &b.reasons {
        let failure = deny.then_some(r.effect.as_str());
        reason_case(&mut x, CLASSNAME, r, failure, None);
    }
    let warnings = format!("{CLASSNAME}.warnings");
    for r in &b.warnings {
        let failure = ctx.fail_on_warn.then_some("warning");
        reason_case(&mut x, &warnings, r, failure, Some("warning"));
    }

    let mut out = Vec::new();
    for a in &b.approvals {
        out.push(format!(
            "approval counted: {} by {} (expires {})",
            a.role, a.approver, a.expires
        ));
    }
    for f in &b.findings {
        out.push(format!(
            "attestation {} not counted: {}",
            f.attestation, f.problem
        ));
    }
    if !out.is_empty() {
        x.element("system-out", &[], &out.join("\n"));
    }
    x.finish()
}

/// The JUnit report of an invalid request: one erroring test case per problem.
pub fn invalid(problems: &[Problem], ctx: &ReportContext<'_>) -> String {
    let mut x = Xml::new();
    let mut attrs = vec![("name", "modelgate check".to_owned())];
    attrs.extend(counts(problems.len(), 0, problems.len()));
    attrs.push(("time", "0".to_owned()));
    x.start("testsuites", &attrs);
    let mut attrs = vec![("name", format!("request {}", ctx.request.display()))];
    attrs.extend(counts(problems.len(), 0, problems.len()));
    attrs.extend([("skipped", "0".to_owned()), ("time", "0".to_owned())]);
    x.start("testsuite", &attrs);
    for p in problems {
        let name = if p.pointer.is_empty() {
            "request".to_owned()
        } else {
            p.pointer.clone()
        };
        x.start(
            "testcase",
            &[
                ("name", name),
                ("classname", format!("{CLASSNAME}.request")),
                ("time", "0".to_owned()),
            ],
        );
        x.element(
            "error",
            &[
                ("type", "invalid-request".to_owned()),
                ("message", p.message.clone()),
            ],
            &problem_line(p),
        );
        x.end();
    }
    x.finish()
}
