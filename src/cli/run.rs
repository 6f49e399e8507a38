//! `twinflow run FILE`: runs a pipeline and prints what every stage did.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use crate::engine::metrics::{RunReport, Skipped};
use crate::pipeline::runner::{run as run_plan, RunSettings};
use crate::pipeline::validate::load;
use crate::stages::sink::Counts;

/// Arguments of `twinflow run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline file (with `--resume`, the run's own `pipeline.ron` is used).
    #[arg(required_unless_present = "resume")]
    pub pipeline: Option<PathBuf>,
    /// Continue the training run in this folder (e.g. `runs/paper-1`) from its last epoch.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<PathBuf>,
    /// The LFW-a folder (holding `lfw2/` and the pairs files); overrides the RON's `data.root`.
    /// With `--resume`, defaults to the dataset the run trained on (`RUN/data.json`); the same
    /// dataset at another path is fine, another one is refused without `--other-data`.
    #[arg(long, env = "TWINFLOW_DATA")]
    pub data: Option<PathBuf>,
    /// With `--resume`: continue on a `--data` that is not the dataset the run trained on
    /// (logged in `changes.log`).
    #[arg(long, requires = "resume")]
    pub other_data: bool,
    /// Train on this backend (`cpu` or `gpu`) instead of the pipeline's `device`; with `--resume`, an
    /// override that leaves the run's pipeline as it is.
    #[arg(long)]
    pub device: Option<crate::model::Device>,
    /// Also write the per-stage metrics as JSON to this file.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// No progress bars, no start line and no per-epoch lines (stderr keeps warnings and
    /// errors).
    #[arg(long, short)]
    pub quiet: bool,
    /// With `--resume`: accept edits of the run's `pipeline.ron` beyond `schedule.epochs`,
    /// `schedule.patience`, `schedule.monitor` and `device` (logged in `changes.log`).
    #[arg(long, requires = "resume")]
    pub allow_changes: bool,
    /// What the run folder keeps once training ends: `all` (default; `--resume` can extend
    /// the run) or `best` (best weights, metrics, plots and summary: drops the last weights
    /// and optimizer state, most of the folder's bytes).
    #[arg(long, value_enum, default_value_t)]
    pub keep: super::Keep,
}

/// The `--metrics` JSON document.
#[derive(Serialize)]
struct MetricsFile<'a> {
    pipeline: &'a Path,
    chains: Vec<Chain<'a>>,
    counts: &'a Counts,
    skipped: &'a [Skipped],
}

#[derive(Serialize)]
struct Chain<'a> {
    name: &'a str,
    #[serde(flatten)]
    report: &'a RunReport,
}

/// The process-wide Ctrl-C flag; the handler can only be installed once per process.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    Arc::clone(FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let handler_flag = Arc::clone(&flag);
        // Without a handler Ctrl-C still ends the process, just less tidily. The first
        // Ctrl-C stops the run within a step and keeps its checkpoint; a second one ends
        // the process at once (130: killed by SIGINT, by the shell's convention).
        let _ = ctrlc::set_handler(move || {
            if handler_flag.swap(true, Ordering::SeqCst) {
                eprintln!("\nsecond Ctrl-C: stopping now");
                std::process::exit(130);
            }
            eprintln!("\nCtrl-C: stopping after this step (press again to stop at once)");
        });
        flag
    }))
}

/// Images a scoring command loaded, and whether it must exit non-zero because some were
/// skipped under `on_error: Report` (they are listed on stderr).
pub(crate) struct Loaded {
    /// The decoded images.
    pub store: crate::stages::store::MemoryStore,
    /// True when images were skipped and the policy is `Report`.
    pub failed_items: bool,
}

impl Loaded {
    /// The exit code of a command that otherwise succeeded (see [`exit_code`]).
    pub fn exit_code(&self) -> ExitCode {
        exit_code(self.failed_items)
    }
}

/// The exit code of a command that otherwise succeeded: failure when items were skipped
/// under `on_error: Report`, saying so once more after the results.
pub(crate) fn exit_code(failed_items: bool) -> ExitCode {
    if failed_items {
        eprintln!("error: some items could not be processed (set on_error: Skip in the Decode stage to accept that)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Lists skipped items on stderr (the first 20).
pub(crate) fn print_skipped(skipped: &[crate::engine::metrics::Skipped]) {
    if skipped.is_empty() {
        return;
    }
    eprintln!("\n{} item(s) skipped:", skipped.len());
    for s in skipped.iter().take(20) {
        eprintln!("  [{}] {}: {}", s.stage, s.item, s.reason);
    }
    if skipped.len() > 20 {
        eprintln!("  ... and {} more (see --metrics)", skipped.len() - 20);
    }
}

/// Decodes and resizes `entries` as `plan`'s image stages do, into memory (with a progress
/// bar and Ctrl-C), for commands that score a finished run on some images. Images the
/// Decode stage's `on_error` policy skips are listed, never dropped silently.
///
/// # Errors
/// The image chain's first error (every error under `on_error: Abort`).
pub(crate) fn load_images(
    plan: &crate::pipeline::validate::Plan,
    data_root: PathBuf,
    entries: Vec<crate::data::ImageEntry>,
) -> anyhow::Result<Loaded> {
    let settings = RunSettings {
        data_root,
        progress: true,
        interrupt: Some(interrupt_flag()),
        ..RunSettings::default()
    };
    let (store, report) = crate::pipeline::runner::run_images(
        plan,
        &settings,
        entries,
        "memory",
        crate::stages::store::MemoryStore::new(),
    )?;
    print_skipped(&report.skipped);
    Ok(Loaded {
        store,
        failed_items: plan.decode.on_error.fails(report.skipped.len()),
    })
}

/// Runs the pipeline; exits non-zero when items were skipped under `on_error: Report`.
///
/// # Errors
/// Invalid pipelines, unusable data and stage failures, with context.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let pipeline_file = match (&args.resume, &args.pipeline) {
        (Some(run), _) => run.join("pipeline.ron"),
        (None, Some(file)) => file.clone(),
        (None, None) => anyhow::bail!("name a pipeline file, or a run folder with --resume"),
    };
    if let Some(path) = &args.metrics {
        // Found now, not after hours of training.
        super::check_output_file(path).context("--metrics")?;
    }
    let plan = load(&pipeline_file)?;
    for warning in &plan.warnings {
        eprintln!("warning: {}: {warning}", pipeline_file.display());
    }
    let root = match &args.resume {
        Some(run) => {
            super::run_data::run_data(
                run,
                args.data.as_deref(),
                args.other_data,
                &plan.pipeline.data,
            )?
            .root
        }
        None => super::run_data::data_root(args.data.as_deref(), &plan.pipeline.data)?,
    };
    let settings = RunSettings {
        data_root: root.clone(),
        progress: !args.quiet,
        interrupt: Some(interrupt_flag()),
        name: run_name(&pipeline_file),
        resume: args.resume.clone(),
        device: args.device,
        allow_changes: args.allow_changes,
    };
    let outcome = run_plan(&plan, &settings)
        .with_context(|| format!("running {} on {}", pipeline_file.display(), root.display()))?;
    if let Some(status) = &outcome.cache {
        println!("cache: {status}");
    }
    for (name, report) in &outcome.reports {
        println!("\n{name}:\n{}", report.table());
    }
    if let Some(finished) = &outcome.finished {
        // Not an error: the run is as the user wanted it; exit 0.
        println!("{finished}");
    } else if let Some(t) = &outcome.train {
        print_training(t);
        super::apply_keep(args.keep, &t.run)?;
    } else {
        println!("\nsink: {}", serde_json::to_string(&outcome.counts)?);
    }
    if let Some(path) = &args.metrics {
        let chains = outcome
            .reports
            .iter()
            .map(|(name, report)| Chain { name, report })
            .collect();
        let doc = MetricsFile {
            pipeline: &pipeline_file,
            chains,
            counts: &outcome.counts,
            skipped: &outcome.skipped,
        };
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing metrics to {}", path.display()))?;
        println!("metrics written to {}", path.display());
    }
    print_skipped(&outcome.skipped);
    Ok(exit_code(outcome.failed_items))
}

/// The run folder's default name: the pipeline file's stem (`paper` for `pipelines/paper.ron`).
fn run_name(file: &Path) -> String {
    file.file_stem()
        .map_or_else(|| "run".to_string(), |s| s.to_string_lossy().into_owned())
}

fn print_training(t: &crate::train::session::TrainSummary) {
    println!(
        "\ntrained {} parameters for {} epoch(s){} on {}; best epoch {}",
        t.parameters,
        t.epochs,
        if t.stopped_early { " (early stop)" } else { "" },
        t.device,
        t.best_epoch.map_or("-".into(), |b| b.to_string())
    );
    println!(
        "test evaluation ({} protocol, threshold chosen on validation; loss {:.4}):\n{}",
        t.protocol, t.test_loss, t.evaluation
    );
    for plot in &t.plots {
        println!("plot: {}", plot.display());
    }
    println!("run folder: {}", t.run.display());
}
