//! `modelgate-bench`: runs every benchmark in one run and rewrites the generated tables of
//! `docs/benchmarks.md` (machine, command, medians and spread), so anyone can reproduce them
//! with one command:
//!
//! ```text
//! cargo run --release -p modelgate-bench -- all
//! ```
//!
//! Not part of `cargo test`: the package is not a default member of the workspace.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use modelgate_bench::report::{Figures, Table};
use modelgate_bench::stats::num;
use modelgate_bench::workload::{repo_root, Workload};
use modelgate_bench::{cargo_benches, cedar_alone, doc, floors, machine, peers, scaling};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "modelgate-bench",
    about = "Runs modelgate's benchmarks and writes docs/benchmarks.md"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every benchmark (floors, decision ratios, peers, scaling curves, then each
    /// capability's `cargo bench`) and rewrite the generated blocks of docs/benchmarks.md.
    All(Options),
    /// Run one workload in a loop for a profiler (`perf record -g -- modelgate-bench profile
    /// judge`, or under `valgrind --tool=callgrind`): `judge` (in-process decision) or `durable`
    /// (decisions through group commit from 16 writers).
    Profile {
        /// `judge` or `durable`.
        what: String,
        /// How long to loop.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

#[derive(clap::Args)]
struct Options {
    /// Smaller sizes everywhere (100,000-record ledgers, scaling to 10^5, 2 s HTTP rows, a
    /// one-minute soak): a look in about ten minutes; not for the published tables.
    #[arg(long)]
    quick: bool,
    /// Largest ledger of the scaling curves, as a power of ten (3–7; 10^7 needs about 25 GB
    /// of temporary disk and 15 minutes more).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(3..=7))]
    max_exp: u32,
    /// Skip parts: floors, peers, cold, scaling, or a `cargo bench` name (repeatable). A
    /// skipped part's block keeps what an earlier run wrote.
    #[arg(long)]
    skip: Vec<String>,
    /// The document to rewrite.
    #[arg(long, default_value = "docs/benchmarks.md")]
    doc: PathBuf,
    /// Print the blocks instead of writing the document.
    #[arg(long)]
    dry_run: bool,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::All(o) => all(o),
        Cmd::Profile { what, seconds } => profile(&what, seconds),
    };
    if let Err(e) = result {
        eprintln!("modelgate-bench: {e:#}");
        std::process::exit(1);
    }
}

struct Run {
    blocks: Vec<(String, String)>,
    failures: Vec<String>,
}

impl Run {
    fn block(&mut self, name: &str, content: String) {
        self.blocks.push((name.to_owned(), content));
    }
}

fn build_binary(root: &std::path::Path) -> Result<PathBuf> {
    let status = std::process::Command::new("cargo")
        .current_dir(root)
        .args([
            "build",
            "--locked",
            "--release",
            "-p",
            "modelgate",
            "--bin",
            "modelgate",
        ])
        .status()
        .context("running cargo build")?;
    anyhow::ensure!(
        status.success(),
        "cargo build of the modelgate binary failed"
    );
    Ok(PathBuf::from(env!("CARGO_BIN_EXE_modelgate")))
}

fn profile(what: &str, seconds: u64) -> Result<()> {
    let w = Workload::new()?;
    let secs = std::time::Duration::from_secs(seconds);
    let started = std::time::Instant::now();
    match what {
        "judge" => {
            let mut n = 0u64;
            while started.elapsed() < secs {
                for item in &w.items {
                    std::hint::black_box(w.fixture.engine.judge(&w.trust, &item.bytes)?);
                    n += 1;
                }
            }
            eprintln!("{n} judgements");
        }
        "durable" => {
            let r = floors::durable(&w, 16, secs)?;
            eprintln!("{} durable decisions, {:.0}/s", r.decisions, r.rate);
        }
        other => anyhow::bail!("unknown workload `{other}` (judge or durable)"),
    }
    Ok(())
}

fn all(o: Options) -> Result<()> {
    let root = repo_root();
    std::env::set_current_dir(&root)?;
    let doc_path = if o.doc.is_absolute() {
        o.doc.clone()
    } else {
        root.join(&o.doc)
    };
    let skip = |name: &str| o.skip.iter().any(|s| s == name);
    let mut command = "cargo run --release -p modelgate-bench -- all".to_owned();
    if o.quick {
        command.push_str(" --quick");
    }
    if o.max_exp != 6 {
        command.push_str(&format!(" --max-exp {}", o.max_exp));
    }
    for s in &o.skip {
        command.push_str(&format!(" --skip {s}"));
    }
    let machine = machine::Machine::read();
    let modelgate = build_binary(&root)?;
    let mut figures = Figures::default();
    let mut run = Run {
        blocks: Vec::new(),
        failures: Vec::new(),
    };
    let cedar = cedar_alone::CedarAlone::load(&root.join("policies"))?;

    if !(skip("floors") && skip("peers") && skip("cold")) {
        eprintln!("floors and decisions …");
        let mut w = Workload::new()?;
        if !skip("floors") {
            run.block("floors", floors::run(&mut w, &cedar, &mut figures)?);
        }
        if !skip("peers") {
            eprintln!("peers …");
            run.block("peers", peers::in_process(&w, &cedar, &mut figures)?);
        }
        if !skip("cold") {
            eprintln!("cold processes …");
            let bin = peers::cedar_cli(true);
            run.block(
                "cold",
                peers::cold(&w, &cedar, bin, &modelgate, &mut figures)?,
            );
        }
    }
    if !skip("scaling") {
        let max = if o.quick { o.max_exp.min(5) } else { o.max_exp };
        run.block("scaling", scaling::run(&modelgate, max, &mut figures)?);
    }
    let figures_file = tempfile::NamedTempFile::new()?;
    for (name, what) in cargo_benches::BENCHES {
        if skip(name) {
            continue;
        }
        eprintln!("cargo bench --bench {name} ({what}) …");
        match cargo_benches::run(&root, name, figures_file.path(), o.quick) {
            Ok((text, secs)) => run.block(
                &format!("cargo-{name}"),
                format!(
                    "Output of `cargo bench --bench {name}` in this run ({secs:.0} s):\n\n{text}\n"
                ),
            ),
            Err(e) => {
                eprintln!("{e:#}");
                run.failures.push(format!("{name}: {e:#}"));
                run.block(
                    &format!("cargo-{name}"),
                    format!("Not measured in this run: {e:#}\n"),
                );
            }
        }
    }
    figures.read_file(figures_file.path());
    run.block("goals", goals(&figures));
    let finished = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    run.block("machine", machine.markdown(&command, &finished));

    if o.dry_run {
        for (name, content) in &run.blocks {
            println!("<!-- bench:{name} -->\n{content}\n<!-- /bench:{name} -->\n");
        }
    } else {
        let mut text = std::fs::read_to_string(&doc_path)
            .with_context(|| format!("reading {}", doc_path.display()))?;
        for (name, content) in &run.blocks {
            text = doc::replace_block(&text, name, content)?;
        }
        std::fs::write(&doc_path, text)?;
        eprintln!("wrote {}", doc_path.display());
    }
    if !run.failures.is_empty() {
        anyhow::bail!(
            "{} benchmark(s) failed: {}",
            run.failures.len(),
            run.failures.join("; ")
        );
    }
    Ok(())
}

/// The headline table: each modelgate figure against the sum of the floors it cannot avoid (or
/// its peer), measured in the same run, with the goal.
fn goals(f: &Figures) -> String {
    let mut t = Table::new(&[
        "figure",
        "modelgate",
        "floor or peer, same run",
        "ratio",
        "goal",
        "met",
    ]);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let mut row = |name: &str,
                   value: Option<f64>,
                   unit: &str,
                   floor: Option<f64>,
                   floor_text: &str,
                   ratio: Option<f64>,
                   goal: &str,
                   met: Option<bool>| {
        let cell =
            |v: Option<f64>| v.map_or("not measured".to_owned(), |v| format!("{} {unit}", num(v)));
        t.row(vec![
            name.into(),
            cell(value),
            if floor.is_some() {
                format!("{} {unit}: {floor_text}", num(floor.unwrap_or_default()))
            } else {
                floor_text.into()
            },
            ratio.map_or("–".into(), |r| format!("{r:.2}×")),
            goal.into(),
            match met {
                Some(true) => "yes".into(),
                Some(false) => "**no**".into(),
                None => "–".into(),
            },
        ]);
    };
    let div = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
    let add = |a: Option<f64>, b: Option<f64>| Some(a? + b?);
    let mul = |a: Option<f64>, b: Option<f64>| Some(a? * b?);

    // In process.
    for (p, label) in [("p50", "p50"), ("p99", "p99")] {
        let v = f.get(&format!("judge.{p}_us"));
        let fl = f.get(&format!("floor.request.{p}_us"));
        let r = div(v, fl);
        row(
            &format!("in-process decision, mixed tier 0/1/2 allow+deny, {label}"),
            v,
            "µs",
            fl,
            "Σ verify_strict per signature + JSON Schema + Cedar prebuilt",
            r,
            "≤ 1.5×",
            r.map(|r| r <= 1.5),
        );
    }
    // Durable, one writer: the in-process floor plus the record's hash and one durable commit.
    let durable_floor = add(
        add(
            f.get("floor.request.p50_us"),
            f.get("floor.sha_record.p50_us"),
        ),
        f.get("floor.sqlite.b1.commit_p50_us"),
    );
    let v = f.get("durable.w1.p50_us");
    row(
        "durable decision through group commit, 1 writer, p50",
        v,
        "µs",
        durable_floor,
        "the above + SHA-256 of the record + one SQLite commit",
        div(v, durable_floor),
        "–",
        None,
    );
    // Throughput floor: CPU work spread over the cores, or the SQLite floor at the batch size.
    let cpu = add(
        f.get("floor.request.mean_us"),
        f.get("floor.sha_record.mean_us"),
    );
    let sqlite64 = f.get("floor.sqlite.b64.us_per_record");
    let floor_rate = match (cpu, sqlite64) {
        (Some(c), Some(s)) => Some(1e6 / (c / cores).max(s)),
        _ => None,
    };
    let v = f.get("durable.w64.rate");
    row(
        "durable decisions/s in process, 64 writers",
        v,
        "/s",
        floor_rate,
        &format!("floors' CPU work on {cores:.0} cores (or SQLite at 64 per commit)"),
        div(floor_rate, v),
        "–",
        None,
    );
    let v = f.get("http.saturation64.rps");
    row(
        "HTTP durable decisions/s at saturation, 64 connections",
        v,
        "/s",
        floor_rate,
        "as above",
        div(floor_rate, v),
        "≥ 5,000/s",
        v.map(|v| v >= 5000.0),
    );
    let v = f.get("http.fixed1000.p99_ms").map(|ms| ms * 1e3);
    row(
        "HTTP decision at a fixed 1,000/s, p99",
        v,
        "µs",
        durable_floor,
        "durable floor at p50",
        div(v, durable_floor),
        "≤ 10 ms",
        v.map(|v| v <= 10_000.0),
    );
    // Verification, per record.
    let per = f.get("scale.verify_rate").map(|r| 1e6 / r);
    let vfloor = add(
        f.get("floor.sha_record.mean_us"),
        f.get("floor.sha_node.mean_us"),
    );
    let rate = f.get("scale.verify_rate");
    row(
        "`audit verify`, per record (cold process, largest scaling ledger)",
        per,
        "µs",
        vfloor,
        "SHA-256 of the record + of one tree node",
        div(per, vfloor),
        "≥ 300,000 records/s",
        rate.map(|r| r >= 300_000.0),
    );
    let v = f.get("scale.proof_make_p50_us");
    row(
        "inclusion proof, make, p50 (largest scaling ledger)",
        v,
        "µs",
        None,
        "no floor of the five applies (stored nodes read)",
        None,
        "< 1 ms",
        f.get("scale.proof_make_p99_us").map(|p| p < 1000.0),
    );
    let v = f.get("scale.proof_verify_p50_us");
    // Verifying a proof hashes each node on its path.
    let pfloor = mul(f.get("scale.proof_len"), f.get("floor.sha_node.mean_us"));
    row(
        "inclusion proof, verify, p50",
        v,
        "µs",
        pfloor,
        "SHA-256 of each node on the path",
        div(v, pfloor),
        "< 1 ms",
        v.map(|v| v < 1000.0),
    );
    let v = f.get("scale.pack_ms").map(|ms| ms * 1e3);
    // Per decision of the pack's 100: its record hashed, and its proof path.
    let packfloor = mul(Some(100.0), add(f.get("floor.sha_record.mean_us"), pfloor));
    row(
        "evidence pack build, 100 decisions (largest scaling ledger)",
        v,
        "µs",
        packfloor,
        "per decision: SHA-256 of its record and of its proof path",
        div(v, packfloor),
        "≤ 1 s",
        v.map(|v| v <= 1e6),
    );
    let invfloor = mul(
        f.get("inventory.records"),
        f.get("floor.sha_record.mean_us"),
    );
    for (kind, key, goal) in [
        (
            "warm (inventory bench ledger)",
            "inventory.warm_ms",
            Some(1e6),
        ),
        ("cold (no snapshot)", "inventory.cold_ms", None),
    ] {
        let v = f.get(key).map(|ms| ms * 1e3);
        row(
            &format!("inventory report, JSON, {kind}"),
            v,
            "µs",
            invfloor,
            "reference: SHA-256 of every record once",
            div(v, invfloor),
            if goal.is_some() { "≤ 1 s" } else { "–" },
            goal.and_then(|g| Some(v? <= g)),
        );
    }
    // Peers.
    let v = f.get("cold.check.median_ms");
    let c = f.get("cold.cedar.median_ms");
    let r = div(v, c);
    row(
        "`modelgate check`, cold process, median",
        v,
        "ms",
        c,
        "`cedar authorize` cold, same request",
        r,
        "≤ 2×",
        r.map(|r| r <= 2.0),
    );
    let v = f.get("judge.p50_us");
    let c = f.get("peer.cedar_json.p50_us");
    row(
        "in-process decision vs Cedar alone from JSON, p50",
        v,
        "µs",
        c,
        "Cedar alone (entities from JSON, no signatures)",
        div(v, c),
        "–",
        None,
    );
    let c = f.get("peer.rego_json.p50_us");
    row(
        "in-process decision vs Rego (`regorus`) from JSON, p50",
        v,
        "µs",
        c,
        "Rego, same rules, in process",
        div(v, c),
        "–",
        None,
    );
    // Start and memory.
    let size = f
        .get("scale.max_size")
        .map_or("the largest".into(), modelgate_bench::stats::grouped);
    let v = f.get("scale.start_ms");
    row(
        &format!("`modelgate serve` cold until ready, {size} records"),
        v,
        "ms",
        None,
        "–",
        None,
        "< 300 ms",
        v.map(|v| v < 300.0),
    );
    let v = f.get("scale.rss_ready_mib");
    row(
        &format!("resident memory at ready, {size} records"),
        v,
        "MiB",
        None,
        "–",
        None,
        "< 150 MB",
        v.map(|v| v * 1.048576 < 150.0),
    );
    let v = f.get("scale.rss_peak_mib");
    row(
        &format!("peak resident memory in the first 3 s, {size} records"),
        v,
        "MiB",
        None,
        "–",
        None,
        "< 150 MB",
        v.map(|v| v * 1.048576 < 150.0),
    );
    t.markdown()
}
