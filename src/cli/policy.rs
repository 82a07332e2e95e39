//! `modelgate policy validate` and `modelgate policy test`: check a policy bundle and run its
//! test cases.
//!
//! [`PolicyCommand`] holds both; [`TestArgs`] the options of `test` ([`TestFormat`], the
//! coverage threshold). The bundle is the workspace's (`policy_dir` in `modelgate.toml`) unless
//! `--bundle DIR` names one; its cases are in `DIR/tests/` (`docs/policies.md`).
//!
//! - `validate` loads the bundle as `check` would. When it does not load, every problem is
//!   printed as `FILE:LINE:COLUMN: error: MESSAGE` ([`crate::policy::diagnose`]) and the exit
//!   code is 3; a valid bundle prints its digest and policy count and exits 0.
//! - `test` runs the cases ([`crate::policy::run_cases`]), prints the results and the
//!   per-policy coverage as text, JSON or JUnit XML ([`test_report`]), and exits 0 when every case passed, every
//!   enforce policy has an allow-side and a deny-side case and the coverage reaches
//!   `--min-coverage`; 2 otherwise; 3 when the bundle or a case file is invalid.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};

use super::{exit, CliError, CmdResult};
use crate::policy::cases::format_percent;
use crate::policy::{diagnose, run_cases, CaseSuite, Diagnostic, Mode, PolicyBundle, SourceFile};
use crate::workspace::Workspace;

pub mod test_report;

use test_report::meets_minimum;

/// `modelgate policy …`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check a policy bundle; print every problem with its file, line and column. Exit 0 valid,
    /// 3 invalid.
    Validate {
        /// The bundle directory (default: the workspace's policy bundle).
        #[arg(long, value_name = "DIR")]
        bundle: Option<PathBuf>,
    },
    /// Run the bundle's test cases (`DIR/tests/`) and report per-policy coverage. Exit 0
    /// passed, 2 failed, 3 invalid bundle or case file.
    Test(TestArgs),
    /// Write a bundle a decision used, retrieved from the ledger by its digest, into a new
    /// directory (the files that reproduce the digest). Exit 0, 3 when it is not stored.
    Export {
        /// The bundle digest, `sha256:<hex>`, as decisions record it.
        digest: String,
        /// A directory that does not exist yet.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// `modelgate policy test`
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The bundle directory (default: the workspace's policy bundle).
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: TestFormat,
    /// Fail unless at least PCT percent (0 to 100) of the bundle's policies are satisfied in
    /// some case.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub min_coverage: Option<f64>,
}

/// Output format of `modelgate policy test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// Failures, per-policy coverage and a summary.
    Text,
    /// The `https://modelgate.dev/policy-test/v1` object.
    Json,
    /// JUnit XML: one test suite per case file, one for coverage.
    Junit,
}

/// Parses a percentage: a number from 0 to 100, optionally followed by `%`.
fn parse_percent(s: &str) -> Result<f64, String> {
    let number = s.trim().trim_end_matches('%');
    match number.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("`{s}` is not a percentage from 0 to 100")),
    }
}

/// Runs a `modelgate policy` command.
pub fn policy(home: &Path, command: &PolicyCommand) -> CmdResult {
    match command {
        PolicyCommand::Validate { bundle } => validate(&bundle_dir(home, bundle.as_deref())?),
        PolicyCommand::Test(args) => test(&bundle_dir(home, args.bundle.as_deref())?, args),
        PolicyCommand::Export { digest, out } => export(home, digest, out),
    }
}

/// Writes the bundle with `digest` into the new directory `out`. Its parent must exist and `out`
/// must not (nor a symlink planted at that path); every file name is one that
/// [`PolicyBundle::check_file_name`] accepts, all checked before anything is written, and the
/// directory appears whole or not at all ([`super::atomic::write_dir`]).
fn export(home: &Path, digest: &str, out: &Path) -> CmdResult {
    let ws = Workspace::open(home)?;
    let store = ws.read_store()?;
    let bundle = crate::engine::bundles::load_bundle(&*store, digest)?;
    for file in bundle.files() {
        PolicyBundle::check_file_name(&file.name)
            .map_err(|e| CliError::invalid(format!("bundle `{digest}` cannot be exported: {e}")))?;
    }
    super::atomic::write_dir(
        out,
        bundle
            .files()
            .iter()
            .map(|f| (f.name.as_str(), f.bytes.as_slice())),
    )?;
    say!(
        "wrote bundle {} ({} files, {} policies) to {}",
        bundle.digest(),
        bundle.files().len(),
        bundle.policies().len(),
        out.display()
    );
    Ok(exit::OK)
}

/// `--bundle DIR`, or the workspace's policy bundle.
fn bundle_dir(home: &Path, bundle: Option<&Path>) -> Result<PathBuf, CliError> {
    match bundle {
        Some(dir) => Ok(dir.to_path_buf()),
        None => Ok(Workspace::open(home)?.policy_dir()),
    }
}

fn validate(dir: &Path) -> CmdResult {
    let error = match PolicyBundle::load(dir) {
        Ok(bundle) => {
            let count = |mode| bundle.policies().iter().filter(|p| p.mode == mode).count();
            say!(
                "bundle {} is valid: {} policies ({} enforce, {} warn, {} shadow) in {} files",
                dir.display(),
                bundle.policies().len(),
                count(Mode::Enforce),
                count(Mode::Warn),
                count(Mode::Shadow),
                bundle.files().len()
            );
            say!("digest {}", bundle.digest());
            return Ok(exit::OK);
        }
        Err(e) => e,
    };
    let mut problems = match read_sources(dir) {
        Ok(sources) => diagnose(&sources),
        Err(_) => Vec::new(),
    };
    if problems.is_empty() {
        // The loader's own message, when the files cannot be read or hold nothing to locate.
        problems.push(Diagnostic {
            file: None,
            line: None,
            column: None,
            message: error.to_string(),
        });
    }
    for problem in &problems {
        say!("{}", diagnostic_line(dir, problem));
    }
    Err(CliError::invalid(format!(
        "bundle `{}` is invalid: {} problem(s)",
        dir.display(),
        problems.len()
    )))
}

/// `DIR/FILE:LINE:COLUMN: error: MESSAGE`, with as much of the location as is known.
pub fn diagnostic_line(dir: &Path, d: &Diagnostic) -> String {
    let mut location = match &d.file {
        Some(file) => dir.join(file).display().to_string(),
        None => dir.display().to_string(),
    };
    if let Some(line) = d.line {
        let _ = write!(location, ":{line}");
        if let Some(column) = d.column {
            let _ = write!(location, ":{column}");
        }
    }
    format!("{location}: error: {}", d.message)
}

/// The top-level `*.cedar` and `*.cedarschema` files of `dir`, read by the loader's own rules
/// ([`PolicyBundle::read_sources`]: no symlink out of `dir`, regular files of bounded size).
fn read_sources(dir: &Path) -> Result<Vec<SourceFile>, CliError> {
    let files = PolicyBundle::read_sources(dir).map_err(|e| CliError::invalid(e.to_string()))?;
    Ok(files
        .into_iter()
        .map(|(name, bytes)| SourceFile { name, bytes })
        .collect())
}

fn test(dir: &Path, args: &TestArgs) -> CmdResult {
    let bundle = PolicyBundle::load(dir).map_err(|e| {
        CliError::invalid(format!(
            "bundle `{}` does not load (`modelgate policy validate` locates every problem): {e}",
            dir.display()
        ))
    })?;
    let cases = dir.join("tests");
    if !cases.is_dir() {
        return Err(CliError::invalid(format!(
            "bundle `{}` has no test cases: `{}` is not a directory (docs/policies.md describes \
             the case files)",
            dir.display(),
            cases.display()
        )));
    }
    let suite = CaseSuite::load(&cases).map_err(|e| CliError::invalid(e.to_string()))?;
    let report = run_cases(&bundle, &suite);
    let min = args.min_coverage;
    let meets = min.is_none_or(|m| meets_minimum(&report, m));
    let out = match args.format {
        TestFormat::Text => test_report::text(dir, &bundle, &report, min),
        TestFormat::Json => format!("{:#}\n", test_report::json(dir, &bundle, &report, min)),
        TestFormat::Junit => test_report::junit(&report, min),
    };
    say_raw!("{out}");
    if report.passed() && meets {
        return Ok(exit::OK);
    }
    let mut why = Vec::new();
    let failed = report.failed().count();
    if failed > 0 {
        why.push(format!("{failed} case(s) failed"));
    }
    if !report.uncovered.is_empty() {
        why.push(format!(
            "{} allow-side or deny-side coverage gap(s)",
            report.uncovered.len()
        ));
    }
    if let (Some(min), false) = (min, meets) {
        why.push(format!(
            "coverage {} is below the minimum {min}%",
            format_percent(report.coverage_percent())
        ));
    }
    Err(CliError {
        code: exit::DENY,
        message: format!("policy tests failed: {}", why.join("; ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_from_0_to_100_parse_with_or_without_percent_sign() {
        assert_eq!(parse_percent("90"), Ok(90.0));
        assert_eq!(parse_percent("97.5%"), Ok(97.5));
        assert!(parse_percent("101").is_err());
        assert!(parse_percent("-1").is_err());
        assert!(parse_percent("all").is_err());
        assert!(parse_percent("NaN").is_err());
    }

    #[test]
    fn diagnostic_lines_read_like_compiler_messages() {
        let d = |file: Option<&str>, line, column| Diagnostic {
            file: file.map(str::to_owned),
            line,
            column,
            message: "bad".to_owned(),
        };
        let dir = Path::new("policies");
        assert_eq!(
            diagnostic_line(dir, &d(Some("a.cedar"), Some(3), Some(7))),
            "policies/a.cedar:3:7: error: bad"
        );
        assert_eq!(
            diagnostic_line(dir, &d(Some("a.cedar"), None, None)),
            "policies/a.cedar: error: bad"
        );
        assert_eq!(
            diagnostic_line(dir, &d(None, None, None)),
            "policies: error: bad"
        );
    }
}
