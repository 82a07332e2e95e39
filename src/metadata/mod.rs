//! Model metadata: schema validation and completeness facts.
//!
//! - [`schema`]: the embedded JSON Schemas of `schemas/`, compiled once into [`Schemas`];
//!   violations carry JSON pointers.
//! - [`facts`]: [`derive_model_facts`] turns a verified, schema-valid model-metadata predicate
//!   into the [`crate::policy::input::ModelFacts`] the policies compare.
//! - [`decimal`]: exact comparison of the decimal strings used for metrics and thresholds.
//!
//! This module does no I/O and checks no signatures: it only reads predicates that
//! [`crate::attest`] has already verified.

pub mod decimal;
pub mod facts;
pub mod schema;

pub use facts::{derive_model_facts, unverified_model_facts};
pub use schema::{SchemaKind, Schemas, Violation};
