//! A finished run's plots: ROC curves, test score histograms, and loss and accuracy per
//! epoch; the first two also go to TensorBoard as images.

use std::path::PathBuf;

use crate::eval::{plot_curves, plot_roc, plot_score_histograms, EvalError, Roc};

use super::evaluation::Scored;
use super::rundir::RunDir;
use super::state::{EpochMetrics, LoopState};
use super::tensorboard::{self, TensorBoardError};

/// The ROC curves' file in a run folder.
const ROC_PNG: &str = "roc.png";
/// The test score histograms' file in a run folder.
const SCORES_PNG: &str = "test-scores.png";

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
    let roc = run.path().join(ROC_PNG);
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
    let scores = run.path().join(SCORES_PNG);
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

/// Adds the ROC curves and the test score histograms that [`plot_run`] drew to the run's
/// TensorBoard files, at the last epoch's step (loss and accuracy are there as scalars).
///
/// # Errors
/// I/O failures; a plot that is not a PNG.
pub fn log_plots(run: &RunDir, state: &LoopState) -> Result<PathBuf, TensorBoardError> {
    let (roc, scores) = (run.path().join(ROC_PNG), run.path().join(SCORES_PNG));
    tensorboard::write_plots(
        run.path(),
        state.epochs_done,
        &[("plots/roc", &roc), ("plots/test_scores", &scores)],
    )
}
