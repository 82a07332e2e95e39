//! Scaling curves: one ledger grown through 10^3 … 10^N records and, at each size, append
//! throughput, `audit verify`, proof latency, the evidence pack of a fixed model history, cold
//! start and resident memory, each with the growth it shows.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use modelgate::evidence::Scope;
use modelgate::ledger::{AppendRequest, GroupCommit, GroupOptions, SqliteStore, Store};

use crate::common::{complete, request, with, Fixture};
use crate::filler::{decision_draft, decision_templates};
use crate::report::{Figures, Table};
use crate::stats::{num, Summary};

/// The model whose history the packs hold.
const TARGET: &str = "scaling-target";
/// Decisions about [`TARGET`], made first, before any filler.
const HISTORY: u64 = 100;
/// Records appended through group commit at each size (by [`WRITERS`] threads).
const APPENDS: u64 = 4_000;
/// Writer threads for the append measurement.
const WRITERS: usize = 16;
/// Inclusion proofs made and verified at each size.
const PROOFS: usize = 2_000;
/// Filler records per `append` call while growing the ledger.
const FILL_BATCH: u64 = 10_000;

/// One size's measurements.
#[derive(Debug, Clone, Default)]
struct Point {
    size: u64,
    append_rate: f64,
    verify_s: f64,
    proof_make: Option<Summary>,
    proof_verify: Option<Summary>,
    pack_ms: f64,
    pack_bytes: usize,
    start_ms: f64,
    check_ms: f64,
    rss_ready_mib: f64,
    rss_peak_mib: f64,
    file_mib: f64,
}

fn rss_kib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Cold start of `modelgate serve`: time from spawn until `/readyz` answers 200, resident
/// memory then, and the peak over the next `settle`.
fn serve_cold(modelgate: &Path, home: &Path, settle: Duration) -> Result<(f64, f64, f64)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let t = Instant::now();
    let mut child = crate::http_load::Server(
        Command::new(modelgate)
            .arg("--home")
            .arg(home)
            .args(["serve", "--listen", &addr.to_string()])
            .env("MODELGATE_LOG", "error")
            .env_remove("MODELGATE_HOME")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    loop {
        if http_status(addr, "/readyz") == Some(200) {
            break;
        }
        if t.elapsed() > Duration::from_secs(60) {
            bail!("modelgate serve was not ready within 60 s");
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            bail!("modelgate serve exited: {status}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let ready = t.elapsed().as_secs_f64() * 1e3;
    let pid = child.0.id();
    let at_ready = rss_kib(pid, "VmRSS:") / 1024.0;
    std::thread::sleep(settle);
    let peak = rss_kib(pid, "VmHWM:") / 1024.0;
    drop(child);
    Ok((ready, at_ready, peak))
}

fn cold_median(runs: usize, mut make: impl FnMut() -> Command) -> Result<f64> {
    let mut v = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let out = make()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !out.success() {
            bail!("a cold command failed: {out}");
        }
        v.push(t.elapsed());
    }
    Ok(Summary::of(&v).ms().p50)
}

fn grow(f: &mut Fixture, templates: &[serde_json::Value], next: &mut u64, to: u64) -> Result<()> {
    while f.store.size()? < to {
        let want = (to - f.store.size()?).min(FILL_BATCH);
        let drafts: Vec<_> = (0..want)
            .map(|k| decision_draft(templates, *next + k))
            .collect();
        *next += want;
        f.store.append(&drafts)?;
    }
    Ok(())
}

fn append_rate(f: &Fixture, templates: &[serde_json::Value], next: &mut u64) -> Result<f64> {
    let appender = GroupCommit::start(f.ws.store()?, GroupOptions::default())?;
    let base = *next;
    let per = APPENDS / WRITERS as u64;
    let failed = Mutex::new(0u64);
    let t = Instant::now();
    std::thread::scope(|s| {
        for w in 0..WRITERS as u64 {
            let (appender, failed) = (&appender, &failed);
            s.spawn(move || {
                for k in 0..per {
                    let draft = decision_draft(templates, base + w * per + k);
                    if appender
                        .append(AppendRequest::records(vec![draft]))
                        .is_err()
                    {
                        if let Ok(mut n) = failed.lock() {
                            *n += 1;
                        }
                    }
                }
            });
        }
    });
    let took = t.elapsed();
    appender.shutdown()?;
    *next += per * WRITERS as u64;
    let failed = failed.into_inner().ok().context("failures")?;
    if failed > 0 {
        bail!("{failed} appends failed");
    }
    Ok((per * WRITERS as u64) as f64 / took.as_secs_f64())
}

fn proofs(path: &Path, size: u64) -> Result<(Summary, Summary)> {
    let store = SqliteStore::open_read_only(path)?;
    let root = store.tree_root(size)?;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let (mut make, mut verify) = (Vec::new(), Vec::new());
    for _ in 0..PROOFS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let index = seed % size;
        let leaf = store.record(index)?.context("record")?.leaf_hash;
        let t = Instant::now();
        let path = store.inclusion_proof(index, size)?;
        make.push(t.elapsed());
        let t = Instant::now();
        modelgate::ledger::merkle::verify_inclusion(&leaf, index, size, &path, &root)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        verify.push(t.elapsed());
    }
    Ok((Summary::of(&make), Summary::of(&verify)))
}

/// How a series grows from its first to its last size: the exponent `b` of `y ∝ n^b`, fitted
/// over the last decade measured (constant ≈ 0, linear ≈ 1; logarithmic growth shows as a
/// small `b` that the text names).
pub fn exponent(points: &[(u64, f64)]) -> Option<f64> {
    let n = points.len();
    if n < 2 {
        return None;
    }
    let (x0, y0) = points[n - 2];
    let (x1, y1) = points[n - 1];
    if y0 <= 0.0 || y1 <= 0.0 {
        return None;
    }
    Some((y1 / y0).ln() / ((x1 as f64) / (x0 as f64)).ln())
}

/// Words for an exponent, against the growth the design expects.
pub fn growth(b: Option<f64>, designed: &str) -> String {
    let Some(b) = b else {
        return "–".into();
    };
    let seen = if b.abs() < 0.1 {
        "constant"
    } else if b < 0.3 {
        "logarithmic (slowly rising)"
    } else if b < 0.8 {
        "sub-linear"
    } else if b < 1.2 {
        "linear"
    } else {
        "faster than linear"
    };
    let flag = match designed {
        "constant" if b >= 0.3 => " **— faster than designed**",
        "logarithmic" if b >= 0.3 => " **— faster than designed**",
        "linear" if b >= 1.2 => " **— faster than designed**",
        _ => "",
    };
    format!("{seen} (n^{b:.2}; designed: {designed}){flag}")
}

/// Runs the curves up to `10^max_exp` records.
pub fn run(modelgate: &Path, max_exp: u32, figures: &mut Figures) -> Result<String> {
    let mut f = Fixture::new();
    // The fixed model history: real decisions, each a signed request decided by the engine.
    for k in 0..HISTORY {
        let version = format!("1.{}.{}", k / 10, k % 10);
        let tier = (k % 3) as i64;
        let (md, approvals) = complete(TARGET, &version, tier);
        let envelopes = if k % 2 == 0 {
            with(&md, &approvals)
        } else {
            vec![md]
        };
        f.decide(&request(TARGET, &version, "production", &envelopes))?;
    }
    let templates = decision_templates(&mut f);
    // The request `modelgate check` decides at each size: a complete tier-2 request (allowed).
    let check_request = f.dir.path().join("check-request.json");
    let (md, approvals) = complete("scaling-check", "1.0.0", 2);
    std::fs::write(
        &check_request,
        serde_json::to_vec(&request(
            "scaling-check",
            "1.0.0",
            "production",
            &with(&md, &approvals),
        ))?,
    )?;
    let mut next: u64 = 0;
    let ledger = f.ws.ledger_path();
    let home = f.dir.path().to_path_buf();
    let mut points = Vec::new();
    for exp in 3..=max_exp {
        let size = 10u64.pow(exp);
        eprintln!("scaling: growing the ledger to {size} records …");
        grow(&mut f, &templates, &mut next, size)?;
        // Checkpoint the current size so packs and `audit verify` use a stored one.
        modelgate::engine::audit::checkpoint(
            &mut *f.store,
            &f.ws.note_signer()?,
            &f.ws.config().origin,
        )?;
        let mut p = Point {
            size,
            ..Point::default()
        };
        let (make, verify) = proofs(&ledger, size)?;
        p.proof_make = Some(make);
        p.proof_verify = Some(verify);
        let scope = Scope::new(TARGET, None, None, None)?;
        let mut builds = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let bytes = f.ws.evidence_pack(&scope)?.to_tar_gz()?;
            builds.push(t.elapsed());
            p.pack_bytes = bytes.len();
        }
        p.pack_ms = Summary::of(&builds).ms().p50;
        let t = Instant::now();
        let out = Command::new(modelgate)
            .arg("--home")
            .arg(&home)
            .args(["audit", "verify"])
            .env_remove("MODELGATE_HOME")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        p.verify_s = t.elapsed().as_secs_f64();
        if !out.success() {
            bail!("modelgate audit verify failed at {size} records: {out}");
        }
        p.check_ms = cold_median(9, || {
            let mut c = Command::new(modelgate);
            c.arg("--home")
                .arg(&home)
                .args(["check", "--request"])
                .arg(&check_request)
                .env_remove("MODELGATE_HOME");
            c
        })?;
        let mut starts = Vec::new();
        let mut ready_rss = Vec::new();
        let mut peaks = Vec::new();
        for _ in 0..3 {
            let (ms, rss, peak) = serve_cold(modelgate, &home, Duration::from_secs(3))?;
            starts.push(ms * 1e3);
            ready_rss.push(rss);
            peaks.push(peak);
        }
        p.start_ms = Summary::of_micros(starts).p50 / 1e3;
        p.rss_ready_mib = Summary::of_micros(ready_rss).p50;
        p.rss_peak_mib = Summary::of_micros(peaks).max;
        p.file_mib = std::fs::metadata(&ledger).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;
        // Last: appends make the ledger a little larger than `size`.
        p.append_rate = append_rate(&f, &templates, &mut next)?;
        eprintln!("scaling: {size} records measured");
        points.push(p);
    }
    let last = points.last().context("no size measured")?;
    figures.set("scale.max_size", last.size as f64);
    figures.set("scale.verify_rate", last.size as f64 / last.verify_s);
    if let (Some(m), Some(v)) = (&last.proof_make, &last.proof_verify) {
        figures.set("scale.proof_make_p50_us", m.p50);
        figures.set("scale.proof_make_p99_us", m.p99);
        figures.set("scale.proof_verify_p50_us", v.p50);
    }
    figures.set("scale.pack_ms", last.pack_ms);
    figures.set("scale.pack_bytes", last.pack_bytes as f64);
    figures.set("scale.start_ms", last.start_ms);
    figures.set("scale.rss_ready_mib", last.rss_ready_mib);
    figures.set("scale.rss_peak_mib", last.rss_peak_mib);
    figures.set("scale.proof_len", (last.size as f64).log2().ceil());

    let mut t = Table::new(&[
        "records",
        "`ledger.db` MiB",
        "appends/s (group commit, 16 writers)",
        "`audit verify` s",
        "verify records/s",
        "proof make p50 / p99 µs",
        "proof verify p50 µs",
        "pack build ms",
        "pack bytes",
        "`serve` ready ms",
        "RSS at ready MiB",
        "peak RSS, first 3 s MiB",
        "`check` cold ms",
    ]);
    for p in &points {
        let (m, v) = (
            p.proof_make.unwrap_or(Summary::of(&[])),
            p.proof_verify.unwrap_or(Summary::of(&[])),
        );
        t.row(vec![
            crate::stats::grouped(p.size as f64),
            num(p.file_mib),
            num(p.append_rate),
            num(p.verify_s),
            num(p.size as f64 / p.verify_s),
            format!("{} / {}", num(m.p50), num(m.p99)),
            num(v.p50),
            num(p.pack_ms),
            crate::stats::grouped(p.pack_bytes as f64),
            num(p.start_ms),
            num(p.rss_ready_mib),
            num(p.rss_peak_mib),
            num(p.check_ms),
        ]);
    }
    let series = |y: &dyn Fn(&Point) -> f64| -> Vec<(u64, f64)> {
        points.iter().map(|p| (p.size, y(p))).collect()
    };
    let mut g = Table::new(&["quantity", "last decade", "growth"]);
    let span = if points.len() >= 2 {
        format!(
            "{} → {}",
            crate::stats::grouped(points[points.len() - 2].size as f64),
            crate::stats::grouped(last.size as f64)
        )
    } else {
        "–".into()
    };
    type Series = Vec<(u64, f64)>;
    let rows: Vec<(&str, Series, &str)> = vec![
        (
            "append time per record (1 / appends/s)",
            series(&|p| 1.0 / p.append_rate),
            "constant",
        ),
        ("`audit verify` time", series(&|p| p.verify_s), "linear"),
        (
            "`audit verify` time per record",
            series(&|p| p.verify_s / p.size as f64),
            "constant",
        ),
        (
            "inclusion proof make, p50",
            series(&|p| p.proof_make.map_or(f64::NAN, |s| s.p50)),
            "logarithmic",
        ),
        (
            "inclusion proof verify, p50",
            series(&|p| p.proof_verify.map_or(f64::NAN, |s| s.p50)),
            "logarithmic",
        ),
        (
            "pack build, fixed history of 100 decisions",
            series(&|p| p.pack_ms),
            "logarithmic",
        ),
        ("`serve` ready", series(&|p| p.start_ms), "constant"),
        ("RSS at ready", series(&|p| p.rss_ready_mib), "constant"),
        (
            "peak RSS, first 3 s",
            series(&|p| p.rss_peak_mib),
            "constant",
        ),
        ("`check` cold", series(&|p| p.check_ms), "constant"),
    ];
    for (name, s, designed) in rows {
        g.row(vec![
            name.into(),
            span.clone(),
            growth(exponent(&s), designed),
        ]);
    }
    let mut out = String::new();
    out.push_str(&format!(
        "One workspace (reference bundle, five trusted keys, SQLite) grown to each size with filler decision records (`benches/support/filler.rs`, 10,000 per append), after {HISTORY} real decisions about `{TARGET}` (tiers 0/1/2, allow and deny) made first; a signed checkpoint at each size. At each size: {PROOFS} inclusion proofs of random records (read-only store, stored tree nodes) and their verification; the `{TARGET}` evidence pack (`Workspace::evidence_pack` + `.tar.gz`, median of 3); `modelgate audit verify` as a cold process (chain, canonical form, every tree node, every checkpoint); `modelgate check` cold on a complete tier-2 request (median of 9, each appending its decision); `modelgate serve` cold until `/readyz` answers 200 (median of 3) with its resident memory then and its peak over the next 3 s (the web console starts loading the inventory in the background); last, {APPENDS} appends through group commit from {WRITERS} threads (so the next size starts a little larger).\n\n"
    ));
    out.push_str(&t.markdown());
    out.push_str("\nGrowth over the last decade measured, as the exponent b of time ∝ n^b between its two sizes (0: constant, 1: linear; a logarithmic cost shows as a small b):\n\n");
    out.push_str(&g.markdown());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_named_and_flagged() {
        let linear = [(1_000u64, 1.0), (10_000, 10.0)];
        let b = exponent(&linear).unwrap();
        assert!((b - 1.0).abs() < 1e-9);
        assert!(growth(Some(b), "linear").starts_with("linear"));
        assert!(growth(Some(b), "constant").contains("faster than designed"));
        let flat = [(1_000u64, 5.0), (10_000, 5.1)];
        assert!(growth(exponent(&flat), "constant").starts_with("constant"));
        assert!(!growth(exponent(&flat), "constant").contains("faster"));
        assert_eq!(exponent(&[(1, 1.0)]), None);
    }
}
