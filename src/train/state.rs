//! Where a training loop stands: every finished epoch's metrics and the best epoch so far,
//! saved beside the last checkpoint so `--resume` continues from it.
//!
//! Epochs are numbered from 1 wherever a person reads them (the console, `metrics.csv`,
//! `state.json`, `summary.json`, plots), so the history and the best epoch hold epoch
//! numbers 1..N. `state.json` files written before that (no `format` field) counted from 0;
//! they are renumbered as they are read, so old run folders keep resuming.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::metrics::Summary;
use super::schedule::{Monitor, Schedule};

/// The `format` of state and summary files whose epochs are numbered from 1.
pub const FORMAT: u32 = 2;

/// The `format` of files without one: written when epochs were numbered from 0.
pub(crate) fn legacy_format() -> u32 {
    1
}

/// One row of the per-epoch metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// The epoch's number, counted from 1 (the `epoch` column of `metrics.csv`).
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
///
/// Deserializing renumbers the epochs of a file without `format` (see the module's note).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct LoopState {
    /// How the file numbers epochs: [`FORMAT`] once read (older files are renumbered).
    #[serde(default = "legacy_format")]
    pub format: u32,
    /// Epochs finished (a count: the next epoch's number is one more).
    pub epochs_done: usize,
    /// Best value of the monitored measure so far and its epoch's number (from 1).
    pub best: Option<(f64, usize)>,
    /// The measure `best` holds; state files older than the option hold validation loss.
    #[serde(default)]
    pub monitor: Monitor,
    /// Epochs since the best.
    pub since_best: usize,
    /// Every finished epoch's metrics.
    pub history: Vec<EpochMetrics>,
}

impl Default for LoopState {
    fn default() -> Self {
        Self {
            format: FORMAT,
            epochs_done: 0,
            best: None,
            monitor: Monitor::default(),
            since_best: 0,
            history: Vec::new(),
        }
    }
}

impl Serialize for LoopState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        LoopState::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for LoopState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut state = LoopState::deserialize(deserializer)?;
        if state.format < FORMAT {
            // Written when epochs counted from 0: the same epochs, numbered from 1.
            for m in &mut state.history {
                m.epoch += 1;
            }
            if let Some((_, epoch)) = &mut state.best {
                *epoch += 1;
            }
        }
        state.format = FORMAT;
        Ok(state)
    }
}

/// Why a run has nothing left to train under its schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// It ran every epoch of `schedule.epochs`.
    Epochs,
    /// Early stopping: the monitored measure did not improve for `schedule.patience` epochs.
    Patience,
}

impl LoopState {
    /// Whether the run is over under `schedule`: all its epochs run, or stopped early and
    /// still out of patience. Raising `epochs` (or `patience`, after an early stop) is how
    /// a finished run is extended; a changed monitor forgets the best (see the trainer), so
    /// patience counts afresh.
    pub fn finished(&self, schedule: &Schedule) -> Option<Finish> {
        if self.epochs_done >= schedule.epochs {
            return Some(Finish::Epochs);
        }
        let out_of_patience = self.monitor == schedule.monitor
            && schedule.patience.is_some_and(|p| self.since_best >= p);
        out_of_patience.then_some(Finish::Patience)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_without_format_is_renumbered_from_one() {
        let old = r#"{"epochs_done": 2, "best": [0.5, 0], "since_best": 1, "history": [
            {"epoch": 0, "train_loss": 1, "train": {"accuracy": 0.5, "precision": 0.5, "recall": 1},
             "val_loss": 0.5, "val": {"accuracy": 0.5, "precision": 0.5, "recall": 1},
             "lr": 0.001, "seconds": 1, "pairs_per_s": 1},
            {"epoch": 1, "train_loss": 1, "train": {"accuracy": 0.5, "precision": 0.5, "recall": 1},
             "val_loss": 0.6, "val": {"accuracy": 0.5, "precision": 0.5, "recall": 1},
             "lr": 0.001, "seconds": 1, "pairs_per_s": 1}]}"#;
        let state: LoopState = serde_json::from_str(old).unwrap();
        assert_eq!(state.format, FORMAT);
        assert_eq!(state.best, Some((0.5, 1)));
        let epochs: Vec<usize> = state.history.iter().map(|m| m.epoch).collect();
        assert_eq!(epochs, [1, 2]);
        // Written back, it says its format and reads back unchanged.
        let json = serde_json::to_string(&state).unwrap();
        assert!(json.contains("\"format\":2"), "{json}");
        let again: LoopState = serde_json::from_str(&json).unwrap();
        assert_eq!(again.best, state.best);
        assert_eq!(again.history, state.history);
    }

    #[test]
    fn a_run_is_finished_at_its_epochs_or_out_of_patience_under_the_same_monitor() {
        let schedule = |epochs, patience| Schedule {
            epochs,
            patience,
            ..Schedule::default()
        };
        let state = LoopState {
            epochs_done: 4,
            since_best: 2,
            ..LoopState::default()
        };
        assert_eq!(state.finished(&schedule(4, None)), Some(Finish::Epochs));
        assert_eq!(state.finished(&schedule(6, None)), None);
        assert_eq!(
            state.finished(&schedule(6, Some(2))),
            Some(Finish::Patience)
        );
        assert_eq!(state.finished(&schedule(6, Some(3))), None);
        let other = Schedule {
            monitor: Monitor::ValAuc,
            ..schedule(6, Some(2))
        };
        assert_eq!(state.finished(&other), None, "a new monitor counts afresh");
    }
}
