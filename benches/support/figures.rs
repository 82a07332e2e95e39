//! Headline figures for the benchmark runner (`modelgate-bench all`): when
//! `MODELGATE_BENCH_FIGURES` names a file, each figure is appended to it as `name<TAB>value`, so
//! the runner can set it against the floors measured in the same run. Without the variable
//! nothing is written.

use std::io::Write as _;

/// Records figure `name` (no-op unless `MODELGATE_BENCH_FIGURES` is set).
pub fn figure(name: &str, value: f64) {
    let Some(path) = std::env::var_os("MODELGATE_BENCH_FIGURES") else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{name}\t{value}"));
    if let Err(e) = written {
        eprintln!(
            "cannot record figure {name} in {}: {e}",
            path.to_string_lossy()
        );
    }
}
