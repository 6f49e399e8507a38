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

/// Writes the run's plots: ROC curves, test score histograms at the validation `threshold`,
/// loss per epoch, and accuracy and AUC per epoch, with the best epoch marked; `fixed` is
/// the threshold the per-epoch accuracy was taken at (0.5 for binary cross-entropy).
///
/// # Errors
/// Metric and drawing errors.
pub fn plot_run(
    run: &RunDir,
    state: &LoopState,
    scored: &Scored,
    threshold: f64,
    fixed: f64,
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
    let best = best_position(state);
    let col = |f: fn(&EpochMetrics) -> f64| -> Vec<f64> { h.iter().map(f).collect() };
    let (train_loss, val_loss) = (col(|m| m.train_loss), col(|m| m.val_loss));
    let loss = run.path().join("loss.png");
    plot_curves(
        &loss,
        "loss per epoch",
        &[("train", &train_loss), ("validation", &val_loss)],
        "loss",
        best,
    )?;
    let series = accuracy_series(h, fixed);
    let series: Vec<(&str, &[f64])> = series
        .iter()
        .map(|(label, values)| (label.as_str(), values.as_slice()))
        .collect();
    let accuracy = run.path().join("accuracy.png");
    plot_curves(
        &accuracy,
        "accuracy and AUC per epoch",
        &series,
        "accuracy / AUC",
        best,
    )?;
    Ok(vec![roc, scores, loss, accuracy])
}

/// The best epoch's place on the plots' x axis, which counts the history's epochs from 1;
/// found by its epoch number, so however epochs are numbered the mark sits on its point.
fn best_position(state: &LoopState) -> Option<usize> {
    let (_, best) = state.best?;
    let at = state.history.iter().position(|m| m.epoch == best)?;
    Some(at + 1)
}

/// The accuracy plot's lines, labelled with what each shows. Accuracy at the `fixed`
/// threshold alone misleads when training moves every score (hard-negative mining pushes
/// them down): it falls while the scores separate better. Validation AUC, and accuracy at
/// each epoch's own best threshold, show the separation itself. Epochs from states that
/// predate the best-threshold accuracy are gaps (NaN).
fn accuracy_series(history: &[EpochMetrics], fixed: f64) -> Vec<(String, Vec<f64>)> {
    let col = |f: &dyn Fn(&EpochMetrics) -> Option<f64>| -> Vec<f64> {
        history.iter().map(|m| f(m).unwrap_or(f64::NAN)).collect()
    };
    vec![
        (
            format!("train accuracy (at {fixed})"),
            col(&|m| Some(m.train.accuracy)),
        ),
        (
            format!("val accuracy (at {fixed})"),
            col(&|m| Some(m.val.accuracy)),
        ),
        (
            "val accuracy (best threshold)".to_string(),
            col(&|m| m.val_best_threshold_accuracy),
        ),
        ("val AUC".to_string(), col(&|m| m.val.auc)),
    ]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::metrics::Summary;

    fn epoch(epoch: usize, val: f64, best: Option<f64>, auc: f64) -> EpochMetrics {
        EpochMetrics {
            epoch,
            train_loss: 0.5,
            train: Summary {
                accuracy: 0.9,
                ..Summary::default()
            },
            val_loss: 0.6,
            val: Summary {
                accuracy: val,
                auc: Some(auc),
                ..Summary::default()
            },
            val_best_threshold_accuracy: best,
            lr: 1e-3,
            seconds: 1.0,
            pairs_per_s: 1.0,
            same_ratio: (0.5, 0.5),
            ended_at: None,
        }
    }

    #[test]
    fn accuracy_plot_shows_auc_and_best_threshold_accuracy_beside_the_fixed_one() {
        // Mining shifts scores down: accuracy at 0.5 falls while AUC rises. An epoch from an
        // old state has no best-threshold accuracy.
        let history = [
            epoch(0, 0.78, None, 0.93),
            epoch(1, 0.72, Some(0.85), 0.94),
            epoch(2, 0.67, Some(0.87), 0.945),
        ];
        let series = accuracy_series(&history, 0.5);
        let labels: Vec<&str> = series.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(
            labels,
            [
                "train accuracy (at 0.5)",
                "val accuracy (at 0.5)",
                "val accuracy (best threshold)",
                "val AUC"
            ]
        );
        assert_eq!(series[1].1, [0.78, 0.72, 0.67]);
        assert!(series[2].1[0].is_nan() && series[2].1[1..] == [0.85, 0.87]);
        assert_eq!(series[3].1, [0.93, 0.94, 0.945]);
    }

    #[test]
    fn the_best_epoch_is_marked_at_its_place_in_the_history() {
        let history: Vec<_> = (0..4).map(|e| epoch(e, 0.7, None, 0.9)).collect();
        let mut state = LoopState {
            epochs_done: 4,
            best: Some((0.2, 2)),
            history,
            ..LoopState::default()
        };
        // Epoch index 2 is the third point, drawn at x = 3.
        assert_eq!(best_position(&state), Some(3));
        state.best = None;
        assert_eq!(best_position(&state), None);
        state.best = Some((0.2, 9));
        assert_eq!(best_position(&state), None, "an epoch not in the history");
    }
}
