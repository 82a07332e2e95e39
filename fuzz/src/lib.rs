//! Fuzz targets for modelgate: the logic lives in [`targets`], shared with the regression
//! tests (`tests/fuzz_regressions.rs`); `fuzz_targets/*.rs` are thin libFuzzer entry points.

pub mod targets;
