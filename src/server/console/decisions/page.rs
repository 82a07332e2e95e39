//! One decision's page: request, reasons with their controls and compared values, approvals,
//! waivers, findings, the inclusion proof (verified here, re-checked in the browser by
//! `console.js`), replay on request, and the record's exact stored bytes.

use crate::engine::audit::{prove_against_latest, LatestInclusion};
use crate::engine::replay::{replay, Replay};
use crate::engine::DecisionBody;
use crate::engine::EngineError;
use crate::ledger::LedgerError;
use crate::ledger::{leaf_hash, parse_record, Record, RecordKind, StoredRecord};
use crate::policy::Reason;
use crate::server::console::{
    blocking, page as layout, short, table_head, PageError, Section, Viewer,
};
use crate::server::state::AppState;
use axum::extract::{Path, RawQuery, State};
use base64::Engine as _;
use maud::{html, Markup};
use serde::Deserialize;
use std::sync::Arc;

use super::{outcome_class, read_query};

/// The decision page's query.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    #[serde(default)]
    replay: String,
}

/// What the decision page shows about the inclusion proof.
#[derive(Debug)]
enum Inclusion {
    /// No signed checkpoint covers the record yet.
    NotCovered,
    /// The proof against the latest checkpoint, checked here.
    Checked(Box<LatestInclusion>),
    /// The engine's verifier key could not be read.
    NoVerifier,
    /// The proof could not be built: the tree the ledger holds is damaged or shorter than the
    /// checkpoint (what `modelgate audit verify` reports in full).
    Unprovable(String),
}

/// Everything the decision page shows.
#[derive(Debug)]
struct DecisionView {
    stored: StoredRecord,
    record: Record,
    body: DecisionBody,
    inclusion: Inclusion,
    replay: Option<Result<Replay, String>>,
}

fn load_decision(
    state: &AppState,
    index: u64,
    want_replay: bool,
) -> Result<DecisionView, PageError> {
    let reader = state.readers.checkout()?;
    let store = reader.store()?;
    let missing = || PageError::not_found(format!("There is no decision at ledger index {index}."));
    let stored = store.record(index)?.ok_or_else(missing)?;
    if stored.kind != RecordKind::Decision {
        return Err(PageError::not_found(format!(
            "Ledger record {index} is a `{}` record, not a decision.",
            stored.kind
        )));
    }
    let record = parse_record(&stored.bytes)?;
    if record.kind != RecordKind::Decision {
        return Err(missing());
    }
    let body: DecisionBody = serde_json::from_value(record.body.clone()).map_err(|e| {
        PageError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("decision record {index} does not read as a v1 decision: {e}"),
        )
    })?;
    let inclusion = match state.ws.note_verifier() {
        Ok(verifier) => match prove_against_latest(store, index, &verifier) {
            Ok(Some(proof)) => Inclusion::Checked(Box::new(proof)),
            Ok(None) => Inclusion::NotCovered,
            // A damaged tree is something to show on this page, not a reason to hide it.
            Err(EngineError::Ledger(
                e @ (LedgerError::MissingNode { .. }
                | LedgerError::CorruptNode { .. }
                | LedgerError::TreeBeyondLedger { .. }),
            )) => Inclusion::Unprovable(e.to_string()),
            Err(e @ EngineError::Invalid(_)) => Inclusion::Unprovable(e.to_string()),
            Err(e) => return Err(crate::server::error::ApiError::from(e).into()),
        },
        Err(e) => {
            tracing::error!(error = %e, "the engine's checkpoint verifier key does not load");
            Inclusion::NoVerifier
        }
    };
    let replay = want_replay.then(|| replay(store, index).map_err(|e| e.to_string()));
    Ok(DecisionView {
        stored,
        record,
        body,
        inclusion,
        replay,
    })
}

/// `GET /console/decisions/{index}`: one decision, its proof of inclusion and, on request, its
/// replay.
pub async fn page(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(raw_index): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, PageError> {
    let index: u64 = raw_index
        .parse()
        .map_err(|_| PageError::not_found(format!("`{raw_index}` is not a ledger index.")))?;
    let q: PageQuery = read_query(raw.as_deref())?;
    let want_replay = match q.replay.as_str() {
        "" | "0" => false,
        "1" => true,
        other => {
            return Err(PageError::invalid(format!(
                "`replay` must be 1 to replay the decision, not `{other}`"
            )))
        }
    };
    let view = blocking(move || load_decision(&state, index, want_replay)).await?;
    Ok(layout(
        &viewer,
        Section::Decisions,
        &format!("Decision {index}"),
        render_decision(index, &view),
    ))
}

/// A digest shortened, with the full value in `title`.
fn digest(d: &str) -> Markup {
    html! { code title=(d) { (short(d)) } }
}

fn reasons_table(caption: &str, reasons: &[Reason]) -> Markup {
    html! {
        table.reasons {
            (table_head(caption, &["Policy", "Effect", "Reason", "Controls", "Compared values"]))
            tbody {
                @for r in reasons {
                    tr {
                        td { code { (r.policy_id) } }
                        td { (r.effect) }
                        td { (r.reason) }
                        td {
                            @if r.controls.is_empty() {
                                "none"
                            } @else {
                                ul.plain {
                                    @for c in &r.controls { li { (c) } }
                                }
                            }
                        }
                        td {
                            @if r.values.is_empty() {
                                "none"
                            } @else {
                                ul.plain.values {
                                    @for (name, value) in &r.values {
                                        li { code { (name) } " = " code { (value.to_string()) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn render_decision(index: u64, v: &DecisionView) -> Markup {
    let b = &v.body;
    let req = &b.request;
    let outcome = b.decision.as_str();
    html! {
        p class=(outcome_class(outcome)) { (outcome) }
        dl.facts {
            dt { "Time" } dd { time datetime=(b.time) { (b.time) } }
            dt { "Tier" }
            dd {
                @match b.tier {
                    Some(t) => { (t) },
                    None => { "none (no model metadata verified)" },
                }
            }
            dt { "Bundle digest" } dd { (digest(&b.bundle_digest)) }
            dt { "Policy input digest" } dd { (digest(&b.input_digest)) }
            @if let Some(fr) = &b.freeze {
                dt { "Freeze in force" }
                dd {
                    "record " (fr.record) ": " (fr.reason)
                    @if let Some(until) = &fr.until { " (until " (until) ")" }
                }
            }
        }

        h2 { "Request" }
        dl.facts {
            dt { "Model" } dd { a href=(crate::server::console::model_path(&req.model, "")) { (req.model) } }
            dt { "Version" } dd { (req.version) }
            dt { "Environment" } dd { (req.environment) }
            dt { "Requested by" } dd { (req.requested_by) }
            dt { "Change ticket" } dd { (req.change_ticket.as_deref().unwrap_or("none")) }
            dt { "Artifact digest" } dd { (digest(&req.artifact_digest)) }
            dt { "Rollback" } dd { (if req.rollback { "yes" } else { "no" }) }
            @if req.dry_run {
                dt { "Dry run" } dd { "yes: judged and recorded, nothing deployed" }
            }
        }

        h2 { "Reasons" }
        @if b.reasons.is_empty() {
            p { "No reasons were recorded." }
        } @else {
            (reasons_table("Reasons", &b.reasons))
        }
        @if !b.warnings.is_empty() {
            h3 { "Warnings" }
            (reasons_table("Warnings (warn-mode policies; they do not decide)", &b.warnings))
        }
        @if !b.shadow.is_empty() {
            h3 { "Shadow policies" }
            (reasons_table("Shadow policies (recorded only; they do not decide)", &b.shadow))
        }

        h2 { "Approvals" }
        @if b.approvals.is_empty() {
            p { "No approval counted." }
        } @else {
            table.approvals {
                (table_head("Approvals that counted", &["Role", "Approver", "Expires", "Attestation"]))
                tbody {
                    @for a in &b.approvals {
                        tr {
                            td { (a.role) }
                            td { (a.approver) }
                            td { time datetime=(a.expires) { (a.expires) } }
                            td { (digest(&a.attestation)) }
                        }
                    }
                }
            }
        }

        h2 { "Waivers" }
        @if b.waivers.is_empty() {
            p { "No waiver was applied." }
        } @else {
            table.waivers {
                (table_head("Waivers applied", &["Policies", "Granted by", "Ticket", "Reason", "Expires", "Attestation"]))
                tbody {
                    @for w in &b.waivers {
                        tr {
                            td { ul.plain { @for p in &w.policies { li { code { (p) } } } } }
                            td { (w.granted_by) }
                            td { (w.ticket) }
                            td { (w.reason) }
                            td { time datetime=(w.expires) { (w.expires) } }
                            td { (digest(&w.attestation)) }
                        }
                    }
                }
            }
        }

        h2 { "Findings" }
        @if b.findings.is_empty() {
            p { "No findings: every attestation of the request counted or was not needed." }
        } @else {
            ul {
                @for f in &b.findings {
                    li {
                        "Attestation " (f.attestation)
                        @if let Some(a) = b.attestations.get(f.attestation) {
                            " (" code { (a.predicate_type) } ", " (digest(&a.digest)) ")"
                        }
                        ": " (f.problem)
                    }
                }
            }
        }

        h2 { "Inclusion proof" }
        (render_inclusion(index, &v.stored.bytes, &v.inclusion))

        h2 { "Replay" }
        p { a href="?replay=1" { "Replay this decision" } }
        @match &v.replay {
            None => {}
            Some(Ok(r)) if r.reproduced => {
                p.notice role="status" { "Replay reproduced this decision." }
                p { "Checked: " (r.checked) "." }
            }
            Some(Ok(r)) => {
                p.error role="alert" { "Replay did not reproduce this decision:" }
                ul { @for d in &r.differences { li { (d) } } }
                p { "Checked: " (r.checked) "." }
            }
            Some(Err(e)) => {
                p.error role="alert" { "Replay could not run: " (e) }
            }
        }

        h2 { "Ledger record" }
        dl.facts {
            dt { "Index" } dd { (v.stored.index) }
            dt { "Leaf hash" } dd { code.hash { (hex::encode(v.stored.leaf_hash)) } }
            dt { "Previous leaf hash" } dd { code.hash { (v.record.prev) } }
            dt { "Recorded" } dd { time datetime=(v.record.time) { (v.record.time) } }
        }
        @if leaf_hash(&v.stored.bytes) != v.stored.leaf_hash {
            p.error role="alert" { "The stored bytes do not hash to the stored leaf hash." }
        }
        p { "The record's exact stored bytes (RFC 8785 canonical JSON; the leaf hash is SHA-256 of 0x00 followed by them):" }
        pre.record-bytes { code { (String::from_utf8_lossy(&v.stored.bytes)) } }
    }
}

fn render_inclusion(index: u64, record_bytes: &[u8], inclusion: &Inclusion) -> Markup {
    let b64 = base64::engine::general_purpose::STANDARD;
    match inclusion {
        Inclusion::NotCovered => html! {
            p role="status" {
                "No signed checkpoint covers record " (index) " yet; the next checkpoint will."
            }
        },
        Inclusion::Unprovable(why) => html! {
            p.error role="alert" {
                "No inclusion proof could be built for this record: " (why)
                ". Run `modelgate audit verify` to see what is damaged."
            }
        },
        Inclusion::NoVerifier => html! {
            p.error role="alert" {
                "The engine's checkpoint verifier key cannot be read, so the proof was not checked."
            }
        },
        Inclusion::Checked(p) => match &p.verified {
            Ok(cp) => {
                let hashes = p
                    .proof
                    .hashes
                    .iter()
                    .map(hex::encode)
                    .collect::<Vec<_>>()
                    .join(" ");
                html! {
                    p.notice role="status" {
                        "The inclusion proof verifies against the signed checkpoint of size " (cp.size) "."
                    }
                    dl.facts {
                        dt { "Checkpoint origin" } dd { (cp.origin) }
                        dt { "Checkpoint root" } dd { code.hash { (b64.encode(cp.root)) } }
                        dt { "Proof length" } dd { (p.proof.hashes.len()) " hashes" }
                    }
                    p #proof-browser-check role="status"
                        data-record=(b64.encode(record_bytes))
                        data-leaf=(hex::encode(p.leaf_hash))
                        data-index=(index)
                        data-size=(cp.size)
                        data-root=(hex::encode(cp.root))
                        data-proof=(hashes) {
                        "Not re-checked in this browser (it needs JavaScript)."
                    }
                    details {
                        summary { "The proof file (c2sp.org/tlog-proof@v1)" }
                        pre { code { (p.proof.to_text()) } }
                    }
                }
            }
            Err(why) => html! {
                p.error role="alert" {
                    "The inclusion proof does NOT verify against the signed checkpoint of size "
                    (p.size) ": " (why)
                }
                p #proof-browser-check role="status" {
                    "Not re-checked in this browser: the check on the server failed."
                }
            },
        },
    }
}
