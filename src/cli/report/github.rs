//! GitHub Actions workflow commands for `check`: [`decision`] and [`invalid`], escaped by
//! [`escape_data`] and [`escape_property`].
//!
//! A runner reads each output line that starts with `::` as a command and turns `::error`,
//! `::warning` and `::notice` into annotations of the job (and of the file named by `file=`).
//! Each deny reason is an `::error`, each warning a `::warning` (an `::error` under
//! `--fail-on-warn`), each attestation that did not count a `::notice`, and a last `::notice`
//! sums the decision up. Every line names the request file.
//!
//! Escaping follows GitHub's own toolkit (`@actions/core`): in the message, `%`, `\r` and `\n`
//! become `%25`, `%0D` and `%0A`; in property values also `:` and `,` become `%3A` and `%2C`.
//! A model name or reason can therefore never start a command line of its own or end a
//! property early.

use std::fmt::Write as _;

use super::{problem_line, reason_message, subject, ReportContext};
use crate::engine::{Decision, Problem};
use crate::policy::Reason;

/// `s` escaped for the message part of a workflow command.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// `s` escaped for a property value (`title=`, `file=`) of a workflow command.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One command line: `::<command> file=…,title=…::<message>`.
fn command(out: &mut String, command: &str, ctx: &ReportContext<'_>, title: &str, message: &str) {
    let _ = writeln!(
        out,
        "::{command} file={},title={}::{}",
        escape_property(&ctx.request.display().to_string()),
        escape_property(title),
        escape_data(message)
    );
}

/// A reason as annotation text: the reason with its values, then its controls.
fn annotation(r: &Reason) -> String {
    let mut text = reason_message(r);
    if !r.controls.is_empty() {
        let _ = write!(text, "\ncontrols: {}", r.controls.join(", "));
    }
    text
}

/// The workflow commands of `d`.
pub fn decision(d: &Decision, ctx: &ReportContext<'_>) -> String {
    let b = &d.body;
    let mut out = String::new();
    if !d.is_allow() {
        for r in &b.reasons {
            let title = format!("modelgate deny: {} ({})", r.policy_id, r.effect);
            command(&mut out, "error", ctx, &title, &annotation(r));
        }
    }
    let level = if ctx.fail_on_warn { "error" } else { "warning" };
    for r in &b.warnings {
        let title = format!("modelgate warning: {}", r.policy_id);
        command(&mut out, level, ctx, &title, &annotation(r));
    }
    for f in &b.findings {
        let title = format!("modelgate: attestation {} not counted", f.attestation);
        command(&mut out, "notice", ctx, &title, &f.problem);
    }
    let tier = b
        .tier
        .map_or_else(|| "tier unknown".to_owned(), |t| format!("tier {t}"));
    let verdict = if d.is_allow() { "ALLOW" } else { "DENY" };
    let ids: Vec<&str> = b.reasons.iter().map(|r| r.policy_id.as_str()).collect();
    let mut summary = format!(
        "{verdict} {} ({tier}): {} {}",
        subject(d),
        if d.is_allow() {
            "permitted by"
        } else {
            "denied by"
        },
        ids.join(", ")
    );
    if !b.warnings.is_empty() {
        let _ = write!(summary, "; {} warning(s)", b.warnings.len());
        if ctx.failed_by_warnings(d) {
            summary.push_str(", failing the check (--fail-on-warn)");
        }
    }
    let _ = write!(
        summary,
        "\nbundle {}\nledger index {} leaf {}",
        b.bundle_digest, d.ledger.index, d.ledger.leaf_hash
    );
    command(
        &mut out,
        "notice",
        ctx,
        &format!("modelgate {verdict}"),
        &summary,
    );
    out
}

/// The workflow commands of an invalid request: one `::error` per problem.
pub fn invalid(problems: &[Problem], ctx: &ReportContext<'_>) -> String {
    let mut out = String::new();
    for p in problems {
        command(
            &mut out,
            "error",
            ctx,
            "modelgate invalid request",
            &problem_line(p),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_escapes_percent_and_line_breaks_only() {
        assert_eq!(
            escape_data("100% done\r\n::error::x, y: z"),
            "100%25 done%0D%0A::error::x, y: z"
        );
    }

    #[test]
    fn properties_also_escape_colon_and_comma() {
        assert_eq!(escape_property("a:b,c%d\ne"), "a%3Ab%2Cc%25d%0Ae");
    }

    #[test]
    fn escaping_percent_first_keeps_escapes_unambiguous() {
        // A literal `%0A` in the input must not read back as a newline.
        assert_eq!(escape_data("%0A"), "%250A");
    }
}
