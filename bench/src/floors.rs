//! The physical floors, measured in the same run as the figures they bound, and the decision
//! figures set against them.
//!
//! A floor is the bare cost of a step no implementation of the gate can skip: the Ed25519
//! `verify_strict` of each signature, JSON Schema validation of the request and each predicate,
//! one Cedar `is_authorized` over the reference bundle with the request and entities already
//! built, SHA-256 over the record bytes, and a durable SQLite insert of the record. Each is
//! measured here with the crate alone (`ed25519-dalek`, `jsonschema`, `cedar-policy`, `sha2`,
//! `rusqlite`), on the same requests the decision figures use.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use modelgate::ledger::{GroupCommit, GroupOptions};
use sha2::{Digest, Sha256};

use crate::cedar_alone::CedarAlone;
use crate::report::{Figures, Table};
use crate::stats::{num, time_each, Summary};
use crate::workload::{Doc, Validators, Workload};

/// Rounds of the six requests for the in-process figures.
pub const ROUNDS: usize = 500;

fn validate(v: &Validators, docs: &[(Doc, serde_json::Value)]) -> bool {
    docs.iter().all(|(d, value)| match d {
        Doc::Request => v.request.is_valid(value),
        Doc::Metadata => v.metadata.is_valid(value),
        Doc::Approval => v.approval.is_valid(value),
    })
}

fn leaf_hash(bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    h.finalize().into()
}

/// The SQLite floor at one batch size: raw rusqlite inserts into a plain table shaped like the
/// ledger's records (no secondary index), WAL, `synchronous=FULL`, one transaction (one fsync)
/// per batch, for `for_how_long`. Returns per-commit durations and records written.
pub fn sqlite_floor(
    records: &[Vec<u8>],
    batch: usize,
    for_how_long: Duration,
) -> Result<(Vec<Duration>, u64)> {
    let dir = tempfile::tempdir()?;
    let mut db = rusqlite::Connection::open(dir.path().join("floor.db"))?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "FULL")?;
    db.execute_batch(
        "CREATE TABLE records (idx INTEGER PRIMARY KEY, kind TEXT NOT NULL, \
         leaf_hash BLOB NOT NULL, bytes BLOB NOT NULL)",
    )?;
    let mut commits = Vec::new();
    let mut idx: u64 = 0;
    let started = Instant::now();
    while started.elapsed() < for_how_long {
        let t = Instant::now();
        let tx = db.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO records (idx, kind, leaf_hash, bytes) VALUES (?1, 'decision', ?2, ?3)",
            )?;
            for _ in 0..batch {
                let bytes = &records[(idx % records.len() as u64) as usize];
                stmt.execute(rusqlite::params![idx as i64, &leaf_hash(bytes)[..], bytes])?;
                idx += 1;
            }
        }
        tx.commit()?;
        commits.push(t.elapsed());
    }
    Ok((commits, idx))
}

/// The floors section and the in-process and durable decision figures.
pub fn run(w: &mut Workload, cedar: &CedarAlone, figures: &mut Figures) -> Result<String> {
    let v = Validators::compile()?;
    let mut out = String::new();
    // Prebuilt Cedar requests and entities, one per request of the mix.
    let prebuilt = w
        .items
        .iter()
        .map(|i| cedar.build(&i.cedar))
        .collect::<Result<Vec<_>>>()?;
    for (item, (r, e)) in w.items.iter().zip(&prebuilt) {
        let allowed = cedar.authorize(r, e).decision() == cedar_policy::Decision::Allow;
        anyhow::ensure!(
            allowed == item.allow,
            "Cedar alone and the engine disagree on a workload request"
        );
        anyhow::ensure!(
            validate(&v, &item.documents),
            "a workload document is invalid"
        );
    }

    // Each floor alone, over the mix.
    let metadata_sig = &w.items[0].signatures[0];
    let verify = Summary::of(&time_each(ROUNDS * 6, || {
        metadata_sig
            .0
            .verify_strict(&metadata_sig.2, &metadata_sig.1)
            .is_ok()
    }));
    let mut validate_s = Vec::new();
    let mut cedar_s = Vec::new();
    let mut sha_s = Vec::new();
    for _ in 0..ROUNDS {
        for (item, (r, e)) in w.items.iter().zip(&prebuilt) {
            validate_s.extend(time_each(1, || validate(&v, &item.documents)));
            cedar_s.extend(time_each(1, || cedar.authorize(r, e)));
            sha_s.extend(time_each(1, || leaf_hash(&item.record)));
        }
    }
    let node = [7u8; 64];
    let sha_node = Summary::of(&time_each(ROUNDS * 6, || {
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(node);
        <[u8; 32]>::from(h.finalize())
    }));
    let (validate_s, cedar_s, sha_s) = (
        Summary::of(&validate_s),
        Summary::of(&cedar_s),
        Summary::of(&sha_s),
    );
    let records: Vec<Vec<u8>> = w.items.iter().map(|i| i.record.clone()).collect();
    let avg_record = records.iter().map(Vec::len).sum::<usize>() as f64 / records.len() as f64;
    let envelopes = w.items.iter().map(|i| i.signatures.len()).sum::<usize>() as f64 / 6.0;

    let mut t = Table::new(&[
        "floor", "crate", "n", "p50 µs", "p90 µs", "p99 µs", "mean µs",
    ]);
    let mut row = |name: &str, krate: &str, s: &Summary| {
        t.row(vec![
            name.into(),
            krate.into(),
            s.n.to_string(),
            num(s.p50),
            num(s.p90),
            num(s.p99),
            num(s.mean),
        ]);
    };
    row(
        "Ed25519 `verify_strict` of one metadata envelope's PAE",
        "ed25519-dalek",
        &verify,
    );
    row(
        "JSON Schema validation of a request and its predicates (compiled once, `is_valid`)",
        "jsonschema",
        &validate_s,
    );
    row(
        "Cedar `is_authorized`, reference bundle (49 policies), request and entities prebuilt",
        "cedar-policy",
        &cedar_s,
    );
    row(
        &format!("SHA-256 of a decision record (0x00 ‖ bytes, {avg_record:.0} bytes on average)"),
        "sha2",
        &sha_s,
    );
    row(
        "SHA-256 of one tree node (0x01 ‖ 64 bytes)",
        "sha2",
        &sha_node,
    );
    out.push_str("#### Floors\n\n");
    out.push_str(&t.markdown());
    out.push_str(&format!(
        "\nThe mix carries {envelopes:.1} signatures per request on average (4 for a complete tier-0 request, 1 for a denied one).\n\n"
    ));

    // SQLite floor.
    let mut t = Table::new(&[
        "SQLite floor: records per transaction",
        "commits",
        "records/s",
        "µs per record",
        "p50 commit ms",
        "p99 commit ms",
    ]);
    for batch in [1usize, 16, 64, 256] {
        let (commits, n) = sqlite_floor(&records, batch, Duration::from_millis(1500))?;
        let total: Duration = commits.iter().sum();
        let rate = n as f64 / total.as_secs_f64();
        let s = Summary::of(&commits).ms();
        figures.set(&format!("floor.sqlite.b{batch}.us_per_record"), 1e6 / rate);
        figures.set(&format!("floor.sqlite.b{batch}.commit_p50_us"), s.p50 * 1e3);
        t.row(vec![
            batch.to_string(),
            commits.len().to_string(),
            num(rate),
            num(1e6 / rate),
            num(s.p50),
            num(s.p99),
        ]);
    }
    out.push_str(&t.markdown());
    out.push_str("\nRaw `rusqlite` inserts of real decision records into a plain table shaped like the ledger's (`idx INTEGER PRIMARY KEY, kind, leaf_hash, bytes`, no secondary index), WAL, `synchronous=FULL`, one transaction and one fsync per batch, 1.5 s per row.\n\n");

    // The decision against the sum of its floors, interleaved so both see the same machine.
    let mut floor_mix = Vec::new();
    let mut judge_mix = Vec::new();
    let mut per_item: Vec<(Vec<Duration>, Vec<Duration>)> = vec![(Vec::new(), Vec::new()); 6];
    let engine = &w.fixture.engine;
    // Warm-up: one judgement of each request.
    for item in &w.items {
        engine.judge(&w.trust, &item.bytes)?;
    }
    for _ in 0..ROUNDS {
        for (k, (item, (r, e))) in w.items.iter().zip(&prebuilt).enumerate() {
            let t0 = Instant::now();
            for (key, sig, msg) in &item.signatures {
                std::hint::black_box(key.verify_strict(msg, sig).is_ok());
            }
            std::hint::black_box(validate(&v, &item.documents));
            std::hint::black_box(cedar.authorize(r, e));
            let floor = t0.elapsed();
            let t1 = Instant::now();
            let j = engine.judge(&w.trust, &item.bytes)?;
            let judge = t1.elapsed();
            std::hint::black_box(j);
            floor_mix.push(floor);
            judge_mix.push(judge);
            per_item[k].0.push(floor);
            per_item[k].1.push(judge);
        }
    }
    let floor = Summary::of(&floor_mix);
    let judge = Summary::of(&judge_mix);
    figures.set("floor.request.p50_us", floor.p50);
    figures.set("floor.request.p99_us", floor.p99);
    figures.set("floor.request.mean_us", floor.mean);
    figures.set("floor.sha_record.p50_us", sha_s.p50);
    figures.set("floor.sha_record.mean_us", sha_s.mean);
    figures.set("floor.sha_node.mean_us", sha_node.mean);
    figures.set("judge.p50_us", judge.p50);
    figures.set("judge.p99_us", judge.p99);
    figures.set("judge.mean_us", judge.mean);

    let mut t = Table::new(&[
        "request",
        "signatures",
        "floor p50 µs",
        "decision p50 µs",
        "ratio p50",
        "floor p99 µs",
        "decision p99 µs",
        "ratio p99",
    ]);
    let names = [
        "tier 0, allow",
        "tier 0, deny",
        "tier 1, allow",
        "tier 1, deny",
        "tier 2, allow",
        "tier 2, deny",
    ];
    // One row: the floor and the decision side by side, `mark` around the ratios.
    let mut ratio_row = |name: String, signatures: String, f: &Summary, j: &Summary, mark: &str| {
        t.row(vec![
            name,
            signatures,
            num(f.p50),
            num(j.p50),
            format!("{mark}{:.2}×{mark}", j.p50 / f.p50),
            num(f.p99),
            num(j.p99),
            format!("{mark}{:.2}×{mark}", j.p99 / f.p99),
        ]);
    };
    for (k, (f, j)) in per_item.iter().enumerate() {
        let signatures = w.items[k].signatures.len().to_string();
        ratio_row(
            names[k].into(),
            signatures,
            &Summary::of(f),
            &Summary::of(j),
            "",
        );
    }
    ratio_row(
        format!("**mix** (n = {})", floor.n),
        format!("{envelopes:.1}"),
        &floor,
        &judge,
        "**",
    );
    out.push_str("#### In-process decision next to its floor\n\n");
    out.push_str("Decision: `Engine::judge` (parse, verify every signature, validate, derive, evaluate, explain; no I/O). Floor: the same request's signatures through `verify_strict`, its documents through `jsonschema`, and one Cedar `is_authorized` with prebuilt request and entities, timed as one block right before the decision, ");
    out.push_str(&format!("{ROUNDS} rounds of the six requests.\n\n"));
    out.push_str(&t.markdown());

    // Durable decisions through the group-commit appender.
    out.push_str("\n#### Durable decision through group commit\n\n");
    let mut t = Table::new(&[
        "writers",
        "decisions",
        "decisions/s",
        "p50 ms",
        "p99 ms",
        "records per commit",
        "errors",
    ]);
    for writers in [1usize, 16, 64] {
        let r = durable(w, writers, Duration::from_secs(3))?;
        figures.set(&format!("durable.w{writers}.rate"), r.rate);
        figures.set(&format!("durable.w{writers}.p50_us"), r.latency.p50);
        figures.set(&format!("durable.w{writers}.p99_us"), r.latency.p99);
        figures.set(&format!("durable.w{writers}.batch"), r.batch);
        let l = r.latency.ms();
        t.row(vec![
            writers.to_string(),
            r.decisions.to_string(),
            num(r.rate),
            num(l.p50),
            num(l.p99),
            format!("{:.1}", r.batch),
            r.errors.to_string(),
        ]);
    }
    out.push_str("`Engine::decide_grouped` on writer threads of one process sharing one `GroupCommit` appender (as `modelgate serve` does: a reader store per writer, automatic checkpoints after batches), the six requests round robin, 3 s per row. Each decision is durable (its batch's fsync) before it returns.\n\n");
    out.push_str(&t.markdown());
    Ok(out)
}

/// What a durable run measured.
pub struct Durable {
    /// Decisions answered.
    pub decisions: u64,
    /// Decisions per second.
    pub rate: f64,
    /// Latency per decision (µs).
    pub latency: Summary,
    /// Records per commit on average (2–5 per decision: the decision and envelopes not yet filed).
    pub batch: f64,
    /// Failed decisions.
    pub errors: u64,
}

/// `writers` threads deciding the mix through one group-commit appender for `secs`.
pub fn durable(w: &Workload, writers: usize, secs: Duration) -> Result<Durable> {
    let (engine, ws) = (&w.fixture.engine, &w.fixture.ws);
    let options = GroupOptions {
        after_batch: engine.checkpoint_hook(),
        ..GroupOptions::default()
    };
    let appender = GroupCommit::start(ws.store()?, options)?;
    let before = appender.stats();
    let latencies = Mutex::new(Vec::new());
    let errors = Mutex::new(0u64);
    let started = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        for k in 0..writers {
            let reader = ws.store()?;
            let (appender, latencies, errors, items) = (&appender, &latencies, &errors, &w.items);
            s.spawn(move || {
                let mut mine = Vec::new();
                let mut n = k;
                while started.elapsed() < secs {
                    let t = Instant::now();
                    let ok = engine
                        .decide_grouped(&*reader, appender, &items[n % items.len()].bytes)
                        .is_ok();
                    mine.push(t.elapsed());
                    if !ok {
                        if let Ok(mut e) = errors.lock() {
                            *e += 1;
                        }
                    }
                    n += 1;
                }
                if let Ok(mut l) = latencies.lock() {
                    l.extend(mine);
                }
            });
        }
        Ok(())
    })?;
    let took = started.elapsed();
    let after = appender.stats();
    appender.shutdown()?;
    let latencies = latencies.into_inner().ok().context("latencies")?;
    let errors = errors.into_inner().ok().context("errors")?;
    let decisions = latencies.len() as u64 - errors;
    let batches = (after.batches - before.batches).max(1);
    Ok(Durable {
        decisions,
        rate: decisions as f64 / took.as_secs_f64(),
        latency: Summary::of(&latencies),
        batch: (after.records - before.records) as f64 / batches as f64,
        errors,
    })
}
