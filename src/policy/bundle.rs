//! [`PolicyBundle`]: a directory of Cedar policies and their schema, loaded, annotated, strictly
//! validated and digested.
//!
//! A bundle directory holds exactly one `*.cedarschema` file and one or more `*.cedar` files at
//! its top level (subdirectories such as `tests/` and dot-files are not part of it). Loading
//! either yields a bundle that is safe to evaluate with, or a [`PolicyError`]: an invalid bundle
//! never half-loads. [`BundleFile`] lists the files that the digest covers.

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

    /// Builds a bundle from `(file name, contents)` pairs, as [`PolicyBundle::file_contents`]
    /// returns them (for a bundle retrieved by digest from the ledger's blob store); `source`
    /// names where they came from in errors. Only `*.cedar` and `*.cedarschema` names count;
    /// like the files of a directory, they are unique and hold no newline, carriage return,
    /// backslash or slash, so the listing (and the digest) names one set of files.
    pub fn from_files(
        source: &Path,
        files: Vec<(String, Vec<u8>)>,
    ) -> Result<PolicyBundle, PolicyError> {
        let counts = |name: &str| name.ends_with(POLICY_EXT) || name.ends_with(SCHEMA_EXT);
        let mut seen = std::collections::BTreeSet::new();
        for name in files.iter().map(|(name, _)| name).filter(|n| counts(n)) {
            let problem = if name.contains(['\n', '\r', '\\', '/']) {
                "it contains a newline, carriage return, backslash or slash"
            } else if !seen.insert(name) {
                "two bundle files have this name"
            } else {
                continue;
            };
            return Err(PolicyError::FileName {
                name: name.clone(),
                problem: problem.to_owned(),
            });
        }
        let mut raw: Vec<RawFile> = files
            .into_iter()
            .filter(|(name, _)| counts(name))
            .map(|(name, bytes)| RawFile {
                path: source.join(&name),
                sha256: sha256_hex(&bytes),
                name,
                bytes,
            })
            .collect();
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

/// Reads the top-level `*.cedar` and `*.cedarschema` files of `dir`, sorted by name bytewise.
fn read_bundle_files(dir: &Path) -> Result<Vec<RawFile>, PolicyError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PolicyError::Io { path, source }
    };
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
        // Follows symlinks, like the shell recipe does.
        if !std::fs::metadata(&path).map_err(io_err(&path))?.is_file() {
            continue;
        }
        let Some(name) = raw_name.to_str() else {
            return Err(PolicyError::FileName {
                name: lossy,
                problem: "it is not valid UTF-8".to_owned(),
            });
        };
        if name.contains(['\n', '\r', '\\']) {
            // sha256sum escapes such names, so the listing would not be reproducible.
            return Err(PolicyError::FileName {
                name: lossy,
                problem: "it contains a newline, carriage return or backslash".to_owned(),
            });
        }
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
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
