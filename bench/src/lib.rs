//! modelgate's benchmark runner, as a library so that its parts can be tested: floors, peers and
//! scaling curves measured side by side in one run (`docs/benchmarks.md`).
pub mod rego;
