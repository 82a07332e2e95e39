//! `modelgate sign` and `modelgate approve`: producing DSSE envelopes.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde_json::Value;

use super::{exit, read_file, write_output, CliError, CmdResult};
use crate::attest::{
    Envelope, PrivateKey, Role, Statement, Subject, IN_TOTO_PAYLOAD_TYPE, PREDICATE_APPROVAL,
    PREDICATE_MODEL_METADATA, PREDICATE_WAIVER,
};
use crate::clock::{parse_rfc3339, rfc3339, Clock};
use crate::digest::{parse_prefixed, sha256_prefixed};
use crate::engine::load_trust;
use crate::metadata::{SchemaKind, Schemas};
use crate::workspace::Workspace;

/// What kind of statement to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatementType {
    /// `https://modelgate.dev/model-metadata/v1`
    ModelMetadata,
    /// `https://modelgate.dev/approval/v1`
    Approval,
    /// `https://modelgate.dev/waiver/v1`
    Waiver,
}

impl StatementType {
    fn predicate_type(self) -> &'static str {
        match self {
            StatementType::ModelMetadata => PREDICATE_MODEL_METADATA,
            StatementType::Approval => PREDICATE_APPROVAL,
            StatementType::Waiver => PREDICATE_WAIVER,
        }
    }

    fn schema(self) -> SchemaKind {
        match self {
            StatementType::ModelMetadata => SchemaKind::ModelMetadata,
            StatementType::Approval => SchemaKind::Approval,
            StatementType::Waiver => SchemaKind::Waiver,
        }
    }
}

/// `modelgate sign`
#[derive(Debug, Args)]
pub struct SignArgs {
    /// PKCS#8 PEM private key.
    #[arg(long)]
    pub key: PathBuf,
    /// Statement type.
    #[arg(long = "type", value_enum)]
    pub statement_type: StatementType,
    /// The predicate (JSON file); validated against its schema before signing.
    #[arg(long)]
    pub predicate: PathBuf,
    /// The subject, `NAME=sha256:HEX` (repeat for several).
    #[arg(long = "subject", required = true)]
    pub subjects: Vec<String>,
    /// Write the envelope here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `modelgate approve`
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// PKCS#8 PEM private key of the approver.
    #[arg(long)]
    pub key: PathBuf,
    /// The model-metadata envelope being approved.
    #[arg(long)]
    pub metadata: PathBuf,
    /// The role in which the approver approves.
    #[arg(long)]
    pub role: Role,
    /// Environment(s) the approval is for (repeat for several).
    #[arg(long = "environment", required = true)]
    pub environments: Vec<String>,
    /// Expiry, RFC 3339.
    #[arg(long)]
    pub expires: String,
    /// Change or review ticket.
    #[arg(long)]
    pub ticket: Option<String>,
    /// The approver principal; default: the principal the workspace trust store holds for
    /// this key.
    #[arg(long)]
    pub approver: Option<String>,
    /// Write the envelope here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Loads a signing key; a key file its group or others may read is refused
/// ([`crate::secret_file::read_secret_file`]).
fn load_private_key(path: &Path) -> Result<PrivateKey, CliError> {
    let bytes =
        crate::secret_file::read_secret_file(path).map_err(|e| CliError::invalid(e.to_string()))?;
    let pem = String::from_utf8(bytes)
        .map_err(|_| CliError::invalid(format!("`{}` is not a PEM file", path.display())))?;
    PrivateKey::from_pkcs8_pem(&pem)
        .map_err(|e| CliError::invalid(format!("`{}`: {e}", path.display())))
}

fn parse_subject(s: &str) -> Result<Subject, CliError> {
    let (name, digest) = s
        .rsplit_once('=')
        .ok_or_else(|| CliError::invalid(format!("--subject `{s}` is not NAME=sha256:HEX")))?;
    if name.is_empty() || parse_prefixed(digest).is_none() {
        return Err(CliError::invalid(format!(
            "--subject `{s}` is not NAME=sha256:HEX (64 lowercase hex digits)"
        )));
    }
    let hex = digest.trim_start_matches("sha256:").to_string();
    Ok(Subject {
        name: name.to_string(),
        digest: [("sha256".to_string(), hex)].into_iter().collect(),
    })
}

fn validate(kind: SchemaKind, predicate: &Value) -> Result<(), CliError> {
    let schemas = Schemas::compile().map_err(CliError::internal)?;
    schemas.validate(kind, predicate).map_err(|violations| {
        CliError::invalid(format!(
            "the predicate does not match `{}`: {}",
            kind.file_name(),
            violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })
}

fn sign_statement(statement: &Statement, key: &PrivateKey) -> Result<String, CliError> {
    let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, statement.to_payload(), key);
    serde_json::to_string_pretty(&envelope.to_json_value()).map_err(CliError::internal)
}

/// Runs `modelgate sign`.
pub fn sign(args: &SignArgs, _clock: &dyn Clock) -> CmdResult {
    let key = load_private_key(&args.key)?;
    let predicate: Value = serde_json::from_slice(&read_file(&args.predicate)?).map_err(|e| {
        CliError::invalid(format!("`{}` is not JSON: {e}", args.predicate.display()))
    })?;
    validate(args.statement_type.schema(), &predicate)?;
    let subjects = args
        .subjects
        .iter()
        .map(|s| parse_subject(s))
        .collect::<Result<Vec<_>, _>>()?;
    let statement = Statement::new(subjects, args.statement_type.predicate_type(), predicate);
    write_output(args.out.as_deref(), &sign_statement(&statement, &key)?)?;
    Ok(exit::OK)
}

/// Builds the approval statement for a metadata envelope (used by `approve` and the demo).
pub fn approval_statement(
    metadata_envelope: &[u8],
    role: Role,
    approver: &str,
    environments: &[String],
    issued_at: &str,
    expires: &str,
    ticket: Option<&str>,
) -> Result<Statement, CliError> {
    let envelope = Envelope::from_json(metadata_envelope)
        .map_err(|e| CliError::invalid(format!("--metadata is not a DSSE envelope: {e}")))?;
    let metadata = Statement::from_payload(&envelope.payload)
        .map_err(|e| CliError::invalid(format!("--metadata payload: {e}")))?;
    if metadata.predicate_type != PREDICATE_MODEL_METADATA {
        return Err(CliError::invalid(format!(
            "--metadata carries `{}`, not a model-metadata statement",
            metadata.predicate_type
        )));
    }
    let mut predicate = serde_json::json!({
        "role": role.to_string(),
        "approver": approver,
        "environments": environments,
        "metadata_digest": sha256_prefixed(&envelope.payload),
        "issued_at": issued_at,
        "expires": expires,
    });
    if let (Some(t), Some(obj)) = (ticket, predicate.as_object_mut()) {
        obj.insert("ticket".to_string(), Value::String(t.to_string()));
    }
    validate(SchemaKind::Approval, &predicate)?;
    Ok(Statement::new(
        metadata.subject,
        PREDICATE_APPROVAL,
        predicate,
    ))
}

/// Runs `modelgate approve`.
pub fn approve(home: &Path, args: &ApproveArgs, clock: &dyn Clock) -> CmdResult {
    let key = load_private_key(&args.key)?;
    let expires = parse_rfc3339(&args.expires).map_err(|e| {
        CliError::invalid(format!("--expires `{}` is not RFC 3339: {e}", args.expires))
    })?;
    let now = clock.now();
    if expires <= now {
        return Err(CliError::invalid(format!(
            "--expires `{}` is not in the future",
            args.expires
        )));
    }
    let approver = match &args.approver {
        Some(a) => a.clone(),
        None => {
            let ws = Workspace::open(home)?;
            let trust = load_trust(&*ws.store()?)?;
            let id = key.public_key().key_id();
            trust.get(&id).map(|k| k.principal.clone()).ok_or_else(|| {
                CliError::invalid(format!(
                    "key `{id}` is not in the trust store of `{}`: pass --approver or `modelgate trust add` it first",
                    home.display()
                ))
            })?
        }
    };
    let statement = approval_statement(
        &read_file(&args.metadata)?,
        args.role,
        &approver,
        &args.environments,
        &rfc3339(now),
        &rfc3339(expires),
        args.ticket.as_deref(),
    )?;
    write_output(args.out.as_deref(), &sign_statement(&statement, &key)?)?;
    Ok(exit::OK)
}
