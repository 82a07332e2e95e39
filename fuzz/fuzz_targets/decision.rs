//! libFuzzer entry point of the `decision` target (logic and invariants in `src/targets/decision.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| modelgate_fuzz::targets::decision(data));
