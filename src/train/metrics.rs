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
    /// Area under the ROC curve; `None` when the pairs hold a single class.
    pub auc: Option<f64>,
}

/// Metrics of `scores` against `labels`, calling a pair same when its score is at least
/// `threshold`; with `None`, at the threshold that maximises accuracy on these very pairs.
pub fn summarize(scores: &[f64], labels: &[bool], threshold: Option<f64>) -> Summary {
    let auc = crate::eval::Roc::compute(scores, labels)
        .ok()
        .map(|roc| roc.auc());
    let t = match threshold {
        Some(t) => t,
        None => crate::eval::best_threshold(scores, labels).map_or(0.5, |t| t.value),
    };
    let c = crate::eval::Confusion::at(scores, labels, t).ok();
    let get = |f: fn(&crate::eval::Confusion) -> Option<f64>| c.as_ref().and_then(f).unwrap_or(0.0);
    Summary {
        accuracy: get(crate::eval::Confusion::accuracy),
        precision: get(crate::eval::Confusion::precision),
        recall: get(crate::eval::Confusion::recall),
        auc,
    }
}
