//! modelgate: a policy-as-code governance engine for ML model promotion.
//!
//! A deploy pipeline asks "may model M version V go to environment E?". The [`engine`] answers:
//! it verifies the signed metadata and approvals ([`attest`]), validates the metadata against its
//! JSON Schema and derives completeness facts ([`metadata`]), evaluates the tiered Cedar policy
//! bundle ([`policy`]), appends the decision durably to the hash-chained ledger ([`ledger`]) and
//! only then returns the decision with its reasons. The [`cli`] is an adapter over the engine;
//! [`workspace`] wires the pieces together from a workspace directory.
//!
//! See `ARCHITECTURE.md` for the module map and the import rules that a test enforces.

pub mod attest;
pub mod canonical;
pub mod cli;
pub mod clock;
pub mod digest;
pub mod doc;
pub mod engine;
pub mod evidence;
pub mod inventory;
pub mod ledger;
pub mod metadata;
pub mod policy;
pub mod secret_file;
pub mod server;
pub mod workspace;
