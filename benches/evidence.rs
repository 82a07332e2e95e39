//! Evidence packs at scale: the pack of one model with 1,000 decisions, built and verified from
//! a 1,000,000-record ledger and, in the same run, from a 10,000-record ledger holding the same
//! 1,000 decisions, so that the ratio of the two build times shows what the ledger size costs.
//!
//! Each ledger is a real workspace (the test `Fixture`: SQLite ledger, reference bundle, five
//! trusted keys). The target model's decisions are real: each is a signed request decided by
//! `Engine::decide`, so its policy input, attestations and bundle are in the store. They are
//! spread evenly across the ledger between filler records, decision records about 2,000 other
//! models appended through `SqliteStore::append` in batches, as the ledger bench makes them.
//! Each ledger has ten signed checkpoints, the last at its final size, so a build never signs
//! one; in the first two the engine signs none of its own. A third ledger, of the large size, keeps
//! the engine's automatic checkpoints (workspace default: once 100 records are uncovered), so
//! each target decision is first covered by a checkpoint of its own and the pack carries one
//! earlier checkpoint and one consistency proof per decision, as on a busy ledger.
//!
//! Build is what `modelgate evidence build` does before it writes the file:
//! `Workspace::evidence_pack` then `Pack::to_tar_gz`; verify is `verify_pack` over those bytes.
//! The builds of the three ledgers alternate, [`ROUNDS`] times, so all see the same machine;
//! then [`ROUNDS`] more builds of each through a store that times its reads show where the
//! time goes.
//!
//! Run: `cargo bench --bench evidence` (prints Markdown tables for docs/benchmarks.md).
//! `MODELGATE_BENCH_RECORDS=100000` makes the large ledger smaller for a quick look.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/filler.rs"]
mod filler;
#[path = "support/timed_store.rs"]
mod timed_store;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use filler::{decision_draft, decision_templates};
use modelgate::engine::{audit, Engine};
use modelgate::evidence::build::{PackSigner, GENERATOR};
use modelgate::evidence::contents::Contents;
use modelgate::evidence::derive::{derived_files, Header};
use modelgate::evidence::manifest::{CheckpointRef, Manifest};
use modelgate::evidence::{build_pack, covering_checkpoint, paths, verify_pack, Pack, Scope};
use modelgate::ledger::{open_checkpoint, Store};
use modelgate::policy::PolicyBundle;
use serde_json::Value;
use timed_store::TimedStore;

/// Size of the large ledger (records), unless `MODELGATE_BENCH_RECORDS` says otherwise.
const RECORDS: u64 = 1_000_000;
/// Size of the small ledger (records).
const SMALL_RECORDS: u64 = 10_000;
/// Decisions about the target model in each ledger.
const DECISIONS: u64 = 1_000;
/// The model the pack is about; no filler record names it.
const TARGET: &str = "credit-limit-scorer";
/// Most filler records per `append` call.
const BUILD_BATCH: u64 = 10_000;
/// Signed checkpoints per ledger, evenly spaced, the last at its final size.
const CHECKPOINTS: u64 = 10;
/// Timed builds (and verifications) of each pack.
const ROUNDS: usize = 5;
/// Goal: the build at the large size takes at most this long (median).
const GOAL_BUILD: Duration = Duration::from_secs(1);
/// Goal: the build at the large size takes at most this many times the build at the small.
const GOAL_RATIO: f64 = 1.5;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `(median, min, max)`.
fn spread(samples: &[Duration]) -> (Duration, Duration, Duration) {
    let mut s = samples.to_vec();
    s.sort();
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

/// The target model's requests: decision `k` is about version `1.k/100.k%100`, tier `k mod 3`,
/// complete (allowed) for even `k` and without its approvals (denied) for odd `k`.
fn target_requests() -> Vec<(Vec<u8>, bool)> {
    (0..DECISIONS)
        .map(|k| {
            let version = format!("1.{}.{}", k / 100, k % 100);
            let (md, approvals) = complete(TARGET, &version, (k % 3) as i64);
            let allow = k % 2 == 0;
            let envelopes = if allow {
                with(&md, &approvals)
            } else {
                vec![md]
            };
            let body = request(TARGET, &version, "production", &envelopes);
            (serde_json::to_vec(&body).unwrap(), allow)
        })
        .collect()
}

/// How the target decisions are checkpointed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Checkpointing {
    /// Only the ten evenly spaced checkpoints: the engine signs none of its own.
    Tenths,
    /// Also the engine's automatic checkpoints with the workspace defaults (once 100 records
    /// are uncovered): here one right after each target decision, as a busy ledger has them.
    EngineDefault,
}

/// A ledger and how it was made.
struct Ledger {
    f: Fixture,
    label: String,
    records: u64,
    took: Duration,
    deciding: Duration,
    checkpoints: usize,
}

/// Appends filler until the ledger holds `to` records, signing a checkpoint at every multiple
/// of `every`.
fn fill_to(f: &mut Fixture, templates: &[Value], to: u64, every: u64) {
    let signer = f.ws.note_signer().unwrap();
    let origin = f.ws.config().origin.clone();
    let mut size = f.size();
    while size < to {
        let end = to
            .min((size / BUILD_BATCH + 1) * BUILD_BATCH)
            .min((size / every + 1) * every);
        let drafts: Vec<_> = (size..end).map(|i| decision_draft(templates, i)).collect();
        f.store.append(&drafts).unwrap();
        size = end;
        if size.is_multiple_of(every) {
            audit::checkpoint(&mut f.store, &signer, &origin).unwrap();
        }
    }
}

/// A ledger of `records` records whose target decisions sit at the middle of each of
/// [`DECISIONS`] equal stretches, filler around them.
fn make_ledger(
    templates: &[Value],
    requests: &[(Vec<u8>, bool)],
    records: u64,
    checkpointing: Checkpointing,
) -> Ledger {
    let mut f = Fixture::new();
    if checkpointing == Checkpointing::Tenths {
        let bundle = PolicyBundle::load(&f.ws.policy_dir()).unwrap();
        f.engine = Engine::new(bundle, f.ws.engine_config(), f.clock.clone()).unwrap();
    }
    let stride = records / DECISIONS;
    let every = records / CHECKPOINTS;
    let signer = f.ws.note_signer().unwrap();
    let origin = f.ws.config().origin.clone();
    let start = Instant::now();
    let mut deciding = Duration::ZERO;
    for (k, (bytes, allow)) in requests.iter().enumerate() {
        fill_to(&mut f, templates, k as u64 * stride + stride / 2, every);
        let t = Instant::now();
        let d = f.decide_bytes(bytes).unwrap();
        deciding += t.elapsed();
        assert_eq!(d.is_allow(), *allow, "decision {k}: {d:?}");
        assert_eq!(d.body.request.model, TARGET);
        if (d.ledger.index + 1).is_multiple_of(every) {
            audit::checkpoint(&mut f.store, &signer, &origin).unwrap();
        }
    }
    fill_to(&mut f, templates, records, every);
    if f.store.latest_checkpoint().unwrap().map(|(s, _)| s) != Some(f.size()) {
        audit::checkpoint(&mut f.store, &signer, &origin).unwrap();
    }
    let label = match checkpointing {
        Checkpointing::Tenths => format!("{}", f.size()),
        Checkpointing::EngineDefault => format!("{}, automatic checkpoints", f.size()),
    };
    Ledger {
        label,
        records: f.size(),
        took: start.elapsed(),
        deciding,
        checkpoints: f.store.checkpoints().unwrap().len(),
        f,
    }
}

/// One build as `modelgate evidence build` makes it: `(pack, archive bytes, build_pack time,
/// archive time)`.
fn build(l: &Ledger, scope: &Scope) -> (Pack, Vec<u8>, Duration, Duration) {
    let t = Instant::now();
    let pack = l.f.ws.evidence_pack(scope).unwrap();
    let gathered = t.elapsed();
    let t = Instant::now();
    let bytes = pack.to_tar_gz().unwrap();
    (pack, bytes, gathered, t.elapsed())
}

/// Which timings of a [`Runs`] a table row shows.
type Pick = fn(&Runs) -> &Vec<Duration>;

/// Timings of one ledger's pack.
#[derive(Default)]
struct Runs {
    gather: Vec<Duration>,
    archive: Vec<Duration>,
    total: Vec<Duration>,
    verify: Vec<Duration>,
    pack: Option<(Pack, Vec<u8>)>,
}

fn main() {
    let records: u64 = std::env::var("MODELGATE_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RECORDS);
    assert!(
        records >= SMALL_RECORDS,
        "MODELGATE_BENCH_RECORDS must be at least {SMALL_RECORDS}"
    );
    let templates = decision_templates(&mut Fixture::new());
    let requests = target_requests();
    let scope = Scope::new(TARGET, None, None, None).unwrap();

    println!("## Building the ledgers\n");
    println!("| ledger | build s | of which the {DECISIONS} target decisions (`Engine::decide`) s | checkpoints | target decisions every |");
    println!("|---|---|---|---|---|");
    let mut ledgers = Vec::new();
    for (size, checkpointing) in [
        (records, Checkpointing::Tenths),
        (SMALL_RECORDS, Checkpointing::Tenths),
        (records, Checkpointing::EngineDefault),
    ] {
        let l = make_ledger(&templates, &requests, size, checkpointing);
        println!(
            "| {} | {:.1} | {:.1} | {} | {} records |",
            l.label,
            l.took.as_secs_f64(),
            l.deciding.as_secs_f64(),
            l.checkpoints,
            size / DECISIONS
        );
        ledgers.push(l);
    }

    let mut runs: Vec<Runs> = ledgers.iter().map(|_| Runs::default()).collect();
    for _ in 0..ROUNDS {
        for (l, r) in ledgers.iter().zip(runs.iter_mut()) {
            let (pack, bytes, gather, archive) = build(l, &scope);
            r.gather.push(gather);
            r.archive.push(archive);
            r.total.push(gather + archive);
            if let Some((_, first)) = &r.pack {
                assert!(*first == bytes, "two builds from one ledger differ");
            } else {
                r.pack = Some((pack, bytes));
            }
        }
    }
    for _ in 0..ROUNDS {
        for r in runs.iter_mut() {
            let (_, bytes) = r.pack.as_ref().unwrap();
            let t = Instant::now();
            let outcome = verify_pack(bytes, None);
            r.verify.push(t.elapsed());
            assert!(outcome.ok, "{:#?}", outcome.checks);
            assert_eq!(outcome.decisions, DECISIONS as usize);
        }
    }
    refuses_tampering(&runs[0]);

    println!("\n## The pack\n");
    println!("| ledger | decisions in pack | records in pack | files | `.tar.gz` bytes | files' bytes (uncompressed) |");
    println!("|---|---|---|---|---|---|");
    for (l, r) in ledgers.iter().zip(&runs) {
        let (pack, bytes) = r.pack.as_ref().unwrap();
        assert_eq!(pack.decisions, DECISIONS as usize);
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            l.label,
            pack.decisions,
            pack.records,
            pack.files.len(),
            bytes.len(),
            pack.files.values().map(Vec::len).sum::<usize>()
        );
    }

    println!("\n## Build and verify, {ROUNDS} runs each\n");
    println!("| measurement | ledger | n | median ms | min ms | max ms |");
    println!("|---|---|---|---|---|---|");
    let rows: [(&str, Pick); 4] = [
        (
            "**build** (`Workspace::evidence_pack` + `Pack::to_tar_gz`)",
            |r| &r.total,
        ),
        ("of which gathering (`Workspace::evidence_pack`)", |r| {
            &r.gather
        }),
        ("of which the archive (`Pack::to_tar_gz`)", |r| &r.archive),
        ("**verify** (`verify_pack`, key from the pack)", |r| {
            &r.verify
        }),
    ];
    for (name, pick) in rows {
        for (l, r) in ledgers.iter().zip(&runs) {
            let (med, min, max) = spread(pick(r));
            println!(
                "| {name} | {} | {} | {:.1} | {:.1} | {:.1} |",
                l.label,
                pick(r).len(),
                ms(med),
                ms(min),
                ms(max)
            );
        }
    }
    let big = spread(&runs[0].total).0;
    let small = spread(&runs[1].total).0;
    let ratio = big.as_secs_f64() / small.as_secs_f64();
    println!(
        "\nbuild at {} records: median {:.1} ms (goal ≤ {:.0} ms: {}); ratio to {} records: {ratio:.2} (goal ≤ {GOAL_RATIO}: {})",
        ledgers[0].records,
        ms(big),
        ms(GOAL_BUILD),
        if big <= GOAL_BUILD { "met" } else { "not met" },
        ledgers[1].records,
        if ratio <= GOAL_RATIO { "met" } else { "not met" },
    );

    println!("\n## Where build time goes ({ROUNDS} more builds of each, medians)\n");
    let mut profiles: Vec<Vec<Step>> = ledgers.iter().map(|_| Vec::new()).collect();
    for _ in 0..ROUNDS {
        for (l, p) in ledgers.iter().zip(profiles.iter_mut()) {
            let steps = profile(l, &scope);
            if p.is_empty() {
                *p = steps;
            } else {
                for (row, (_, _, took)) in p.iter_mut().zip(steps) {
                    row.2.extend(took);
                }
            }
        }
    }
    print!("| step |");
    for l in &ledgers {
        print!(" {}: calls | items | ms |", l.label);
    }
    println!();
    println!("|---|{}", "---|---|---|".repeat(ledgers.len()));
    for i in 0..profiles[0].len() {
        print!("| {} |", profiles[0][i].0);
        for p in &profiles {
            let (_, counts, took) = &p[i];
            let (calls, items) =
                counts.map_or_else(Default::default, |(c, n)| (c.to_string(), n.to_string()));
            print!(" {calls} | {items} | {:.1} |", ms(spread(took).0));
        }
        println!();
    }
}

/// A step of a build: its name, calls and items (ledger reads only) and its times, one per
/// build.
type Step = (&'static str, Option<(u64, u64)>, Vec<Duration>);

/// One `build_pack` over a [`TimedStore`], split into its ledger reads and the rest, followed
/// by the in-process steps timed again on their own over the built files: `(step, calls, time)`.
fn profile(l: &Ledger, scope: &Scope) -> Vec<Step> {
    let ws = &l.f.ws;
    let key = ws.engine_key().unwrap();
    let origin = ws.config().origin.clone();
    let signer = PackSigner {
        engine_key: &key,
        origin: &origin,
    };
    let store = TimedStore::new(ws.store().unwrap());
    let mut checkpoint_for = |needed: u64| Ok(covering_checkpoint(&store, needed)?.unwrap());
    let t = Instant::now();
    let pack = build_pack(&store, scope, signer, &mut checkpoint_for).unwrap();
    let total = t.elapsed();
    let tally = store.tally();
    let reads: Duration = tally.values().map(|(_, _, d)| *d).sum();
    let mut rows: Vec<_> = [
        timed_store::DECISIONS,
        timed_store::KINDS,
        timed_store::RECORD,
        timed_store::INCLUSION,
        timed_store::CHECKPOINTS,
        timed_store::CONSISTENCY,
        timed_store::BLOBS,
        timed_store::OTHER,
    ]
    .into_iter()
    .map(|g| {
        let (calls, items, took) = tally.get(g).copied().unwrap_or_default();
        (g, Some((calls, items)), took)
    })
    .collect();
    rows.push(("**ledger reads, all**", None, reads));
    rows.push((
        "**in process** (`build_pack` less its ledger reads)",
        None,
        total.saturating_sub(reads),
    ));
    rows.push(("**`build_pack`**", None, total));

    // The in-process steps again, each alone, over the files of the pack just built.
    let mut material: BTreeMap<String, Vec<u8>> = pack.files.clone();
    for derived in [
        paths::MANIFEST,
        paths::MANIFEST_DSSE,
        paths::INVENTORY,
        paths::SUMMARY_MD,
        paths::SUMMARY_HTML,
        paths::TRUST,
    ] {
        material.remove(derived);
    }
    let t = Instant::now();
    let (contents, problems) = Contents::read(&material);
    rows.push((
        "alone: `Contents::read` (re-reads the material: records, inputs, bundles rebuilt)",
        None,
        t.elapsed(),
    ));
    assert!(problems.is_empty(), "{problems:?}");
    let verifier = ws.note_verifier().unwrap();
    let note = String::from_utf8(pack.files[paths::CHECKPOINT].clone()).unwrap();
    let checkpoint = open_checkpoint(&note, &[verifier], Some(&origin)).unwrap();
    let header = Header {
        scope,
        generator: GENERATOR,
        checkpoint: &checkpoint,
    };
    let t = Instant::now();
    let derived = derived_files(header, &contents).unwrap();
    rows.push((
        "alone: `derived_files` (trust listing, inventory, summaries)",
        None,
        t.elapsed(),
    ));
    material.extend(derived);
    let t = Instant::now();
    let manifest = Manifest::new(
        scope,
        GENERATOR,
        CheckpointRef {
            origin: origin.clone(),
            size: checkpoint.size,
        },
        &material,
    );
    std::hint::black_box(manifest.to_bytes().unwrap());
    rows.push((
        "alone: `Manifest::new` + bytes (SHA-256 of every file)",
        None,
        t.elapsed(),
    ));
    let t = Instant::now();
    let bytes = pack.to_tar_gz().unwrap();
    rows.push((
        "after `build_pack`: `Pack::to_tar_gz` (tar, gzip level 6)",
        None,
        t.elapsed(),
    ));
    std::hint::black_box(bytes);
    rows.into_iter()
        .map(|(name, counts, took)| (name, counts, vec![took]))
        .collect()
}

/// A verification that cannot fail would measure nothing: a pack with one record byte changed
/// (and re-archived, the manifest left as signed) must be refused.
fn refuses_tampering(r: &Runs) {
    let (pack, _) = r.pack.as_ref().unwrap();
    let mut bad = pack.clone();
    let (_, bytes) = bad
        .files
        .iter_mut()
        .find(|(path, _)| path.starts_with("records/"))
        .unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    let outcome = verify_pack(&bad.to_tar_gz().unwrap(), None);
    assert!(!outcome.ok, "a tampered pack verified");
}
