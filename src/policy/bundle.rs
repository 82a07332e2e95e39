//! [`PolicyBundle`]: a directory of Cedar policies and their schema, loaded, annotated, strictly
//! validated and digested.
//!
//! A bundle directory holds exactly one `*.cedarschema` file and one or more `*.cedar` files at
//! its top level (subdirectories such as `tests/` and dot-files are not part of it). Loading
//! either yields a bundle that is safe to evaluate with, or a [`PolicyError`]: an invalid bundle
//! never half-loads. [`BundleFile`] lists the files that the digest covers. Reading is
//! hostile-safe: [`PolicyBundle::check_file_name`] refuses names that are not one plain file
//! name; a symlink leaving the directory, anything but a regular file and a file over
//! [`PolicyBundle::MAX_FILE_BYTES`] are refused ([`PolicyBundle::read_sources`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::{Authorizer, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use serde::{Deserialize, Serialize};

use super::annotations::{parse_info, Mode, PolicyEffect, PolicyInfo};
use super::error::error_chain;
use super::explain::{probe_input, InputJson};
use super::mapping::{build_request_from_json, CedarMapping};
use super::PolicyError;
use crate::digest::{sha256_hex, sha256_prefixed};

const POLICY_EXT: &str = ".cedar";
const SCHEMA_EXT: &str = ".cedarschema";

/// One file covered by the bundle digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleFile {
    /// File name inside the bundle directory.
    pub name: String,
    /// Lowercase hex SHA-256 of the file bytes.
    pub sha256: String,
    /// The file's contents.
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// A loaded, strictly validated policy bundle, ready to evaluate requests.
///
/// Evaluation never does I/O: everything is read once by [`PolicyBundle::load`].
pub struct PolicyBundle {
    pub(super) mapping: CedarMapping,
    pub(super) authorizer: Authorizer,
    pub(super) enforce: PolicySet,
    pub(super) warn: PolicySet,
    pub(super) shadow: PolicySet,
    /// Sorted by id.
    pub(super) policies: Vec<PolicyInfo>,
    files: Vec<BundleFile>,
    listing: String,
    digest: String,
}

impl fmt::Debug for PolicyBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyBundle")
            .field("digest", &self.digest)
            .field("files", &self.files)
            .field("policies", &self.policies.len())
            .finish_non_exhaustive()
    }
}

impl PolicyBundle {
    /// Loads the bundle in `dir`: reads the schema and policy files, maps ids from `@id`, checks
    /// the annotations, validates the policies against the schema in strict mode and checks
    /// that the schema accepts the policy input.
    pub fn load(dir: &Path) -> Result<PolicyBundle, PolicyError> {
        PolicyBundle::from_raw(dir, read_bundle_files(dir)?)
    }

    /// Builds a bundle from `(file name, contents)` pairs, as [`PolicyBundle::read_sources`]
    /// returns them (for a bundle retrieved by digest from the ledger's blob store); `source`
    /// names where they came from in errors. Only `*.cedar` and `*.cedarschema` names count;
    /// each must pass [`PolicyBundle::check_file_name`] and be unique, so the listing (and the
    /// digest) names one set of files.
    pub fn from_files(
        source: &Path,
        files: Vec<(String, Vec<u8>)>,
    ) -> Result<PolicyBundle, PolicyError> {
        let mut raw: Vec<RawFile> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (name, bytes) in files {
            if !(name.ends_with(POLICY_EXT) || name.ends_with(SCHEMA_EXT)) {
                continue;
            }
            // Stored names come back from the ledger: the same rules as names in a directory.
            check_file_name(&name)?;
            if !seen.insert(name.clone()) {
                return Err(PolicyError::FileName {
                    name,
                    problem: "two bundle files have this name".to_owned(),
                });
            }
            raw.push(RawFile {
                path: source.join(&name),
                sha256: sha256_hex(&bytes),
                name,
                bytes,
            });
        }
        raw.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        PolicyBundle::from_raw(source, raw)
    }

    fn from_raw(dir: &Path, files: Vec<RawFile>) -> Result<PolicyBundle, PolicyError> {
        let listing: String = files
            .iter()
            .map(|f| format!("{}  {}\n", f.sha256, f.name))
            .collect();
        let digest = sha256_prefixed(listing.as_bytes());

        let schemas: Vec<&RawFile> = files
            .iter()
            .filter(|f| f.name.ends_with(SCHEMA_EXT))
            .collect();
        let [schema_file] = schemas.as_slice() else {
            let found: Vec<&str> = schemas.iter().map(|f| f.name.as_str()).collect();
            return Err(PolicyError::SchemaCount {
                dir: dir.to_path_buf(),
                found: if found.is_empty() {
                    "none".to_owned()
                } else {
                    found.join(", ")
                },
            });
        };
        let (schema, schema_text) = parse_schema(schema_file)?;

        let policy_files: Vec<&RawFile> = files
            .iter()
            .filter(|f| f.name.ends_with(POLICY_EXT))
            .collect();
        if policy_files.is_empty() {
            return Err(PolicyError::NoPolicies {
                dir: dir.to_path_buf(),
            });
        }

        let probe = InputJson::new(&probe_input())?;
        let mut all = PolicySet::new();
        let mut sets: BTreeMap<Mode, PolicySet> = BTreeMap::new();
        let mut infos: BTreeMap<String, PolicyInfo> = BTreeMap::new();
        for file in policy_files {
            for (policy, info) in parse_policy_file(file, &probe)? {
                if let Some(first) = infos.get(&info.id) {
                    return Err(PolicyError::DuplicateId {
                        id: info.id.clone(),
                        first: first.file.clone(),
                        second: info.file.clone(),
                    });
                }
                let add_err = |e: cedar_policy::PolicySetError| PolicyError::InvalidAnnotation {
                    file: info.file.clone(),
                    policy: format!("`{}`", info.id),
                    annotation: "id".to_owned(),
                    problem: e.to_string(),
                };
                all.add(policy.clone()).map_err(add_err)?;
                sets.entry(info.mode)
                    .or_default()
                    .add(policy)
                    .map_err(add_err)?;
                infos.insert(info.id.clone(), info);
            }
        }

        let validation = Validator::new(schema.clone()).validate(&all, ValidationMode::Strict);
        if !validation.validation_passed() {
            let mut errors: Vec<String> = validation
                .validation_errors()
                .map(|e| {
                    let id = e.policy_id().to_string();
                    let file = infos.get(&id).map_or("?", |info| info.file.as_str());
                    let text = error_chain(e);
                    // Cedar's text may already start with the policy id; say it once.
                    let prefix = format!("for policy `{id}`, ");
                    let text = text.strip_prefix(&prefix).unwrap_or(&text);
                    format!("policy `{id}` in `{file}`: {text}")
                })
                .collect();
            errors.sort();
            return Err(PolicyError::Validation { errors });
        }

        let policies: Vec<PolicyInfo> = infos.into_values().collect();
        if !policies
            .iter()
            .any(|p| p.mode == Mode::Enforce && p.effect == PolicyEffect::Permit)
        {
            return Err(PolicyError::NoPermit);
        }

        // The schema is the bundle author's; make sure it describes the input contract, first
        // as Cedar's schema-directed parser reads it, then for the mapping used per request.
        let mismatch = |e| match e {
            PolicyError::Input { message } => PolicyError::SchemaMismatch { message },
            other => other,
        };
        build_request_from_json(&schema, &probe_input()).map_err(mismatch)?;
        let mapping = CedarMapping::new(&schema, schema_text).map_err(mismatch)?;

        let mut take = |mode| sets.remove(&mode).unwrap_or_default();
        Ok(PolicyBundle {
            enforce: take(Mode::Enforce),
            warn: take(Mode::Warn),
            shadow: take(Mode::Shadow),
            mapping,
            authorizer: Authorizer::new(),
            policies,
            files: files
                .into_iter()
                .map(|f| BundleFile {
                    name: f.name,
                    sha256: f.sha256,
                    bytes: f.bytes,
                })
                .collect(),
            listing,
            digest,
        })
    }

    /// The largest bundle file read: a policy or schema file is text of a few kilobytes, and a
    /// larger one is refused before it is read.
    pub const MAX_FILE_BYTES: u64 = MAX_FILE_BYTES;

    /// Checks that `name` can be a bundle file's name: one plain file name that can be written
    /// into a directory and listed reproducibly. Refused: an empty name, a name starting with `.`
    /// (dot-files, `.` and `..`), a `/` or a backslash, and control characters (newline, carriage
    /// return, tab, escape, …). Applied to names read from a directory and to names read back
    /// from a stored listing, so `policy export` never writes outside its directory.
    pub fn check_file_name(name: &str) -> Result<(), PolicyError> {
        check_file_name(name)
    }

    /// Reads the top-level `*.cedar` and `*.cedarschema` files of `dir` as `(name, bytes)`, sorted
    /// by name bytewise: what [`PolicyBundle::load`] reads, for tools that look at the sources of
    /// a bundle that does not load. Dot-files and other names are not part of a bundle. A
    /// symlink is followed only when it resolves inside `dir` (a Kubernetes ConfigMap volume is
    /// such links); one resolving outside, an entry that is not a regular file (a FIFO, socket,
    /// device or directory) and a file over [`PolicyBundle::MAX_FILE_BYTES`] are refused, naming
    /// the path.
    pub fn read_sources(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, PolicyError> {
        read_bundle_sources(dir)
    }

    /// `sha256:<hex>` of the canonical listing (see [`PolicyBundle::listing`]).
    ///
    /// Reproducible with `sha256sum *.cedar *.cedarschema | LC_ALL=C sort -k2 | sha256sum`
    /// in the bundle directory.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The canonical listing the digest is computed over: for each bundle file, sorted by name
    /// bytewise, the line `<lowercase hex sha256>  <file name>\n` (`sha256sum` output).
    pub fn listing(&self) -> &str {
        &self.listing
    }

    /// The files covered by the digest, sorted by name.
    pub fn files(&self) -> &[BundleFile] {
        &self.files
    }

    /// Every policy of the bundle, sorted by id.
    pub fn policies(&self) -> &[PolicyInfo] {
        &self.policies
    }

    /// The policy with `id`, if the bundle has one.
    pub fn policy(&self, id: &str) -> Option<&PolicyInfo> {
        self.policies
            .binary_search_by(|p| p.id.as_str().cmp(id))
            .ok()
            .and_then(|i| self.policies.get(i))
    }
}

/// A bundle file read into memory (from a directory or from stored blobs).
struct RawFile {
    name: String,
    path: PathBuf,
    bytes: Vec<u8>,
    sha256: String,
}

/// See [`PolicyBundle::MAX_FILE_BYTES`].
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// See [`PolicyBundle::check_file_name`].
fn check_file_name(name: &str) -> Result<(), PolicyError> {
    let problem = if name.is_empty() {
        "it is empty"
    } else if name.starts_with('.') {
        "it starts with `.`"
    } else if name.contains(['/', '\\']) {
        "it contains a `/` or backslash: a bundle file is a plain name in its directory"
    } else if name.chars().any(char::is_control) {
        "it contains a control character (newline, carriage return, tab, escape, …)"
    } else {
        return Ok(());
    };
    Err(PolicyError::FileName {
        name: name.escape_debug().to_string(),
        problem: problem.to_owned(),
    })
}

/// See [`PolicyBundle::read_sources`].
fn read_bundle_sources(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, PolicyError> {
    Ok(read_bundle_files(dir)?
        .into_iter()
        .map(|f| (f.name, f.bytes))
        .collect())
}

/// Reads the top-level `*.cedar` and `*.cedarschema` files of `dir`, sorted by name bytewise
/// (the rules of [`PolicyBundle::read_sources`]).
fn read_bundle_files(dir: &Path) -> Result<Vec<RawFile>, PolicyError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PolicyError::Io { path, source }
    };
    let refuse = |path: &Path, message: String| PolicyError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(message),
    };
    let root = std::fs::canonicalize(dir).map_err(io_err(dir))?;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let raw_name = entry.file_name();
        let lossy = raw_name.to_string_lossy().into_owned();
        // `sha256sum *.cedar` does not match dot-files; neither do we.
        if lossy.starts_with('.') || !(lossy.ends_with(POLICY_EXT) || lossy.ends_with(SCHEMA_EXT)) {
            continue;
        }
        let Some(name) = raw_name.to_str() else {
            return Err(PolicyError::FileName {
                name: lossy.escape_debug().to_string(),
                problem: "it is not valid UTF-8".to_owned(),
            });
        };
        // sha256sum escapes names with a newline or backslash, so the listing would not be
        // reproducible; control characters would reach terminals through messages.
        check_file_name(name)?;
        if entry.file_type().map_err(io_err(&path))?.is_symlink() {
            // Followed like the shell recipe does, but only within the bundle directory.
            let target = std::fs::canonicalize(&path).map_err(io_err(&path))?;
            if !target.starts_with(&root) {
                return Err(refuse(
                    &path,
                    format!(
                        "it is a symlink to `{}`, outside the bundle directory `{}`: copy the \
                         file into the bundle instead",
                        target.display(),
                        root.display()
                    ),
                ));
            }
        }
        let bytes = read_regular_file(&path)?;
        files.push(RawFile {
            name: name.to_owned(),
            sha256: sha256_hex(&bytes),
            path,
            bytes,
        });
    }
    files.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(files)
}

/// Reads `path` (symlinks followed) if it is a regular file of at most
/// [`PolicyBundle::MAX_FILE_BYTES`].
fn read_regular_file(path: &Path) -> Result<Vec<u8>, PolicyError> {
    use std::io::Read as _;
    let io_err = |source| PolicyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let refuse = |message: String| io_err(std::io::Error::other(message));
    let not_regular = || {
        refuse(
            "it is not a regular file (a directory, FIFO, socket or device): a bundle holds \
             only regular files"
                .to_owned(),
        )
    };
    let too_large = || {
        refuse(format!(
            "it is over the {MAX_FILE_BYTES}-byte limit of a bundle file"
        ))
    };
    // Looked at before opening: opening a FIFO for reading would wait for a writer.
    if !std::fs::metadata(path).map_err(io_err)?.is_file() {
        return Err(not_regular());
    }
    let file = std::fs::File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

fn utf8(file: &RawFile) -> Result<&str, String> {
    std::str::from_utf8(&file.bytes)
        .map_err(|e| format!("`{}` is not valid UTF-8: {e}", file.path.display()))
}

/// The schema and its text.
fn parse_schema(file: &RawFile) -> Result<(Schema, &str), PolicyError> {
    let parse_err = |message: String| PolicyError::SchemaParse {
        file: file.name.clone(),
        message,
    };
    let text = utf8(file).map_err(parse_err)?;
    let (schema, _warnings) =
        Schema::from_cedarschema_str(text).map_err(|e| parse_err(error_chain(&e)))?;
    Ok((schema, text))
}

/// Parses one policy file; returns its policies, renamed to their `@id`, in file order.
fn parse_policy_file(
    file: &RawFile,
    probe: &InputJson,
) -> Result<Vec<(cedar_policy::Policy, PolicyInfo)>, PolicyError> {
    let parse_err = |message: String| PolicyError::PolicyParse {
        file: file.name.clone(),
        message,
    };
    let text = utf8(file).map_err(parse_err)?;
    let set = PolicySet::from_str(text).map_err(|errs| {
        parse_err(
            errs.iter()
                .map(|e| error_chain(e))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    if let Some(template) = set.templates().next() {
        return Err(PolicyError::Template {
            file: file.name.clone(),
            policy: position_label(template.id()),
        });
    }
    // Cedar names parsed policies `policy0`, `policy1`, ... in file order.
    let mut parsed: Vec<(usize, &cedar_policy::Policy)> = set
        .policies()
        .map(|p| (default_position(p.id()), p))
        .collect();
    parsed.sort_by_key(|(position, _)| *position);
    let mut out = Vec::with_capacity(parsed.len());
    for (position, policy) in parsed {
        let info = parse_info(policy, &file.name, position, probe)?;
        out.push((policy.new_id(PolicyId::new(&info.id)), info));
    }
    Ok(out)
}

/// 1-based position of a policy in its file, from Cedar's default id `policyN`.
fn default_position(id: &PolicyId) -> usize {
    id.to_string()
        .strip_prefix("policy")
        .and_then(|n| n.parse::<usize>().ok())
        .map_or(0, |n| n + 1)
}

fn position_label(id: &PolicyId) -> String {
    format!("#{}", default_position(id))
}
