//! The reference promotion rules written in Rego, evaluated in process by `regorus`.
//!
//! `bench/peers/*.rego` translates `policies/*.cedar` rule by rule (Cedar remains the source of
//! truth); `bench/tests/rego_agrees.rs` keeps the two equal on every case of the policy suite.
//! [`RegoPeer`] loads the translation once and evaluates `data.modelgate.promotion.decision`
//! for a [`modelgate::policy::PolicyInput`] given as JSON ([`RegoPeer::evaluate_json`]) or as a
//! pre-parsed [`regorus::Value`] ([`RegoPeer::evaluate_value`], evaluation alone).

use std::path::Path;

use anyhow::{anyhow, bail, Context as _};
use regorus::{Engine, Value};

/// The rule that holds the decision: `{"allow", "forbids", "permits", "warnings"}`.
pub const DECISION_RULE: &str = "data.modelgate.promotion.decision";

/// A `regorus` engine with the Rego translation of the reference bundle loaded and prepared.
#[derive(Debug, Clone)]
pub struct RegoPeer {
    engine: Engine,
}

/// The decision of the Rego translation for one input, in the shape the rules produce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegoOutcome {
    /// At least one enforce-mode permit applies and no enforce-mode forbid applies.
    pub allow: bool,
    /// Ids of the enforce-mode forbids that apply, sorted.
    pub forbids: Vec<String>,
    /// Ids of the enforce-mode permits that apply, sorted.
    pub permits: Vec<String>,
    /// Ids of the warn-mode forbids that apply, sorted.
    pub warnings: Vec<String>,
}

impl RegoPeer {
    /// Adds every `*.rego` file directly in `dir` (sorted by name) to a new engine and prepares
    /// it with one evaluation of [`DECISION_RULE`] on an empty input, so that parsing, analysis
    /// and a missing decision rule are errors here rather than costs of the first evaluation.
    pub fn load(dir: &Path) -> anyhow::Result<RegoPeer> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry
                .with_context(|| format!("reading {}", dir.display()))?
                .path();
            if path.is_file() && path.extension().is_some_and(|ext| ext == "rego") {
                files.push(path);
            }
        }
        files.sort();
        if files.is_empty() {
            bail!("no `*.rego` file in {}", dir.display());
        }
        let mut engine = Engine::new();
        for path in &files {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            engine
                .add_policy(path.display().to_string(), text)
                .with_context(|| format!("loading {}", path.display()))?;
        }
        let mut peer = RegoPeer { engine };
        peer.evaluate_value(Value::new_object())
            .context("preparing the Rego engine")?;
        Ok(peer)
    }

    /// Parses `input_json` (a policy input as serde_json serialises it), sets it as `input` and
    /// evaluates [`DECISION_RULE`].
    pub fn evaluate_json(&mut self, input_json: &str) -> anyhow::Result<RegoOutcome> {
        let input = Value::from_json_str(input_json).context("parsing the input JSON")?;
        self.evaluate_value(input)
    }

    /// Sets an already parsed `input` and evaluates [`DECISION_RULE`].
    pub fn evaluate_value(&mut self, input: Value) -> anyhow::Result<RegoOutcome> {
        self.engine.set_input(input);
        let decision = self
            .engine
            .eval_rule(DECISION_RULE.to_owned())
            .with_context(|| format!("evaluating {DECISION_RULE}"))?;
        outcome(&decision)
    }
}

/// Reads the decision object into a [`RegoOutcome`].
fn outcome(decision: &Value) -> anyhow::Result<RegoOutcome> {
    if *decision == Value::Undefined {
        bail!("{DECISION_RULE} is undefined");
    }
    let allow = *decision["allow"]
        .as_bool()
        .map_err(|e| anyhow!("{DECISION_RULE}.allow: {e}"))?;
    Ok(RegoOutcome {
        allow,
        forbids: ids(decision, "forbids")?,
        permits: ids(decision, "permits")?,
        warnings: ids(decision, "warnings")?,
    })
}

/// The strings of the array `decision[field]`.
fn ids(decision: &Value, field: &str) -> anyhow::Result<Vec<String>> {
    decision[field]
        .as_array()
        .map_err(|e| anyhow!("{DECISION_RULE}.{field}: {e}"))?
        .iter()
        .map(|id| {
            id.as_string()
                .map(|s| s.to_string())
                .map_err(|e| anyhow!("{DECISION_RULE}.{field}: {e}"))
        })
        .collect()
}
