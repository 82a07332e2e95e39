//! libFuzzer entry point of the `bundle` target (logic and invariants in `src/targets/bundle.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| modelgate_fuzz::targets::bundle(data));
