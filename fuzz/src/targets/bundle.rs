//! `bundle`: [`PolicyBundle::from_files`] on files framed in the input: each file starts with
//! a line `--- NAME` and runs to the newline before the next such line (or the end).
//!
//! Invariants: loading is deterministic and does not depend on the order the files come in
//! (same outcome, same digest); a loaded bundle's listing names each of its files once, sorted
//! bytewise, with the SHA-256 of its bytes; and its digest is the SHA-256 of that listing.

use std::path::Path;

use modelgate::digest::{sha256_hex, sha256_prefixed};
use modelgate::policy::PolicyBundle;

/// The files framed in `data`, in input order.
pub fn unframe(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    const HEAD: &[u8] = b"--- ";
    let mut starts: Vec<usize> = Vec::new();
    if data.starts_with(HEAD) {
        starts.push(0);
    }
    for (i, w) in data.windows(HEAD.len() + 1).enumerate() {
        if w[0] == b'\n' && &w[1..] == HEAD {
            starts.push(i + 1);
        }
    }
    let mut files = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(data.len(), |&next| next - 1);
        let chunk = &data[start + HEAD.len()..end.max(start + HEAD.len())];
        let (name, body) = match chunk.iter().position(|&b| b == b'\n') {
            Some(nl) => (&chunk[..nl], &chunk[nl + 1..]),
            None => (chunk, &[][..]),
        };
        files.push((String::from_utf8_lossy(name).into_owned(), body.to_vec()));
    }
    files
}

/// Frames `files` as [`unframe`] reads them.
pub fn frame(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, (name, body)) in files.iter().enumerate() {
        if n > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(b"--- ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(body);
    }
    out
}

/// The target.
pub fn run(data: &[u8]) {
    let files = unframe(data);
    let source = Path::new("fuzz");
    let first = PolicyBundle::from_files(source, files.clone());
    let second = PolicyBundle::from_files(source, files.clone());
    let mut reversed = files.clone();
    reversed.reverse();
    let third = PolicyBundle::from_files(source, reversed);
    let (a, b, c) = match (first, second, third) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(a), Err(b), Err(_)) => {
            assert_eq!(a.to_string(), b.to_string(), "loading is not deterministic");
            return;
        }
        (a, b, c) => panic!(
            "the same files load differently: {:?} / {:?} / {:?}",
            a.err().map(|e| e.to_string()),
            b.err().map(|e| e.to_string()),
            c.err().map(|e| e.to_string())
        ),
    };
    assert_eq!(a.digest(), b.digest(), "the digest is not stable");
    assert_eq!(a.digest(), c.digest(), "the digest depends on file order");
    assert_eq!(a.digest(), sha256_prefixed(a.listing().as_bytes()));
    let mut expected: Vec<(String, String)> = files
        .iter()
        .filter(|(name, _)| name.ends_with(".cedar") || name.ends_with(".cedarschema"))
        .map(|(name, bytes)| (name.clone(), sha256_hex(bytes)))
        .collect();
    expected.sort_by(|x, y| x.0.as_bytes().cmp(y.0.as_bytes()));
    let listed: Vec<(String, String)> = a
        .listing()
        .lines()
        .map(|line| match line.split_once("  ") {
            Some((sha, name)) => (name.to_owned(), sha.to_owned()),
            None => panic!("listing line `{line}` is not `SHA256  NAME`"),
        })
        .collect();
    assert_eq!(
        listed, expected,
        "the listing does not name each file once with its hash"
    );
    let names: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.windows(2).all(|w| w[0] != w[1]),
        "a bundle holds two files named `{}`",
        names.windows(2).find(|w| w[0] == w[1]).map_or("", |w| w[0])
    );
}
