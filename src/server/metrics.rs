//! Prometheus metrics (`GET /metrics`, text exposition format), with the `prometheus-client`
//! crate: decisions by outcome, tier and environment; reasons by policy; decision latency;
//! ledger batch commit latency and batch sizes; attestations that did not count, by phase;
//! HTTP responses by status.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::engine::Decision;
use crate::ledger::group::BatchReport;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    outcome: String,
    tier: String,
    environment: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    policy: String,
    effect: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    reasons: Family<ReasonLabels, Counter>,
    decision_seconds: Histogram,
    batch_seconds: Histogram,
    batch_records: Histogram,
    failed_batches: Counter,
    not_counted: Family<PhaseLabels, Counter>,
    http: Family<StatusLabels, Counter>,
    encode_lock: Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("modelgate");
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Decisions recorded, by outcome, verified tier and environment",
            decisions.clone(),
        );
        let reasons = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "decision_reasons",
            "Reasons given in decisions, by policy id and effect",
            reasons.clone(),
        );
        let decision_seconds = Histogram::new(exponential_buckets(0.000_25, 2.0, 14));
        registry.register(
            "decision_seconds",
            "Time to decide and durably record one request (POST /v1/decisions, admission)",
            decision_seconds.clone(),
        );
        let batch_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        registry.register(
            "ledger_batch_seconds",
            "Time to commit one group-commit batch, its fsync included",
            batch_seconds.clone(),
        );
        let batch_records = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "ledger_batch_records",
            "Records per group-commit batch",
            batch_records.clone(),
        );
        let failed_batches = Counter::default();
        registry.register(
            "ledger_failed_batches",
            "Batches that failed as a whole (every caller in them got an error)",
            failed_batches.clone(),
        );
        let not_counted = Family::<PhaseLabels, Counter>::default();
        registry.register(
            "verification_failures",
            "Attestations or signatures that did not count, by phase (metadata, approval, waiver, signature)",
            not_counted.clone(),
        );
        let http = Family::<StatusLabels, Counter>::default();
        registry.register(
            "http_responses",
            "HTTP responses by status code",
            http.clone(),
        );
        Metrics {
            registry,
            decisions,
            reasons,
            decision_seconds,
            batch_seconds,
            batch_records,
            failed_batches,
            not_counted,
            http,
            encode_lock: Mutex::new(()),
        }
    }

    /// Counts one recorded decision, taking `seconds` end to end.
    pub fn decision(&self, d: &Decision, seconds: f64) {
        self.decisions
            .get_or_create(&DecisionLabels {
                outcome: d.body.decision.as_str().to_owned(),
                tier: d
                    .body
                    .tier
                    .map_or_else(|| "unknown".to_owned(), |t| t.to_string()),
                environment: d.body.request.environment.clone(),
            })
            .inc();
        for r in d.body.reasons.iter().chain(&d.body.warnings) {
            self.reasons
                .get_or_create(&ReasonLabels {
                    policy: r.policy_id.clone(),
                    effect: r.effect.clone(),
                })
                .inc();
        }
        for f in &d.body.findings {
            let phase = if f.problem.starts_with("model metadata") {
                "metadata"
            } else if f.problem.starts_with("approval") {
                "approval"
            } else if f.problem.starts_with("waiver") {
                "waiver"
            } else {
                "signature"
            };
            self.not_counted
                .get_or_create(&PhaseLabels {
                    phase: phase.to_owned(),
                })
                .inc();
        }
        self.decision_seconds.observe(seconds);
    }

    /// Records one group-commit batch.
    pub fn batch(&self, report: &BatchReport) {
        self.batch_seconds.observe(report.seconds);
        #[allow(clippy::cast_precision_loss)]
        self.batch_records.observe(report.records as f64);
        if report.failed {
            self.failed_batches.inc();
        }
    }

    /// Counts one HTTP response.
    pub fn response(&self, status: u16) {
        self.http
            .get_or_create(&StatusLabels {
                status: status.to_string(),
            })
            .inc();
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let _guard = self.encode_lock.lock();
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
