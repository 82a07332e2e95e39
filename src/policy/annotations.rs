//! Policy annotations: [`PolicyInfo`] (what a policy says about itself), [`Mode`] and
//! [`PolicyEffect`].
//!
//! Every policy carries `@id`, `@reason` and `@control`; `@reads` (attribute paths whose values
//! are reported with a reason) and `@mode` are optional. [`parse_info`] turns the annotations of
//! one parsed policy into a [`PolicyInfo`] or a [`PolicyError`] naming the file and the policy.

use cedar_policy::{Effect, Policy};
use serde::{Deserialize, Serialize};

use super::explain::InputJson;
use super::PolicyError;

/// How a policy takes part in a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The policy decides (the default).
    Enforce,
    /// A matching `forbid` becomes a warning; it never denies.
    Warn,
    /// Evaluated on its own and reported separately; it never decides.
    Shadow,
}

impl Mode {
    /// The annotation spelling: `enforce`, `warn` or `shadow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Shadow => "shadow",
        }
    }
}

/// Whether a policy permits or forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyEffect {
    /// A `permit` policy.
    Permit,
    /// A `forbid` policy.
    Forbid,
}

impl PolicyEffect {
    /// `permit` or `forbid`, as in Cedar source.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyEffect::Permit => "permit",
            PolicyEffect::Forbid => "forbid",
        }
    }
}

/// One policy of a bundle, as described by its annotations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInfo {
    /// Stable id from `@id`.
    pub id: String,
    /// `permit` or `forbid`.
    pub effect: PolicyEffect,
    /// Human text from `@reason`: what is missing or wrong when the policy applies.
    pub reason: String,
    /// Framework references from `@control`, in the order written.
    pub controls: Vec<String>,
    /// From `@mode`; [`Mode::Enforce`] when absent.
    pub mode: Mode,
    /// Attribute paths from `@reads`, in the order written.
    pub reads: Vec<String>,
    /// The bundle file the policy came from.
    pub file: String,
}

/// Reads the annotations of `policy` (found at `position`, 1-based, in `file`).
///
/// `probe` is a complete policy input used to check that every `@reads` path resolves.
pub(crate) fn parse_info(
    policy: &Policy,
    file: &str,
    position: usize,
    probe: &InputJson,
) -> Result<PolicyInfo, PolicyError> {
    let mut label = format!("#{position}");
    let missing = |label: &str, annotation: &str| PolicyError::MissingAnnotation {
        file: file.to_owned(),
        policy: label.to_owned(),
        annotation: annotation.to_owned(),
    };
    let invalid = |label: &str, annotation: &str, problem: String| PolicyError::InvalidAnnotation {
        file: file.to_owned(),
        policy: label.to_owned(),
        annotation: annotation.to_owned(),
        problem,
    };

    let id = policy
        .annotation("id")
        .ok_or_else(|| missing(&label, "id"))?
        .trim()
        .to_owned();
    if id.is_empty() {
        return Err(invalid(&label, "id", "the id is empty".to_owned()));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(invalid(
            &label,
            "id",
            format!("`{id}` contains `{bad}`; use letters, digits, `.`, `_` and `-`"),
        ));
    }
    label = format!("`{id}`");

    let reason = policy
        .annotation("reason")
        .ok_or_else(|| missing(&label, "reason"))?
        .trim()
        .to_owned();
    if reason.is_empty() {
        return Err(invalid(&label, "reason", "the reason is empty".to_owned()));
    }

    let controls = split_list(
        policy
            .annotation("control")
            .ok_or_else(|| missing(&label, "control"))?,
    );
    if controls.is_empty() {
        return Err(invalid(
            &label,
            "control",
            "no control is listed".to_owned(),
        ));
    }

    let effect = match policy.effect() {
        Effect::Permit => PolicyEffect::Permit,
        Effect::Forbid => PolicyEffect::Forbid,
    };

    let mode = match policy.annotation("mode").map(str::trim) {
        None | Some("enforce") => Mode::Enforce,
        Some("warn") => Mode::Warn,
        Some("shadow") => Mode::Shadow,
        Some(other) => {
            return Err(invalid(
                &label,
                "mode",
                format!("`{other}` is not one of `enforce`, `warn`, `shadow`"),
            ))
        }
    };
    if mode == Mode::Warn && effect == PolicyEffect::Permit {
        return Err(invalid(
            &label,
            "mode",
            "`warn` applies to `forbid` policies only".to_owned(),
        ));
    }

    let reads = policy
        .annotation("reads")
        .map(split_list)
        .unwrap_or_default();
    for path in &reads {
        if probe.resolve(path).is_none() {
            return Err(invalid(
                &label,
                "reads",
                format!(
                    "`{path}` is not an input attribute (use `principal`, `resource.<attr>`, \
                     `context.<attr>` or `context.environment.<attr>`)"
                ),
            ));
        }
    }

    Ok(PolicyInfo {
        id,
        effect,
        reason,
        controls,
        mode,
        reads,
        file: file.to_owned(),
    })
}

/// Splits a comma-separated annotation value into trimmed, non-empty, de-duplicated items.
fn split_list(value: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !out.iter().any(|seen| seen == item) {
            out.push(item.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_list_trims_and_drops_empty_and_repeated_items() {
        assert_eq!(
            split_list(" a, b ,,a, c "),
            vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]
        );
        assert!(split_list(" , ").is_empty());
    }
}
