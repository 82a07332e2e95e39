//! The pack as a `.tar.gz`: a deterministic writer and a reader that refuses hostile archives.
//!
//! This is the only module that knows the archive format (the `tar` and `flate2` crates).
//!
//! [`write_tar_gz`] writes the files sorted by path, as regular files with mode 0644, owner and
//! group 0 with empty names, mtime 0, in GNU tar format (long paths as GNU long-name entries),
//! gzip-compressed at a fixed level with no name and mtime 0 in the gzip header. The same files
//! therefore always give the same bytes.
//!
//! [`read_tar_gz`] reads an archive into memory, never onto disk, and refuses anything a pack
//! never contains or that could do harm on extraction: links, device files, FIFOs, absolute
//! paths, `..` or `.` components, backslashes, control and bidirectional formatting characters,
//! non-UTF-8 names, duplicate names, data after the archive or a second gzip member, members over
//! [`MAX_MEMBER_BYTES`], more than [`MAX_MEMBERS`] members, and more than [`MAX_TOTAL_BYTES`]
//! of decompressed data (a decompression bomb stops there, whatever its ratio). Directory
//! entries are accepted (a re-packed archive has them) and their paths checked.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::rc::Rc;

use flate2::bufread::GzDecoder;
use flate2::{Compression, GzBuilder};
use tar::{Archive, Builder, EntryType, Header};

/// The largest member an evidence pack may hold.
pub const MAX_MEMBER_BYTES: u64 = 64 << 20;
/// The most decompressed bytes (headers included) read from one archive.
pub const MAX_TOTAL_BYTES: u64 = 1 << 30;
/// The most members one archive may have.
pub const MAX_MEMBERS: usize = 1_000_000;

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The bytes are not a readable gzip-compressed tar archive.
    #[error("not a readable .tar.gz: {0}")]
    Unreadable(String),
    /// An entry breaks the rules of the module docs.
    #[error("archive entry `{path}` refused: {problem}")]
    Entry {
        /// The entry's path, as far as it could be read.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The archive decompresses to more than the limit (bytes).
    #[error(
        "the archive decompresses to more than {0} bytes (a decompression bomb or not a pack)"
    )]
    TooLarge(u64),
    /// The archive has more than the limit of members.
    #[error("the archive has more than {0} members")]
    TooManyMembers(usize),
    /// Something follows the archive: data after the tar's end, or after the gzip member.
    #[error("not a single archive: {0}")]
    Trailing(String),
    /// Writing failed.
    #[error("writing the archive: {0}")]
    Write(#[from] io::Error),
}

/// Writes `files` (path → bytes) as a deterministic `.tar.gz` to `out`.
pub fn write_tar_gz(
    files: &BTreeMap<String, Vec<u8>>,
    out: impl Write,
) -> Result<(), ArchiveError> {
    let gz = GzBuilder::new().mtime(0).write(out, Compression::new(6));
    let mut tar = Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for (path, bytes) in files {
        check_path(path).map_err(|problem| ArchiveError::Entry {
            path: path.clone(),
            problem,
        })?;
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Regular);
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        tar.append_data(&mut header, path, bytes.as_slice())?;
    }
    let gz = tar.into_inner()?;
    gz.finish()?.flush()?;
    Ok(())
}

/// How much one archive may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest member, in bytes.
    pub member_bytes: u64,
    /// The most decompressed bytes read, headers included.
    pub total_bytes: u64,
    /// The most members.
    pub members: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            member_bytes: MAX_MEMBER_BYTES,
            total_bytes: MAX_TOTAL_BYTES,
            members: MAX_MEMBERS,
        }
    }
}

/// Reads a `.tar.gz` into memory (path → bytes), refusing hostile archives (see module docs).
pub fn read_tar_gz(input: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    read_tar_gz_within(input, Limits::default())
}

/// [`read_tar_gz`] with other [`Limits`].
///
/// The archive must be exactly one gzip member holding one tar stream: after the tar's end
/// only zero padding may follow inside the member, and nothing may follow the member (a second
/// gzip member would be ignored by some readers and extracted by others, so a file could hide
/// there).
pub fn read_tar_gz_within(
    input: &[u8],
    limits: Limits,
) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    let exceeded = Rc::new(Cell::new(false));
    let limited = Limited {
        inner: GzDecoder::new(input),
        left: limits.total_bytes,
        exceeded: exceeded.clone(),
    };
    let mut archive = Archive::new(limited);
    let unreadable = |e: io::Error, exceeded: &Cell<bool>| {
        if exceeded.get() {
            ArchiveError::TooLarge(limits.total_bytes)
        } else {
            ArchiveError::Unreadable(e.to_string())
        }
    };
    let mut files = BTreeMap::new();
    let mut members = 0usize;
    let entries = archive.entries().map_err(|e| unreadable(e, &exceeded))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| unreadable(e, &exceeded))?;
        members += 1;
        if members > limits.members {
            return Err(ArchiveError::TooManyMembers(limits.members));
        }
        let raw = entry.path_bytes().into_owned();
        let path = String::from_utf8(raw.clone())
            .map_err(|_| refuse(&String::from_utf8_lossy(&raw), "its name is not UTF-8"))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            check_path(path.trim_end_matches('/')).map_err(|p| refuse(&path, &p))?;
            continue;
        }
        if !kind.is_file() {
            let what = if kind.is_symlink() {
                "a symbolic link".to_owned()
            } else if kind.is_hard_link() {
                "a hard link".to_owned()
            } else if kind.is_character_special() || kind.is_block_special() {
                "a device file".to_owned()
            } else if kind.is_fifo() {
                "a FIFO".to_owned()
            } else {
                format!("entry type {:?}", kind.as_byte() as char)
            };
            return Err(refuse(
                &path,
                &format!("{what}; a pack holds regular files only"),
            ));
        }
        check_path(&path).map_err(|p| refuse(&path, &p))?;
        // The data size as the tar crate reads it (a PAX `size` record overrides the header).
        let size = entry.size();
        if size > limits.member_bytes {
            return Err(refuse(
                &path,
                &format!(
                    "it is {size} bytes, more than the {} a pack member may be",
                    limits.member_bytes
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        (&mut entry)
            .take(limits.member_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| unreadable(e, &exceeded))?;
        if bytes.len() as u64 > limits.member_bytes {
            return Err(refuse(
                &path,
                &format!(
                    "it holds more than the {} bytes a pack member may be",
                    limits.member_bytes
                ),
            ));
        }
        if files.insert(path.clone(), bytes).is_some() {
            return Err(refuse(&path, "the name occurs twice"));
        }
    }
    // After the tar's end: only zero padding to the end of the gzip member (reading to its end
    // also checks the gzip CRC), then nothing at all.
    let mut limited = archive.into_inner();
    let mut buf = [0u8; 8192];
    loop {
        let n = limited
            .read(&mut buf)
            .map_err(|e| unreadable(e, &exceeded))?;
        if n == 0 {
            break;
        }
        if buf.iter().take(n).any(|b| *b != 0) {
            return Err(ArchiveError::Trailing(
                "data after the end of the tar archive".into(),
            ));
        }
    }
    let rest = limited.inner.into_inner();
    if !rest.is_empty() {
        return Err(ArchiveError::Trailing(format!(
            "{} bytes after the gzip stream (a second gzip member or appended data)",
            rest.len()
        )));
    }
    Ok(files)
}

fn refuse(path: &str, problem: &str) -> ArchiveError {
    ArchiveError::Entry {
        path: path.to_owned(),
        problem: problem.to_owned(),
    }
}

/// A pack path: relative, `/`-separated, no empty, `.` or `..` component, no backslash, no control
/// or bidirectional formatting character.
pub fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.starts_with('/') {
        return Err("the path is absolute".into());
    }
    if path.contains('\\') {
        return Err("the path contains a backslash".into());
    }
    if let Some(c) = path.chars().find(|c| c.is_control() || is_bidi_control(*c)) {
        return Err(format!(
            "the path contains the control character {}",
            c.escape_unicode()
        ));
    }
    for component in path.split('/') {
        match component {
            "" => return Err("the path has an empty component".into()),
            "." | ".." => return Err(format!("the path has a `{component}` component")),
            _ => {}
        }
    }
    Ok(())
}

/// Unicode bidirectional formatting characters, which can make a name display as another.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Stops reading once `left` bytes have been produced, flagging `exceeded`.
struct Limited<R> {
    inner: R,
    left: u64,
    exceeded: Rc<Cell<bool>>,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One more byte means the limit is crossed; end-of-stream exactly at it is fine.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.exceeded.set(true);
                    Err(io::Error::other("decompressed size limit reached"))
                }
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn same_files_give_same_bytes_and_read_back() {
        let mut files = BTreeMap::new();
        files.insert("b/long/".repeat(30) + "x.json", b"{}".to_vec());
        files.insert("a.txt".to_owned(), b"hello\n".to_vec());
        let (mut one, mut two) = (Vec::new(), Vec::new());
        write_tar_gz(&files, &mut one).unwrap();
        write_tar_gz(&files, &mut two).unwrap();
        assert_eq!(one, two);
        assert_eq!(read_tar_gz(one.as_slice()).unwrap(), files);
    }

    #[test]
    fn hostile_paths_are_named() {
        for bad in ["/etc/passwd", "../x", "a/../b", "a//b", "./a", "a\\b"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        assert!(check_path("records/1.json").is_ok());
    }
}
