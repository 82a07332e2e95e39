//! The web console's pages on a 1,000,000-record ledger, rendered by the server's own router
//! (in process, no socket): the time from the request entering the router to the last byte of
//! the page, per page, cold (the first request after start, filling the page caches) and warm.
//!
//! The ledger is the inventory benchmark's (`benches/support/inventory_fill.rs`: 10,000 models
//! of 10 versions, nine decisions and one observation per version, times spread over twelve
//! weeks), with a signed checkpoint after every 100,000 records and one kept inventory report at
//! the end, as a workspace with `[[reports]]` would have.
//!
//! Run: `cargo bench --bench console` (prints Markdown for docs/benchmarks.md; about 3 minutes).
//! `MODELGATE_BENCH_RECORDS=100000` builds a tenth of it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/inventory_fill.rs"]
mod inventory_fill;

/// The allocator the `modelgate` binary uses (src/main.rs), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use common::*;
use inventory_fill::{append_versions, templates, PER_VERSION, VERSIONS};
use modelgate::clock::FixedClock;
use modelgate::engine::audit;
use modelgate::inventory::{scheduled, ReportOptions};
use modelgate::ledger::{parse_record, RecordKind, Store};
use modelgate::server::auth::{ApiRole, TokenFile};
use modelgate::server::router;
use modelgate::server::state::AppState;
use modelgate::workspace::Workspace;
use tower::ServiceExt as _;

/// Warm renders timed per page.
const RUNS: usize = 20;
/// Records between signed checkpoints while filling.
const CHECKPOINT_EVERY: u64 = 100_000;

const SESSION: &str = "__Host-modelgate-session";
const LOGIN: &str = "__Host-modelgate-login";

struct Answer {
    status: u16,
    cookies: Vec<String>,
    body: Vec<u8>,
}

async fn send(
    state: &Arc<AppState>,
    method: &str,
    path: &str,
    cookie: &str,
    form: Option<String>,
) -> (Answer, Duration) {
    let mut req = Request::builder().method(method).uri(path);
    if !cookie.is_empty() {
        req = req.header("cookie", cookie);
    }
    let req = match form {
        Some(f) => req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(f))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let app = router(Arc::clone(state));
    let t = Instant::now();
    let response = app.oneshot(req).await.unwrap();
    let status = response.status().as_u16();
    let cookies = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (
        Answer {
            status,
            cookies,
            body,
        },
        t.elapsed(),
    )
}

fn cookie_value(cookies: &[String], name: &str) -> String {
    cookies
        .iter()
        .find_map(|c| {
            c.split(';')
                .next()?
                .strip_prefix(&format!("{name}="))
                .map(str::to_owned)
        })
        .unwrap()
}

fn hidden(body: &[u8], name: &str) -> String {
    let text = String::from_utf8_lossy(body);
    let marker = format!("name=\"{name}\" value=\"");
    let at = text.find(&marker).unwrap() + marker.len();
    text[at..].split('"').next().unwrap().to_owned()
}

async fn sign_in(state: &Arc<AppState>, token: &str) -> String {
    let (form, _) = send(state, "GET", "/console/login", "", None).await;
    let pairing = cookie_value(&form.cookies, LOGIN);
    let fields = serde_urlencoded::to_string([
        ("token", token),
        ("login_csrf", &hidden(&form.body, "login_csrf")),
        ("next", "/console"),
    ])
    .unwrap();
    let (answer, _) = send(
        state,
        "POST",
        "/console/login",
        &format!("{LOGIN}={pairing}"),
        Some(fields),
    )
    .await;
    assert_eq!(answer.status, 303);
    format!("{SESSION}={}", cookie_value(&answer.cookies, SESSION))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A denied decision near the end of the ledger.
fn recent_deny(store: &dyn Store) -> u64 {
    let size = store.size().unwrap();
    for r in store
        .records(size - 2_000, 2_000)
        .unwrap()
        .into_iter()
        .rev()
    {
        if r.kind == RecordKind::Decision {
            let record = parse_record(&r.bytes).unwrap();
            if record.body["decision"] == "deny" {
                return r.index;
            }
        }
    }
    panic!("no deny in the last 2,000 records");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let records: u64 = std::env::var("MODELGATE_BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let versions = records / PER_VERSION;
    let models = versions / VERSIONS;
    let mut f = Fixture::new();
    let templates = templates(&mut f);
    let as_of = now() + time::Duration::days(84);
    let step = 84.0 * 86_400.0 / records as f64;
    let time_of = |i: u64| now() + time::Duration::seconds_f64(step * i as f64);
    let started = Instant::now();
    let (mut i, mut v) = (0u64, 0u64);
    let chunk = (CHECKPOINT_EVERY / PER_VERSION).max(1);
    let (signer, origin) = (f.ws.note_signer().unwrap(), f.ws.config().origin.clone());
    while v < versions {
        let to = (v + chunk).min(versions);
        append_versions(&mut f, &templates, models, (v, to), &mut i, &time_of);
        audit::checkpoint(&mut f.store, &signer, &origin).unwrap();
        v = to;
    }
    let built = started.elapsed();
    let t = Instant::now();
    let report =
        f.ws.inventory_report(
            &ReportOptions::new(as_of, f.ws.production_environments()),
            &mut |_, _| {},
        )
        .unwrap();
    scheduled::generate(&mut f.store, "weekly-governance", &report, as_of).unwrap();
    let reported = t.elapsed();
    let size = f.size();
    let checkpoints = f.store.checkpoints().unwrap().len();
    let deny = recent_deny(&f.store);

    let mut tokens = TokenFile::load(&f.ws.tokens_path()).unwrap();
    let auditor = tokens.create("bench-auditor", ApiRole::Auditor).unwrap();
    tokens.save(&f.ws.tokens_path()).unwrap();
    let ws = Workspace::open(f.dir.path()).unwrap();
    let state = Arc::new(AppState::open(ws, Arc::new(FixedClock(as_of))).unwrap());
    // As `modelgate serve` does: the console's inventory starts loading with the server.
    let server_started = Instant::now();
    state
        .console
        .models
        .start_loading(&state.ws, Arc::clone(&state.clock));
    let cookie = sign_in(&state, &auditor).await;

    let model = format!("model-{:05}", 42 % models.max(1));
    let day = rfc3339_day(now() + time::Duration::days(40));
    let pages: Vec<(&str, String)> = vec![
        ("Overview", "/console".to_owned()),
        ("Decisions, newest 50", "/console/decisions".to_owned()),
        (
            "Decisions, denies",
            "/console/decisions?outcome=deny".to_owned(),
        ),
        (
            "Decisions, one model",
            format!("/console/decisions?model={model}"),
        ),
        (
            "Decisions, staging allows",
            "/console/decisions?environment=staging&outcome=allow".to_owned(),
        ),
        (
            "Decisions, one day six weeks back",
            format!("/console/decisions?since={day}&until={day}"),
        ),
        (
            "Decision page (reasons, proof)",
            format!("/console/decisions/{deny}"),
        ),
        (
            "Decision page with replay",
            format!("/console/decisions/{deny}?replay=1"),
        ),
        ("Models, first page", "/console/models".to_owned()),
        (
            "Models, filtered",
            "/console/models?q=model-0004".to_owned(),
        ),
        ("Models, page 50", "/console/models?page=50".to_owned()),
        ("Model page", format!("/console/models/{model}")),
        (
            "Ledger (20 checkpoints, consistency)",
            "/console/ledger".to_owned(),
        ),
        ("Reports", "/console/reports".to_owned()),
    ];
    println!(
        "Ledger: {size} records ({models} models, {versions} versions), {checkpoints} checkpoints, one kept report; built in {:.1} s, report kept in {:.1} s.\n",
        built.as_secs_f64(),
        reported.as_secs_f64()
    );
    println!("| page | bytes | first after start ms | p50 ms | p90 ms | max ms ({RUNS} runs) |");
    println!("|---|---|---|---|---|---|");
    let mut waited_for_inventory = None;
    for (name, path) in &pages {
        // The first request after start. A page that answers "loading" (the inventory's first
        // load, started with the server, is not done) is asked again, as the page itself does;
        // the time counted is then from the first ask to the rendered page.
        let asked = Instant::now();
        let (first, cold) = loop {
            let (answer, took) = send(&state, "GET", path, &cookie, None).await;
            let text = String::from_utf8_lossy(&answer.body).into_owned();
            assert_eq!(answer.status, 200, "{path}: {text}");
            if !text.contains("The inventory is being read") {
                let waited = waited_for_inventory.is_some_and(|(p, _)| p == path);
                break (answer, if waited { asked.elapsed() } else { took });
            }
            waited_for_inventory.get_or_insert((path, server_started.elapsed()));
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut warm = Vec::new();
        for _ in 0..RUNS {
            let (answer, took) = send(&state, "GET", path, &cookie, None).await;
            assert_eq!(answer.status, 200);
            warm.push(took);
        }
        warm.sort();
        println!(
            "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            first.body.len(),
            ms(cold),
            ms(pct(&warm, 0.5)),
            ms(pct(&warm, 0.9)),
            ms(*warm.last().unwrap())
        );
    }
    match waited_for_inventory {
        Some((path, at)) => println!(
            "\n`{path}` was asked {:.1} s after the server started, while the console's inventory was still loading (it answered with the progress page until then; its first time above includes the wait).",
            at.as_secs_f64()
        ),
        None => println!("\nThe console's inventory (loaded in the background from server start) was ready before any page needed it."),
    }
    let (pack, took) = send(
        &state,
        "GET",
        &format!("/console/models/{model}/evidence"),
        &cookie,
        None,
    )
    .await;
    assert_eq!(pack.status, 200);
    println!(
        "\nEvidence pack of `{model}` (90 decisions) through the console: {} bytes in {:.0} ms.",
        pack.body.len(),
        ms(took)
    );
    // "Verify now": the whole ledger in the background, polled as the page does.
    let csrf = {
        let (overview, _) = send(&state, "GET", "/console", &cookie, None).await;
        hidden(&overview.body, "csrf")
    };
    let t = Instant::now();
    let (started, _) = send(
        &state,
        "POST",
        "/console/ledger/verify",
        &cookie,
        Some(serde_urlencoded::to_string([("csrf", csrf.as_str())]).unwrap()),
    )
    .await;
    assert_eq!(started.status, 303);
    let location = started_location(&state, &cookie).await;
    loop {
        let (status, _) = send(&state, "GET", &location, &cookie, None).await;
        let text = String::from_utf8_lossy(&status.body);
        if text.contains("Verification passed") {
            break;
        }
        assert!(!text.contains("Verification failed"), "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "\"Verify now\" of {size} records and {checkpoints} checkpoints: passed in {:.1} s.",
        t.elapsed().as_secs_f64()
    );
}

/// The running verification's page: the second POST redirects to the run in progress.
async fn started_location(state: &Arc<AppState>, cookie: &str) -> String {
    let (overview, _) = send(state, "GET", "/console/ledger", cookie, None).await;
    let csrf = hidden(&overview.body, "csrf");
    let req = Request::builder()
        .method("POST")
        .uri("/console/ledger/verify")
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(
            serde_urlencoded::to_string([("csrf", csrf.as_str())]).unwrap(),
        ))
        .unwrap();
    let response = router(Arc::clone(state)).oneshot(req).await.unwrap();
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn rfc3339_day(t: time::OffsetDateTime) -> String {
    modelgate::clock::rfc3339(t)[..10].to_owned()
}
