//! `modelgate key …` and `modelgate trust …`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;
use time::OffsetDateTime;

use super::{exit, read_file, CliError, CmdResult, Format};
use crate::attest::{KeyChange, PrivateKey, PublicKey, Role};
use crate::clock::{parse_rfc3339, rfc3339, Clock};
use crate::engine::{change_trust, load_trust};
use crate::workspace::{write_private, Workspace};

/// `modelgate key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate an Ed25519 key pair: PKCS#8 PEM at PATH (0600), SPKI PEM at PATH.pub.
    Generate {
        /// Where to write the private key.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `modelgate trust …`
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust a public key for a principal in one or more roles (a ledger record).
    Add {
        /// SPKI PEM public key file.
        #[arg(long)]
        key: PathBuf,
        /// The principal the key speaks for (e.g. an e-mail address).
        #[arg(long)]
        principal: String,
        /// A role the key holds (repeat for several).
        #[arg(long = "role", required = true)]
        roles: Vec<Role>,
        /// Not valid before this RFC 3339 time.
        #[arg(long)]
        not_before: Option<String>,
        /// Not valid after this RFC 3339 time.
        #[arg(long)]
        not_after: Option<String>,
    },
    /// Revoke a key: its signatures count for nothing from now on (a ledger record).
    Revoke {
        /// The key id (lowercase hex SHA-256 of the SPKI DER).
        key_id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// List trusted keys.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

/// Runs `modelgate key …`.
pub fn key(command: KeyCommand) -> CmdResult {
    match command {
        KeyCommand::Generate { out } => {
            let key = PrivateKey::generate();
            let pem = key.to_pkcs8_pem().map_err(CliError::internal)?;
            let pub_path = pub_path(&out);
            if pub_path.exists() {
                return Err(CliError::invalid(format!(
                    "`{}` already exists",
                    pub_path.display()
                )));
            }
            write_private(&out, pem.as_bytes()).map_err(|e| CliError::invalid(e.to_string()))?;
            super::atomic::write_file(
                &pub_path,
                key.public_key().to_spki_pem().as_bytes(),
                super::atomic::Access::Umask,
            )?;
            say!("{}", key.public_key().key_id());
            Ok(exit::OK)
        }
    }
}

/// `PATH.pub` next to a private key path.
pub fn pub_path(private: &Path) -> PathBuf {
    let mut s = private.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

fn parse_time(flag: &str, value: Option<String>) -> Result<Option<OffsetDateTime>, CliError> {
    value
        .map(|v| {
            parse_rfc3339(&v)
                .map_err(|e| CliError::invalid(format!("--{flag} `{v}` is not RFC 3339: {e}")))
        })
        .transpose()
}

/// Runs `modelgate trust …`.
pub fn trust(home: &Path, command: TrustCommand, clock: Arc<dyn Clock>) -> CmdResult {
    let ws = Workspace::open(home)?;
    let mut store = ws.store()?;
    match command {
        TrustCommand::Add {
            key,
            principal,
            roles,
            not_before,
            not_after,
        } => {
            let pem = String::from_utf8(read_file(&key)?)
                .map_err(|_| CliError::invalid(format!("`{}` is not a PEM file", key.display())))?;
            let public = PublicKey::from_spki_pem(&pem)
                .map_err(|e| CliError::invalid(format!("`{}`: {e}", key.display())))?;
            let change = KeyChange::add(
                &public,
                principal.clone(),
                roles.iter().copied(),
                parse_time("not-before", not_before)?,
                parse_time("not-after", not_after)?,
            );
            let sealed = change_trust(&mut *store, clock.as_ref(), &change)?;
            let roles: Vec<String> = roles.iter().map(ToString::to_string).collect();
            say!(
                "trusted key {} for {principal} as {} (ledger record {})",
                public.key_id(),
                roles.join(", "),
                sealed.index
            );
            Ok(exit::OK)
        }
        TrustCommand::Revoke { key_id, reason } => {
            let change = KeyChange::Revoke {
                key_id: key_id.clone(),
                reason,
            };
            let sealed = change_trust(&mut *store, clock.as_ref(), &change)?;
            say!("revoked key {key_id} (ledger record {})", sealed.index);
            Ok(exit::OK)
        }
        TrustCommand::List { format } => {
            let trust = load_trust(&*store)?;
            let rows: Vec<serde_json::Value> = trust
                .keys()
                .map(|k| {
                    serde_json::json!({
                        "key_id": k.key_id,
                        "principal": k.principal,
                        "roles": k.roles.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "not_before": k.not_before.map(rfc3339),
                        "not_after": k.not_after.map(rfc3339),
                        "revoked": k.revoked.as_ref().map(|r| serde_json::json!({
                            "at": rfc3339(r.at), "reason": r.reason
                        })),
                    })
                })
                .collect();
            match format {
                Format::Json => say!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "keys": rows }))
                        .map_err(CliError::internal)?
                ),
                Format::Text => {
                    if rows.is_empty() {
                        say!("no trusted keys");
                    }
                    for k in trust.keys() {
                        let roles: Vec<String> = k.roles.iter().map(ToString::to_string).collect();
                        let state = match &k.revoked {
                            Some(r) => format!("REVOKED {} ({})", rfc3339(r.at), r.reason),
                            None => "active".to_string(),
                        };
                        say!(
                            "{}  {:<28} {:<32} {state}",
                            k.key_id,
                            k.principal,
                            roles.join(",")
                        );
                    }
                }
            }
            Ok(exit::OK)
        }
    }
}
