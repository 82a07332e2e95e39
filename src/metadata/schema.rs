//! The JSON Schemas of `schemas/`, embedded in the binary and compiled once.
//!
//! [`Schemas`] holds one compiled draft 2020-12 validator per [`SchemaKind`]. Validation returns
//! every violation with the JSON pointer of the offending field, so a user can fix all of them in
//! one go.

use std::fmt;

use serde_json::Value;

/// The schemas modelgate validates against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SchemaKind {
    /// `schemas/model-metadata.v1.schema.json`: the model-metadata predicate.
    ModelMetadata,
    /// `schemas/approval.v1.schema.json`: the approval predicate.
    Approval,
    /// `schemas/waiver.v1.schema.json`: the waiver predicate.
    Waiver,
    /// `schemas/promotion-request.v1.schema.json`: a promotion request.
    PromotionRequest,
    /// `schemas/decision.v1.schema.json`: the decision output (checked in tests).
    Decision,
}

impl SchemaKind {
    /// Every schema, in a fixed order.
    pub const ALL: [SchemaKind; 5] = [
        SchemaKind::ModelMetadata,
        SchemaKind::Approval,
        SchemaKind::Waiver,
        SchemaKind::PromotionRequest,
        SchemaKind::Decision,
    ];

    /// The file name under `schemas/`.
    pub fn file_name(self) -> &'static str {
        match self {
            SchemaKind::ModelMetadata => "model-metadata.v1.schema.json",
            SchemaKind::Approval => "approval.v1.schema.json",
            SchemaKind::Waiver => "waiver.v1.schema.json",
            SchemaKind::PromotionRequest => "promotion-request.v1.schema.json",
            SchemaKind::Decision => "decision.v1.schema.json",
        }
    }

    /// The embedded schema text.
    pub fn source(self) -> &'static str {
        match self {
            SchemaKind::ModelMetadata => {
                include_str!("../../schemas/model-metadata.v1.schema.json")
            }
            SchemaKind::Approval => include_str!("../../schemas/approval.v1.schema.json"),
            SchemaKind::Waiver => include_str!("../../schemas/waiver.v1.schema.json"),
            SchemaKind::PromotionRequest => {
                include_str!("../../schemas/promotion-request.v1.schema.json")
            }
            SchemaKind::Decision => include_str!("../../schemas/decision.v1.schema.json"),
        }
    }

    fn index(self) -> usize {
        match self {
            SchemaKind::ModelMetadata => 0,
            SchemaKind::Approval => 1,
            SchemaKind::Waiver => 2,
            SchemaKind::PromotionRequest => 3,
            SchemaKind::Decision => 4,
        }
    }
}

/// One schema violation: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Violation {
    /// JSON pointer (RFC 6901) of the offending value inside the validated document; empty for
    /// the document itself.
    pub pointer: String,
    /// What is wrong, as the validator says it.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "at `{at}`: {}", self.message)
    }
}

/// Errors from building the embedded schemas (a packaging bug, never user input).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// An embedded schema is not valid JSON or not a valid draft 2020-12 schema.
    #[error("embedded schema `{file}` does not compile: {message}")]
    Compile {
        /// Schema file name.
        file: &'static str,
        /// Compiler message.
        message: String,
    },
}

/// Compiled validators for every [`SchemaKind`].
pub struct Schemas {
    validators: Vec<jsonschema::Validator>,
}

impl fmt::Debug for Schemas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schemas")
            .field("count", &self.validators.len())
            .finish()
    }
}

impl Schemas {
    /// Compiles every embedded schema (draft 2020-12, no remote references).
    pub fn compile() -> Result<Schemas, SchemaError> {
        let mut validators = Vec::with_capacity(SchemaKind::ALL.len());
        for kind in SchemaKind::ALL {
            let file = kind.file_name();
            let doc: Value =
                serde_json::from_str(kind.source()).map_err(|e| SchemaError::Compile {
                    file,
                    message: e.to_string(),
                })?;
            let validator =
                jsonschema::draft202012::new(&doc).map_err(|e| SchemaError::Compile {
                    file,
                    message: e.to_string(),
                })?;
            validators.push(validator);
        }
        Ok(Schemas { validators })
    }

    /// Validates `instance` against the schema of `kind`; every violation, sorted by pointer.
    pub fn validate(&self, kind: SchemaKind, instance: &Value) -> Result<(), Vec<Violation>> {
        let Some(validator) = self.validators.get(kind.index()) else {
            return Err(vec![Violation {
                pointer: String::new(),
                message: format!("schema `{}` is not loaded", kind.file_name()),
            }]);
        };
        // Most documents are valid: the boolean check is several times cheaper than collecting
        // errors, which only an invalid document needs.
        if validator.is_valid(instance) {
            return Ok(());
        }
        let mut violations: Vec<Violation> = validator
            .iter_errors(instance)
            .map(|e| Violation {
                pointer: abbreviate(e.instance_path().to_string()),
                message: abbreviate(e.to_string()),
            })
            .collect();
        if violations.is_empty() {
            return Ok(());
        }
        violations.sort_by(|a, b| a.pointer.cmp(&b.pointer).then(a.message.cmp(&b.message)));
        violations.dedup();
        Err(violations)
    }
}

/// Longest violation text (message or pointer) kept whole.
const MAX_VIOLATION_TEXT: usize = 400;

/// `text` whole up to [`MAX_VIOLATION_TEXT`] bytes, otherwise its start and end around an
/// ellipsis. The validator quotes the offending value, so without this a request with a huge
/// value would get an error (printed, logged and answered, once per problem) as large as itself.
fn abbreviate(text: String) -> String {
    if text.len() <= MAX_VIOLATION_TEXT {
        return text;
    }
    let keep = MAX_VIOLATION_TEXT / 2;
    let mut head = keep;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - keep;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{} … ({} bytes left out) … {}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_violation_texts_keep_their_start_and_end() {
        let s = Schemas::compile().unwrap();
        let request = json!({"model": "m".repeat(100_000)});
        let violations = s
            .validate(SchemaKind::PromotionRequest, &request)
            .unwrap_err();
        let long = violations.iter().find(|v| v.pointer == "/model").unwrap();
        assert!(
            long.message.len() < 2 * MAX_VIOLATION_TEXT,
            "{}",
            long.message
        );
        assert!(
            long.message.ends_with("is longer than 128 characters"),
            "{}",
            long.message
        );
        assert_eq!(
            abbreviate("é".repeat(300))
                .chars()
                .filter(|c| *c == 'é')
                .count(),
            200
        );
    }

    #[test]
    fn every_embedded_schema_compiles() {
        Schemas::compile().unwrap();
    }

    #[test]
    fn violations_carry_the_pointer_of_the_offending_field() {
        let s = Schemas::compile().unwrap();
        let bad = json!({
            "model": {"name": "m", "version": "1"},
            "artifact": {"digest": "sha256:nothex"},
            "risk": {"tier": 7},
            "ownership": {"owner": "o"}
        });
        let v = s.validate(SchemaKind::ModelMetadata, &bad).unwrap_err();
        let pointers: Vec<&str> = v.iter().map(|v| v.pointer.as_str()).collect();
        assert!(pointers.contains(&"/artifact/digest"), "{v:?}");
        assert!(pointers.contains(&"/risk/tier"), "{v:?}");
    }
}
