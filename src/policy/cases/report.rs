//! What a run of policy cases found: [`CaseReport`] with one [`CaseResult`] per case, the
//! boundary-rule gaps ([`Uncovered`]) and the satisfied coverage of every policy
//! ([`PolicyCoverage`]); [`format_percent`] prints a coverage figure.

use serde::Serialize;

use crate::policy::{Mode, Outcome, PolicyEffect};

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseResult {
    /// Case file name.
    pub file: String,
    /// Case name.
    pub name: String,
    /// Why the case failed; empty when it passed.
    pub failures: Vec<String>,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// An enforce-mode policy that lacks an allow-side or deny-side case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Uncovered {
    /// The policy id.
    pub policy_id: String,
    /// The kind of case missing: `allow` or `deny`.
    pub missing: Outcome,
}

/// Whether one policy was satisfied in some case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyCoverage {
    /// The policy id.
    pub policy_id: String,
    /// The policy's mode.
    pub mode: Mode,
    /// `permit` or `forbid`.
    pub effect: PolicyEffect,
    /// In how many cases the policy was satisfied (0: uncovered).
    pub satisfied_in: usize,
}

impl PolicyCoverage {
    /// Whether some case satisfied the policy.
    pub fn covered(&self) -> bool {
        self.satisfied_in > 0
    }
}

/// The outcome of a whole suite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseReport {
    /// One result per case, in file and case order.
    pub results: Vec<CaseResult>,
    /// Boundary-rule gaps (no allow-side or deny-side case), sorted by policy id.
    pub uncovered: Vec<Uncovered>,
    /// Satisfied coverage of every policy of the bundle, sorted by policy id.
    pub coverage: Vec<PolicyCoverage>,
}

impl CaseReport {
    /// True when every case passed and every enforce-mode policy is covered both ways.
    pub fn passed(&self) -> bool {
        self.uncovered.is_empty() && self.results.iter().all(CaseResult::passed)
    }

    /// Percentage (0 to 100) of the bundle's policies satisfied in at least one case; 100 for
    /// a bundle without policies.
    pub fn coverage_percent(&self) -> f64 {
        let total = self.coverage.len();
        if total == 0 {
            return 100.0;
        }
        let covered = self.coverage.iter().filter(|c| c.covered()).count();
        // Counts of policies are far below 2^52: the conversion is exact.
        #[allow(clippy::cast_precision_loss)]
        let percent = covered as f64 * 100.0 / total as f64;
        percent
    }

    /// The policies no case satisfied.
    pub fn unsatisfied(&self) -> impl Iterator<Item = &PolicyCoverage> {
        self.coverage.iter().filter(|c| !c.covered())
    }

    /// The failed cases.
    pub fn failed(&self) -> impl Iterator<Item = &CaseResult> {
        self.results.iter().filter(|r| !r.passed())
    }

    /// A readable multi-line summary of every failure and coverage gap.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for result in self.failed() {
            out.push_str(&format!("FAIL {} / {}\n", result.file, result.name));
            for failure in &result.failures {
                out.push_str(&format!("  {failure}\n"));
            }
        }
        for gap in &self.uncovered {
            out.push_str(&format!(
                "UNCOVERED {}: no {} case covers it\n",
                gap.policy_id,
                gap.missing.as_str()
            ));
        }
        for policy in self.unsatisfied() {
            out.push_str(&format!(
                "NOT SATISFIED {}: no case makes this {} {} apply\n",
                policy.policy_id,
                policy.mode.as_str(),
                policy.effect.as_str()
            ));
        }
        let failed = self.failed().count();
        let covered = self.coverage.iter().filter(|c| c.covered()).count();
        out.push_str(&format!(
            "{} cases, {} passed, {} failed, {} coverage gaps; {covered} of {} policies \
             satisfied ({})\n",
            self.results.len(),
            self.results.len() - failed,
            failed,
            self.uncovered.len(),
            self.coverage.len(),
            format_percent(self.coverage_percent())
        ));
        out
    }
}

/// A percentage with one decimal, without rounding up to a threshold it does not reach
/// (99.96% reads `99.9%`, never `100.0%`).
pub fn format_percent(percent: f64) -> String {
    let tenths = (percent * 10.0).floor() / 10.0;
    format!("{tenths:.1}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_cut_not_rounded_up_to_a_threshold() {
        assert_eq!(format_percent(100.0), "100.0%");
        assert_eq!(format_percent(99.96), "99.9%");
        assert_eq!(format_percent(47.0 * 100.0 / 48.0), "97.9%");
        assert_eq!(format_percent(0.0), "0.0%");
    }

    #[test]
    fn coverage_is_the_share_of_policies_satisfied_in_some_case() {
        let policy = |id: &str, satisfied_in| PolicyCoverage {
            policy_id: id.to_owned(),
            mode: Mode::Enforce,
            effect: PolicyEffect::Forbid,
            satisfied_in,
        };
        let report = CaseReport {
            results: Vec::new(),
            uncovered: Vec::new(),
            coverage: vec![
                policy("a", 2),
                policy("b", 0),
                policy("c", 1),
                policy("d", 0),
            ],
        };
        assert_eq!(report.coverage_percent(), 50.0);
        let unsatisfied: Vec<&str> = report.unsatisfied().map(|c| c.policy_id.as_str()).collect();
        assert_eq!(unsatisfied, ["b", "d"]);
        assert!(report
            .summary()
            .contains("2 of 4 policies satisfied (50.0%)"));
        let empty = CaseReport {
            results: Vec::new(),
            uncovered: Vec::new(),
            coverage: Vec::new(),
        };
        assert_eq!(empty.coverage_percent(), 100.0);
    }
}
