//! Where a training loop stands: every finished epoch's metrics and the best epoch so far,
//! saved beside the last checkpoint so `--resume` continues from it.

use serde::{Deserialize, Serialize};

use super::metrics::Summary;
use super::schedule::Monitor;

/// One row of the per-epoch metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 0-based epoch.
    pub epoch: usize,
    /// Train loss without penalties, mean over pairs.
    pub train_loss: f64,
    /// Train accuracy at the score threshold 0.5 (BCE) or 0 (contrastive's negative distance
    /// at the best validation threshold).
    pub train: Summary,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation metrics.
    pub val: Summary,
    /// Validation accuracy at the threshold that maximises it on these very pairs: optimistic
    /// (the threshold is fit to the pairs it scores), but unlike the fixed threshold of
    /// `val` it does not fall when training shifts every score (hard-negative mining does),
    /// so a plot of it beside `val.auc` tells over-fitting from a drifting score scale.
    /// `None` for a validation set of one class, and in states written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_best_threshold_accuracy: Option<f64>,
    /// Learning rate at the epoch's end.
    pub lr: f64,
    /// Seconds the epoch took.
    pub seconds: f64,
    /// Train pairs per second of the whole epoch, validation included.
    pub pairs_per_s: f64,
    /// Lowest and highest fraction of same pairs in any train batch of the epoch.
    #[serde(default)]
    pub same_ratio: (f64, f64),
    /// When the epoch ended, in seconds since the Unix epoch: the wall time of its
    /// TensorBoard event. `None` in states written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<f64>,
}

/// Now, in seconds since the Unix epoch (0 on a clock set before it), to the millisecond:
/// JSON then gives back the very same number (13 significant digits parse exactly), so a
/// resumed run's history reproduces the times it had in memory.
pub fn unix_now() -> f64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    ms as f64 / 1000.0
}

/// Where the loop stands, saved beside the last checkpoint so `--resume` can continue.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoopState {
    /// Epochs finished.
    pub epochs_done: usize,
    /// Best value of the monitored measure so far and its epoch.
    pub best: Option<(f64, usize)>,
    /// The measure `best` holds; state files older than the option hold validation loss.
    #[serde(default)]
    pub monitor: Monitor,
    /// Epochs since the best.
    pub since_best: usize,
    /// Every finished epoch's metrics.
    pub history: Vec<EpochMetrics>,
}
