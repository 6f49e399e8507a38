//! A finished run's plots: ROC curves, test score histograms, and loss and accuracy per
//! epoch.

use std::path::PathBuf;

use crate::eval::{plot_curves, plot_roc, plot_score_histograms, EvalError, Roc};

use super::evaluation::Scored;
use super::rundir::RunDir;
use super::state::{EpochMetrics, LoopState};

/// Writes the run's plots: ROC curves, test score histograms, and loss and accuracy per epoch.
///
/// # Errors
/// Metric and drawing errors.
pub fn plot_run(
    run: &RunDir,
    state: &LoopState,
    scored: &Scored,
    threshold: f64,
) -> Result<Vec<PathBuf>, EvalError> {
    let (vs, vl) = &scored.validation;
    let (ts, tl) = &scored.test;
    let val_roc = Roc::compute(vs, vl)?;
    let test_roc = Roc::compute(ts, tl)?;
    let roc = run.path().join("roc.png");
    plot_roc(&roc, &[("validation", &val_roc), ("test", &test_roc)])?;
    let same: Vec<f64> = ts
        .iter()
        .zip(tl)
        .filter(|(_, &l)| l)
        .map(|(&s, _)| s)
        .collect();
    let different: Vec<f64> = ts
        .iter()
        .zip(tl)
        .filter(|(_, &l)| !l)
        .map(|(&s, _)| s)
        .collect();
    let scores = run.path().join("test-scores.png");
    plot_score_histograms(&scores, &same, &different, Some(threshold))?;
    let h = &state.history;
    let col = |f: fn(&EpochMetrics) -> f64| -> Vec<f64> { h.iter().map(f).collect() };
    let (train_loss, val_loss) = (col(|m| m.train_loss), col(|m| m.val_loss));
    let loss = run.path().join("loss.png");
    plot_curves(
        &loss,
        "loss per epoch",
        &[("train", &train_loss), ("validation", &val_loss)],
        "loss",
    )?;
    let (ta, va) = (col(|m| m.train.accuracy), col(|m| m.val.accuracy));
    let accuracy = run.path().join("accuracy.png");
    plot_curves(
        &accuracy,
        "accuracy per epoch",
        &[("train", &ta), ("validation", &va)],
        "accuracy",
    )?;
    Ok(vec![roc, scores, loss, accuracy])
}
