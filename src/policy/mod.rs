//! Cedar policy evaluation: load and strictly validate a bundle, map a [`PolicyInput`] into
//! Cedar, evaluate, explain.
//!
//! This is the only module that imports `cedar_policy`. It never does I/O after
//! [`PolicyBundle::load`] and never checks signatures: the engine hands it verified facts as a
//! [`PolicyInput`] and gets back an [`Evaluation`].
//!
//! - [`PolicyBundle`] (`bundle.rs`): one `*.cedarschema` plus `*.cedar` files, every policy
//!   annotated (`@id`, `@reason`, `@control`, optional `@reads`, `@mode`; see [`PolicyInfo`]),
//!   validated in strict mode, named by [`PolicyBundle::digest`].
//! - [`PolicyBundle::evaluate`] (`evaluate.rs`): enforce-mode policies decide ([`Outcome`]);
//!   warn-mode forbids become warnings; shadow-mode policies are evaluated as their own set and
//!   reported apart. Every [`Reason`] names its policy, controls and the values it read. Any
//!   evaluation error denies (fail closed), and a deny without a matching forbid names the
//!   permit that was expected.
//! - The mapping into Cedar (`mapping.rs`) is built directly with Cedar's programmatic API per
//!   request; its conformance to the bundle schema is proved once, at load.
//! - [`cases`]: data-driven policy cases ([`CaseSuite`], [`run_cases`]) with a coverage rule.
//! - [`diagnose`] (`diagnostics.rs`): every problem of a bundle as a located [`Diagnostic`].
//!
//! The reference bundle and its documentation live in `policies/` and `docs/policies.md`.

mod annotations;
mod bundle;
pub mod cases;
mod diagnostics;
mod error;
mod evaluate;
mod explain;
pub mod input;
mod mapping;

pub use annotations::{Mode, PolicyEffect, PolicyInfo};
pub use bundle::{BundleFile, PolicyBundle};
pub use cases::{
    run_cases, Case, CaseFile, CaseReport, CaseResult, CaseSuite, PolicyCoverage, Uncovered,
};
pub use diagnostics::{diagnose, line_column, Diagnostic, SourceFile};
pub use error::PolicyError;
pub use evaluate::{Evaluation, Outcome, Reason, ACTION, NAMESPACE};
pub use input::{ContextFacts, EnvironmentFacts, ModelFacts, PolicyInput, INPUT_VERSION};
