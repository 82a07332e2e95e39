//! Receipts: the engine's signed statement that a decision was made and recorded where it says.
//!
//! A receipt is a DSSE envelope, signed with the engine key (the key behind the checkpoints), of
//! payload type [`RECEIPT_PAYLOAD_TYPE`] over the canonical JSON [`ReceiptBody`]: the outcome,
//! the request, the decision time, the bundle and input digests, and the ledger index and leaf
//! hash of the record. A pipeline keeps it as proof of what it was told; anyone holding the
//! engine's public key verifies it with any DSSE implementation, and the leaf hash ties it to the
//! ledger record (`audit prove` then proves that record is in the log).

use serde::{Deserialize, Serialize};

use super::decision::{Decision, LedgerRef};
use super::request::RequestSummary;
use super::EngineError;
use crate::attest::{Envelope, PrivateKey};
use crate::canonical;
use crate::policy::Outcome;

/// DSSE payload type of a receipt.
pub const RECEIPT_PAYLOAD_TYPE: &str = "application/vnd.modelgate.receipt.v1+json";

/// The `schema` value of a v1 receipt body.
pub const RECEIPT_SCHEMA: &str = "https://modelgate.dev/receipt/v1";

/// What a receipt attests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    /// Always [`RECEIPT_SCHEMA`].
    pub schema: String,
    /// `allow` or `deny`.
    pub decision: Outcome,
    /// The request, without its attestations.
    pub request: RequestSummary,
    /// Decision time, RFC 3339 UTC.
    pub time: String,
    /// Digest of the policy bundle that decided.
    pub bundle_digest: String,
    /// Digest of the canonical policy input.
    pub input_digest: String,
    /// The ledger record that holds the decision.
    pub ledger: LedgerRef,
}

/// Signs the receipt of `decision` with the engine key.
pub fn sign_receipt(decision: &Decision, key: &PrivateKey) -> Result<Envelope, EngineError> {
    let body = ReceiptBody {
        schema: RECEIPT_SCHEMA.to_owned(),
        decision: decision.body.decision,
        request: decision.body.request.clone(),
        time: decision.body.time.clone(),
        bundle_digest: decision.body.bundle_digest.clone(),
        input_digest: decision.body.input_digest.clone(),
        ledger: decision.ledger.clone(),
    };
    let payload = canonical::canonical_bytes(&body)
        .map_err(|e| EngineError::Internal(format!("receipt: {e}")))?;
    Ok(Envelope::sign(RECEIPT_PAYLOAD_TYPE, payload, key))
}
