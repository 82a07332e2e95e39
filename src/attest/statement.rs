//! in-toto Statement v1: [`Statement`] and its [`Subject`]s, plus modelgate's predicate types.
//!
//! A statement says "these artifacts (subjects, named by digest) have this property (the
//! predicate, of type `predicateType`)". Parsing is strict where it matters for trust and lax
//! where the spec is: `_type` must be exactly [`STATEMENT_TYPE`], `subject` must be a non-empty
//! array whose entries carry a non-empty `digest` (a `sha256` digest must be 64 lowercase hex),
//! `predicateType` must be a non-empty string, and `predicate`, when present, an object (absent
//! is the same as `{}`, as the spec says). Other fields are ignored; duplicate keys are rejected.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::json::{describe, parse_no_duplicates};
use super::AttestError;

/// The `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// Predicate type of a model version's governance metadata.
pub const PREDICATE_MODEL_METADATA: &str = "https://modelgate.dev/model-metadata/v1";
/// Predicate type of an approval of a model version by someone holding a role.
pub const PREDICATE_APPROVAL: &str = "https://modelgate.dev/approval/v1";
/// Predicate type of a time-limited waiver of named policies.
pub const PREDICATE_WAIVER: &str = "https://modelgate.dev/waiver/v1";

/// An in-toto Statement v1.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The artifacts the statement is about (never empty once parsed).
    pub subject: Vec<Subject>,
    /// The predicate type URI (`predicateType`).
    pub predicate_type: String,
    /// The predicate (a JSON object).
    pub predicate: Value,
}

/// One subject of a [`Statement`]: an artifact named by its digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The artifact's name (may be empty: in-toto v1 makes it optional).
    pub name: String,
    /// Algorithm name to lowercase hex digest, e.g. `sha256` to 64 hex characters.
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    /// A subject named `name` with one SHA-256 digest (lowercase hex, no prefix).
    pub fn with_sha256(name: impl Into<String>, sha256_hex: impl Into<String>) -> Self {
        Subject {
            name: name.into(),
            digest: BTreeMap::from([("sha256".to_owned(), sha256_hex.into())]),
        }
    }

    /// The SHA-256 digest (lowercase hex), if the subject has one.
    pub fn sha256(&self) -> Option<&str> {
        self.digest.get("sha256").map(String::as_str)
    }

    fn to_value(&self) -> Value {
        let mut obj = Map::new();
        if !self.name.is_empty() {
            obj.insert("name".into(), Value::String(self.name.clone()));
        }
        let digest: Map<String, Value> = self
            .digest
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        obj.insert("digest".into(), Value::Object(digest));
        Value::Object(obj)
    }
}

impl Statement {
    /// A statement of `predicate_type` about `subject`.
    pub fn new(subject: Vec<Subject>, predicate_type: impl Into<String>, predicate: Value) -> Self {
        Statement {
            subject,
            predicate_type: predicate_type.into(),
            predicate,
        }
    }

    /// Parses a statement from the raw (base64-decoded) payload of an envelope.
    pub fn from_payload(payload: &[u8]) -> Result<Statement, AttestError> {
        let value = parse_no_duplicates(payload).map_err(|e| stmt_err("$", e.to_string()))?;
        Self::from_value(&value)
    }

    /// Parses a statement from a JSON value.
    pub fn from_value(value: &Value) -> Result<Statement, AttestError> {
        let obj = value
            .as_object()
            .ok_or_else(|| stmt_err("$", expected("a JSON object", value)))?;
        let ty = required_str(obj, "_type", "_type")?;
        if ty != STATEMENT_TYPE {
            return Err(stmt_err(
                "_type",
                format!("expected `{STATEMENT_TYPE}`, found `{ty}`"),
            ));
        }
        let subjects = match obj.get("subject") {
            None => return Err(stmt_err("subject", "is missing".into())),
            Some(Value::Array(a)) if a.is_empty() => {
                return Err(stmt_err("subject", "must not be empty".into()))
            }
            Some(Value::Array(a)) => a,
            Some(other) => return Err(stmt_err("subject", expected("an array", other))),
        };
        let subject = subjects
            .iter()
            .enumerate()
            .map(|(i, v)| parse_subject(v, &format!("subject[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let predicate_type = required_str(obj, "predicateType", "predicateType")?;
        if predicate_type.is_empty() {
            return Err(stmt_err("predicateType", "must not be empty".into()));
        }
        let predicate = match obj.get("predicate") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(v @ Value::Object(_)) => v.clone(),
            Some(other) => return Err(stmt_err("predicate", expected("an object", other))),
        };
        Ok(Statement {
            subject,
            predicate_type: predicate_type.to_owned(),
            predicate,
        })
    }

    /// The statement as a JSON value (`_type`, `subject`, `predicateType`, `predicate`).
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("_type".into(), Value::String(STATEMENT_TYPE.into()));
        obj.insert(
            "subject".into(),
            Value::Array(self.subject.iter().map(Subject::to_value).collect()),
        );
        obj.insert(
            "predicateType".into(),
            Value::String(self.predicate_type.clone()),
        );
        obj.insert("predicate".into(), self.predicate.clone());
        Value::Object(obj)
    }

    /// The statement as compact JSON bytes, ready to be an envelope payload.
    pub fn to_payload(&self) -> Vec<u8> {
        self.to_value().to_string().into_bytes()
    }
}

impl Serialize for Statement {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Statement {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Statement::from_value(&value).map_err(serde::de::Error::custom)
    }
}

fn parse_subject(value: &Value, path: &str) -> Result<Subject, AttestError> {
    let obj = value
        .as_object()
        .ok_or_else(|| stmt_err(path, expected("an object", value)))?;
    let name = match obj.get("name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(stmt_err(
                &format!("{path}.name"),
                expected("a string", other),
            ))
        }
    };
    let digest_path = format!("{path}.digest");
    let digests = match obj.get("digest") {
        None => return Err(stmt_err(&digest_path, "is missing".into())),
        Some(Value::Object(m)) if m.is_empty() => {
            return Err(stmt_err(&digest_path, "must not be empty".into()))
        }
        Some(Value::Object(m)) => m,
        Some(other) => return Err(stmt_err(&digest_path, expected("an object", other))),
    };
    let mut digest = BTreeMap::new();
    for (alg, v) in digests {
        let field = format!("{digest_path}.{alg}");
        let hex = v
            .as_str()
            .ok_or_else(|| stmt_err(&field, expected("a string", v)))?;
        if alg == "sha256" && !is_lower_hex(hex, 64) {
            return Err(stmt_err(
                &field,
                format!("expected 64 lowercase hex characters, found `{hex}`"),
            ));
        }
        digest.insert(alg.clone(), hex.to_owned());
    }
    Ok(Subject { name, digest })
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn stmt_err(field: &str, reason: String) -> AttestError {
    AttestError::Statement {
        field: field.to_owned(),
        reason,
    }
}

fn expected(what: &str, found: &Value) -> String {
    format!("expected {what}, found {}", describe(found))
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, AttestError> {
    match obj.get(key) {
        None => Err(stmt_err(path, "is missing".into())),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(stmt_err(path, expected("a string", other))),
    }
}
