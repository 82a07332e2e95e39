//! libFuzzer entry point of the `dsse` target (logic and invariants in `src/targets/dsse.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| modelgate_fuzz::targets::dsse(data));
