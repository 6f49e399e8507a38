//! A sweep's results: one row per finished run, read back from its run folder, written as a
//! markdown and a CSV table, plus the figures across runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Experiment, SweepError};
use crate::eval::format::{auc, percent};
use crate::eval::{plot_by_setting, plot_curves, SettingPoint};
use crate::model::{Init, OptimizerConfig};
use crate::pipeline::validate::Plan;
use crate::pipeline::StageConfig;
use crate::train::rundir::RunDir;
use crate::train::session::TrainSummary;

/// The settings that describe a run in tables and figures, as (name, value) text.
///
/// These are the knobs the seed report varied plus those of the climb; a column is shown only
/// when its value differs between the runs of a sweep.
pub fn settings_of(plan: &Plan) -> Vec<(&'static str, String)> {
    let p = &plan.pipeline;
    let (w, h) = plan.image_size();
    let (optimizer, lr) = match p.optimizer {
        OptimizerConfig::Adam { lr, .. } => ("Adam", lr),
        OptimizerConfig::RmsProp { lr, .. } => ("RMSprop", lr),
        OptimizerConfig::Sgd { lr, .. } => ("SGD", lr),
    };
    let init = match p.model.init.conv_weight {
        Init::Normal { .. } => "normal",
        Init::GlorotNormal => "glorot",
        Init::LecunNormal => "lecun",
        Init::Zeros => "zeros",
    };
    let loss = p.loss.to_string();
    let (sampler, ratio, batch) =
        plan.pair_batch
            .as_ref()
            .map_or(("-".to_string(), "-".to_string(), 0), |c| {
                let ratio = c
                    .sampler
                    .same_ratio()
                    .map_or("-".to_string(), |r| r.to_string());
                (c.sampler.name().to_string(), ratio, c.batch_size)
            });
    let filters = p
        .model
        .conv
        .iter()
        .map(|c| c.filters.to_string())
        .collect::<Vec<_>>()
        .join("/");
    vec![
        ("protocol", protocol(plan).to_string()),
        ("sampler", sampler),
        ("same_ratio", ratio),
        ("batch", batch.to_string()),
        ("lr", lr.to_string()),
        ("optimizer", optimizer.to_string()),
        ("init", init.to_string()),
        ("loss", loss),
        ("distance", format!("{:?}", p.distance)),
        (
            "dropout",
            p.model
                .dropout
                .map_or("-".to_string(), |d| d.first.to_string()),
        ),
        ("filters", filters),
        ("units", p.model.dense.units.to_string()),
        ("batch_norm", p.model.batch_norm.to_string()),
        (
            "augment",
            plan.batch
                .iter()
                .any(|s| matches!(s, StageConfig::Augment(a) if a.enabled))
                .to_string(),
        ),
        ("input", format!("{w}x{h}")),
    ]
}

fn protocol(plan: &Plan) -> &'static str {
    plan.pair_batch
        .as_ref()
        .map_or("restricted", |c| c.sampler.protocol())
}

/// One finished run of a sweep.
#[derive(Debug, Clone)]
pub struct Row {
    /// The experiment id.
    pub id: String,
    /// The run folder.
    pub run: PathBuf,
    /// [`settings_of`] the run's plan.
    pub settings: Vec<(&'static str, String)>,
    /// The run's summary.
    pub summary: TrainSummary,
    /// Train loss, train accuracy, validation loss and validation accuracy at the best epoch.
    pub best: (f64, f64, f64, f64),
    /// Training seconds over all epochs (from the per-epoch times, so resumes add up).
    pub seconds: f64,
    /// Validation accuracy per epoch.
    pub val_accuracy: Vec<f64>,
    /// Validation loss per epoch.
    pub val_loss: Vec<f64>,
}

impl Row {
    /// Reads a finished experiment's run folder.
    ///
    /// # Errors
    /// [`SweepError::Io`], [`SweepError::Json`] or [`SweepError::RunDir`] when `summary.json`
    /// or `state.json` is missing or damaged.
    pub fn read(experiment: &Experiment, run: &Path) -> Result<Self, SweepError> {
        let path = run.join("summary.json");
        let text = std::fs::read_to_string(&path).map_err(|source| SweepError::Io {
            path: path.clone(),
            action: "read",
            source,
        })?;
        let summary: TrainSummary =
            serde_json::from_str(&text).map_err(|source| SweepError::Json {
                path,
                action: "parse",
                source,
            })?;
        let state = RunDir::open(run).and_then(|d| d.load_state())?;
        let best_epoch = summary.best_epoch.unwrap_or(0);
        let best = state
            .history
            .iter()
            .find(|m| m.epoch == best_epoch)
            .or(state.history.last())
            .map_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN), |m| {
                (m.train_loss, m.train.accuracy, m.val_loss, m.val.accuracy)
            });
        Ok(Self {
            id: experiment.id.clone(),
            run: run.to_path_buf(),
            settings: settings_of(&experiment.plan),
            best,
            seconds: state.history.iter().map(|m| m.seconds).sum(),
            val_accuracy: state.history.iter().map(|m| m.val.accuracy).collect(),
            val_loss: state.history.iter().map(|m| m.val_loss).collect(),
            summary,
        })
    }
}

/// The settings that differ between rows (the table's setting columns), in settings order.
fn varying(rows: &[Row]) -> Vec<&'static str> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    first
        .settings
        .iter()
        .filter(|(name, value)| {
            rows.iter()
                .any(|r| r.settings.iter().any(|(n, v)| n == name && v != value))
        })
        .map(|(name, _)| *name)
        .collect()
}

fn setting<'a>(row: &'a Row, name: &str) -> &'a str {
    row.settings
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("-", |(_, v)| v.as_str())
}

const MEASURES: [&str; 12] = [
    "epochs",
    "best_epoch",
    "seconds",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "test_loss",
    "test_acc",
    "test_acc_ci95",
    "test_auc",
    "test_eer",
];

fn measures(r: &Row) -> [String; 12] {
    let e = &r.summary.evaluation;
    let ci = e.accuracy_ci95.map_or("-".to_string(), |i| {
        format!("[{}, {}]", percent(i.lower), percent(i.upper))
    });
    [
        r.summary.epochs.to_string(),
        r.summary.best_epoch.map_or("-".into(), |b| b.to_string()),
        format!("{:.0}", r.seconds),
        format!("{:.4}", r.best.0),
        percent(r.best.1),
        format!("{:.4}", r.summary.val_loss),
        percent(e.val_accuracy),
        format!("{:.4}", r.summary.test_loss),
        percent(e.accuracy),
        ci,
        auc(e.auc),
        percent(e.eer.rate),
    ]
}

/// The results table in markdown: the settings shared by every run above it, one row per run.
pub fn markdown(rows: &[Row]) -> String {
    let cols = varying(rows);
    let mut out = String::new();
    if let Some(first) = rows.first() {
        let shared: Vec<String> = first
            .settings
            .iter()
            .filter(|(n, _)| !cols.contains(n))
            .map(|(n, v)| format!("{n} {v}"))
            .collect();
        let _ = writeln!(out, "Shared by every run: {}.\n", shared.join(", "));
    }
    let mut header = vec!["run"];
    header.extend(&cols);
    header.extend(MEASURES);
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for r in rows {
        let mut cells = vec![r.id.clone()];
        cells.extend(cols.iter().map(|c| setting(r, c).to_string()));
        cells.extend(measures(r));
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(
        out,
        "\ntrain loss and accuracy: the best epoch's (accuracy at threshold 0.5, or half the \
         margin for contrastive); val and test: the best weights', accuracy at the threshold \
         chosen on validation (test accuracy with its 95% bootstrap interval); best_epoch is \
         1-based; seconds = training time over all epochs."
    );
    out
}

/// The results table as CSV, every setting and measure in its own column.
pub fn csv(rows: &[Row]) -> String {
    let names: Vec<&str> = rows
        .first()
        .map(|r| r.settings.iter().map(|(n, _)| *n).collect())
        .unwrap_or_default();
    let mut out = String::new();
    let mut header = vec!["run"];
    header.extend(&names);
    header.extend(MEASURES);
    header.push("folder");
    let _ = writeln!(out, "{}", header.join(","));
    let quote = |s: &str| {
        if s.contains([',', '"']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    for r in rows {
        let mut cells = vec![quote(&r.id)];
        cells.extend(names.iter().map(|n| quote(setting(r, n))));
        cells.extend(measures(r).iter().map(|m| quote(m)));
        cells.push(quote(&r.run.display().to_string()));
        let _ = writeln!(out, "{}", cells.join(","));
    }
    out
}

/// Writes `results.md`, `results.csv`, validation accuracy and loss per epoch across runs
/// (`val-accuracy.png`, `val-loss.png`) and accuracy against each varying setting
/// (`accuracy-by-<setting>.png`), the seed report's Figures 7-9. Returns the files written.
///
/// # Errors
/// I/O and drawing errors.
pub fn write_report(dir: &Path, rows: &[Row]) -> Result<Vec<PathBuf>, SweepError> {
    let write = |name: &str, text: &str| -> Result<PathBuf, SweepError> {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| SweepError::Io {
            path: path.clone(),
            action: "write",
            source,
        })?;
        Ok(path)
    };
    let mut files = vec![
        write("results.md", &markdown(rows))?,
        write("results.csv", &csv(rows))?,
    ];
    if rows.is_empty() {
        return Ok(files);
    }
    let acc: Vec<(&str, &[f64])> = rows
        .iter()
        .map(|r| (r.id.as_str(), r.val_accuracy.as_slice()))
        .collect();
    let loss: Vec<(&str, &[f64])> = rows
        .iter()
        .map(|r| (r.id.as_str(), r.val_loss.as_slice()))
        .collect();
    for (name, title, series, y) in [
        (
            "val-accuracy.png",
            "validation accuracy per epoch",
            &acc,
            "accuracy",
        ),
        ("val-loss.png", "validation loss per epoch", &loss, "loss"),
    ] {
        let path = dir.join(name);
        plot_curves(&path, title, series, y, None)?;
        files.push(path);
    }
    for col in varying(rows) {
        let points: Vec<SettingPoint<'_>> = rows
            .iter()
            .map(|r| SettingPoint {
                value: setting(r, col),
                measures: vec![
                    r.summary.evaluation.val_accuracy,
                    r.summary.evaluation.accuracy,
                ],
            })
            .collect();
        let path = dir.join(format!("accuracy-by-{col}.png"));
        plot_by_setting(&path, col, &["validation", "test"], &points, "accuracy")?;
        files.push(path);
    }
    Ok(files)
}
