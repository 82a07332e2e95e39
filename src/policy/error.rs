//! [`PolicyError`]: everything that can go wrong loading a bundle, evaluating a request or
//! running policy cases.
//!
//! A deny is not an error: it is an [`crate::policy::Evaluation`] with
//! [`crate::policy::Outcome::Deny`]. Errors here mean the bundle or the input is unusable, and
//! the caller must treat the gate as closed.

use std::path::PathBuf;

/// Errors of the policy module.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file or directory of the bundle or of a case directory could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// A file name in the bundle directory is not usable in the digest listing.
    #[error("bundle file name `{name}` is not supported: {problem}")]
    FileName {
        /// The file name (lossily converted to UTF-8).
        name: String,
        /// What is wrong with it.
        problem: String,
    },

    /// The bundle directory does not hold exactly one `*.cedarschema` file.
    #[error("bundle `{dir}` must hold exactly one `*.cedarschema` file, found {found}")]
    SchemaCount {
        /// The bundle directory.
        dir: PathBuf,
        /// The schema files found (comma separated, possibly empty).
        found: String,
    },

    /// The bundle directory holds no `*.cedar` file.
    #[error("bundle `{dir}` holds no `*.cedar` policy file")]
    NoPolicies {
        /// The bundle directory.
        dir: PathBuf,
    },

    /// The Cedar schema does not parse.
    #[error("schema `{file}` does not parse: {message}")]
    SchemaParse {
        /// The schema file name.
        file: String,
        /// Cedar's message.
        message: String,
    },

    /// A policy file does not parse.
    #[error("policy file `{file}` does not parse: {message}")]
    PolicyParse {
        /// The policy file name.
        file: String,
        /// Cedar's messages, joined.
        message: String,
    },

    /// A policy lacks a required annotation.
    #[error("policy {policy} in `{file}` has no `@{annotation}` annotation")]
    MissingAnnotation {
        /// The policy file name.
        file: String,
        /// The policy: its `@id` in backticks, or its position in the file.
        policy: String,
        /// The missing annotation key.
        annotation: String,
    },

    /// An annotation has a value that is not allowed.
    #[error("policy {policy} in `{file}` has an invalid `@{annotation}`: {problem}")]
    InvalidAnnotation {
        /// The policy file name.
        file: String,
        /// The policy: its `@id` in backticks, or its position in the file.
        policy: String,
        /// The annotation key.
        annotation: String,
        /// What is wrong with it.
        problem: String,
    },

    /// Two policies carry the same `@id`.
    #[error("duplicate policy id `{id}` in `{first}` and `{second}`")]
    DuplicateId {
        /// The repeated id.
        id: String,
        /// File of the first policy with that id.
        first: String,
        /// File of the second policy with that id.
        second: String,
    },

    /// The bundle holds a template (a policy with slots); bundles must be static policies.
    #[error("policy {policy} in `{file}` is a template; only static policies are supported")]
    Template {
        /// The policy file name.
        file: String,
        /// The policy: its `@id` in backticks, or its position in the file.
        policy: String,
    },

    /// No enforce-mode permit exists, so every request would be denied.
    #[error("bundle has no enforce-mode `permit`: every request would be denied")]
    NoPermit,

    /// Strict validation against the schema failed.
    #[error("policies do not validate against the schema (strict mode):\n{}", .errors.join("\n"))]
    Validation {
        /// One line per validation error, naming the policy.
        errors: Vec<String>,
    },

    /// The schema does not describe the policy input (entity types, attributes, action).
    #[error("schema does not fit the policy input: {message}")]
    SchemaMismatch {
        /// What did not fit.
        message: String,
    },

    /// A policy input could not be turned into Cedar entities, context or request.
    #[error("policy input does not fit the schema: {message}")]
    Input {
        /// What did not fit.
        message: String,
    },

    /// A waived policy id is not in the bundle.
    #[error("waived policy `{id}` is not in the bundle")]
    UnknownPolicy {
        /// The unknown id.
        id: String,
    },

    /// A policy case file or base document is malformed.
    #[error("policy case file `{file}` is invalid: {message}")]
    CaseFile {
        /// The file name.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// `error` and its sources, joined with `: ` (Cedar puts the detail in the source chain).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = inner.source();
    }
    out
}
