//! SHA-256 helpers shared by every module that names content by digest.
//!
//! Digests travel in two spellings: bare lowercase hex (leaf hashes, key ids) and the
//! `sha256:<hex>` form used for artifacts, payloads, bundles and attestations.

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

/// `sha256:<lowercase hex>` of `bytes`.
pub fn sha256_prefixed(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// Parses `sha256:<64 lowercase hex>` into the raw digest; `None` for any other spelling.
pub fn parse_prefixed(s: &str) -> Option<[u8; 32]> {
    let hex_part = s.strip_prefix("sha256:")?;
    if hex_part.len() != 64 || hex_part.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_is_the_known_answer() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn prefixed_digest_parses_only_lowercase_sha256() {
        let d = sha256_prefixed(b"abc");
        assert_eq!(parse_prefixed(&d), Some(sha256(b"abc")));
        assert_eq!(parse_prefixed(&d.to_uppercase()), None);
        assert_eq!(parse_prefixed("sha512:00"), None);
        assert_eq!(parse_prefixed("sha256:abc"), None);
    }
}
