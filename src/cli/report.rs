//! CI renderings of a `check` outcome: [`CheckFormat`] selects one, [`render_decision`] and
//! [`render_invalid`] produce it from a [`Decision`] or from the problems of an invalid request.
//!
//! - `text` and `json`: the human rendering and the versioned decision object (unchanged, see
//!   `docs/cli.md`);
//! - `junit` ([`junit`]): JUnit XML, one test case per reason and warning;
//! - `sarif` ([`sarif`]): a SARIF 2.1.0 log, one result per deny reason and warning, the
//!   bundle's policies as rules;
//! - `github` ([`github`]): GitHub Actions workflow commands (`::error`, `::warning`,
//!   `::notice`), escaped by GitHub's rules.
//!
//! With `--fail-on-warn` ([`ReportContext::fail_on_warn`]) an allow with warnings exits 2
//! ([`exit_code`]), and the CI formats show those warnings as failures so that the report and
//! the exit code agree. The decision itself (and its ledger record) stays an allow.

pub mod github;
pub mod junit;
pub mod sarif;
pub mod xml;

use std::path::Path;

use clap::ValueEnum;

use super::exit;
use crate::engine::{Decision, Problem};
use crate::policy::{PolicyBundle, Reason};

/// Output format of `modelgate check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// Human-readable text.
    Text,
    /// The versioned decision object (`schemas/decision.v1.schema.json`).
    Json,
    /// JUnit XML: one test case per reason and warning.
    Junit,
    /// SARIF 2.1.0: one result per deny reason and warning.
    Sarif,
    /// GitHub Actions workflow commands (annotations).
    Github,
}

/// What a CI rendering needs besides the decision.
#[derive(Debug, Clone, Copy)]
pub struct ReportContext<'a> {
    /// The request file as given on the command line: annotations and SARIF locations name it.
    pub request: &'a Path,
    /// The bundle that decided: its policies are the SARIF rules.
    pub bundle: &'a PolicyBundle,
    /// `--fail-on-warn`: warnings fail the check and are rendered as failures.
    pub fail_on_warn: bool,
}

impl ReportContext<'_> {
    /// Whether `decision` fails only because of its warnings (an allow with warnings under
    /// `--fail-on-warn`).
    pub fn failed_by_warnings(&self, decision: &Decision) -> bool {
        self.fail_on_warn && decision.is_allow() && !decision.body.warnings.is_empty()
    }
}

/// The exit code for `decision`: 0 allow, 2 deny, and 2 for an allow with warnings when
/// `fail_on_warn` is set.
pub fn exit_code(decision: &Decision, fail_on_warn: bool) -> i32 {
    if !decision.is_allow() || (fail_on_warn && !decision.body.warnings.is_empty()) {
        exit::DENY
    } else {
        exit::OK
    }
}

/// `decision` in a CI format (`junit`, `sarif`, `github`); `None` for `text` and `json`, which
/// `check` renders itself.
pub fn render_decision(
    format: CheckFormat,
    decision: &Decision,
    ctx: &ReportContext<'_>,
) -> Option<String> {
    match format {
        CheckFormat::Text | CheckFormat::Json => None,
        CheckFormat::Junit => Some(junit::decision(decision, ctx)),
        CheckFormat::Sarif => Some(sarif::to_string(&sarif::decision(decision, ctx))),
        CheckFormat::Github => Some(github::decision(decision, ctx)),
    }
}

/// The problems of an invalid request in a CI format; `None` for `text` and `json`.
pub fn render_invalid(
    format: CheckFormat,
    problems: &[Problem],
    ctx: &ReportContext<'_>,
) -> Option<String> {
    match format {
        CheckFormat::Text | CheckFormat::Json => None,
        CheckFormat::Junit => Some(junit::invalid(problems, ctx)),
        CheckFormat::Sarif => Some(sarif::to_string(&sarif::invalid(problems, ctx))),
        CheckFormat::Github => Some(github::invalid(problems, ctx)),
    }
}

/// `model version -> environment`.
pub fn subject(decision: &Decision) -> String {
    let r = &decision.body.request;
    format!("{} {} -> {}", r.model, r.version, r.environment)
}

/// A reason's text with the values it compared: `the model card is missing
/// (resource.has_model_card = false)`.
pub fn reason_message(r: &Reason) -> String {
    if r.values.is_empty() {
        return r.reason.clone();
    }
    let values: Vec<String> = r
        .values
        .iter()
        .map(|(path, value)| format!("{path} = {value}"))
        .collect();
    format!("{} ({})", r.reason, values.join(", "))
}

/// A reason's details, one per line: its effect, controls and compared values.
pub fn reason_details(r: &Reason) -> String {
    let mut lines = vec![format!("{} ({}): {}", r.policy_id, r.effect, r.reason)];
    if !r.controls.is_empty() {
        lines.push(format!("controls: {}", r.controls.join(", ")));
    }
    for (path, value) in &r.values {
        lines.push(format!("{path} = {value}"));
    }
    lines.join("\n")
}

/// The problem's location and message: `/environment: unknown environment`.
pub fn problem_line(p: &Problem) -> String {
    if p.pointer.is_empty() {
        p.message.clone()
    } else {
        format!("{}: {}", p.pointer, p.message)
    }
}
