//! The inventory report at scale: 10,000 models, 100,000 versions, 1,000,000 ledger records.
//!
//! The ledger is a real workspace (the test `Fixture`) filled with decision records made from
//! real decisions (tiers 0/1/2, allow and deny) whose model, version, environment and time are
//! varied, each version with its own stored policy input (what the report reads its facts
//! from), plus one admission observation per version. Times spread over twelve weeks up to the
//! report's `as_of`. The report's cost is split into reading (fold + one policy input per
//! version), computing (population, KPIs, findings, expiries) and rendering (JSON, HTML).
//!
//! Run: `cargo bench --bench inventory` (prints Markdown for docs/benchmarks.md).
//! `MODELGATE_BENCH_RECORDS=100000` builds a tenth of it (1,000 models, 10,000 versions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/figures.rs"]
mod figures;
#[path = "support/inventory_fill.rs"]
mod inventory_fill;

/// The allocator the `modelgate` binary uses (src/main.rs), so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use inventory_fill::{append_versions, templates, PER_VERSION, VERSIONS};
use modelgate::clock::rfc3339;
use modelgate::engine::load_trust;
use modelgate::inventory::{build_report, load, load_with_snapshot, render, ReportOptions};

/// Timed repetitions of the report.
const RUNS: usize = 3;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median timings of the JSON report: read (fold, policy inputs, trust), compute, JSON, HTML.
struct Timings {
    read: Duration,
    compute: Duration,
    json: Duration,
    html: Duration,
}

/// Times the report `RUNS` times, through the snapshot at `snapshot` when given; `before`
/// runs (untimed) before each run.
fn time_report(
    f: &Fixture,
    options: &ReportOptions,
    snapshot: Option<&Path>,
    before: &mut dyn FnMut(),
) -> (Timings, (modelgate::inventory::Report, usize, usize)) {
    let as_of = rfc3339(options.as_of);
    let (mut read, mut compute, mut json, mut html) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..RUNS {
        before();
        let t = Instant::now();
        let inv = load_with_snapshot(&f.store, Some(&as_of), snapshot, &mut |_, _| {}).unwrap();
        let trust = load_trust(&f.store).unwrap();
        read.push(t.elapsed());
        let t = Instant::now();
        let report = build_report(&inv, &trust, options);
        compute.push(t.elapsed());
        let t = Instant::now();
        let bytes = serde_json::to_vec_pretty(&report).unwrap();
        json.push(t.elapsed());
        let t = Instant::now();
        let page = render::html(&report);
        html.push(t.elapsed());
        last = Some((report, bytes.len(), page.len()));
    }
    let timings = Timings {
        read: median(read),
        compute: median(compute),
        json: median(json),
        html: median(html),
    };
    (timings, last.unwrap())
}

impl Timings {
    fn end_to_end(&self) -> f64 {
        ms(self.read + self.compute + self.json)
    }
}

fn main() {
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
    let started = Instant::now();
    let mut i = 0u64;
    let time_of = |i: u64| now() + time::Duration::seconds_f64(step * i as f64);
    append_versions(&mut f, &templates, models, (0, versions), &mut i, &time_of);
    let built = started.elapsed();
    let size = f.size();
    let db = std::fs::metadata(f.ws.ledger_path()).map_or(0, |m| m.len());

    let options = ReportOptions::new(as_of, f.ws.production_environments());
    let snapshot = f.ws.inventory_snapshot_path();
    let (cold, (report, json_bytes, html_bytes)) = time_report(&f, &options, None, &mut || {});
    let t = Instant::now();
    load_with_snapshot(
        &f.store,
        Some(&rfc3339(as_of)),
        Some(&snapshot),
        &mut |_, _| {},
    )
    .unwrap();
    let saving = t.elapsed();
    let snapshot_bytes = std::fs::metadata(&snapshot).map_or(0, |m| m.len());
    let (warm, (warm_report, _, _)) = time_report(&f, &options, Some(&snapshot), &mut || {});
    assert_eq!(
        serde_json::to_vec_pretty(&warm_report).unwrap(),
        serde_json::to_vec_pretty(&report).unwrap()
    );
    // 1,000 records appended after the snapshot (100 new versions, within the report window);
    // each run starts from the snapshot taken before them.
    let kept = snapshot.with_extension("bench-copy");
    std::fs::copy(&snapshot, &kept).unwrap();
    let appended_from = f.size();
    let late = |i: u64| as_of - time::Duration::seconds_f64(step * (records + 1_000 - i) as f64);
    let mut j = records;
    append_versions(
        &mut f,
        &templates,
        models,
        (versions, versions + 100),
        &mut j,
        &late,
    );
    let appended = f.size() - appended_from;
    let (tail, (tail_report, _, _)) = time_report(&f, &options, Some(&snapshot), &mut || {
        std::fs::copy(&kept, &snapshot).unwrap();
    });
    let cold_tail = load(&f.store, Some(&rfc3339(as_of)), &mut |_, _| {}).unwrap();
    let trust = load_trust(&f.store).unwrap();
    assert_eq!(
        serde_json::to_vec_pretty(&build_report(&cold_tail, &trust, &options)).unwrap(),
        serde_json::to_vec_pretty(&tail_report).unwrap()
    );

    println!("Ledger: {size} records ({models} models, {versions} versions, {:.0} MB), built in {:.1} s.\n", db as f64 / 1e6, built.as_secs_f64());
    println!("Report: population {}, {} findings, {} expiring; JSON {json_bytes} bytes, HTML {html_bytes} bytes.\n", report.population, report.findings.len(), report.expiring.len());
    println!(
        "Snapshot: {:.0} MB, written after a cold fold in {:.0} ms (fold + write).\n",
        snapshot_bytes as f64 / 1e6,
        ms(saving)
    );
    println!("| part, median ms ({RUNS} runs) | cold (no snapshot) | warm (snapshot, nothing appended) | warm ({appended} records appended) |");
    println!("|---|---|---|---|");
    let row = |name: &str, pick: &dyn Fn(&Timings) -> Duration| {
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} |",
            ms(pick(&cold)),
            ms(pick(&warm)),
            ms(pick(&tail))
        );
    };
    row(
        "read: fold + policy inputs + trust (+ snapshot read/write)",
        &|t| t.read,
    );
    row(
        "compute: population, KPIs per tier, findings, expiries",
        &|t| t.compute,
    );
    row("render JSON", &|t| t.json);
    row("render HTML (tables + SVG)", &|t| t.html);
    figures::figure("inventory.records", size as f64);
    figures::figure("inventory.cold_ms", cold.end_to_end());
    figures::figure("inventory.warm_ms", warm.end_to_end());
    println!(
        "| **JSON report end to end** | **{:.0}** | **{:.0}** | **{:.0}** |",
        cold.end_to_end(),
        warm.end_to_end(),
        tail.end_to_end()
    );
    std::fs::remove_file(&kept).ok();
}
