//! Per-epoch classification metrics from scores and labels.

use serde::{Deserialize, Serialize};

/// Accuracy, precision and recall at a threshold, and the threshold-free AUC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Fraction of pairs classified right.
    pub accuracy: f64,
    /// Of the pairs called same, the fraction that are.
    pub precision: f64,
    /// Of the same pairs, the fraction called same.
    pub recall: f64,
    /// Area under the ROC curve.
    pub auc: f64,
}

/// Metrics of `scores` against `labels`, calling a pair same when its score is at least
/// `threshold`; with `None`, at the threshold that maximises accuracy on these very pairs.
pub fn summarize(scores: &[f64], labels: &[bool], threshold: Option<f64>) -> Summary {
    let auc = crate::eval::Roc::compute(scores, labels).map_or(f64::NAN, |roc| roc.auc());
    let t = match threshold {
        Some(t) => t,
        None => crate::eval::best_threshold(scores, labels).map_or(0.5, |t| t.value),
    };
    let (mut tp, mut fp, mut tn, mut fn_) = (0usize, 0usize, 0usize, 0usize);
    for (&s, &l) in scores.iter().zip(labels) {
        match (s >= t, l) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Summary {
        accuracy: ratio(tp + tn, scores.len()),
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fn_),
        auc,
    }
}
