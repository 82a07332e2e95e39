//! Hostile archives: `evidence verify` reads a pack into memory and refuses what a pack never
//! holds or what could do harm on extraction, naming the entry — links, devices, unsafe names,
//! duplicates, oversized members, decompression bombs, data after the archive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod evidence_support;

use std::collections::BTreeMap;
use std::io::Write as _;

use common::*;
use evidence_support::*;
use modelgate::evidence::archive::read_tar_gz;
use modelgate::evidence::verify_pack;

#[test]
fn hostile_archives_are_refused_by_name() {
    use tar::{EntryType, Header};
    let entry = |path: &str, kind: EntryType, data: &[u8], link: Option<&str>| -> Vec<u8> {
        let mut out = Vec::new();
        {
            let gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
            let mut b = tar::Builder::new(gz);
            let mut h = Header::new_gnu();
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            {
                let name = &mut h.as_old_mut().name;
                name[..path.len()].copy_from_slice(path.as_bytes());
            }
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            h.set_cksum();
            b.append(&h, data).unwrap();
            b.into_inner().unwrap().finish().unwrap();
        }
        out
    };
    let cases = [
        (
            entry("../escape", EntryType::Regular, b"x", None),
            "`..` component",
        ),
        (
            entry("/etc/passwd", EntryType::Regular, b"x", None),
            "absolute",
        ),
        (
            entry("link", EntryType::Symlink, b"", Some("/etc/passwd")),
            "symbolic link",
        ),
        (
            entry("hard", EntryType::Link, b"", Some("records/0.json")),
            "hard link",
        ),
        (entry("dev", EntryType::Char, b"", None), "device file"),
        (entry("fifo", EntryType::Fifo, b"", None), "FIFO"),
    ];
    for (archive, fragment) in cases {
        let o = verify_pack(&archive, None);
        assert_fails(&o, "archive", fragment);
    }
    // Duplicate names.
    let mut out = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for _ in 0..2 {
            let mut h = Header::new_gnu();
            h.set_size(1);
            b.append_data(&mut h, "manifest.json", &b"x"[..]).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }
    assert_fails(&verify_pack(&out, None), "archive", "occurs twice");
    // Not an archive at all.
    assert_fails(
        &verify_pack(b"PK\x03\x04 a zip", None),
        "archive",
        "not a readable .tar.gz",
    );
}

#[test]
fn an_oversized_member_is_refused_before_it_is_read() {
    // A header claiming a member larger than the limit: refused from the header alone.
    let mut tar_bytes = Vec::new();
    let mut h = tar::Header::new_gnu();
    h.set_path("records/0.json").unwrap();
    h.set_size(modelgate::evidence::archive::MAX_MEMBER_BYTES + 1);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    tar_bytes.extend_from_slice(h.as_bytes());
    tar_bytes.extend_from_slice(&[0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar_bytes).unwrap();
    let o = verify_pack(&gz.finish().unwrap(), None);
    assert_fails(&o, "archive", "more than the");
}

#[test]
fn a_decompression_bomb_stops_at_the_limit() {
    // Members of zeros compress about a thousandfold; reading stops at the total limit (here
    // 2 MiB for the test; 1 GiB by default) and at the member limit, without keeping the rest.
    use modelgate::evidence::archive::{read_tar_gz_within, ArchiveError, Limits};
    let mut files = BTreeMap::new();
    for i in 0..4 {
        files.insert(format!("records/{i}.json"), vec![0u8; 1 << 20]);
    }
    let bomb = repack(&files);
    assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
    let small = Limits {
        member_bytes: 4 << 20,
        total_bytes: 2 << 20,
        members: 100,
    };
    let err = read_tar_gz_within(bomb.as_slice(), small).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge(_)), "{err}");
    assert!(err.to_string().contains("decompression bomb"), "{err}");
    let narrow = Limits {
        member_bytes: 1 << 19,
        ..Limits::default()
    };
    let err = read_tar_gz_within(bomb.as_slice(), narrow).unwrap_err();
    assert!(
        err.to_string()
            .contains("more than the 524288 a pack member may be"),
        "{err}"
    );
    let few = Limits {
        members: 3,
        ..Limits::default()
    };
    assert!(matches!(
        read_tar_gz_within(bomb.as_slice(), few).unwrap_err(),
        ArchiveError::TooManyMembers(3)
    ));
}

#[test]
fn anything_after_the_archive_is_refused() {
    let golden = std::fs::read(golden_dir().join("credit-risk-scorer.tar.gz")).unwrap();
    // A second gzip member holding another summary: some tools would extract it.
    let mut smuggled = golden.clone();
    let mut extra = BTreeMap::new();
    extra.insert("summary.html".to_owned(), b"ALL CONTROLS PASSED".to_vec());
    smuggled.extend_from_slice(&repack(&extra));
    assert_fails(
        &verify_pack(&smuggled, None),
        "archive",
        "after the gzip stream",
    );
    // Bytes appended after the gzip member.
    let mut appended = golden.clone();
    appended.extend_from_slice(b"\0\0junk");
    assert_fails(
        &verify_pack(&appended, None),
        "archive",
        "after the gzip stream",
    );
    // Data after the tar's end-of-archive blocks, inside the one gzip member.
    let mut tar = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(golden.as_slice()),
        &mut tar,
    )
    .unwrap();
    tar.extend_from_slice(b"hidden");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    assert_fails(
        &verify_pack(&gz.finish().unwrap(), None),
        "archive",
        "after the end of the tar archive",
    );
}

#[test]
fn names_with_control_characters_are_refused() {
    use modelgate::evidence::archive::check_path;
    for bad in [
        "zz\r\u{1b}[2K",
        "a\u{7f}b",
        "x\u{202e}txt.json",
        "tab\there",
    ] {
        let err = check_path(bad).unwrap_err();
        assert!(err.contains("control character"), "{bad:?}: {err}");
    }
    // And through the CLI the detail of an unlisted, oddly named file never reaches the terminal raw.
    let f = scenario();
    let home = f.dir.path();
    let mut files = read_tar_gz(build(&f, &all_of(MODEL)).as_slice()).unwrap();
    files.insert("zz\u{1b}[8m".to_owned(), b"x".to_vec());
    let mut out = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (path, bytes) in &files {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            {
                let name = &mut h.as_old_mut().name;
                name[..path.len()].copy_from_slice(path.as_bytes());
            }
            h.set_cksum();
            b.append(&h, bytes.as_slice()).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }
    let pack = home.join("odd.tar.gz");
    std::fs::write(&pack, out).unwrap();
    let o = mg(home, &["evidence", "verify", pack.to_str().unwrap()]);
    assert_eq!(code(&o), 4);
    assert!(!stdout(&o).contains('\u{1b}'), "{:?}", stdout(&o));
    assert!(stdout(&o).contains("control character"), "{}", stdout(&o));
}
