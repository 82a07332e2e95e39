//! libFuzzer entry point of the `notes` target (logic and invariants in `src/targets/notes.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| modelgate_fuzz::targets::notes(data));
