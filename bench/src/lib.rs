//! modelgate's benchmark runner, as a library so that its parts can be tested: floors, peers and
//! scaling curves measured side by side in one run, written into `docs/benchmarks.md`.
#![cfg_attr(test, allow(clippy::unwrap_used))]

/// The tests' fixture: a real workspace, persona keys, signed requests (`tests/common`).
#[allow(clippy::new_without_default)]
#[path = "../../tests/common/mod.rs"]
pub mod common;
/// Filler decision records for large ledgers (`benches/support/filler.rs`).
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[path = "../../benches/support/filler.rs"]
pub mod filler;
/// The HTTP load generator and served process of the benches (`benches/support/http_load.rs`).
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[path = "../../benches/support/http_load.rs"]
pub mod http_load;

pub mod cargo_benches;
pub mod cedar_alone;
pub mod doc;
pub mod floors;
pub mod machine;
pub mod peers;
pub mod rego;
pub mod report;
pub mod scaling;
pub mod stats;
pub mod workload;
