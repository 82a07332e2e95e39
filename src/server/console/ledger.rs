//! Ledger: the latest checkpoint, the latest stored checkpoints with the consistency between
//! each and the one before, and "verify now".
//!
//! The page checks each shown checkpoint as `modelgate audit verify` would, one by one: its
//! signature under the engine's note key ([`audit::checkpoint_status`]), the latest one's root
//! against the ledger's own tree ([`audit::check_root`]) and each against the one before with an
//! RFC 6962 consistency proof built from the stored tree and verified
//! ([`audit::check_consistency`]). That is a few dozen indexed reads, whatever the ledger size.
//!
//! "Verify now" runs the full verification ([`verify_store_against_with_progress`]) on a
//! thread of its own with its own read connection; [`VerifyJobs`] keeps its progress and outcome
//! for the status page, one run at a time, and the last [`KEPT_JOBS`] finished runs.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::Stopwatch;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{
    blocking, page as layout, read_form, redirect, short, table_head, PageError, Section, Viewer,
};
use crate::clock::rfc3339;
use crate::engine::audit::{self, CheckpointStatus};
use crate::ledger::verify::verify_store_against_with_progress;
use crate::ledger::Store;
use crate::server::error::ApiError;
use crate::server::state::AppState;
use crate::server::ApiPath;

/// Least time between the end of one "verify now" run and the start of the next.
pub const RUN_SPACING: std::time::Duration = std::time::Duration::from_secs(10);

/// How many of the latest stored checkpoints the page shows.
pub const SHOWN_CHECKPOINTS: usize = 20;

/// How many finished verification runs are kept for their status pages.
pub const KEPT_JOBS: usize = 10;

/// The "verify now" runs of this server: the running one, if any, and the last
/// [`KEPT_JOBS`] finished ones.
#[derive(Debug, Default)]
pub struct VerifyJobs {
    jobs: Mutex<Jobs>,
}

impl VerifyJobs {
    /// Sets the least time between one run's end and the next run's start (by default
    /// [`RUN_SPACING`], or as long as the last run took if longer; zero: no spacing at all).
    pub fn space_runs(&self, spacing: std::time::Duration) {
        self.lock().spacing = Some(spacing);
    }
}

#[derive(Debug, Default)]
struct Jobs {
    /// Set by [`VerifyJobs::space_runs`]; [`RUN_SPACING`] when not.
    spacing: Option<std::time::Duration>,
    /// The id of the last run started (ids start at 1).
    last_id: u64,
    /// Runs, oldest first.
    list: VecDeque<Job>,
}

/// One verification run.
#[derive(Debug, Clone)]
struct Job {
    id: u64,
    /// Who started it.
    by: String,
    /// When it started (the server clock).
    started_at: OffsetDateTime,
    started: Stopwatch,
    /// Records verified so far.
    done: u64,
    /// Records the walk covers (the head's size), once the walk has read it.
    total: Option<u64>,
    /// How long it took, once finished.
    elapsed: Option<Duration>,
    /// How it ended, once finished.
    outcome: Option<Outcome>,
}

/// How a run ended.
#[derive(Debug, Clone)]
enum Outcome {
    /// No problem found in `records` records; `checkpoints` stored checkpoints checked.
    Passed { records: u64, checkpoints: usize },
    /// The first problem found, after `records` records passed.
    Failed {
        failure: String,
        records: u64,
        checkpoints: usize,
    },
    /// The verification could not be carried out (the cause is logged).
    Error,
}

impl VerifyJobs {
    fn lock(&self) -> MutexGuard<'_, Jobs> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new run, or answers the running one: `(id, true)` when a new run must be
    /// started.
    fn begin(&self, by: &str, now: OffsetDateTime) -> (u64, bool) {
        let mut jobs = self.lock();
        if let Some(running) = jobs.list.iter().find(|j| j.outcome.is_none()) {
            return (running.id, false);
        }
        // Runs are spaced: a new one starts only [`RUN_SPACING`] (or as long as the last run
        // took, if longer) after the last ended, so verification, which reads the whole ledger
        // on every core, cannot be kept running back to back against the decisions.
        let spacing = jobs.spacing.unwrap_or(RUN_SPACING);
        if let Some(last) = jobs.list.back().filter(|_| !spacing.is_zero()) {
            if let Some(took) = last.elapsed {
                let since_end = last.started.elapsed().saturating_sub(took);
                if since_end < spacing.max(took) {
                    return (last.id, false);
                }
            }
        }
        jobs.last_id += 1;
        let id = jobs.last_id;
        jobs.list.push_back(Job {
            id,
            by: by.to_owned(),
            started_at: now,
            started: Stopwatch::start(),
            done: 0,
            total: None,
            elapsed: None,
            outcome: None,
        });
        (id, true)
    }

    fn progress(&self, id: u64, done: u64, total: u64) {
        if let Some(job) = self.lock().list.iter_mut().find(|j| j.id == id) {
            job.done = done;
            job.total = Some(total);
        }
    }

    /// Records how run `id` ended (once) and forgets finished runs beyond [`KEPT_JOBS`].
    fn finish(&self, id: u64, outcome: Outcome) {
        let mut jobs = self.lock();
        if let Some(job) = jobs
            .list
            .iter_mut()
            .find(|j| j.id == id && j.outcome.is_none())
        {
            job.elapsed = Some(job.started.elapsed());
            job.outcome = Some(outcome);
        }
        while jobs.list.iter().filter(|j| j.outcome.is_some()).count() > KEPT_JOBS {
            match jobs.list.iter().position(|j| j.outcome.is_some()) {
                Some(oldest) => {
                    jobs.list.remove(oldest);
                }
                None => break,
            }
        }
    }

    fn get(&self, id: u64) -> Option<Job> {
        self.lock().list.iter().find(|j| j.id == id).cloned()
    }

    /// The kept runs, newest first.
    fn recent(&self) -> Vec<Job> {
        self.lock().list.iter().rev().cloned().collect()
    }
}

/// Marks its run as failed if the thread ends without recording an outcome (a panic).
struct Unfinished {
    state: Arc<AppState>,
    id: u64,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        self.state.console.verify.finish(self.id, Outcome::Error);
    }
}

/// A stored checkpoint as the page shows it.
struct Row {
    status: CheckpointStatus,
    consistency: Consistency,
}

/// Whether a checkpoint is consistent with the one before it.
enum Consistency {
    /// The oldest row shown, with no older checkpoint stored.
    FirstShown,
    /// The consistency proof verified.
    Yes,
    /// Why not.
    No(String),
}

/// What the page shows.
struct Overview {
    ledger_size: u64,
    /// The latest checkpoint, with whether the ledger's own root at its size is the one it names.
    latest: Option<(CheckpointStatus, Result<(), String>)>,
    /// Newest first.
    rows: Vec<Row>,
    /// Older checkpoints are stored than the rows show.
    older: bool,
}

/// `GET /console/ledger`.
pub async fn page(State(state): State<Arc<AppState>>, viewer: Viewer) -> Result<Markup, PageError> {
    let reading = Arc::clone(&state);
    let overview = blocking(move || overview(&reading)).await?;
    let jobs = state.console.verify.recent();
    Ok(layout(
        &viewer,
        Section::Ledger,
        "Ledger",
        render_page(&viewer, &overview, &jobs),
    ))
}

fn overview(state: &AppState) -> Result<Overview, PageError> {
    let verifier = state
        .ws
        .note_verifier()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let reader = state.readers.checkout()?;
    let store = reader.store()?;
    let ledger_size = store.size()?;
    // The shown checkpoints and the one before the oldest shown (its consistency), oldest
    // first; only they are read.
    let mut latest = store.latest_checkpoints(SHOWN_CHECKPOINTS as u64 + 1)?;
    latest.reverse();
    let window: Vec<CheckpointStatus> = latest
        .iter()
        .map(|(size, note)| audit::checkpoint_status(*size, note, &verifier))
        .collect();
    let first_shown = usize::from(window.len() > SHOWN_CHECKPOINTS);
    let mut rows = Vec::with_capacity(window.len());
    for i in (first_shown..window.len()).rev() {
        let consistency = match i.checked_sub(1).and_then(|p| window.get(p)) {
            None => Consistency::FirstShown,
            Some(previous) => consistent(store, previous, &window[i])?,
        };
        rows.push(Row {
            status: window[i].clone(),
            consistency,
        });
    }
    let latest = match window.last() {
        Some(cp) => {
            let matches = match cp.verified_root() {
                Some(root) => audit::check_root(store, cp.size, root).map_err(ApiError::from)?,
                None => Err("its signature does not verify, so its root proves nothing".to_owned()),
            };
            Some((cp.clone(), matches))
        }
        None => None,
    };
    Ok(Overview {
        ledger_size,
        latest,
        rows,
        older: first_shown == 1,
    })
}

fn consistent(
    store: &dyn Store,
    previous: &CheckpointStatus,
    this: &CheckpointStatus,
) -> Result<Consistency, PageError> {
    let (Some(old), Some(new)) = (previous.verified_root(), this.verified_root()) else {
        let whose = if this.signature.is_err() {
            "this checkpoint's"
        } else {
            "the previous checkpoint's"
        };
        return Ok(Consistency::No(format!(
            "{whose} signature does not verify"
        )));
    };
    Ok(
        match audit::check_consistency(store, (previous.size, old), (this.size, new))
            .map_err(ApiError::from)?
        {
            Ok(()) => Consistency::Yes,
            Err(why) => Consistency::No(why),
        },
    )
}

fn hex_root(status: &CheckpointStatus) -> Option<String> {
    status.root.map(hex::encode)
}

fn render_page(viewer: &Viewer, o: &Overview, jobs: &[Job]) -> Markup {
    html! {
        h2 { "Latest checkpoint" }
        @match &o.latest {
            None => p role="status" {
                "No checkpoint has been signed yet. The ledger holds " (o.ledger_size)
                " records. A checkpoint is signed by " code { "modelgate audit checkpoint" }
                " or automatically after decisions when the server is configured to."
            },
            Some((cp, root)) => {
                dl.facts {
                    dt { "Size" }
                    dd { (cp.size) " records" }
                    dt { "Signature" }
                    dd { (signature(cp)) }
                    dt { "Root" }
                    dd {
                        @match root {
                            Ok(()) => span.ok { "Matches the ledger's own root of its first " (cp.size) " records." },
                            Err(why) => span.bad { "Does not match the ledger: " (why) "." },
                        }
                        @if let Some(hex) = hex_root(cp) {
                            " " code.mono { (hex) }
                        }
                    }
                    dt { "Ledger size now" }
                    dd {
                        (o.ledger_size) " records"
                        @if o.ledger_size > cp.size {
                            " (" (o.ledger_size - cp.size) " not yet covered by a checkpoint)"
                        } @else {
                            " (all covered)"
                        }
                    }
                }
                pre { (cp.note) }
            }
        }
        h2 { "Checkpoints" }
        @if o.rows.is_empty() {
            p role="status" { "No checkpoints are stored." }
        } @else {
            @if o.older {
                p.small { "The latest " (o.rows.len()) " stored checkpoints, newest first; \"Verify now\" checks every one." }
            }
            table {
                (table_head("Checkpoints", &["#Size", "Signature", "Root", "Consistent with the previous"]))
                tbody {
                    @for row in &o.rows {
                        tr {
                            td.num { (row.status.size) }
                            td { (signature(&row.status)) }
                            td {
                                @match hex_root(&row.status) {
                                    Some(hex) => code.mono title=(hex) { (short(&hex)) },
                                    None => span.bad { "unreadable" },
                                }
                            }
                            td {
                                @match &row.consistency {
                                    Consistency::FirstShown => "first shown",
                                    Consistency::Yes => span.ok { "yes" },
                                    Consistency::No(why) => span.bad { "NO: " (why) },
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Verify the whole ledger" }
        p {
            "Recomputes every record's hash, the chain, the Merkle tree and every stored checkpoint, as "
            code { "modelgate audit verify" } " does. It reads the whole ledger and runs in the background."
        }
        form method="post" action="/console/ledger/verify" {
            input type="hidden" name="csrf" value=(viewer.csrf);
            button type="submit" { "Verify now" }
        }
        @if !jobs.is_empty() {
            h3 { "Recent runs" }
            ul {
                @for job in jobs {
                    li {
                        a href=(format!("/console/ledger/verify/{}", job.id)) {
                            "Run " (job.id) ", started " (rfc3339(job.started_at))
                        }
                        ": " (job_summary(job))
                    }
                }
            }
        }
    }
}

fn signature(cp: &CheckpointStatus) -> Markup {
    html! {
        @match &cp.signature {
            Ok(()) => span.ok { "verified" },
            Err(why) => span.bad title=(why) { "does NOT verify: " (why) },
        }
    }
}

fn job_summary(job: &Job) -> &'static str {
    match job.outcome {
        None => "running",
        Some(Outcome::Passed { .. }) => "passed",
        Some(Outcome::Failed { .. }) => "failed",
        Some(Outcome::Error) => "could not run",
    }
}

/// The "verify now" form.
#[derive(Debug, Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/ledger/verify`: starts a verification run (or finds the running one) and
/// sends the browser to its status page.
pub async fn start_verify(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    body: Body,
) -> Result<Response, PageError> {
    let form: VerifyForm = read_form(body).await?;
    viewer.check_csrf(&form.csrf)?;
    let (id, new) = state.console.verify.begin(&viewer.name, state.clock.now());
    if new {
        let guard = Unfinished {
            state: Arc::clone(&state),
            id,
        };
        let spawned = std::thread::Builder::new()
            .name(format!("console-verify-{id}"))
            .spawn(move || {
                let outcome = run(&guard.state, id);
                guard.state.console.verify.finish(id, outcome);
            });
        if let Err(e) = spawned {
            // The guard went down with the closure and marked the run as not carried out.
            tracing::error!(error = %e, "cannot start the ledger verification");
        }
    }
    Ok(redirect(&format!("/console/ledger/verify/{id}")))
}

/// One verification run, on its own thread and read connection.
fn run(state: &AppState, id: u64) -> Outcome {
    let jobs = &state.console.verify;
    let verifier = match state.ws.note_verifier() {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "ledger verification: no note key");
            return Outcome::Error;
        }
    };
    let store = match state.ws.read_store() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "ledger verification: cannot open the ledger");
            return Outcome::Error;
        }
    };
    let mut progress = |done, total| jobs.progress(id, done, total);
    match verify_store_against_with_progress(&*store, &verifier, &[], &mut progress) {
        Ok(report) => {
            let checkpoints = report.stored_checkpoints.len();
            match report.failure {
                None => Outcome::Passed {
                    records: report.size,
                    checkpoints,
                },
                Some(failure) => Outcome::Failed {
                    failure: failure.to_string(),
                    records: report.size,
                    checkpoints,
                },
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "ledger verification could not be carried out");
            Outcome::Error
        }
    }
}

/// `GET /console/ledger/verify/{id}`: a run's progress (the page refreshes itself every second
/// while it runs), then its outcome.
pub async fn verify_status(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    ApiPath(id): ApiPath<u64>,
) -> Result<Markup, PageError> {
    let job = state.console.verify.get(id).ok_or_else(|| {
        PageError::not_found(format!(
            "There is no verification run {id}: this server keeps the running one and the last {KEPT_JOBS} finished ones."
        ))
    })?;
    Ok(layout(
        &viewer,
        Section::Ledger,
        "Ledger verification",
        render_status(&job),
    ))
}

fn render_status(job: &Job) -> Markup {
    html! {
        p.small { "Run " (job.id) ", started " (rfc3339(job.started_at)) " by " (job.by) "." }
        @match (&job.outcome, job.elapsed) {
            (None, _) => {
                // The layout has no way to add to <head>; browsers honour the refresh here too.
                meta http-equiv="refresh" content="1";
                @match job.total {
                    Some(total) => {
                        label for="verify-progress" { "Records verified" }
                        progress.progress id="verify-progress" max=(total.max(1)) value=(job.done.min(total)) {
                            (job.done) " of " (total) " records"
                        }
                        p role="status" { "Verifying: " (job.done) " of " (total) " records." }
                    }
                    None => {
                        label for="verify-progress" { "Records verified" }
                        progress.progress id="verify-progress" { "starting" }
                        p role="status" { "Verifying: starting." }
                    }
                }
                p.small { "This page refreshes itself every second until the run ends." }
            }
            (Some(Outcome::Passed { records, checkpoints }), elapsed) => {
                p.notice role="status" {
                    "Verification passed: " (records) " records verified, " (checkpoints)
                    " stored checkpoints checked, in " (duration(elapsed)) ". No problem found."
                }
            }
            (Some(Outcome::Failed { failure, records, checkpoints }), elapsed) => {
                p.error role="alert" {
                    "Verification failed: " (failure) ". " (records) " records verified before it, "
                    (checkpoints) " stored checkpoints checked, in " (duration(elapsed)) "."
                }
            }
            (Some(Outcome::Error), elapsed) => {
                p.error role="alert" {
                    "Verification could not be carried out (after " (duration(elapsed))
                    "): the ledger or the engine's note key could not be read. The server log has the cause."
                }
            }
        }
        p { a href="/console/ledger" { "Back to the ledger" } }
    }
}

/// `1.25 s`, `850 ms`, `3 min 4 s`.
fn duration(d: Option<Duration>) -> String {
    let d = d.unwrap_or_default();
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_spaced() {
        let jobs = VerifyJobs::default();
        let now = OffsetDateTime::UNIX_EPOCH;
        let (first, _) = jobs.begin("a", now);
        jobs.finish(first, Outcome::Error);
        assert_eq!(
            jobs.begin("b", now),
            (first, false),
            "too soon: the last run is shown"
        );
        let jobs = VerifyJobs::default();
        jobs.space_runs(Duration::ZERO);
        let (first, _) = jobs.begin("a", now);
        jobs.finish(first, Outcome::Error);
        assert_eq!(jobs.begin("b", now), (first + 1, true));
    }

    #[test]
    fn one_run_at_a_time_and_only_the_last_finished_ones_are_kept() {
        let jobs = VerifyJobs::default();
        jobs.space_runs(Duration::ZERO);
        let now = OffsetDateTime::UNIX_EPOCH;
        let (first, new) = jobs.begin("a", now);
        assert!(new);
        assert_eq!(jobs.begin("b", now), (first, false));
        jobs.progress(first, 5, 10);
        let job = jobs.get(first).unwrap();
        assert_eq!((job.done, job.total), (5, Some(10)));
        jobs.finish(first, Outcome::Error);
        for _ in 0..KEPT_JOBS + 3 {
            let (id, new) = jobs.begin("a", now);
            assert!(new);
            jobs.finish(id, Outcome::Error);
            // A second finish does not change the first outcome.
            jobs.finish(
                id,
                Outcome::Passed {
                    records: 1,
                    checkpoints: 0,
                },
            );
        }
        let kept = jobs.recent();
        assert_eq!(kept.len(), KEPT_JOBS);
        assert!(jobs.get(first).is_none());
        assert!(kept
            .iter()
            .all(|j| matches!(j.outcome, Some(Outcome::Error))));
        assert_eq!(kept[0].id, KEPT_JOBS as u64 + 4);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Some(Duration::from_millis(850))), "850 ms");
        assert_eq!(duration(Some(Duration::from_millis(1250))), "1.25 s");
        assert_eq!(duration(Some(Duration::from_secs(184))), "3 min 4 s");
    }
}
