//! Bundle diagnostics: every problem of a policy bundle, each with its file, line and column.
//!
//! [`PolicyBundle::load`](super::PolicyBundle::load) stops at the first problem and names the
//! file and the policy. A bundle author fixing a bundle wants all of them, located:
//! [`diagnose`] takes the bundle files as [`SourceFile`]s (read by the caller: this module does
//! no I/O) and returns one [`Diagnostic`] per problem, in file order: parse errors of the schema
//! and the policy files (with Cedar's source positions), annotation problems (missing `@id`,
//! unknown `@mode`, ... at the annotation's line), duplicate ids (at the second occurrence, naming
//! the first), templates, strict-validation errors (at the offending expression) and the
//! bundle-wide rules (one schema, at least one enforce-mode permit, a schema that describes the
//! policy input).
//!
//! It applies the same rules as the loader, with the loader's own helpers, so that a bundle it
//! finds nothing wrong with loads; the loader stays the authority (the CLI runs it first and
//! diagnoses only a bundle that failed to load).

use std::collections::BTreeMap;
use std::str::FromStr;

use cedar_policy::ffi::DetailedError;
use cedar_policy::{Policy, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use serde::Serialize;

use super::annotations::{parse_info, Mode, PolicyEffect, PolicyInfo};
use super::error::error_chain;
use super::explain::{probe_input, InputJson};
use super::mapping::{build_request_from_json, CedarMapping};
use super::PolicyError;

const POLICY_EXT: &str = ".cedar";
const SCHEMA_EXT: &str = ".cedarschema";

/// One bundle file, as read from the bundle directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// File name inside the bundle directory (`tier0.cedar`, `modelgate.cedarschema`).
    pub name: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// One problem of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The bundle file it is in; `None` for a problem of the bundle as a whole.
    pub file: Option<String>,
    /// 1-based line, when the problem has a position.
    pub line: Option<usize>,
    /// 1-based column (in characters), when the problem has a position.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl Diagnostic {
    fn whole(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: None,
            line: None,
            column: None,
            message: message.into(),
        }
    }

    fn in_file(file: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: Some(file.to_owned()),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    fn at(file: &str, text: &str, offset: Option<usize>, message: impl Into<String>) -> Diagnostic {
        let (line, column) = match offset.map(|o| line_column(text, o)) {
            Some((line, column)) => (Some(line), Some(column)),
            None => (None, None),
        };
        Diagnostic {
            file: Some(file.to_owned()),
            line,
            column,
            message: message.into(),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// A policy that parsed, with where it is.
struct Parsed {
    policy: Policy,
    file: String,
    /// Byte offset of the policy (its first annotation) in the file.
    offset: Option<usize>,
}

/// Every problem of the bundle made of `files`: bundle-wide problems first, then by file name
/// and position. Empty when the bundle is valid. Only the top-level `*.cedar` and `*.cedarschema` files count; other names
/// are ignored, as the loader ignores them.
pub fn diagnose(files: &[SourceFile]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut files: Vec<&SourceFile> = files
        .iter()
        .filter(|f| !f.name.starts_with('.'))
        .filter(|f| f.name.ends_with(POLICY_EXT) || f.name.ends_with(SCHEMA_EXT))
        .collect();
    files.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let mut texts: BTreeMap<&str, &str> = BTreeMap::new();
    for file in &files {
        match std::str::from_utf8(&file.bytes) {
            Ok(text) => {
                texts.insert(&file.name, text);
            }
            Err(e) => out.push(Diagnostic::in_file(
                &file.name,
                format!("the file is not valid UTF-8: {e}"),
            )),
        }
    }

    let schema_names: Vec<&str> = files
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| n.ends_with(SCHEMA_EXT))
        .collect();
    let schema = match schema_names.as_slice() {
        [name] => texts
            .get(name)
            .and_then(|text| parse_schema(name, text, &mut out).map(|s| (s, *text, *name))),
        [] => {
            out.push(Diagnostic::whole(
                "the bundle must hold exactly one `*.cedarschema` file, found none",
            ));
            None
        }
        several => {
            out.push(Diagnostic::whole(format!(
                "the bundle must hold exactly one `*.cedarschema` file, found {}",
                several.join(", ")
            )));
            None
        }
    };

    let probe = match InputJson::new(&probe_input()) {
        Ok(probe) => probe,
        Err(e) => {
            out.push(Diagnostic::whole(e.to_string()));
            return out;
        }
    };
    let mut policies: Vec<(Parsed, PolicyInfo)> = Vec::new();
    for (name, text) in &texts {
        if name.ends_with(POLICY_EXT) {
            policies.extend(parse_policies(name, text, &probe, &mut out));
        }
    }
    if !files.iter().any(|f| f.name.ends_with(POLICY_EXT)) {
        out.push(Diagnostic::whole(
            "the bundle holds no `*.cedar` policy file",
        ));
    }

    // Duplicate ids: reported at every occurrence after the first, naming the first.
    let mut first_seen: BTreeMap<String, (String, Option<usize>)> = BTreeMap::new();
    let mut unique: Vec<(Parsed, PolicyInfo)> = Vec::new();
    for (parsed, info) in policies {
        let text = texts.get(parsed.file.as_str()).copied().unwrap_or_default();
        if let Some((file, line)) = first_seen.get(&info.id) {
            let first = match line {
                Some(line) => format!("{file}:{line}"),
                None => file.clone(),
            };
            out.push(Diagnostic::at(
                &parsed.file,
                text,
                parsed.offset,
                format!("duplicate policy id `{}`: first used at {first}", info.id),
            ));
            continue;
        }
        let line = parsed.offset.map(|o| line_column(text, o).0);
        first_seen.insert(info.id.clone(), (parsed.file.clone(), line));
        unique.push((parsed, info));
    }

    if let Some((schema, schema_text, schema_name)) = &schema {
        validate(schema, &unique, &texts, &mut out);
        if let Err(e) = build_request_from_json(schema, &probe_input())
            .and_then(|_| CedarMapping::new(schema, schema_text))
        {
            let message = match e {
                PolicyError::Input { message } => {
                    format!("the schema does not fit the policy input: {message}")
                }
                other => other.to_string(),
            };
            out.push(Diagnostic::in_file(schema_name, message));
        }
    }

    let clean = out.is_empty();
    if clean
        && !unique
            .iter()
            .any(|(_, info)| info.mode == Mode::Enforce && info.effect == PolicyEffect::Permit)
    {
        out.push(Diagnostic::whole(PolicyError::NoPermit.to_string()));
    }
    // Bundle-wide problems first, then by file and position (stable: same-place problems keep
    // the order they were found in).
    out.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    out
}

/// Parses the schema; its errors go to `out` with Cedar's positions.
fn parse_schema(name: &str, text: &str, out: &mut Vec<Diagnostic>) -> Option<Schema> {
    match Schema::from_cedarschema_str(text) {
        Ok((schema, _warnings)) => Some(schema),
        Err(e) => {
            located(name, text, &DetailedError::from(&e), out);
            None
        }
    }
}

/// Parses one policy file and reads each policy's annotations; problems go to `out`.
fn parse_policies(
    name: &str,
    text: &str,
    probe: &InputJson,
    out: &mut Vec<Diagnostic>,
) -> Vec<(Parsed, PolicyInfo)> {
    let set = match PolicySet::from_str(text) {
        Ok(set) => set,
        Err(errors) => {
            for e in errors.iter() {
                located(name, text, &DetailedError::from(e), out);
            }
            return Vec::new();
        }
    };
    // Cedar names parsed policies `policy0`, `policy1`, ... in file order; each keeps its exact
    // source text, which locates it in the file.
    let mut items: Vec<(usize, String, Option<Policy>)> = set
        .policies()
        .map(|p| (position(p.id()), p.to_string(), Some(p.clone())))
        .chain(
            set.templates()
                .map(|t| (position(t.id()), t.to_string(), None)),
        )
        .collect();
    items.sort_by_key(|(position, _, _)| *position);
    let mut cursor = 0;
    let mut parsed = Vec::new();
    for (position, source, policy) in items {
        let offset = text
            .get(cursor..)
            .and_then(|rest| rest.find(source.as_str()))
            .map(|i| cursor + i);
        if let Some(offset) = offset {
            cursor = offset + source.len();
        }
        let Some(policy) = policy else {
            out.push(Diagnostic::at(
                name,
                text,
                offset,
                format!("policy #{position} is a template; only static policies are supported"),
            ));
            continue;
        };
        match parse_info(&policy, name, position, probe) {
            Ok(info) => parsed.push((
                Parsed {
                    policy: policy.new_id(PolicyId::new(&info.id)),
                    file: name.to_owned(),
                    offset,
                },
                info,
            )),
            Err(e) => {
                let at = annotation_offset(&e, &source).map(|i| offset.map(|o| o + i));
                out.push(Diagnostic::at(
                    name,
                    text,
                    at.unwrap_or(offset),
                    annotation_message(&e),
                ));
            }
        }
    }
    parsed
}

/// The loader's message for an annotation problem, without the file (the location says it).
fn annotation_message(e: &PolicyError) -> String {
    match e {
        PolicyError::MissingAnnotation {
            policy, annotation, ..
        } => format!("policy {policy} has no `@{annotation}` annotation"),
        PolicyError::InvalidAnnotation {
            policy,
            annotation,
            problem,
            ..
        } => format!("policy {policy} has an invalid `@{annotation}`: {problem}"),
        other => other.to_string(),
    }
}

/// Offset, inside the policy's source, of the annotation an error is about (none for a missing
/// annotation: the policy's own position is the best place then).
fn annotation_offset(e: &PolicyError, source: &str) -> Option<usize> {
    let PolicyError::InvalidAnnotation { annotation, .. } = e else {
        return None;
    };
    let needle = format!("@{annotation}");
    let mut from = 0;
    while let Some(i) = source.get(from..).and_then(|s| s.find(&needle)) {
        let at = from + i;
        let next = source
            .get(at + needle.len()..)
            .and_then(|s| s.chars().next());
        // `@id` must not match `@identity`: the name ends at `(` or whitespace.
        if next.is_none_or(|c| c == '(' || c.is_whitespace()) {
            return Some(at);
        }
        from = at + needle.len();
    }
    None
}

/// Strict validation of the policies with valid, unique ids; errors go to `out` at the
/// offending expression in the policy's file.
fn validate(
    schema: &Schema,
    policies: &[(Parsed, PolicyInfo)],
    texts: &BTreeMap<&str, &str>,
    out: &mut Vec<Diagnostic>,
) {
    let mut set = PolicySet::new();
    let mut files: BTreeMap<String, (&str, Option<usize>)> = BTreeMap::new();
    for (parsed, info) in policies {
        if set.add(parsed.policy.clone()).is_ok() {
            files.insert(info.id.clone(), (parsed.file.as_str(), parsed.offset));
        }
    }
    let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    let mut found: Vec<Diagnostic> = result
        .validation_errors()
        .map(|e| {
            let id = e.policy_id().to_string();
            let message = error_chain(e);
            let prefix = format!("for policy `{id}`, ");
            let message = message.strip_prefix(&prefix).unwrap_or(&message);
            let detail = DetailedError::from(e);
            let mut message = format!("policy `{id}`: {message}");
            if let Some(help) = &detail.help {
                message.push_str(&format!(" (help: {help})"));
            }
            let Some((file, policy_offset)) = files.get(&id) else {
                return Diagnostic::whole(message);
            };
            let text = texts.get(file).copied().unwrap_or_default();
            let offset = detail
                .source_locations
                .first()
                .map(|l| l.loc.start)
                .or(*policy_offset);
            Diagnostic::at(file, text, offset, message)
        })
        .collect();
    found.sort_by(|a, b| {
        (&a.file, a.line, a.column, &a.message).cmp(&(&b.file, b.line, b.column, &b.message))
    });
    out.extend(found);
}

/// One diagnostic per Cedar error at its first source position; an error that only groups
/// others (no position of its own) is replaced by them.
fn located(file: &str, text: &str, e: &DetailedError, out: &mut Vec<Diagnostic>) {
    if e.source_locations.is_empty() && !e.related.is_empty() {
        for related in &e.related {
            located(file, text, related, out);
        }
        return;
    }
    let mut message = e.message.clone();
    if let Some(help) = &e.help {
        message.push_str(&format!(" (help: {help})"));
    }
    let offset = e.source_locations.first().map(|l| l.loc.start);
    out.push(Diagnostic::at(file, text, offset, message));
}

/// 1-based position of a policy in its file, from Cedar's default id `policyN`.
fn position(id: &PolicyId) -> usize {
    id.to_string()
        .strip_prefix("policy")
        .and_then(|n| n.parse::<usize>().ok())
        .map_or(0, |n| n + 1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const SCHEMA: &str = include_str!("../../policies/modelgate.cedarschema");

    fn bundle(files: &[(&str, &str)]) -> Vec<SourceFile> {
        files
            .iter()
            .map(|(name, text)| SourceFile {
                name: (*name).to_owned(),
                bytes: text.as_bytes().to_vec(),
            })
            .collect()
    }

    const PERMIT: &str = "@id(\"p.permit\")\n@reason(\"allowed\")\n@control(\"X:1\")\n\
        permit (principal, action, resource);\n";

    #[test]
    fn line_column_counts_lines_and_characters_from_one() {
        let text = "ab\ncé d\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 3), (2, 1));
        // `d` sits after a two-byte `é` and a space: column 4 in characters.
        assert_eq!(line_column(text, text.find('d').unwrap()), (2, 4));
        assert_eq!(line_column(text, 1000), (3, 1));
    }

    #[test]
    fn a_valid_bundle_has_no_diagnostics() {
        let files = bundle(&[("modelgate.cedarschema", SCHEMA), ("p.cedar", PERMIT)]);
        assert_eq!(diagnose(&files), Vec::<Diagnostic>::new());
    }

    #[test]
    fn annotation_problems_point_at_the_annotation_line() {
        let bad = format!(
            "{PERMIT}\n// comment\n@id(\"p.warn\")\n@reason(\"r\")\n@control(\"X:1\")\n\
             @mode(\"loud\")\nforbid (principal, action, resource);\n\
             @reason(\"no id\")\n@control(\"X:1\")\nforbid (principal, action, resource);\n"
        );
        let files = bundle(&[("modelgate.cedarschema", SCHEMA), ("p.cedar", &bad)]);
        let found = diagnose(&files);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].file.as_deref(), Some("p.cedar"));
        assert_eq!((found[0].line, found[0].column), (Some(10), Some(1)));
        assert!(found[0].message.contains("`@mode`"), "{}", found[0].message);
        assert!(found[0].message.contains("`loud`"), "{}", found[0].message);
        assert_eq!(found[1].line, Some(12));
        assert!(
            found[1].message.contains("no `@id`"),
            "{}",
            found[1].message
        );
    }

    #[test]
    fn duplicate_ids_are_reported_at_the_second_use_naming_the_first() {
        let files = bundle(&[
            ("modelgate.cedarschema", SCHEMA),
            ("a.cedar", PERMIT),
            ("b.cedar", &format!("\n\n{PERMIT}")),
        ]);
        let found = diagnose(&files);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].file.as_deref(), Some("b.cedar"));
        assert_eq!(found[0].line, Some(3));
        assert!(
            found[0].message.contains("first used at a.cedar:1"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn parse_and_validation_errors_carry_cedars_positions() {
        let unparsable = "@id(\"x\")\npermit (principal, action, resource)\nwhen { 1 + };\n";
        let mistyped = format!(
            "{PERMIT}\n@id(\"p.typo\")\n@reason(\"r\")\n@control(\"X:1\")\n\
             forbid (principal, action, resource)\nwhen {{ resource.no_such_attr }};\n"
        );
        let files = bundle(&[
            ("modelgate.cedarschema", SCHEMA),
            ("a.cedar", unparsable),
            ("b.cedar", &mistyped),
        ]);
        let found = diagnose(&files);
        assert!(found.len() >= 2, "{found:?}");
        assert_eq!(found[0].file.as_deref(), Some("a.cedar"));
        assert_eq!(found[0].line, Some(3), "{found:?}");
        let typo = found
            .iter()
            .find(|d| d.file.as_deref() == Some("b.cedar"))
            .unwrap();
        assert!(
            typo.message.starts_with("policy `p.typo`"),
            "{}",
            typo.message
        );
        assert_eq!(typo.line, Some(10), "{typo:?}");
        assert!(typo.column.unwrap() > 1, "{typo:?}");
    }

    #[test]
    fn bundle_wide_rules_are_reported_without_a_file() {
        let forbid_only = "@id(\"f\")\n@reason(\"r\")\n@control(\"X:1\")\n\
            forbid (principal, action, resource);\n";
        let found = diagnose(&bundle(&[
            ("modelgate.cedarschema", SCHEMA),
            ("f.cedar", forbid_only),
        ]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].file, None);
        assert!(found[0].message.contains("no enforce-mode `permit`"));

        let found = diagnose(&bundle(&[("p.cedar", PERMIT)]));
        assert!(found[0].message.contains("found none"), "{found:?}");
    }
}
