//! libFuzzer entry point of the `admission` target (logic and invariants in `src/targets/admission.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| modelgate_fuzz::targets::admission(data));
