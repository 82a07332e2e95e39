//! `modelgate-bench`: runs every benchmark and rewrites the tables in `docs/benchmarks.md`.
fn main() {}
