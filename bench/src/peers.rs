//! Peers, measured in the same run on the same requests: Cedar alone (no signatures, schema or
//! ledger), the same promotion rules in Rego evaluated in process by `regorus`, and the `cedar`
//! CLI as a cold process next to `modelgate check` as a cold process.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::cedar_alone::CedarAlone;
use crate::floors::ROUNDS;
use crate::rego::RegoPeer;
use crate::report::{Figures, Table};
use crate::stats::{num, Summary};
use crate::workload::{repo_root, Workload};

/// Cold-process runs of each command (after warm-up runs).
pub const COLD_RUNS: usize = 40;

/// The in-process peers table.
pub fn in_process(w: &Workload, cedar: &CedarAlone, figures: &mut Figures) -> Result<String> {
    let mut rego = RegoPeer::load(&repo_root().join("bench/peers"))?;
    let texts: Vec<(String, String, String)> = w
        .items
        .iter()
        .map(|i| {
            Ok((
                serde_json::to_string(&i.cedar.entities)?,
                serde_json::to_string(&i.cedar.request)?,
                serde_json::to_string(&i.input)?,
            ))
        })
        .collect::<Result<_>>()?;
    let prebuilt = w
        .items
        .iter()
        .map(|i| cedar.build(&i.cedar))
        .collect::<Result<Vec<_>>>()?;
    let rego_values = texts
        .iter()
        .map(|(_, _, input)| {
            regorus::Value::from_json_str(input).map_err(|e| anyhow::anyhow!("{e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    // The peers must decide as the engine does, or the comparison means nothing.
    for (k, item) in w.items.iter().enumerate() {
        let r = rego.evaluate_json(&texts[k].2)?;
        if r.allow != item.allow {
            bail!("the Rego peer decides request {k} differently from the engine");
        }
    }
    let engine = &w.fixture.engine;
    let mut s: Vec<Vec<Duration>> = vec![Vec::new(); 5];
    for _ in 0..ROUNDS {
        for (k, item) in w.items.iter().enumerate() {
            let t = Instant::now();
            std::hint::black_box(cedar.authorize(&prebuilt[k].0, &prebuilt[k].1));
            s[0].push(t.elapsed());

            let t = Instant::now();
            let cj = crate::cedar_alone::CedarJson {
                entities: serde_json::from_str(&texts[k].0)?,
                request: serde_json::from_str(&texts[k].1)?,
            };
            let (r, e) = cedar.build(&cj)?;
            std::hint::black_box(cedar.authorize(&r, &e));
            s[1].push(t.elapsed());

            let t = Instant::now();
            std::hint::black_box(rego.evaluate_value(rego_values[k].clone())?);
            s[2].push(t.elapsed());

            let t = Instant::now();
            std::hint::black_box(rego.evaluate_json(&texts[k].2)?);
            s[3].push(t.elapsed());

            let t = Instant::now();
            std::hint::black_box(engine.judge(&w.trust, &item.bytes)?);
            s[4].push(t.elapsed());
        }
    }
    let s: Vec<Summary> = s.iter().map(|v| Summary::of(v)).collect();
    let base = s[1].p50;
    figures.set("peer.cedar_prebuilt.p50_us", s[0].p50);
    figures.set("peer.cedar_json.p50_us", s[1].p50);
    figures.set("peer.rego_value.p50_us", s[2].p50);
    figures.set("peer.rego_json.p50_us", s[3].p50);
    let mut t = Table::new(&[
        "engine, same six requests",
        "signatures",
        "schema",
        "ledger",
        "p50 µs",
        "p99 µs",
        "p50 vs Cedar alone",
    ]);
    let rows: [(&str, &str, &str, &str, &Summary); 5] = [
        ("Cedar alone, request and entities prebuilt (`is_authorized` only: the floor)", "–", "–", "–", &s[0]),
        ("**Cedar alone** from JSON text (parse, entities and context checked against the Cedar schema, `is_authorized`)", "–", "Cedar schema", "–", &s[1]),
        ("Rego (`regorus`), input prebuilt (`eval_rule` of the decision)", "–", "–", "–", &s[2]),
        ("**Rego** (`regorus`) from JSON text (parse input, `eval_rule`)", "–", "–", "–", &s[3]),
        ("**modelgate** in process (`Engine::judge`: parse, verify, validate, derive, evaluate, explain)", "Ed25519, 1–4", "JSON Schema", "–", &s[4]),
    ];
    for (name, sig, schema, ledger, sum) in rows {
        t.row(vec![
            name.into(),
            sig.into(),
            schema.into(),
            ledger.into(),
            num(sum.p50),
            num(sum.p99),
            format!("{:.2}×", sum.p50 / base),
        ]);
    }
    if let (Some(p50), Some(p99)) = (
        figures.get("durable.w1.p50_us"),
        figures.get("durable.w1.p99_us"),
    ) {
        t.row(vec![
            "**modelgate** durable decision (the same, recorded through group commit, one writer)"
                .into(),
            "Ed25519, 1–4".into(),
            "JSON Schema".into(),
            "fsync".into(),
            num(p50),
            num(p99),
            format!("{:.2}×", p50 / base),
        ]);
    }
    let mut out = String::new();
    out.push_str(&format!("{ROUNDS} rounds of the six requests, each engine in turn on the same request. The Rego peer (`bench/peers/*.rego`) states the reference bundle's rules in Rego and decides every request of the mix, and every case of the policy test suite (`bench/tests/rego_agrees.rs`), as Cedar does.\n\n"));
    out.push_str(&t.markdown());
    Ok(out)
}

/// Where the `cedar` CLI is: `MODELGATE_BENCH_CEDAR`, then `PATH`, then
/// `target/bench-tools/bin/cedar`, installed there with `cargo install` when `install` is set.
pub fn cedar_cli(install: bool) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("MODELGATE_BENCH_CEDAR") {
        return Ok(PathBuf::from(p));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let c = dir.join("cedar");
            if c.is_file() {
                return Ok(c);
            }
        }
    }
    let root = repo_root().join("target/bench-tools");
    let local = root.join("bin/cedar");
    if local.is_file() {
        return Ok(local);
    }
    if !install {
        bail!("the `cedar` CLI is not installed (cargo install cedar-policy-cli)");
    }
    eprintln!("installing cedar-policy-cli into {} …", root.display());
    let status = Command::new("cargo")
        .args([
            "install",
            "--locked",
            "cedar-policy-cli",
            "--version",
            CEDAR_VERSION,
            "--root",
        ])
        .arg(&root)
        .status()
        .context("running cargo install")?;
    if !status.success() || !local.is_file() {
        bail!("`cargo install cedar-policy-cli` failed ({status})");
    }
    Ok(local)
}

/// The `cedar-policy-cli` version installed: the `cedar-policy` version modelgate builds with.
pub const CEDAR_VERSION: &str = "4.14.1";

fn run_cold(cmd: &mut Command) -> Result<(Duration, bool)> {
    let t = Instant::now();
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("starting a cold process")?;
    Ok((t.elapsed(), status.success()))
}

/// `modelgate check` and `cedar authorize` as cold processes on the same request.
pub fn cold(
    w: &Workload,
    cedar: &CedarAlone,
    cedar_bin: Result<PathBuf>,
    modelgate: &Path,
    figures: &mut Figures,
) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let item = &w.items[0]; // tier 0, allowed: four signatures
    let request = dir.path().join("request.json");
    std::fs::write(&request, &item.bytes)?;
    let policies = dir.path().join("policies.cedar");
    std::fs::write(&policies, &cedar.policy_text)?;
    let schema = dir.path().join("modelgate.cedarschema");
    std::fs::write(&schema, &cedar.schema_text)?;
    let entities = dir.path().join("entities.json");
    std::fs::write(&entities, serde_json::to_vec(&item.cedar.entities)?)?;
    let cedar_request = dir.path().join("cedar-request.json");
    std::fs::write(&cedar_request, serde_json::to_vec(&item.cedar.request)?)?;
    let home = w.fixture.dir.path();

    let check = || {
        let mut c = Command::new(modelgate);
        c.arg("--home")
            .arg(home)
            .args(["check", "--request"])
            .arg(&request)
            .env_remove("MODELGATE_HOME");
        c
    };
    let authorize = |bin: &Path| {
        let mut c = Command::new(bin);
        c.args(["authorize", "--policies"])
            .arg(&policies)
            .arg("--schema")
            .arg(&schema)
            .arg("--entities")
            .arg(&entities)
            .arg("--request-json")
            .arg(&cedar_request);
        c
    };
    let mut t = Table::new(&[
        "cold process, tier-0 request (allowed)",
        "runs",
        "median ms",
        "mean ms",
        "min ms",
        "max ms",
        "answer",
    ]);
    let mut check_s = Vec::new();
    let mut cedar_s = Vec::new();
    let mut check_ok = true;
    let mut cedar_ok = true;
    let cedar_bin = cedar_bin.as_deref().map(Path::to_path_buf);
    for round in 0..(COLD_RUNS + 5) {
        let (d, ok) = run_cold(&mut check())?;
        if round >= 5 {
            check_s.push(d);
            check_ok &= ok;
        }
        if let Ok(bin) = &cedar_bin {
            let (d, ok) = run_cold(&mut authorize(bin))?;
            if round >= 5 {
                cedar_s.push(d);
                cedar_ok &= ok;
            }
        }
    }
    let c = Summary::of(&check_s).ms();
    figures.set("cold.check.median_ms", c.p50);
    t.row(vec!["`modelgate check` (loads bundle and schemas, verifies 4 signatures, validates, evaluates, appends to the ledger with fsync)".into(), c.n.to_string(), num(c.p50), num(c.mean), num(c.min), num(c.max), if check_ok { "allow (exit 0)".into() } else { "not exit 0".into() }]);
    let mut out = String::new();
    match &cedar_bin {
        Ok(_) => {
            let k = Summary::of(&cedar_s).ms();
            figures.set("cold.cedar.median_ms", k.p50);
            t.row(vec![format!("`cedar authorize` (cedar-policy-cli {CEDAR_VERSION}: parses policies, schema, entities, request; validates the request; evaluates)"), k.n.to_string(), num(k.p50), num(k.mean), num(k.min), num(k.max), if cedar_ok { "ALLOW (exit 0)".into() } else { "not exit 0".into() }]);
            out.push_str(&t.markdown());
            out.push_str(&format!(
                "\n`modelgate check` / `cedar authorize`, medians: **{:.2}×** (goal ≤ 2×). The two ran alternately, {COLD_RUNS} times each after 5 warm-up runs, as child processes of the runner (fork, exec, wait).\n",
                c.p50 / k.p50,
            ));
        }
        Err(e) => {
            out.push_str(&t.markdown());
            out.push_str(&format!("\nThe `cedar` CLI was not measured: {e}.\n"));
        }
    }
    Ok(out)
}
