//! MLflow registry webhooks: the signing secret ([`WebhookSecret`], [`load_secret`]), the check
//! of a delivery ([`verify`] → [`Delivery`]), what a delivery means for the inventory
//! ([`classify`] → [`WebhookAction`]) and its record ([`record`]).
//!
//! MLflow signs each delivery with a shared secret: `X-MLflow-Signature: v1,<base64 of
//! HMAC-SHA256(secret, "{X-MLflow-Delivery-Id}.{X-MLflow-Timestamp}.{body}")>`, the timestamp in
//! epoch seconds. [`verify`] recomputes the MAC over the raw body and compares in constant time
//! (`hmac`'s `verify_slice`), then refuses a timestamp more than [`MAX_SKEW_SECONDS`] before or
//! after the injected clock's time, so a captured delivery cannot be replayed later. Only then
//! is the body parsed.
//!
//! Of the six events MLflow sends, only `model_version_alias` / `created` naming a production
//! alias changes the inventory: it records an `observation` (source [`SOURCE_WEBHOOK`]) unless
//! MLflow's latest report for that model and environment already names the version (a
//! redelivery). Tag, version and model events are acknowledged and ignored; the periodic sync
//! reconciles what webhooks cannot say (a deleted alias, an alias set while modelgate was down).

use std::path::Path;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use time::OffsetDateTime;

use super::{latest_from_mlflow, observation, Deployed, MlflowError};
use crate::ledger::{append_one, AppendRequest, SealedRecord, Store};

/// The `source` of observations recorded from webhook deliveries.
pub const SOURCE_WEBHOOK: &str = "mlflow-webhook";

/// The environment variable holding the secret when the workspace names no file.
pub const SECRET_ENV: &str = "MODELGATE_MLFLOW_WEBHOOK_SECRET";

/// The delivery id header.
pub const HEADER_DELIVERY_ID: &str = "x-mlflow-delivery-id";
/// The timestamp header (epoch seconds).
pub const HEADER_TIMESTAMP: &str = "x-mlflow-timestamp";
/// The signature header (`v1,<base64>`).
pub const HEADER_SIGNATURE: &str = "x-mlflow-signature";

/// How far a delivery's timestamp may be from the server's clock, either way.
pub const MAX_SKEW_SECONDS: i64 = 300;

/// Why a delivery was refused or the webhook cannot work.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No secret is configured: the webhook is off.
    #[error("the MLflow webhook is not enabled: set `[inventory.mlflow] webhook_secret_path` in modelgate.toml or {SECRET_ENV}")]
    NotConfigured,
    /// A secret is configured but cannot be used.
    #[error("the MLflow webhook secret cannot be used: {0}")]
    Secret(String),
    /// A signing header is missing.
    #[error("the delivery has no `{0}` header")]
    MissingHeader(&'static str),
    /// A signing header does not read.
    #[error("the `{header}` header {problem}")]
    BadHeader {
        /// The header.
        header: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// No signature matches the body.
    #[error("the signature does not match the delivery")]
    BadSignature,
    /// The timestamp is too far from now.
    #[error("the delivery timestamp {timestamp} is more than {MAX_SKEW_SECONDS} s from the server's time {now}: refused as stale or replayed")]
    Stale {
        /// The delivery's timestamp (epoch seconds).
        timestamp: i64,
        /// The server's time (epoch seconds).
        now: i64,
    },
    /// The signed body is not an MLflow event.
    #[error("the delivery is not an MLflow webhook event: {0}")]
    Payload(String),
}

/// The signing secret (never shown in debug output).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    /// A secret of these bytes; an empty one is refused.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<WebhookSecret, WebhookError> {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Err(WebhookError::Secret("it is empty".into()));
        }
        Ok(WebhookSecret(bytes))
    }
}

/// The secret from `path` (a file readable by its owner only, read with
/// [`crate::secret_file::read_secret_file`]; one trailing newline is dropped)
/// when set, else from `env` (the value of [`SECRET_ENV`]); `None` when neither is set.
pub fn load_secret(
    path: Option<&Path>,
    env: Option<&str>,
) -> Result<Option<WebhookSecret>, WebhookError> {
    if let Some(path) = path {
        let shown = path.display();
        let mut bytes = crate::secret_file::read_secret_file(path)
            .map_err(|e| WebhookError::Secret(e.to_string()))?;
        if bytes.ends_with(b"\n") {
            bytes.pop();
            if bytes.ends_with(b"\r") {
                bytes.pop();
            }
        }
        return WebhookSecret::new(bytes)
            .map(Some)
            .map_err(|_| WebhookError::Secret(format!("`{shown}` is empty")));
    }
    match env {
        Some(value) => WebhookSecret::new(value.as_bytes()).map(Some),
        None => Ok(None),
    }
}

/// The signing headers of a delivery, as received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignedHeaders<'a> {
    /// `X-MLflow-Delivery-Id`.
    pub delivery_id: Option<&'a str>,
    /// `X-MLflow-Timestamp`.
    pub timestamp: Option<&'a str>,
    /// `X-MLflow-Signature`.
    pub signature: Option<&'a str>,
}

/// A verified delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// `X-MLflow-Delivery-Id`.
    pub id: String,
    /// `model_version_alias`, `model_version_tag`, `model_version`, `registered_model`.
    pub entity: String,
    /// `created`, `set`, `deleted`.
    pub action: String,
    /// The event's fields.
    pub data: serde_json::Value,
    /// `X-MLflow-Timestamp`, epoch seconds (signed with the body).
    pub signed_at: i64,
}

fn mac(
    secret: &WebhookSecret,
    id: &str,
    timestamp: &str,
    body: &[u8],
) -> Result<Hmac<Sha256>, WebhookError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0)
        .map_err(|e| WebhookError::Secret(e.to_string()))?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The `X-MLflow-Signature` value MLflow sends for this delivery (for tests and tooling).
pub fn signature(
    secret: &WebhookSecret,
    id: &str,
    timestamp: &str,
    body: &[u8],
) -> Result<String, WebhookError> {
    let tag = mac(secret, id, timestamp, body)?.finalize().into_bytes();
    Ok(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    ))
}

#[derive(Deserialize)]
struct EventView {
    entity: String,
    action: String,
    #[serde(default)]
    data: serde_json::Value,
}

/// Checks a delivery: headers present, a `v1` signature matching the raw `body`, a timestamp
/// within [`MAX_SKEW_SECONDS`] of `now`, then a body that reads as an MLflow event.
pub fn verify(
    secret: &WebhookSecret,
    headers: &SignedHeaders<'_>,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Delivery, WebhookError> {
    let id = headers
        .delivery_id
        .ok_or(WebhookError::MissingHeader("X-MLflow-Delivery-Id"))?;
    let timestamp = headers
        .timestamp
        .ok_or(WebhookError::MissingHeader("X-MLflow-Timestamp"))?;
    let signatures = headers
        .signature
        .ok_or(WebhookError::MissingHeader("X-MLflow-Signature"))?;
    let seconds: i64 = timestamp
        .parse()
        .ok()
        .filter(|_| timestamp.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| WebhookError::BadHeader {
            header: "X-MLflow-Timestamp",
            problem: "is not a time in epoch seconds".into(),
        })?;
    let expected = mac(secret, id, timestamp, body)?;
    let mut any_v1 = false;
    let mut matched = false;
    for candidate in signatures.split_whitespace() {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            continue;
        };
        any_v1 = true;
        let Ok(tag) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            continue;
        };
        if expected.clone().verify_slice(&tag).is_ok() {
            matched = true;
        }
    }
    if !any_v1 {
        return Err(WebhookError::BadHeader {
            header: "X-MLflow-Signature",
            problem: "holds no `v1,` signature".into(),
        });
    }
    if !matched {
        return Err(WebhookError::BadSignature);
    }
    let now = now.unix_timestamp();
    if (now - seconds).abs() > MAX_SKEW_SECONDS {
        return Err(WebhookError::Stale {
            timestamp: seconds,
            now,
        });
    }
    let event: EventView =
        serde_json::from_slice(body).map_err(|e| WebhookError::Payload(e.to_string()))?;
    Ok(Delivery {
        id: id.to_owned(),
        entity: event.entity,
        action: event.action,
        data: event.data,
        signed_at: seconds,
    })
}

/// What a delivery means for the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookAction {
    /// A production alias now names this version: record it as deployed.
    Deploy(Deployed),
    /// Nothing to record, and why.
    Ignore(String),
}

/// Reads a verified delivery: an alias created (or moved) that is one of `production_aliases`
/// (compared without regard to ASCII case) deploys its version; anything else is ignored.
pub fn classify(
    delivery: &Delivery,
    production_aliases: &[String],
) -> Result<WebhookAction, WebhookError> {
    let entity = delivery.entity.to_ascii_lowercase();
    let action = delivery.action.to_ascii_lowercase();
    if entity != "model_version_alias" || action != "created" {
        return Ok(WebhookAction::Ignore(format!(
            "`{entity}` `{action}` events do not change what is deployed"
        )));
    }
    let field = |name: &str| -> Result<String, WebhookError> {
        let value = delivery.data.get(name).and_then(|v| v.as_str());
        match value {
            Some(v) if crate::inventory::usable_name(v) => Ok(v.to_owned()),
            _ => Err(WebhookError::Payload(format!(
                "`data.{name}` is missing or not a usable name"
            ))),
        }
    };
    let (model, alias, version) = (field("name")?, field("alias")?, field("version")?);
    if !production_aliases
        .iter()
        .any(|p| p.eq_ignore_ascii_case(&alias))
    {
        return Ok(WebhookAction::Ignore(format!(
            "alias `{alias}` is not a production alias"
        )));
    }
    Ok(WebhookAction::Deploy(Deployed {
        model,
        version,
        alias,
    }))
}

/// Records `deployed` in `environment` at `time`, unless MLflow's latest report for the model
/// there already names the version, or was recorded after the delivery was signed (`signed_at`,
/// epoch seconds: a replayed or late older delivery must not undo a newer one) — then `None`.
pub fn record(
    store: &mut dyn Store,
    deployed: &Deployed,
    environment: &str,
    time: OffsetDateTime,
    signed_at: i64,
) -> Result<Option<SealedRecord>, MlflowError> {
    // One read of MLflow's reports: the same version again, or a delivery signed before the
    // newest report was recorded, changes nothing.
    if let Some(newest) = latest_from_mlflow(store, environment)?.get(&deployed.model) {
        let recorded_at = crate::clock::parse_rfc3339(&newest.time)
            .map(|t| t.unix_timestamp())
            .unwrap_or(i64::MAX);
        if newest.version == deployed.version || recorded_at > signed_at {
            return Ok(None);
        }
    }
    let draft = observation(SOURCE_WEBHOOK, deployed, environment, time)?;
    Ok(append_one(store, AppendRequest::records(vec![draft]))?
        .into_iter()
        .next())
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
