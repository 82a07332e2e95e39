//! Output files written whole or not at all: every `--out` of the command line goes through
//! [`write_file`], [`write_file_with`] or [`write_dir`].
//!
//! The content is written to a temporary file (or directory) in the destination's own
//! directory, synced, and renamed into place; the directory is then synced so that the rename
//! itself survives a crash. A reader of the `--out` path, or whoever looks after the process was
//! killed, sees the old file or the whole new one, never a partial one. A killed process may
//! leave a hidden `.modelgate-out-*` temporary beside the destination, never at it.

use std::fs::Permissions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use super::CliError;

/// Who may read an output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read-write for the owner only (`0600`), e.g. evidence packs.
    Owner,
    /// As a plain `create` makes it: `0666` less the umask (reports, proofs, notes).
    Umask,
}

impl Access {
    fn file_mode(self) -> Permissions {
        match self {
            Access::Owner => Permissions::from_mode(0o600),
            Access::Umask => Permissions::from_mode(0o666),
        }
    }
}

/// The directory `path` lives in (`.` for a bare file name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn cannot_write(path: &Path) -> impl Fn(std::io::Error) -> CliError + '_ {
    move |e| CliError::internal(format!("cannot write `{}`: {e}", path.display()))
}

/// Syncs directory `dir` so that a rename into it is durable. Best effort: some filesystems
/// refuse to sync a directory, and the file itself is already synced.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `bytes` to `path` atomically (see the module documentation), replacing a file that
/// is there.
pub fn write_file(path: &Path, bytes: &[u8], access: Access) -> Result<(), CliError> {
    write_file_with(path, access, |w| {
        w.write_all(bytes).map_err(cannot_write(path))
    })
}

/// Like [`write_file`], with the content produced by `fill` writing into the temporary file
/// (for outputs streamed as they are produced, like a ledger export). If `fill` fails, nothing
/// is left at `path` and the temporary file is removed.
pub fn write_file_with<T>(
    path: &Path,
    access: Access,
    fill: impl FnOnce(&mut dyn Write) -> Result<T, CliError>,
) -> Result<T, CliError> {
    if path.is_dir() {
        return Err(CliError::invalid(format!(
            "`{}` is a directory; give a file name for --out",
            path.display()
        )));
    }
    let fail = cannot_write(path);
    let dir = parent_of(path);
    let tmp = tempfile::Builder::new()
        .prefix(".modelgate-out-")
        .permissions(access.file_mode())
        .tempfile_in(dir)
        .map_err(&fail)?;
    let mut writer = std::io::BufWriter::new(tmp);
    let out = fill(&mut writer)?;
    let tmp = writer.into_inner().map_err(|e| fail(e.into_error()))?;
    tmp.as_file().sync_all().map_err(&fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    sync_dir(dir);
    Ok(out)
}

/// Creates directory `path` holding `files` (`(name, bytes)`, plain names the caller has
/// checked) atomically: the files are written into a temporary directory beside it, which is
/// renamed to `path` once complete. Refuses a `path` that exists (a dangling symlink included)
/// and a parent directory that does not.
pub fn write_dir<'a>(
    path: &Path,
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<(), CliError> {
    let taken = || {
        CliError::invalid(format!(
            "cannot create `{}`: it already exists: give a new directory",
            path.display()
        ))
    };
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(taken());
    }
    let fail = cannot_write(path);
    let dir = parent_of(path);
    if !dir.is_dir() {
        return Err(CliError::invalid(format!(
            "cannot create `{}`: its parent directory does not exist",
            path.display()
        )));
    }
    let tmp = tempfile::Builder::new()
        .prefix(".modelgate-out-")
        .permissions(Permissions::from_mode(0o777))
        .tempdir_in(dir)
        .map_err(&fail)?;
    for (name, bytes) in files {
        let file_path = tmp.path().join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&file_path)
            .map_err(cannot_write(&file_path))?;
        file.write_all(bytes).map_err(cannot_write(&file_path))?;
        file.sync_all().map_err(cannot_write(&file_path))?;
    }
    sync_dir(tmp.path());
    // `rename` would also replace an empty directory created meanwhile; checking again narrows
    // that window to nothing a user could hit by accident.
    if std::fs::symlink_metadata(path).is_ok() {
        return Err(taken());
    }
    std::fs::rename(tmp.path(), path).map_err(&fail)?;
    // The temporary directory now lives at `path`; nothing is left to clean up.
    let _ = tmp.keep();
    sync_dir(dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_writer_leaves_no_file_at_the_destination_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("report.html");
        let result: Result<(), CliError> = write_file_with(&out, Access::Umask, |w| {
            w.write_all(b"half a rep")
                .map_err(|e| CliError::internal(e.to_string()))?;
            Err(CliError::internal("the report failed"))
        });
        assert!(result.is_err());
        assert!(!out.exists());
        let left = std::fs::read_dir(dir.path()).map_or(0, Iterator::count);
        assert_eq!(left, 0, "the temporary file is removed");
    }

    #[test]
    fn a_written_file_replaces_the_old_one_whole_with_the_asked_access() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("pack.tar.gz");
        assert!(write_file(&out, b"old", Access::Umask).is_ok());
        assert!(write_file(&out, b"new and longer", Access::Owner).is_ok());
        assert_eq!(std::fs::read(&out).ok(), Some(b"new and longer".to_vec()));
        let mode = std::fs::metadata(&out).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        assert!(write_dir(&dir.path().join("bundle"), [("a.cedar", &b"x"[..])]).is_ok());
        assert!(write_dir(&dir.path().join("bundle"), []).is_err());
    }
}
