//! Policy bundles by digest: every activated bundle stays retrievable from the ledger's blob
//! store, so that any past decision can be replayed with the exact policies that made it.
//!
//! A bundle's digest is `sha256:` of its canonical listing (one `<sha256 hex>  <file name>` line
//! per file, see [`PolicyBundle::listing`]). [`bundle_blobs`] gives the listing under the bundle
//! digest and each file under `sha256:<its hex>`; the engine stores them in the same transaction
//! as the `bundle_activation` record. [`load_bundle`] reverses it: fetch the listing by digest,
//! each file by the hash the listing names, rebuild and re-validate the bundle, and check that
//! it reproduces the digest. The blob store is content-addressed and re-checks every digest on
//! read, so a stored bundle cannot be altered without the read failing. A listing naming a
//! file that is not one plain file name ([`PolicyBundle::check_file_name`]) is refused.

use std::path::Path;

use super::EngineError;
use crate::digest::parse_prefixed;
use crate::ledger::Store;
use crate::policy::PolicyBundle;

/// The blobs that make `bundle` retrievable by its digest: `(digest, bytes)` pairs.
pub fn bundle_blobs(bundle: &PolicyBundle) -> Vec<(String, Vec<u8>)> {
    let mut blobs = vec![(
        bundle.digest().to_owned(),
        bundle.listing().as_bytes().to_vec(),
    )];
    blobs.extend(
        bundle
            .files()
            .iter()
            .map(|f| (format!("sha256:{}", f.sha256), f.bytes.clone())),
    );
    blobs
}

/// Whether the blobs of the bundle with `digest` are stored.
pub fn has_bundle(store: &dyn Store, digest: &str) -> Result<bool, EngineError> {
    Ok(store.attestation(digest)?.is_some())
}

/// Rebuilds the bundle with `digest` from the blob store.
pub fn load_bundle(store: &dyn Store, digest: &str) -> Result<PolicyBundle, EngineError> {
    let missing = |what: String| {
        EngineError::invalid(
            "",
            format!("policy bundle `{digest}` cannot be retrieved: {what}"),
        )
    };
    if parse_prefixed(digest).is_none() {
        return Err(missing("it is not a `sha256:<hex>` digest".to_owned()));
    }
    let listing = store.attestation(digest)?.ok_or_else(|| {
        missing(
            "its file listing is not stored (activated by a version that did not keep bundles)"
                .to_owned(),
        )
    })?;
    let listing = String::from_utf8(listing)
        .map_err(|_| missing("its stored listing is not UTF-8".to_owned()))?;
    let mut files = Vec::new();
    for line in listing.lines() {
        let Some((hex, name)) = line.split_once("  ") else {
            return Err(missing(format!(
                "listing line `{}` is not `<sha256>  <name>`",
                line.escape_debug()
            )));
        };
        // The names are written as files by `policy export`: each must be one plain file name
        // (no `..`, `/`, absolute path or control character), checked before anything is read.
        PolicyBundle::check_file_name(name).map_err(|e| missing(e.to_string()))?;
        let bytes = store
            .attestation(&format!("sha256:{hex}"))?
            .ok_or_else(|| {
                missing(format!(
                    "file `{name}` (sha256 {}) is not stored",
                    hex.escape_debug()
                ))
            })?;
        files.push((name.to_owned(), bytes));
    }
    let bundle = PolicyBundle::from_files(Path::new(digest), files)?;
    if bundle.digest() != digest {
        return Err(missing(format!(
            "the stored files rebuild bundle `{}`",
            bundle.digest()
        )));
    }
    Ok(bundle)
}
