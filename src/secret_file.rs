//! Secret files (private keys, shared secrets) read only when their owner alone may read them.
//!
//! [`read_secret_file`] is the one reader of every file modelgate treats as a secret: the engine
//! key, the signing keys `modelgate sign` and `modelgate approve` load, the TLS private key of
//! `modelgate serve`, and the MLflow webhook secret. A file that its group or others may read, write or execute (any bit of `0o077` set)
//! is refused with a [`SecretFileError`] naming the file, its mode and the fix
//! (`chmod 600 PATH`); so is anything that is not a regular file (a FIFO would block the
//! reader, a device would never end) and a file over [`MAX_SECRET_BYTES`]. The mode is checked
//! on the opened file, so the file checked is the file read.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// The largest secret file read (a PEM key is a few hundred bytes).
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Why a secret file was not read.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// The file could not be opened or read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Its group or others have some permission on it.
    #[error(
        "`{path}` has mode {mode:04o}: a secret must be readable by its owner only (0600); run `chmod 600 {path}`",
        path = path.display()
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// It is a directory, FIFO, socket or device.
    #[error("`{}` is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// It is larger than [`MAX_SECRET_BYTES`].
    #[error("`{}` is over the {MAX_SECRET_BYTES}-byte limit of a secret file", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
}

impl SecretFileError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            SecretFileError::Io { path, .. }
            | SecretFileError::Exposed { path, .. }
            | SecretFileError::NotAFile { path }
            | SecretFileError::TooLarge { path } => path,
        }
    }
}

/// Checks the permission bits of a secret file: refused when any group or other bit is set.
pub fn check_secret_mode(path: &Path, mode: u32) -> Result<(), SecretFileError> {
    let mode = mode & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretFileError::Exposed {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Reads the secret file at `path` (symlinks followed): a regular file of at most
/// [`MAX_SECRET_BYTES`] whose mode gives its group and others nothing.
pub fn read_secret_file(path: &Path) -> Result<Vec<u8>, SecretFileError> {
    let io = |source| SecretFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Looked at before opening: opening a FIFO for reading would wait for a writer.
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(SecretFileError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let file = std::fs::File::open(path).map_err(io)?;
    // The opened file is checked again: it may have been replaced since.
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(SecretFileError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    check_secret_mode(path, meta.permissions().mode())?;
    if meta.len() > MAX_SECRET_BYTES {
        return Err(SecretFileError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        return Err(SecretFileError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_modes_without_group_or_other_bits_pass() {
        let p = Path::new("k.pem");
        for ok in [0o600, 0o400, 0o700, 0o100600] {
            assert!(check_secret_mode(p, ok).is_ok(), "{ok:o}");
        }
        for bad in [0o644, 0o640, 0o604, 0o620, 0o602, 0o610, 0o601, 0o100644] {
            let e = check_secret_mode(p, bad).unwrap_err().to_string();
            assert!(e.contains("chmod 600 k.pem"), "{e}");
            assert!(e.contains(&format!("{:04o}", bad & 0o7777)), "{e}");
        }
    }
}
