//! `twinflow eval --run RUN --pairs FILE`: a trained network on any pairs file, at the
//! threshold chosen on validation when it was trained, plus LFW-style k-fold accuracy.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::run::load_images;
use super::run_data::{run_data, RunData};
use super::say;
use crate::data::{read_pairs, ImageKey};
use crate::eval::format::{auc, percent, percent_or_na};
use crate::eval::{
    contiguous_folds, kfold_accuracy, plot_roc, plot_score_histograms, Confusion, Eer, KFold, Roc,
};
use crate::pipeline::trained::load_trained;
use crate::train::scoring::score_pairs_with;

/// Arguments of `twinflow eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A finished training run (e.g. `runs/paper-1`).
    #[arg(long)]
    pub run: PathBuf,
    /// The backend to score on (`cpu` or `gpu`); overrides the run's own `device` without editing it.
    #[arg(long)]
    pub device: Option<crate::model::Device>,
    /// The pairs file to score, in the LFW format (e.g. `pairsDevTest.txt` or `pairs.txt`). A
    /// relative path is looked up in the current folder first, then in the run's dataset;
    /// the output names the file used.
    #[arg(long)]
    pub pairs: PathBuf,
    /// The LFW-a folder; defaults to the dataset the run trained on (`RUN/data.json`), else
    /// `TWINFLOW_DATA` or the run pipeline's `data.root`. The same dataset at another path is
    /// fine; another dataset is refused without `--other-data`.
    #[arg(long, env = "TWINFLOW_DATA")]
    pub data: Option<PathBuf>,
    /// Accept a `--data` that is not the dataset the run trained on.
    #[arg(long)]
    pub other_data: bool,
    /// Folds for the cross-validated accuracy when the file has no folds of its own.
    #[arg(long, default_value_t = 10)]
    pub folds: usize,
    /// Where to write roc.csv, plots and eval.json; defaults to `RUN/eval-<pairs file name>`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What `eval` writes to `eval.json`.
#[derive(Serialize)]
struct EvalReport {
    pairs_file: PathBuf,
    pairs: usize,
    threshold: f64,
    accuracy: Option<f64>,
    precision: Option<f64>,
    recall: Option<f64>,
    confusion: Confusion,
    auc: f64,
    eer: Eer,
    kfold: KFold,
}

/// Scores the pairs and reports accuracy, AUC, EER, ROC points and k-fold accuracy.
///
/// # Errors
/// An unusable run, data or pairs file.
pub fn run(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let mut trained = load_trained(&args.run, args.device)
        .with_context(|| format!("loading {}", args.run.display()))?;
    let RunData { root, dataset } = run_data(
        &args.run,
        args.data.as_deref(),
        args.other_data,
        &trained.plan.pipeline.data,
    )?;
    let pairs_file = pairs_file(&args.pairs, &root);
    let pairs = read_pairs(&pairs_file)?;
    dataset.check_pairs(&pairs, &pairs_file)?;
    let needed: BTreeSet<&ImageKey> = pairs.iter().flat_map(|p| [&p.a, &p.b]).collect();
    let entries = dataset
        .images
        .iter()
        .filter(|e| needed.contains(&e.key))
        .cloned()
        .collect();
    let loaded = load_images(&trained.plan, root, entries)?;
    let store = &loaded.store;
    let keys: Vec<(ImageKey, ImageKey)> =
        pairs.iter().map(|p| (p.a.clone(), p.b.clone())).collect();
    let flip = trained.eval_flip();
    let (scores, labels, _) = score_pairs_with(trained.net.as_mut(), store, &keys, 128, flip)?;
    let roc = Roc::compute(&scores, &labels)?;
    let distinct: BTreeSet<usize> = pairs.iter().map(|p| p.fold).collect();
    let folds = if distinct.len() > 1 {
        pairs.iter().map(|p| p.fold).collect()
    } else {
        contiguous_folds(&labels, args.folds)?
    };
    let confusion = Confusion::at(&scores, &labels, trained.threshold)?;
    let report = EvalReport {
        pairs_file: pairs_file.clone(),
        pairs: scores.len(),
        threshold: trained.threshold,
        accuracy: confusion.accuracy(),
        precision: confusion.precision(),
        recall: confusion.recall(),
        confusion,
        auc: roc.auc(),
        eer: roc.eer(),
        kfold: kfold_accuracy(&scores, &labels, &folds)?,
    };
    let out = write_outputs(args, &report, &roc, &scores, &labels)?;
    say(&format!(
        "{} pairs from {}\nthreshold {:.4} (chosen on validation in training)\naccuracy  {}\nprecision {}  recall {}\nAUC       {}\nEER       {}\n{}-fold accuracy {} ± {} (standard error)\nwritten: {}\n",
        report.pairs,
        pairs_file.display(),
        report.threshold,
        percent_or_na(report.accuracy),
        percent_or_na(report.precision),
        percent_or_na(report.recall),
        auc(report.auc),
        percent(report.eer.rate),
        report.kfold.per_fold.len(),
        percent(report.kfold.mean),
        percent(report.kfold.std_error),
        out.display()
    ))?;
    Ok(loaded.exit_code())
}

/// The pairs file `eval` reads: `given` itself unless it is a relative path that names no
/// file in the current folder but one in the dataset (`--pairs pairsDevTest.txt`, as the
/// help suggests), which is then used, with a note on stderr.
fn pairs_file(given: &Path, root: &Path) -> PathBuf {
    let in_dataset = root.join(given);
    if given.is_relative() && !given.exists() && in_dataset.is_file() {
        eprintln!(
            "pairs: {} (from the dataset; there is no {} here)",
            in_dataset.display(),
            given.display()
        );
        return in_dataset;
    }
    given.to_path_buf()
}

/// Writes `roc.csv`, `eval.json`, the ROC curve and the score histograms into the output
/// folder (by default `<run>/eval-<pairs file>`), and returns it.
fn write_outputs(
    args: &EvalArgs,
    report: &EvalReport,
    roc: &Roc,
    scores: &[f64],
    labels: &[bool],
) -> anyhow::Result<PathBuf> {
    let stem = args
        .pairs
        .file_stem()
        .map_or("pairs".into(), |s| s.to_string_lossy().into_owned());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.run.join(format!("eval-{stem}")));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut csv = String::from("fpr,tpr,threshold\n");
    for ((fpr, tpr), t) in roc.points().zip(roc.thresholds()) {
        let _ = writeln!(csv, "{fpr},{tpr},{t}");
    }
    std::fs::write(out.join("roc.csv"), csv)?;
    std::fs::write(out.join("eval.json"), serde_json::to_string_pretty(report)?)?;
    plot_roc(&out.join("roc.png"), &[(stem.as_str(), roc)])?;
    let same: Vec<f64> = scores
        .iter()
        .zip(labels)
        .filter(|(_, &l)| l)
        .map(|(&s, _)| s)
        .collect();
    let diff: Vec<f64> = scores
        .iter()
        .zip(labels)
        .filter(|(_, &l)| !l)
        .map(|(&s, _)| s)
        .collect();
    plot_score_histograms(
        &out.join("scores.png"),
        &same,
        &diff,
        Some(report.threshold),
    )?;
    Ok(out)
}
