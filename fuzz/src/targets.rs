//! The fuzz targets: one `pub fn NAME(data: &[u8])` per target, each checking an invariant
//! and panicking when it breaks (libFuzzer reports the panic as a crash).
//!
//! This file and `targets/` import nothing from libFuzzer, so `tests/fuzz_regressions.rs`
//! includes them with `#[path]` and replays the seed corpora and past crashes in `cargo test`.
//! (The `#[path]` attributes make the submodules resolve the same from both places.)
//! Targets: [`dsse`], [`decision`], [`admission`], [`notes`], [`pack`], [`bundle`];
//! [`personas`] holds the fixed test keys and signed requests the seeds are made of.

#[path = "targets/admission.rs"]
pub mod admission;
#[path = "targets/bundle.rs"]
pub mod bundle;
#[path = "targets/decision.rs"]
pub mod decision;
#[path = "targets/dsse.rs"]
pub mod dsse;
#[path = "targets/notes.rs"]
pub mod notes;
#[path = "targets/pack.rs"]
pub mod pack;
#[path = "targets/personas.rs"]
pub mod personas;

/// A target: input bytes in, a panic when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target by name, as `scripts/fuzz` and the regression tests know them.
pub const TARGETS: [(&str, Target); 6] = [
    ("dsse", dsse),
    ("decision", decision),
    ("admission", admission),
    ("notes", notes),
    ("pack", pack),
    ("bundle", bundle),
];

/// DSSE envelope parsing and verification against a fixed trust store.
pub fn dsse(data: &[u8]) {
    dsse::run(data)
}

/// Promotion request bytes decided by a real engine on a SQLite ledger.
pub fn decision(data: &[u8]) {
    decision::run(data)
}

/// AdmissionReview parsing and judging against a real server state.
pub fn admission(data: &[u8]) {
    admission::run(data)
}

/// Checkpoints, tlog proofs, consistency proofs, vkeys and signed notes.
pub fn notes(data: &[u8]) {
    notes::run(data)
}

/// Evidence pack verification.
pub fn pack(data: &[u8]) {
    pack::run(data)
}

/// Policy bundle loading from in-memory files.
pub fn bundle(data: &[u8]) {
    bundle::run(data)
}

/// Splits `data` at the first `\n====\n` into the part before and the part after (empty when
/// there is no marker): the framing of targets that take two inputs.
pub fn split_pair(data: &[u8]) -> (&[u8], &[u8]) {
    const MARK: &[u8] = b"\n====\n";
    match data.windows(MARK.len()).position(|w| w == MARK) {
        Some(at) => (&data[..at], &data[at + MARK.len()..]),
        None => (data, &[]),
    }
}

/// A scratch directory for targets that need files (a workspace, a ledger): under `TMPDIR`
/// (which `scripts/fuzz` points at a tmpfs scratch directory it removes afterwards).
pub fn scratch_dir() -> tempfile::TempDir {
    match tempfile::Builder::new().prefix("modelgate-fuzz-").tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("cannot create a scratch directory: {e}"),
    }
}
