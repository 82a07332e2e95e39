//! The engine: the decision path of DESIGN §2, the one way modelgate decides.
//!
//! [`Engine::decide`] parses a promotion request ([`request`]), examines its attestations
//! against the trust store ([`attestations`], [`trust`]), validates and derives the policy input
//! ([`crate::metadata`]), evaluates the policy bundle ([`crate::policy`]), appends the
//! [`decision::DecisionBody`] to the ledger and returns only once that record is durable. The
//! CLI and the HTTP server are adapters over this module; they hold no business rules.
//!
//! A deny is `Ok(Decision)`; `Err` is reserved for input that cannot be judged
//! ([`EngineError::Invalid`], exit 3) and for failures of the engine itself (ledger, policy
//! bundle), which close the gate.

pub mod attestations;
pub mod audit;
pub mod bundles;
pub mod decision;
pub mod freeze;
pub mod intake;
pub mod observe;
pub mod receipt;
pub mod replay;
pub mod request;
pub mod trust;
pub mod waivers;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::attest::TrustStore;
use crate::canonical;
use crate::clock::{rfc3339, Clock};
use crate::digest::sha256_prefixed;
use crate::ledger::group::AfterBatch;
use crate::ledger::{
    append_one, parse_record, AppendGuard, AppendRequest, GroupCommit, LedgerError, RecordDraft,
    RecordKind, SealedRecord, Store,
};
use crate::metadata::schema::SchemaError;
use crate::metadata::{derive_model_facts, unverified_model_facts, Schemas};
use crate::policy::input::{EnvironmentFacts, PolicyInput};
use crate::policy::{PolicyBundle, PolicyError};

pub use decision::{Decision, DecisionBody, LedgerRef, DECISION_SCHEMA};
pub use freeze::{FreezeRef, FreezeState};
pub use request::{parse_request, PromotionRequest, RequestSummary};
pub use trust::{change_trust, load_trust, load_trust_before};
pub use waivers::{AppliedWaiver, WaiverRules};

/// The kind an activation is guarded by.
const ACTIVATION: [RecordKind; 1] = [RecordKind::BundleActivation];

/// The record kinds a decision's ledger state is derived from (trust store and freezes): a
/// decision is not recorded if one of them was appended after that state was read.
pub const DECISION_BASIS: [RecordKind; 3] = [
    RecordKind::KeyChange,
    RecordKind::Freeze,
    RecordKind::Unfreeze,
];

/// How often [`Engine::decide`] re-judges a request whose trust basis changed underneath it.
const MAX_ATTEMPTS: u32 = 3;

/// One problem with a request: where (JSON pointer into the request) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// JSON pointer into the request (decoded payloads continue the path, e.g.
    /// `/attestations/0/payload/predicate/risk/tier`); empty for the request as a whole.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "at `{}`: {}", self.pointer, self.message)
        }
    }
}

/// Why the engine could not decide.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request cannot be judged as sent; nothing was recorded.
    #[error("invalid request: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
    /// The ledger could not be read or written: the gate is closed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The policy bundle could not evaluate the request: the gate is closed.
    #[error("policy: {0}")]
    Policy(#[from] PolicyError),
    /// The embedded schemas did not compile.
    #[error("schemas: {0}")]
    Schema(#[from] SchemaError),
    /// The trust history in the ledger does not replay.
    #[error("trust history broken at ledger record {index}: {problem}")]
    TrustHistory {
        /// Index of the `key_change` record that does not apply.
        index: u64,
        /// What went wrong.
        problem: String,
    },
    /// A trust change was rejected.
    #[error("trust change rejected: {0}")]
    TrustChange(crate::attest::AttestError),
    /// An invariant of the engine itself failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// A single-problem [`EngineError::Invalid`].
    pub fn invalid(pointer: impl Into<String>, message: impl Into<String>) -> EngineError {
        EngineError::Invalid(vec![Problem {
            pointer: pointer.into(),
            message: message.into(),
        }])
    }
}

/// One configured environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// Whether the full tier rules apply here.
    #[serde(default)]
    pub production: bool,
}

/// What the engine needs besides its bundle: the environments it knows and what waivers may
/// grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Environments by name; a request for any other environment is invalid.
    pub environments: BTreeMap<String, EnvironmentConfig>,
    /// Maximum waiver horizons per tier.
    #[serde(default)]
    pub waivers: WaiverRules,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let env = |production| EnvironmentConfig { production };
        EngineConfig {
            environments: BTreeMap::from([
                ("dev".to_string(), env(false)),
                ("staging".to_string(), env(false)),
                ("production".to_string(), env(true)),
            ]),
            waivers: WaiverRules::default(),
        }
    }
}

/// The decision engine: schemas, policy bundle, configuration and clock.
pub struct Engine {
    schemas: Schemas,
    bundle: PolicyBundle,
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    checkpoints: Option<Arc<audit::AutoCheckpoint>>,
    basis_cache: std::sync::Mutex<Option<BasisCache>>,
}

/// The trust store and freeze fold as of the newest record of [`DECISION_BASIS`] kinds.
struct BasisCache {
    last: Option<(u64, [u8; 32])>,
    trust: TrustStore,
    freezes: FreezeState,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("bundle", &self.bundle.digest())
            .field("config", &self.config)
            .finish()
    }
}

impl Engine {
    /// Builds an engine; compiles the embedded schemas once.
    pub fn new(
        bundle: PolicyBundle,
        config: EngineConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, EngineError> {
        Ok(Engine {
            schemas: Schemas::compile()?,
            bundle,
            config,
            clock,
            checkpoints: None,
            basis_cache: std::sync::Mutex::new(None),
        })
    }

    /// Signs checkpoints automatically after decisions, as `auto` says.
    pub fn with_auto_checkpoints(mut self, auto: audit::AutoCheckpoint) -> Engine {
        self.checkpoints = Some(Arc::new(auto));
        self
    }

    /// The policy bundle in use.
    pub fn bundle(&self) -> &PolicyBundle {
        &self.bundle
    }

    /// The compiled schemas.
    pub fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    /// The engine's clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Appends a `bundle_activation` record unless the latest one already names this bundle's
    /// digest, storing the bundle's files by digest with it ([`bundles::bundle_blobs`]) so that
    /// it stays retrievable for replay. Returns the new record, if one was appended.
    pub fn activate_bundle(
        &self,
        store: &mut dyn Store,
    ) -> Result<Option<SealedRecord>, EngineError> {
        // Replicas starting together must not both record the activation: the append is guarded
        // by the activations read, and a replica that lost the race looks again.
        for _ in 0..MAX_ATTEMPTS {
            match self.activate_bundle_once(store, None) {
                Err(EngineError::Ledger(LedgerError::Raced { .. })) => continue,
                other => return other,
            }
        }
        self.activate_bundle_once(store, None)
    }

    /// Records the first bundle activation of a new ledger, refused (with
    /// [`LedgerError::Raced`]) if any record was appended meanwhile: two `init`s racing on one
    /// empty database cannot both succeed.
    pub fn activate_first_bundle(
        &self,
        store: &mut dyn Store,
    ) -> Result<Option<SealedRecord>, EngineError> {
        self.activate_bundle_once(
            store,
            Some(AppendGuard {
                kinds: &RecordKind::ALL,
                since: 0,
            }),
        )
    }

    fn activate_bundle_once(
        &self,
        store: &mut dyn Store,
        guard: Option<AppendGuard>,
    ) -> Result<Option<SealedRecord>, EngineError> {
        let digest = self.bundle.digest();
        let blobs = bundles::bundle_blobs(&self.bundle);
        let activations = store.records_of_kind(RecordKind::BundleActivation)?;
        if let Some(last) = activations.last() {
            let record = parse_record(&last.bytes)?;
            if record.body.get("bundle_digest").and_then(|v| v.as_str()) == Some(digest) {
                if !bundles::has_bundle(store, digest)? {
                    // Activated before bundles were kept: keep them now.
                    append_one(
                        store,
                        AppendRequest {
                            attestations: blobs,
                            ..AppendRequest::default()
                        },
                    )?;
                }
                return Ok(None);
            }
        }
        let guard = guard.unwrap_or(AppendGuard {
            kinds: &ACTIVATION,
            since: activations.last().map_or(0, |r| r.index + 1),
        });
        let policies: Vec<&str> = self
            .bundle
            .policies()
            .iter()
            .map(|p| p.id.as_str())
            .collect();
        let body = serde_json::json!({ "bundle_digest": digest, "policies": policies });
        let sealed = append_one(
            store,
            AppendRequest {
                guard: Some(guard),
                attestations: blobs,
                ..AppendRequest::records(vec![RecordDraft {
                    kind: RecordKind::BundleActivation,
                    time: self.clock.now(),
                    body,
                }])
            },
        )?;
        Ok(sealed.into_iter().next())
    }

    /// Judges one promotion request against `trust` alone (no freezes, no ledger history)
    /// without any I/O: parse, verify, validate, derive, evaluate.
    pub fn judge(&self, trust: &TrustStore, request: &[u8]) -> Result<Judgement, EngineError> {
        let freezes = FreezeState::default();
        self.judge_in(
            &Basis {
                trust,
                freezes: &freezes,
                history: None,
            },
            request,
        )
    }

    /// Reads the ledger state a judgement is made against: the ledger size it was read at, the
    /// trust store and the freezes in force now.
    ///
    /// The trust store and the freeze fold are rebuilt only when a record of their kinds
    /// ([`DECISION_BASIS`]) was appended since the last snapshot; otherwise the cached ones are
    /// used (a long-running server reads one index entry per kind instead of replaying them).
    pub fn snapshot(
        &self,
        store: &dyn Store,
    ) -> Result<(u64, TrustStore, FreezeState), EngineError> {
        let size = store.size()?;
        // The newest basis record, identified by its index and leaf hash, so that the cache can
        // never be taken for another ledger's.
        let last = match store.last_of_kinds(&DECISION_BASIS)? {
            Some(index) => store.record(index)?.map(|r| (index, r.leaf_hash)),
            None => None,
        };
        let now = self.clock.now();
        if let Ok(cache) = self.basis_cache.lock() {
            if let Some(c) = cache.as_ref().filter(|c| c.last == last) {
                return Ok((size, c.trust.clone(), c.freezes.in_force(now)));
            }
        }
        let trust = load_trust(store)?;
        let folded = FreezeState::fold(store)?;
        let freezes = folded.in_force(now);
        if let Ok(mut cache) = self.basis_cache.lock() {
            *cache = Some(BasisCache {
                last,
                trust: trust.clone(),
                freezes: folded,
            });
        }
        Ok((size, trust, freezes))
    }

    /// Judges one promotion request against `basis`: parse, verify, validate, derive, evaluate.
    /// The ledger history is read only while the target environment is frozen (to tell a
    /// rollback to a previously allowed version). The result is what [`Engine::decide`]
    /// records; it is not an answer until it is recorded.
    pub fn judge_in(&self, basis: &Basis<'_>, request: &[u8]) -> Result<Judgement, EngineError> {
        let trust = basis.trust;
        let request = parse_request(&self.schemas, request)?;
        let environment = self
            .config
            .environments
            .get(&request.environment)
            .ok_or_else(|| {
                EngineError::invalid(
                    "/environment",
                    format!(
                        "unknown environment `{}` (configured: {})",
                        request.environment,
                        self.config
                            .environments
                            .keys()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
        let now = self.clock.now();
        let waiver_context = attestations::WaiverContext {
            bundle: &self.bundle,
            rules: self.config.waivers,
        };
        let examined = attestations::examine(&request, &self.schemas, trust, &waiver_context, now)?;

        let model = match &examined.metadata {
            Some(m) => {
                let mut facts =
                    derive_model_facts(&m.predicate, &request.model, &request.version, now);
                facts.artifact_digest_matches = m.artifact_digest_matches;
                facts
            }
            None => unverified_model_facts(&request.model, &request.version),
        };
        let tier = examined.metadata.as_ref().map(|_| model.tier);
        let authors = examined
            .metadata
            .as_ref()
            .map(|m| m.signers.clone())
            .unwrap_or_default();
        let mut context = attestations::context_facts(
            &request,
            &examined.approvals,
            &model.developer,
            &authors,
            now,
        );
        let freeze = basis.freezes.of(&request.environment).cloned();
        if freeze.is_some() {
            context.previously_allowed = match basis.history {
                Some(history) => freeze::previously_allowed(
                    history,
                    &request.model,
                    &request.version,
                    &request.environment,
                )?,
                None => false,
            };
        }
        let input = PolicyInput {
            requester: request.requested_by.clone(),
            environment: EnvironmentFacts {
                name: request.environment.clone(),
                production: environment.production,
                frozen: freeze.is_some(),
            },
            model,
            context,
        };
        let input_bytes = canonical::canonical_bytes(&input)
            .map_err(|e| EngineError::Internal(format!("policy input: {e}")))?;
        let waived: Vec<String> = examined
            .waivers
            .iter()
            .flat_map(|w| w.policies.iter().cloned())
            .collect();
        let evaluation = self.bundle.evaluate_with_waivers(&input, &waived)?;

        let body = DecisionBody {
            schema: DECISION_SCHEMA.to_string(),
            decision: evaluation.decision,
            time: rfc3339(now),
            request: request.summary(),
            tier,
            reasons: evaluation.reasons,
            warnings: evaluation.warnings,
            shadow: evaluation.shadow,
            waivers: examined.waivers,
            freeze,
            findings: examined.findings,
            attestations: examined.attestations,
            approvals: examined.approvals,
            bundle_digest: self.bundle.digest().to_string(),
            input_digest: sha256_prefixed(&input_bytes),
        };
        Ok(Judgement {
            body,
            input,
            input_bytes,
            time: now,
            envelopes: examined.envelopes,
        })
    }

    /// Decides one promotion request and records the decision durably before returning it.
    ///
    /// Invalid input returns [`EngineError::Invalid`] and records nothing. Every judged request,
    /// allow or deny, is appended to the ledger; if that fails the result is an error, never an
    /// unrecorded allow.
    pub fn decide(&self, store: &mut dyn Store, request: &[u8]) -> Result<Decision, EngineError> {
        let decision = self.retrying(|| {
            // The trust store is read as of `trusted_up_to`; the decision is appended only if no
            // trust change landed since, so a key revoked meanwhile can never count.
            let (read_at, trust, freezes) = self.snapshot(store)?;
            let basis = Basis {
                trust: &trust,
                freezes: &freezes,
                history: Some(store),
            };
            let judgement = self.judge_logged(&basis, request)?;
            self.record(store, read_at, judgement)
        });
        log_outcome(&decision);
        decision
    }

    /// [`Engine::decide`] for a long-running process: trust is read through `reader` (its own
    /// connection), and the decision is appended through the group-commit `appender`, which
    /// answers once the batch holding it is durable. The bundle must have been activated
    /// ([`Engine::activate_bundle`]) on the ledger before the appender started, and automatic
    /// checkpoints run after each batch ([`Engine::checkpoint_hook`]).
    pub fn decide_grouped(
        &self,
        reader: &dyn Store,
        appender: &GroupCommit,
        request: &[u8],
    ) -> Result<Decision, EngineError> {
        let decision = self.retrying(|| {
            let (read_at, trust, freezes) = self.snapshot(reader)?;
            let basis = Basis {
                trust: &trust,
                freezes: &freezes,
                history: Some(reader),
            };
            let judgement = self.judge_logged(&basis, request)?;
            let sealed = appender.append(decision_request(read_at, &judgement)?);
            judgement.into_decision(sealed?)
        });
        log_outcome(&decision);
        decision
    }

    /// Runs `attempt` again (up to [`MAX_ATTEMPTS`] times) while the trust basis moves under it.
    fn retrying(
        &self,
        mut attempt: impl FnMut() -> Result<Decision, EngineError>,
    ) -> Result<Decision, EngineError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match attempt() {
                Err(EngineError::Ledger(LedgerError::Raced { index, .. }))
                    if attempts < MAX_ATTEMPTS =>
                {
                    tracing::info!(index, "trust changed while deciding; deciding again");
                }
                other => return other,
            }
        }
    }

    fn judge_logged(&self, basis: &Basis<'_>, request: &[u8]) -> Result<Judgement, EngineError> {
        self.judge_in(basis, request).inspect_err(|e| {
            tracing::info!(error = %e, "request not judged");
        })
    }

    /// Appends a judgement to the ledger (the envelopes it used and the decision record, in one
    /// transaction) and returns the durable decision. `trusted_up_to` is the ledger size at which
    /// the trust store used for the judgement was read: if a `key_change` record was appended at
    /// or after it, nothing is recorded and the error is [`LedgerError::Raced`].
    pub fn record(
        &self,
        store: &mut dyn Store,
        trusted_up_to: u64,
        judgement: Judgement,
    ) -> Result<Decision, EngineError> {
        self.activate_bundle(store)?;
        let sealed = append_one(store, decision_request(trusted_up_to, &judgement)?)?;
        let decision = judgement.into_decision(sealed)?;
        if let Some(auto) = &self.checkpoints {
            auto.after_decision(store, self.clock.now());
        }
        Ok(decision)
    }

    /// The work to run after each group-commit batch: automatic checkpoints, if configured.
    pub fn checkpoint_hook(&self) -> Option<AfterBatch> {
        let auto = Arc::clone(self.checkpoints.as_ref()?);
        let clock = Arc::clone(&self.clock);
        Some(Box::new(move |store: &mut dyn Store| {
            auto.after_decision(store, clock.now());
        }))
    }
}

/// The ledger append for a judgement: its envelopes for the attestation store and the decision
/// record, guarded by the trust snapshot it was judged against.
fn decision_request(
    trusted_up_to: u64,
    judgement: &Judgement,
) -> Result<AppendRequest, EngineError> {
    let body =
        serde_json::to_value(&judgement.body).map_err(|e| EngineError::Internal(e.to_string()))?;
    Ok(AppendRequest {
        guard: Some(AppendGuard {
            kinds: &DECISION_BASIS,
            since: trusted_up_to,
        }),
        attestations: judgement
            .envelopes
            .iter()
            .map(|(digest, bytes)| (digest.clone(), bytes.clone()))
            .chain(std::iter::once((
                judgement.body.input_digest.clone(),
                judgement.input_bytes.clone(),
            )))
            .collect(),
        drafts: vec![RecordDraft {
            kind: RecordKind::Decision,
            time: judgement.time,
            body,
        }],
    })
}

fn log_outcome(decision: &Result<Decision, EngineError>) {
    match decision {
        Ok(d) => tracing::info!(
            model = %d.body.request.model,
            version = %d.body.request.version,
            environment = %d.body.request.environment,
            decision = ?d.body.decision,
            index = d.ledger.index,
            "decision recorded"
        ),
        // Bad input was already logged as "request not judged": a client's mistake, not a fault.
        Err(EngineError::Invalid(_)) => {}
        Err(e) => tracing::error!(error = %e, "decision not recorded: gate closed"),
    }
}

/// The ledger state a request is judged against.
#[derive(Clone, Copy)]
pub struct Basis<'a> {
    /// The trust store.
    pub trust: &'a TrustStore,
    /// The freezes in force.
    pub freezes: &'a FreezeState,
    /// The ledger, for looking up earlier decisions (rollbacks during a freeze); without it a
    /// frozen environment admits no rollback.
    pub history: Option<&'a dyn Store>,
}

impl fmt::Debug for Basis<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Basis")
            .field("freezes", self.freezes)
            .field("history", &self.history.is_some())
            .finish_non_exhaustive()
    }
}

/// A judged request that is not yet recorded (and so not yet an answer).
#[derive(Debug, Clone)]
pub struct Judgement {
    /// The decision body to record.
    pub body: DecisionBody,
    /// The policy input that was evaluated (its digest is `body.input_digest`).
    pub input: PolicyInput,
    /// Its canonical bytes, stored under `body.input_digest` for replay.
    pub input_bytes: Vec<u8>,
    /// Decision time.
    pub time: time::OffsetDateTime,
    /// Canonical envelope bytes by digest, for the attestation store.
    pub envelopes: BTreeMap<String, Vec<u8>>,
}

impl Judgement {
    /// The answer, once the ledger has returned the sealed decision record.
    fn into_decision(self, sealed: Vec<SealedRecord>) -> Result<Decision, EngineError> {
        let record = sealed.into_iter().next().ok_or_else(|| {
            EngineError::Internal("the ledger did not return the appended record".into())
        })?;
        Ok(Decision {
            body: self.body,
            ledger: LedgerRef {
                index: record.index,
                leaf_hash: hex::encode(record.leaf_hash),
            },
        })
    }
}
