//! Points `CARGO_BIN_EXE_modelgate` at the `modelgate` binary of the same profile, so that the
//! shared test fixture and load generator (which name it) build here too. The runner builds that
//! binary before it starts a process of it.
use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").unwrap_or_default();
    // OUT_DIR is <target>/<profile>/build/<package>-<hash>/out.
    let profile_dir = Path::new(&out)
        .ancestors()
        .nth(3)
        .map(|p| p.join("modelgate"))
        .unwrap_or_default();
    println!(
        "cargo:rustc-env=CARGO_BIN_EXE_modelgate={}",
        profile_dir.display()
    );
    println!("cargo:rerun-if-changed=build.rs");
}
