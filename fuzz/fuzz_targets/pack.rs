//! libFuzzer entry point of the `pack` target (logic and invariants in `src/targets/pack.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| modelgate_fuzz::targets::pack(data));
