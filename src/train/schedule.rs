//! How long to train and what picks the best epoch: epochs, early stopping, the monitored
//! measure and the weight average.

use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// How long to train.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Schedule {
    /// The most epochs to run.
    pub epochs: usize,
    /// Stop when the monitored measure has not improved for this many epochs; `None` never
    /// stops.
    pub patience: Option<usize>,
    /// What picks the best epoch (its weights are kept and evaluated) and what `patience`
    /// waits on.
    pub monitor: Monitor,
    /// Validate, keep as best and evaluate an exponential moving average of the weights,
    /// with this decay per step (e.g. `Some(0.999)`: the last ~1,000 steps weigh most),
    /// instead of the last weights; `None` uses the last weights.
    pub average: Option<f64>,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            epochs: 50,
            patience: Some(3),
            monitor: Monitor::ValLoss,
            average: None,
        }
    }
}

/// The validation measure that picks the best epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Monitor {
    /// Lowest validation loss. Rewards calibrated scores as well as ranking.
    #[default]
    ValLoss,
    /// Highest validation AUC. Ranking only: the threshold is chosen on validation anyway,
    /// so scores that are shifted as a whole (as hard-negative mining makes them) do not
    /// count against an epoch.
    ValAuc,
}

impl Monitor {
    /// True when `value` is better than `best` under this measure; a NaN is never better.
    pub fn better(self, value: f64, best: f64) -> bool {
        match self {
            Self::ValLoss => value < best,
            Self::ValAuc => value > best,
        }
    }
}

impl Schedule {
    /// Appends every problem of the schedule's settings (`schedule.*`).
    pub fn problems(&self, out: &mut Vec<Problem>) {
        if self.epochs == 0 {
            out.push(Problem::new("schedule.epochs", "must be > 0"));
        }
        if self.patience == Some(0) {
            out.push(Problem::new(
                "schedule.patience",
                "must be > 0, or None to never stop early",
            ));
        }
        if let Some(decay) = self.average {
            if !(decay > 0.0 && decay < 1.0) {
                out.push(Problem::new(
                    "schedule.average",
                    format!("must be strictly between 0 and 1 (e.g. Some(0.999)), got {decay}"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_monitor_prefers_its_own_direction_and_never_a_nan() {
        assert!(Monitor::ValLoss.better(0.3, 0.4));
        assert!(!Monitor::ValLoss.better(0.5, 0.4));
        assert!(Monitor::ValAuc.better(0.9, 0.8));
        assert!(!Monitor::ValAuc.better(0.7, 0.8));
        for m in [Monitor::ValLoss, Monitor::ValAuc] {
            assert!(!m.better(f64::NAN, 0.5));
            assert!(!m.better(0.5, 0.5), "{m:?}: a tie keeps the earlier epoch");
        }
    }

    #[test]
    fn the_monitor_is_read_from_ron_and_defaults_to_validation_loss() {
        let s: Schedule = ron::from_str("(monitor: ValAuc)").expect("ron");
        assert_eq!(s.monitor, Monitor::ValAuc);
        let s: Schedule = ron::from_str("()").expect("ron");
        assert_eq!(s.monitor, Monitor::ValLoss);
    }
}
