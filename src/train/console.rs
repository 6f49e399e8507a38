//! What training tells a person while it runs: the run folder when training starts, one
//! line as each epoch closes, and why a finished run has nothing left to train. Epochs are
//! numbered from 1, as in `metrics.csv`.

use std::path::{Path, PathBuf};

use super::schedule::{Monitor, Schedule};
use super::state::{EpochMetrics, Finish, LoopState};

/// The monitored measure's name, as the lines print it.
fn measure(monitor: Monitor) -> &'static str {
    match monitor {
        Monitor::ValLoss => "val loss",
        Monitor::ValAuc => "val AUC",
    }
}

/// The line printed when training starts: where the run goes, and which epochs it runs.
pub fn start_line(run: &Path, epochs_done: usize, epochs: usize) -> String {
    if epochs_done == 0 {
        format!("training in {} (epochs 1..{epochs})", run.display())
    } else {
        format!(
            "resuming {} at epoch {}/{epochs}",
            run.display(),
            epochs_done + 1
        )
    }
}

/// The line printed as epoch `m` closes: its losses and validation AUC, the best epoch so
/// far and the epoch's seconds; `patience` when early stopping ends the run with it.
pub fn epoch_line(
    m: &EpochMetrics,
    epochs: usize,
    state: &LoopState,
    patience: Option<usize>,
) -> String {
    let auc = m.val.auc.map_or("-".to_string(), |a| format!("{a:.4}"));
    let best = match state.best {
        Some((value, epoch)) => {
            format!("best epoch {epoch} ({} {value:.4})", measure(state.monitor))
        }
        None => "no best epoch yet".to_string(),
    };
    let mut line = format!(
        "epoch {}/{epochs}: train loss {:.4}, val loss {:.4}, val AUC {auc}; {best}; {:.1} s",
        m.epoch, m.train_loss, m.val_loss, m.seconds
    );
    if let Some(p) = patience {
        line.push_str(&format!(
            "; early stop: no better {} for {p} epoch(s)",
            measure(state.monitor)
        ));
    }
    line
}

/// A run that `--resume` found finished under its pipeline's schedule: nothing is trained
/// and nothing in its folder changes.
#[derive(Debug, Clone)]
pub struct AlreadyFinished {
    /// The run folder.
    pub run: PathBuf,
    /// Why it is finished.
    pub finish: Finish,
    /// Epochs it ran.
    pub epochs_done: usize,
    /// Its best epoch's number (from 1).
    pub best_epoch: Option<usize>,
    /// The schedule that finished it.
    pub schedule: Schedule,
}

impl AlreadyFinished {
    /// The run in `run` as `state` leaves it, when it is finished under `schedule`.
    pub fn of(run: &Path, state: &LoopState, schedule: &Schedule) -> Option<Self> {
        Some(Self {
            run: run.to_path_buf(),
            finish: state.finished(schedule)?,
            epochs_done: state.epochs_done,
            best_epoch: state.best.map(|(_, e)| e),
            schedule: *schedule,
        })
    }
}

impl std::fmt::Display for AlreadyFinished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let run = self.run.display();
        let best = self
            .best_epoch
            .map_or(String::new(), |b| format!(", best epoch {b}"));
        let s = &self.schedule;
        let (why, raise) = match self.finish {
            Finish::Epochs => (
                format!("it ran all {} of its epochs", s.epochs),
                format!("schedule.epochs (now {})", s.epochs),
            ),
            Finish::Patience => (
                format!(
                    "it stopped early after epoch {}: no better {} for {} epoch(s)",
                    self.epochs_done,
                    measure(s.monitor),
                    s.patience.unwrap_or_default()
                ),
                format!("schedule.patience (now {})", s.patience.unwrap_or_default()),
            ),
        };
        write!(
            f,
            "{run} is already finished ({why}{best}); nothing was trained. To train it further, \
             raise {raise} in {} and resume again.",
            self.run.join("pipeline.ron").display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::metrics::Summary;

    fn metrics(epoch: usize) -> EpochMetrics {
        EpochMetrics {
            epoch,
            train_loss: 0.7,
            train: Summary::default(),
            val_loss: 0.65,
            val: Summary {
                auc: Some(0.75),
                ..Summary::default()
            },
            lr: 1e-3,
            seconds: 12.34,
            pairs_per_s: 1.0,
            same_ratio: (0.5, 0.5),
            ended_at: None,
            val_best_threshold_accuracy: None,
        }
    }

    #[test]
    fn an_epoch_line_says_the_epoch_its_losses_auc_best_and_seconds() {
        let state = LoopState {
            epochs_done: 3,
            best: Some((0.6, 2)),
            ..LoopState::default()
        };
        let line = epoch_line(&metrics(3), 50, &state, None);
        assert_eq!(
            line,
            "epoch 3/50: train loss 0.7000, val loss 0.6500, val AUC 0.7500; \
             best epoch 2 (val loss 0.6000); 12.3 s"
        );
        let stop = epoch_line(&metrics(3), 50, &state, Some(1));
        assert!(
            stop.ends_with("early stop: no better val loss for 1 epoch(s)"),
            "{stop}"
        );
    }

    #[test]
    fn a_finished_run_says_what_to_raise() {
        let state = LoopState {
            epochs_done: 5,
            best: Some((0.6, 2)),
            since_best: 3,
            ..LoopState::default()
        };
        let schedule = Schedule {
            epochs: 10,
            patience: Some(3),
            ..Schedule::default()
        };
        let done = AlreadyFinished::of(Path::new("runs/a-1"), &state, &schedule).unwrap();
        let text = done.to_string();
        assert!(text.contains("stopped early after epoch 5"), "{text}");
        assert!(text.contains("raise schedule.patience (now 3)"), "{text}");
        let all = Schedule {
            epochs: 5,
            ..schedule
        };
        let text = AlreadyFinished::of(Path::new("runs/a-1"), &state, &all)
            .unwrap()
            .to_string();
        assert!(text.contains("raise schedule.epochs (now 5)"), "{text}");
        let open = Schedule {
            patience: None,
            ..Schedule::default()
        };
        assert!(AlreadyFinished::of(Path::new("r"), &state, &open).is_none());
    }
}
