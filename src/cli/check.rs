//! `modelgate check`: decide a promotion request, print the decision, exit 0/2/3/1.
//!
//! [`CheckArgs`] selects the output ([`CheckFormat`]: text and json here, the CI formats in
//! [`super::report`]) and `--fail-on-warn`, which makes an allow with warnings exit 2.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::report::{self, CheckFormat, ReportContext};
use super::{exit, CliError, CmdResult};
use crate::clock::Clock;
use crate::engine::{Decision, EngineError};
use crate::policy::Reason;
use crate::workspace::Workspace;

/// `modelgate check`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The promotion request (JSON, `schemas/promotion-request.v1.schema.json`).
    #[arg(long)]
    pub request: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CheckFormat,
    /// Exit 2 when the request is allowed with warnings (warn-mode policies that applied); the
    /// decision itself stays an allow.
    #[arg(long)]
    pub fail_on_warn: bool,
}

/// Runs `modelgate check`.
pub fn check(home: &Path, args: &CheckArgs, clock: Arc<dyn Clock>) -> CmdResult {
    let bytes = read_limited(&args.request, crate::engine::request::MAX_REQUEST_BYTES + 1)?;
    let ws = Workspace::open(home)?;
    let mut store = ws.store()?;
    let (engine, refused) = ws.engine_for(&*store, clock)?;
    if let Some(refused) = refused {
        eprintln!(
            "warning: the policy bundle in `{}` is refused, so the active bundle {} keeps deciding: {refused}",
            ws.policy_dir().display(),
            engine.bundle().digest()
        );
    }

    let ctx = ReportContext {
        request: &args.request,
        bundle: engine.bundle(),
        fail_on_warn: args.fail_on_warn,
    };
    match engine.decide(&mut *store, &bytes) {
        Ok(decision) => {
            match args.format {
                CheckFormat::Json => say!(
                    "{}",
                    serde_json::to_string_pretty(&decision).map_err(CliError::internal)?
                ),
                CheckFormat::Text => say_raw!("{}", render_text(&decision)),
                other => {
                    if let Some(out) = report::render_decision(other, &decision, &ctx) {
                        say_raw!("{out}");
                    }
                }
            }
            if ctx.failed_by_warnings(&decision) {
                return Err(CliError {
                    code: exit::DENY,
                    message: format!(
                        "allowed with {} warning(s); failing because of --fail-on-warn",
                        decision.body.warnings.len()
                    ),
                });
            }
            Ok(report::exit_code(&decision, args.fail_on_warn))
        }
        Err(EngineError::Invalid(problems)) if args.format != CheckFormat::Text => {
            match args.format {
                CheckFormat::Json => {
                    let out = serde_json::json!({
                        "schema": "https://modelgate.dev/error/v1",
                        "error": "invalid_request",
                        "problems": problems,
                    });
                    say!(
                        "{}",
                        serde_json::to_string_pretty(&out).map_err(CliError::internal)?
                    );
                }
                other => {
                    if let Some(out) = report::render_invalid(other, &problems, &ctx) {
                        say_raw!("{out}");
                    }
                }
            }
            Err(CliError::invalid(
                EngineError::Invalid(problems).to_string(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// Reads at most `limit` bytes of `path` (the engine refuses anything over its own limit, so a
/// huge file cannot exhaust memory first).
fn read_limited(path: &Path, limit: usize) -> Result<Vec<u8>, CliError> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::invalid(format!("cannot read `{}`: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(u64::try_from(limit).unwrap_or(u64::MAX))
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::invalid(format!("cannot read `{}`: {e}", path.display())))?;
    Ok(bytes)
}

fn render_reason(out: &mut String, mark: &str, r: &Reason) {
    let _ = writeln!(out, "  {mark} {}: {}", r.policy_id, r.reason);
    if !r.controls.is_empty() {
        let _ = writeln!(out, "      controls: {}", r.controls.join(", "));
    }
    for (path, value) in &r.values {
        let _ = writeln!(out, "      {path} = {value}");
    }
}

/// The human-readable rendering of a decision.
pub fn render_text(d: &Decision) -> String {
    let b = &d.body;
    let mut out = String::new();
    let tier = b
        .tier
        .map(|t| format!("tier {t}"))
        .unwrap_or_else(|| "tier unknown: no verified metadata".to_string());
    let verdict = if d.is_allow() { "ALLOW" } else { "DENY" };
    let _ = writeln!(
        out,
        "{verdict} {} {} -> {} ({tier})",
        b.request.model, b.request.version, b.request.environment
    );
    let (label, mark) = if d.is_allow() {
        ("permitted by", "✓")
    } else {
        ("reasons", "✗")
    };
    let _ = writeln!(out, "{label}:");
    for r in &b.reasons {
        render_reason(&mut out, mark, r);
    }
    if !b.warnings.is_empty() {
        let _ = writeln!(out, "warnings:");
        for r in &b.warnings {
            render_reason(&mut out, "!", r);
        }
    }
    if !b.approvals.is_empty() {
        let _ = writeln!(out, "approvals counted:");
        for a in &b.approvals {
            let _ = writeln!(
                out,
                "  {} by {} (expires {})",
                a.role, a.approver, a.expires
            );
        }
    }
    if !b.findings.is_empty() {
        let _ = writeln!(out, "not counted:");
        for f in &b.findings {
            let _ = writeln!(out, "  attestation {}: {}", f.attestation, f.problem);
        }
    }
    let _ = writeln!(out, "bundle {}", b.bundle_digest);
    let _ = writeln!(
        out,
        "ledger index {} leaf {}",
        d.ledger.index, d.ledger.leaf_hash
    );
    out
}
