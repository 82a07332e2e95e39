//! `modelgate inventory …`: report deployments, retire models, the completeness report, what
//! expires (see `docs/inventory.md`) and the MLflow registry sync (`docs/mlflow.md`).
//!
//! A long fold or sync shows its progress on stderr when stderr is a terminal and stays quiet
//! otherwise.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};

use super::{exit, write_output, CliError, CmdResult, Format};
use crate::clock::{parse_rfc3339, rfc3339, Clock};
use crate::inventory::list::listing;
use crate::inventory::record::{observe, retire, ReportedDeployment};
use crate::inventory::{render, InventoryError, Report, ReportOptions};
use crate::workspace::Workspace;

mod registry;

pub use registry::SyncArgs;
use registry::{sync, write_back};

/// `modelgate inventory …`
#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Record that a model version runs in an environment (for pipelines without the webhook).
    /// A version without registered metadata is recorded all the same: it is a shadow deployment.
    Observe {
        /// The model.
        #[arg(long)]
        model: String,
        /// The version.
        #[arg(long)]
        version: String,
        /// The environment.
        #[arg(long)]
        environment: String,
        /// Who reports it.
        #[arg(long, default_value = "cli")]
        source: String,
    },
    /// Retire a model (or one version): it leaves the population, its history stays.
    Retire {
        /// The model.
        #[arg(long)]
        model: String,
        /// Only this version.
        #[arg(long)]
        version: Option<String>,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// The completeness report: population, KPIs per tier with numerator and denominator,
    /// findings, what expires.
    Report(ReportArgs),
    /// Every model and version seen: tier, owners, current version per environment, approvals
    /// with expiry, reported deployments, retirement.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Read the MLflow model registry: record a snapshot of it and, as deployed, the versions
    /// its production aliases name (see docs/mlflow.md).
    Sync(SyncArgs),
    /// Tag the model version a recorded production allow names in the MLflow registry:
    /// `gov.decision`, `gov.ledger_index` and `gov.checkpoint_size` (signing a checkpoint that
    /// covers the record first when none does). Run it after `check` exits 0.
    WriteBack {
        /// The ledger index of the allow (`check` prints it).
        #[arg(long)]
        record: u64,
        /// The registry to tag.
        #[command(flatten)]
        registry: SyncArgs,
    },
    /// What expires within N days: approvals, waivers, validations, keys.
    Expiring {
        /// The horizon, days.
        #[arg(long, default_value_t = 30)]
        days: u64,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// The reports `modelgate serve` generated and kept on a schedule (`docs/reports.md`).
    Reports {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

/// Report output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// The JSON contract.
    Json,
    /// Markdown.
    Md,
    /// One self-contained HTML page with charts.
    Html,
    /// CSV: one row per KPI and tier.
    Csv,
}

/// `modelgate inventory report`
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    pub format: ReportFormat,
    /// The report's time (RFC 3339; default now): later records are not counted.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Write here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Delivery KPI window, days.
    #[arg(long, default_value_t = 28)]
    pub window_days: u64,
    /// A rollback within this many days makes a promotion a failed change.
    #[arg(long, default_value_t = 7)]
    pub failure_days: u64,
    /// List what expires within this many days.
    #[arg(long, default_value_t = 30)]
    pub expiring_days: u64,
}

impl From<InventoryError> for CliError {
    fn from(e: InventoryError) -> Self {
        let code = match e {
            InventoryError::Invalid(_) => exit::INVALID,
            InventoryError::Fold(_) => exit::TAMPERED,
            _ => exit::INTERNAL,
        };
        CliError {
            code,
            message: e.to_string(),
        }
    }
}

/// Runs an inventory command.
pub fn inventory(home: &Path, command: &InventoryCommand, clock: Arc<dyn Clock>) -> CmdResult {
    let ws = Workspace::open(home)?;
    match command {
        InventoryCommand::Observe {
            model,
            version,
            environment,
            source,
        } => {
            let mut store = ws.store()?;
            let deployment = ReportedDeployment {
                source: source.clone(),
                model: model.clone(),
                version: version.clone(),
                environment: environment.clone(),
            };
            let sealed = observe(&mut *store, &deployment, clock.now())?;
            say!("recorded: {model} {version} runs in {environment} (reported by {source}), ledger #{}", sealed.index);
            Ok(exit::OK)
        }
        InventoryCommand::Retire {
            model,
            version,
            reason,
        } => {
            let mut store = ws.store()?;
            let sealed = retire(&mut *store, model, version.as_deref(), reason, clock.now())?;
            say!(
                "retired: {model}{}, ledger #{}",
                version
                    .as_deref()
                    .map(|v| format!(" {v}"))
                    .unwrap_or_default(),
                sealed.index
            );
            Ok(exit::OK)
        }
        InventoryCommand::Report(args) => report(&ws, args, clock.as_ref()),
        InventoryCommand::List { format } => list(&ws, *format),
        InventoryCommand::Reports { format } => kept_reports(&ws, *format),
        InventoryCommand::Sync(args) => sync(&ws, args, clock.as_ref()),
        InventoryCommand::WriteBack { record, registry } => write_back(&ws, *record, registry),
        InventoryCommand::Expiring { days, format } => {
            let mut options = ReportOptions::new(clock.now(), ws.production_environments());
            options.expiring_days = *days;
            let r = run_report(&ws, &options)?;
            match format {
                Format::Json => say!(
                    "{}",
                    serde_json::to_string_pretty(&r.expiring).map_err(CliError::internal)?
                ),
                Format::Text => {
                    if r.expiring.is_empty() {
                        say!("nothing expires within {days} days of {}", r.as_of);
                    }
                    for e in &r.expiring {
                        let who = match (&e.model, &e.version) {
                            (Some(m), Some(v)) => format!("{m} {v}"),
                            _ => "trust store".to_owned(),
                        };
                        say!("{}  {:<32} {}", e.expires_at, who, e.what);
                    }
                }
            }
            Ok(exit::OK)
        }
    }
}

/// A progress callback that redraws one stderr line when stderr is a terminal (at most once
/// per percent) and does nothing otherwise.
fn progress() -> impl FnMut(u64, u64) {
    let tty = std::io::stderr().is_terminal();
    let mut last = 0u64;
    move |done: u64, total: u64| {
        if tty && total > 0 && (done == total || done - last > total / 100) {
            last = done;
            eprint!(
                "\rreading the ledger: {done}/{total} records ({}%)",
                done * 100 / total
            );
            if done == total {
                eprintln!();
            }
        }
    }
}

fn run_report(ws: &Workspace, options: &ReportOptions) -> Result<Report, CliError> {
    Ok(ws.inventory_report(options, &mut progress())?)
}

fn list(ws: &Workspace, format: Format) -> CmdResult {
    let models = listing(&ws.inventory(&mut progress())?);
    if format == Format::Json {
        say!(
            "{}",
            serde_json::to_string_pretty(&models).map_err(CliError::internal)?
        );
        return Ok(exit::OK);
    }
    if models.is_empty() {
        say!("the ledger has seen no model yet");
    }
    for m in &models {
        let current: Vec<String> = m
            .current
            .iter()
            .map(|(env, v)| format!("{env}={v}"))
            .collect();
        say!(
            "{}{}  [{}]",
            m.model,
            m.retired
                .as_ref()
                .map(|(i, _, why)| format!(" (retired, record {i}: {why})"))
                .unwrap_or_default(),
            current.join(", ")
        );
        for v in &m.versions {
            let tier = v.tier.map_or("tier ?".to_owned(), |t| format!("tier {t}"));
            let owner = v
                .owners
                .as_ref()
                .and_then(|o| o.get("owner").cloned())
                .unwrap_or_else(|| "-".into());
            let flags = [
                v.shadow.then_some("SHADOW"),
                v.retired.as_ref().map(|_| "retired"),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
            say!(
                "  {:<12} {tier}  owner {owner}  {} decision(s) {flags}",
                v.version,
                v.decisions
            );
            for (env, role, who, expires) in &v.approvals {
                say!("      {env}: {role} approval by {who}, expires {expires}");
            }
            for (env, (source, index, time)) in &v.deployments {
                say!("      deployed in {env}: reported by {source} at {time} (record {index})");
            }
        }
    }
    Ok(exit::OK)
}

fn report(ws: &Workspace, args: &ReportArgs, clock: &dyn Clock) -> CmdResult {
    let as_of = match &args.as_of {
        Some(t) => parse_rfc3339(t)
            .map_err(|e| CliError::invalid(format!("`--as-of` is not RFC 3339: {e}")))?,
        None => clock.now(),
    };
    let mut options = ReportOptions::new(as_of, ws.production_environments());
    options.window_days = args.window_days;
    options.failure_days = args.failure_days;
    options.expiring_days = args.expiring_days;
    if options.window_days == 0 {
        return Err(CliError::invalid("`--window-days` must be at least 1"));
    }
    let r = run_report(ws, &options)?;
    let text = match args.format {
        ReportFormat::Json => serde_json::to_string_pretty(&r).map_err(CliError::internal)?,
        ReportFormat::Md => render::markdown(&r),
        ReportFormat::Html => render::html(&r),
        ReportFormat::Csv => render::csv(&r),
    };
    write_output(args.out.as_deref(), text.trim_end())?;
    if args.out.is_some() {
        say!(
            "inventory report as of {}: population {}, {} findings, {} expiring",
            rfc3339(as_of),
            r.population,
            r.findings.len(),
            r.expiring.len()
        );
    }
    Ok(exit::OK)
}

/// The demo's last step: reports a deployment nobody registered, then prints each KPI with its
/// numerator and denominator, the findings about the shadow entry and what expires in 90 days.
pub fn demo_report(ws: &Workspace, clock: &dyn Clock) -> Result<String, CliError> {
    let mut store = ws.store()?;
    let shadow = ReportedDeployment {
        source: "nightly-job".into(),
        model: "recsys-legacy".into(),
        version: "0.3.1".into(),
        environment: "production".into(),
    };
    observe(&mut *store, &shadow, clock.now())?;
    let mut options = ReportOptions::new(clock.now(), ws.production_environments());
    options.expiring_days = 90;
    let r = ws.inventory_report(&options, &mut |_, _| {})?;
    let mut out = format!(
        "   population {} (production versions now), as of {}\n",
        r.population, r.as_of
    );
    let k = &r.kpis;
    for (name, x) in [
        ("inventory completeness", &k.inventory_completeness),
        ("documentation completeness", &k.documentation_completeness),
        ("drift coverage (tiers 0-1)", &k.drift_coverage),
        ("reproducible training", &k.reproducible_training_rate),
        ("approval currency", &k.approval_currency),
    ] {
        out.push_str(&format!(
            "   {name:<28} {}/{}\n",
            x.numerator, x.denominator
        ));
    }
    let l = &k.lead_time_to_production_hours;
    out.push_str(&format!(
        "   {:<28} median {} h, p90 {} h over {} promotion(s)\n",
        "lead time to production",
        l.median.map_or("n/a".into(), |v| v.to_string()),
        l.p90.map_or("n/a".into(), |v| v.to_string()),
        l.count
    ));
    let f = &k.deployment_frequency;
    out.push_str(&format!(
        "   {:<28} {} per week ({} in {} days)\n",
        "deployment frequency", f.per_week, f.count, f.window_days
    ));
    let c = &k.change_failure_rate;
    out.push_str(&format!(
        "   {:<28} {}/{}\n",
        "change failure rate", c.numerator, c.denominator
    ));
    for finding in r.findings.iter().filter(|f| f.model == shadow.model) {
        out.push_str(&format!(
            "   ! {} {}: {} — {}\n",
            finding.model, finding.version, finding.kind, finding.detail
        ));
    }
    for e in r.expiring.iter().take(4) {
        out.push_str(&format!(
            "   ⏲ {} {} {}: {}\n",
            e.expires_at,
            e.model.as_deref().unwrap_or("-"),
            e.version.as_deref().unwrap_or("-"),
            e.what
        ));
    }
    Ok(out.trim_end().to_owned())
}

fn kept_reports(ws: &Workspace, format: Format) -> CmdResult {
    let kept = crate::inventory::scheduled::list(&*ws.store()?)?;
    match format {
        Format::Json => say!(
            "{}",
            serde_json::to_string_pretty(&kept).map_err(CliError::internal)?
        ),
        Format::Text => {
            if kept.is_empty() {
                say!("no reports kept yet (`[[reports]]` in modelgate.toml, docs/reports.md)");
            }
            for r in &kept {
                say!(
                    "#{:<6} {:<24} as of {}  population {:<5} json {}  html {}",
                    r.id,
                    r.name,
                    r.as_of,
                    r.population,
                    r.json_digest,
                    r.html_digest
                );
            }
        }
    }
    Ok(exit::OK)
}
