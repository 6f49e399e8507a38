//! `twinflow sweep FILE...`: trains every pipeline of a list or a grid, resumably, and
//! tabulates them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::run::interrupt_flag;
use super::run_data::data_root;
use crate::pipeline::runner::{run as run_plan, RunSettings};
use crate::sweep::{
    load_experiments, prepare, record, run_dir, status, write_report, Experiment, Row, Status,
    SweepRecord,
};

/// Arguments of `twinflow sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Pipeline files (one run each) and grid files (one run per combination of values).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The LFW-a folder; overrides each pipeline's `data.root`.
    #[arg(long, env = "TWINFLOW_DATA")]
    pub data: Option<PathBuf>,
    /// The sweep folder [default: runs/sweep-<name of the first file, or its folder>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Cap every run's epochs (a reduced budget; recorded in each run's pipeline.ron).
    #[arg(long, value_name = "N", value_parser = super::at_least_one)]
    pub max_epochs: Option<usize>,
    /// List the experiments and their status, then stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Only rewrite the tables and figures from the runs finished so far.
    #[arg(long)]
    pub report: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
    /// Train every run on this backend (`cpu` or `gpu`) instead of each pipeline's `device`.
    #[arg(long)]
    pub device: Option<crate::model::Device>,
    /// What each finished run keeps: `all` (default) or `best` (drops the last weights and
    /// optimizer state, which only `--resume` reads: most of each run's bytes).
    #[arg(long, value_enum, default_value_t)]
    pub keep: super::Keep,
}

/// The default sweep folder: named after the grid file, or after the folder of a list.
fn default_out(files: &[PathBuf]) -> PathBuf {
    let first = &files[0];
    let name = if files.len() == 1 {
        first.file_stem()
    } else {
        first.parent().and_then(Path::file_name)
    };
    let name = name.map_or_else(|| "sweep".into(), |n| n.to_string_lossy().into_owned());
    PathBuf::from("runs").join(format!("sweep-{name}"))
}

/// Runs what is not done yet, then writes the tables and figures.
///
/// # Errors
/// Unusable files, data or sweep folder; a failing run stops the sweep (rerun to resume).
pub fn run(args: &SweepArgs) -> anyhow::Result<ExitCode> {
    let experiments = load_experiments(&args.files)?;
    let out = args.out.clone().unwrap_or_else(|| default_out(&args.files));
    let wanted = SweepRecord {
        files: args.files.clone(),
        max_epochs: args.max_epochs,
        experiments: experiments.iter().map(|e| e.id.clone()).collect(),
    };
    let total = experiments.len();
    let done = experiments
        .iter()
        .filter(|e| status(&out, &e.id) == Status::Done)
        .count();
    println!(
        "sweep {}: {total} run(s), {done} done{}",
        out.display(),
        args.max_epochs
            .map_or(String::new(), |n| format!(", at most {n} epoch(s) each"))
    );
    if args.dry_run {
        for e in &experiments {
            println!(
                "  {:?}\t{}\t{}",
                status(&out, &e.id),
                e.id,
                e.source.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Runs that skipped images under `on_error: Report`: the sweep finishes, then fails.
    let mut failed = Vec::new();
    if !args.report {
        record(&out, &wanted)?;
        let interrupt = interrupt_flag();
        for (i, e) in experiments.iter().enumerate() {
            let place = Place {
                out: &out,
                number: i + 1,
                total,
            };
            match run_one(args, e, &place, &interrupt)? {
                Ran::Interrupted => {
                    println!("interrupted; run the same command again to resume");
                    break;
                }
                Ran::SkippedItems => failed.push(e.id.clone()),
                Ran::Clean => {}
            }
        }
    }
    let mut rows = Vec::new();
    for e in &experiments {
        if status(&out, &e.id) == Status::Done {
            rows.push(Row::read(e, &run_dir(&out, &e.id))?);
        }
    }
    let files = write_report(&out, &rows)?;
    println!("\n{}", crate::sweep::results::markdown(&rows));
    for f in files {
        println!("wrote {}", f.display());
    }
    if !failed.is_empty() {
        eprintln!(
            "\n{} run(s) skipped images under on_error: Report ({}); each run lists them above",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(super::run::exit_code(!failed.is_empty()))
}

/// How one experiment's turn ended.
enum Ran {
    /// Done or already done, nothing skipped (or skips accepted by `on_error: Skip`).
    Clean,
    /// Trained, but skipped images under `on_error: Report`.
    SkippedItems,
    /// The user interrupted it.
    Interrupted,
}

/// Where an experiment stands in its sweep.
struct Place<'a> {
    out: &'a Path,
    number: usize,
    total: usize,
}

/// Trains one experiment of the sweep unless it is done, resuming a partial run.
fn run_one(
    args: &SweepArgs,
    e: &Experiment,
    place: &Place<'_>,
    interrupt: &Arc<AtomicBool>,
) -> anyhow::Result<Ran> {
    let out = place.out;
    let state = status(out, &e.id);
    if state == Status::Done {
        return Ok(Ran::Clean);
    }
    let dir = run_dir(out, &e.id);
    if state == Status::New && dir.exists() {
        // A run that died before its first epoch left nothing to resume; starting over in
        // the same folder keeps the sweep's layout `<id>-1`.
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("clearing the unfinished {}", dir.display()))?;
    }
    let plan = prepare(e, out, args.max_epochs);
    let root = data_root(args.data.as_deref(), &plan.pipeline.data)?;
    let resuming = if state == Status::Partial {
        ", resuming"
    } else {
        ""
    };
    println!(
        "\n[{}/{}] {} ({}{resuming})",
        place.number,
        place.total,
        e.id,
        e.source.display(),
    );
    let settings = RunSettings {
        data_root: root.clone(),
        progress: !args.quiet,
        interrupt: Some(Arc::clone(interrupt)),
        name: e.id.clone(),
        resume: (state == Status::Partial).then(|| dir.clone()),
        device: args.device,
        // A sweep only raises or caps epochs, which a resume accepts anyway.
        allow_changes: false,
    };
    let outcome = run_plan(&plan, &settings)
        .with_context(|| format!("sweep run {} on {}", e.id, root.display()))?;
    if let Some(t) = &outcome.train {
        super::apply_keep(args.keep, &t.run)?;
        println!(
            "  {} epoch(s), test accuracy {} ({} protocol), AUC {}",
            t.epochs,
            crate::eval::format::percent(t.evaluation.accuracy),
            t.protocol,
            crate::eval::format::auc(t.evaluation.auc)
        );
    }
    super::run::print_skipped(&outcome.skipped);
    Ok(if interrupt.load(Ordering::SeqCst) {
        Ran::Interrupted
    } else if outcome.failed_items {
        Ran::SkippedItems
    } else {
        Ran::Clean
    })
}
