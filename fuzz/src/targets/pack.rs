//! `pack`: [`verify_pack`] on a `.tar.gz`. Input starting with the gzip magic is verified as
//! is; any other input is taken as an uncompressed tar and gzipped first, so that mutations
//! reach the archive entries and the pack's files instead of dying at the gzip checksum.
//!
//! Invariants: an `ok` outcome ran every check and all of them passed; verifying again gives
//! the same checks; and a pack that verifies under the golden pack's engine key (found in the
//! pack or pinned) holds exactly the golden pack's files: nobody without that key can make
//! another pack pass. Memory stays bounded (`scripts/fuzz` runs with `-rss_limit_mb`).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::OnceLock;

use flate2::write::GzEncoder;
use flate2::Compression;
use modelgate::evidence::archive::read_tar_gz;
use modelgate::evidence::verify_pack;

/// The golden pack and its engine key.
pub const GOLDEN: &[u8] = include_bytes!("../../../evidence/golden/credit-risk-scorer.tar.gz");
const GOLDEN_VKEY: &str = include_str!("../../../evidence/golden/engine.vkey");

/// The checks of a complete verification (`evidence::verify` module docs).
const ALL_CHECKS: [&str; 14] = [
    "archive",
    "manifest",
    "files",
    "key",
    "signature",
    "checkpoint",
    "material",
    "inclusion",
    "consistency",
    "scope",
    "dependencies",
    "attestations",
    "replay",
    "derived",
];

fn golden_files() -> &'static BTreeMap<String, Vec<u8>> {
    static FILES: OnceLock<BTreeMap<String, Vec<u8>>> = OnceLock::new();
    FILES.get_or_init(|| read_tar_gz(GOLDEN).unwrap_or_else(|e| panic!("golden pack: {e}")))
}

/// `tar` gzipped (fast level).
pub fn gzip(tar: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    if let Err(e) = enc.write_all(tar) {
        panic!("gzip: {e}");
    }
    enc.finish().unwrap_or_else(|e| panic!("gzip: {e}"))
}

/// The target.
pub fn run(data: &[u8]) {
    let archive = if data.starts_with(&[0x1f, 0x8b]) {
        data.to_vec()
    } else {
        gzip(data)
    };
    let golden_vkey = GOLDEN_VKEY.trim();
    let outcome = verify_pack(&archive, None);
    if !outcome.ok {
        return;
    }
    for name in ALL_CHECKS {
        assert!(
            outcome.checks.iter().any(|c| c.check == name && c.ok),
            "ok without passing the `{name}` check: {:?}",
            outcome.checks
        );
    }
    let again = verify_pack(&archive, None);
    assert!(
        again.ok && again.checks == outcome.checks,
        "verification is not deterministic"
    );
    let pinned = verify_pack(&archive, Some(golden_vkey));
    if outcome.vkey.as_deref() == Some(golden_vkey) || pinned.ok {
        let files = read_tar_gz(&archive).unwrap_or_else(|e| panic!("verified, unreadable: {e}"));
        assert!(
            &files == golden_files(),
            "a pack other than the golden one verifies under the golden engine key"
        );
    }
}
