//! The training loop, as the sink of the batch chain: batches in, forward, loss, backward,
//! optimizer step; at each epoch's end, validation metrics, checkpoints and early stopping.
//!
//! Batches arrive in order (the engine keeps it): each epoch's train batches, then its
//! validation batches. An epoch closes when the next epoch's first batch arrives, or at the
//! end of the stream.

use std::time::Instant;

use super::average::WeightAverage;
use super::commit::Checkpoint;
use super::config::TrainConfig;
use super::error::SessionError;
use super::metrics::summarize;
use super::refresh::Refresher;
use super::rundir::RunDir;
use super::schedule::{Monitor, Schedule};
use super::state::{EpochMetrics, LoopState};
use crate::cache::DataCheck;
use crate::engine::{Flow, PairBatch, Phase, Sink, StageContext, StageError};
use crate::model::{Head, ModelError, Network, Tensors, Weights};
use crate::stages::{Build, BuildError};

/// Scores and losses gathered over one phase of one epoch.
#[derive(Debug, Default)]
struct PhaseTally {
    loss_sum: f64,
    pairs: usize,
    scores: Vec<f64>,
    labels: Vec<bool>,
    ratio: Option<(f64, f64)>,
}

impl PhaseTally {
    fn add(&mut self, loss: f32, scores: &[f32], labels: &[f32]) {
        self.loss_sum += f64::from(loss) * scores.len() as f64;
        self.pairs += scores.len();
        self.scores.extend(scores.iter().map(|&s| f64::from(s)));
        self.labels.extend(labels.iter().map(|&l| l > 0.5));
        let same = labels.iter().filter(|&&l| l > 0.5).count() as f64 / labels.len().max(1) as f64;
        self.ratio = Some(
            self.ratio
                .map_or((same, same), |(lo, hi)| (lo.min(same), hi.max(same))),
        );
    }

    fn mean_loss(&self) -> f64 {
        self.loss_sum / self.pairs.max(1) as f64
    }
}

/// The `Train` stage's runtime.
pub struct Trainer {
    net: Box<dyn Network>,
    schedule: Schedule,
    run: RunDir,
    state: LoopState,
    epoch: Option<usize>,
    started: Instant,
    train: PhaseTally,
    val: PhaseTally,
    threshold: f64,
    stopped: bool,
    /// Publishes embeddings for a mining sampler.
    refresher: Option<Refresher>,
    /// The weight average that validation, the best checkpoint and evaluation use.
    average: Option<WeightAverage>,
    /// The reused cache's data checksum, being computed; waited for before the first commit.
    data_check: Option<DataCheck>,
    /// What the progress bar counts per epoch.
    /// Pairs of one epoch, train and validation: the progress bar's length.
    epoch_pairs: u64,
}

/// What the `Train` stage's build takes from its session: the network (built, or loaded
/// for a resume), where the run goes and where its loop stands.
pub struct TrainerParts {
    /// The network, with its optimizer and, when `average` is set, a started average.
    pub net: Box<dyn Network>,
    /// Epochs, early stopping, the monitor.
    pub schedule: Schedule,
    /// The run folder.
    pub run: RunDir,
    /// Where the loop stands; empty for a new run.
    pub state: LoopState,
    /// Publishes embeddings for a `HardNegative` sampler every `refresh_every` steps.
    pub refresher: Option<Refresher>,
    /// Validate, keep as best and evaluate the network's weight average, updated as this
    /// says, instead of the last weights.
    pub average: Option<WeightAverage>,
    /// The data checksum of the cache the batches come from, when it was reused unchecked:
    /// the first checkpoint waits for its verdict, so nothing learnt from damaged pixels is
    /// kept.
    pub data_check: Option<DataCheck>,
    /// What the progress bar counts per epoch.
    /// Pairs of one epoch, train and validation: the progress bar's length.
    pub epoch_pairs: u64,
}

impl Build<TrainerParts> for TrainConfig {
    type Runtime = Trainer;

    fn build(&self, parts: TrainerParts) -> Result<Trainer, BuildError> {
        let TrainerParts {
            net,
            schedule,
            run,
            mut state,
            refresher,
            average,
            data_check,
            epoch_pairs,
        } = parts;
        if state.monitor != schedule.monitor {
            // A resumed run that now monitors another measure: the kept best was chosen by the
            // old one, so the next epoch replaces it and patience counts afresh.
            state.best = None;
            state.since_best = 0;
            state.monitor = schedule.monitor;
        }
        let head = Head::new(net.spec().loss, net.spec().distance);
        Ok(Trainer {
            net,
            schedule,
            run,
            state,
            epoch: None,
            started: Instant::now(),
            train: PhaseTally::default(),
            val: PhaseTally::default(),
            threshold: head.default_threshold(),
            stopped: false,
            refresher,
            average,
            data_check,
            epoch_pairs,
        })
    }
}

impl Trainer {
    /// The loop's state (history, best epoch).
    pub fn state(&self) -> &LoopState {
        &self.state
    }

    /// The network as trained so far (the last weights, not the best).
    pub fn into_network(self) -> Box<dyn Network> {
        self.net
    }

    /// The weights that validation scores and the best checkpoint keeps.
    fn kept(&self) -> Weights {
        match self.average {
            Some(_) => Weights::Average,
            None => Weights::Live,
        }
    }

    /// The run folder.
    pub fn run_dir(&self) -> &RunDir {
        &self.run
    }

    /// True when early stopping ended the run.
    pub fn stopped_early(&self) -> bool {
        self.stopped
    }

    fn step(&mut self, b: &PairBatch) -> Result<(), StageError> {
        let err = |source: ModelError| StageError::Train {
            source: source.into(),
        };
        match b.phase {
            Phase::Train => {
                let step = self
                    .net
                    .train_step(&b.left, &b.right, &b.labels)
                    .map_err(err)?;
                if !step.loss.is_finite() {
                    return Err(self.diverged(
                        b.epoch,
                        Some(b.index),
                        format!("the loss ({})", step.loss),
                    ));
                }
                if let Some(average) = &mut self.average {
                    average.update(self.net.as_mut()).map_err(err)?;
                }
                self.train.add(step.loss, &step.scores, &b.labels);
                if let Some(refresher) = &self.refresher {
                    refresher
                        .after_step(self.net.as_mut(), b.epoch, b.index)
                        .map_err(|source| StageError::Train {
                            source: source.into(),
                        })?;
                }
            }
            Phase::Validation => {
                let which = self.kept();
                let (loss, scores) = self
                    .net
                    .evaluate(which, &b.left, &b.right, &b.labels)
                    .map_err(err)?;
                self.val.add(loss, &scores, &b.labels);
            }
        }
        Ok(())
    }

    /// Closes the current epoch: metrics, checkpoints, early stopping. Returns true to stop.
    fn close_epoch(&mut self, epoch: usize) -> Result<bool, StageError> {
        // Weights that are no longer finite are never checkpointed: the files on disk stay
        // the last good epoch's.
        let live = self
            .net
            .weights(Weights::Live)
            .map_err(|source| StageError::Train {
                source: source.into(),
            })?;
        if let Some((name, _, _)) = live
            .iter()
            .find(|(_, _, v)| v.iter().any(|x| !x.is_finite()))
        {
            return Err(self.diverged(epoch, None, format!("weight tensor {name}")));
        }
        if let Some(check) = self.data_check.take() {
            let cache = check.path().to_path_buf();
            check.wait().map_err(|source| {
                let source = Box::new(source);
                // Only a failed checksum moved the file aside; a check that could not run
                // says so, without claiming damage.
                let source = match *source {
                    crate::cache::CacheError::Checksum { .. } => SessionError::CacheDamaged {
                        epoch: epoch + 1,
                        aside: crate::cache::check::damaged_name(&cache),
                        run: self.run.path().to_path_buf(),
                        source,
                    },
                    _ => SessionError::CacheCheck { source },
                };
                StageError::Train {
                    source: source.into(),
                }
            })?;
        }
        let (train, val) = (
            std::mem::take(&mut self.train),
            std::mem::take(&mut self.val),
        );
        let seconds = self.started.elapsed().as_secs_f64();
        let metrics = EpochMetrics {
            epoch: epoch + 1,
            train_loss: train.mean_loss(),
            train: summarize(&train.scores, &train.labels, Some(self.threshold)),
            val_loss: val.mean_loss(),
            val: summarize(&val.scores, &val.labels, Some(self.threshold)),
            val_best_threshold_accuracy: crate::eval::best_threshold(&val.scores, &val.labels)
                .ok()
                .map(|t| t.accuracy),
            lr: self.net.spec().optimizer.lr_at(self.net.steps() as i32),
            seconds,
            pairs_per_s: train.pairs as f64 / seconds.max(1e-9),
            same_ratio: train.ratio.unwrap_or_default(),
            ended_at: Some(super::state::unix_now()),
        };
        let value = match self.schedule.monitor {
            Monitor::ValLoss => metrics.val_loss,
            Monitor::ValAuc => metrics.val.auc.unwrap_or(f64::NAN),
        };
        let improved = match self.state.best {
            None => !value.is_nan(),
            Some((best, _)) => self.schedule.monitor.better(value, best),
        };
        if improved {
            self.state.best = Some((value, epoch + 1));
            self.state.since_best = 0;
        } else {
            self.state.since_best += 1;
        }
        self.state.history.push(metrics);
        self.state.epochs_done = epoch + 1;
        self.save(improved, live)
            .map_err(|source| StageError::Train {
                source: source.into(),
            })?;
        self.started = Instant::now();
        Ok(self
            .schedule
            .patience
            .is_some_and(|p| self.state.since_best >= p))
    }
}

impl Trainer {
    /// Says on stderr (unless `-q`) how the epoch just closed went; `stop` when early
    /// stopping ends the run with it.
    fn tell_epoch(&self, ctx: &StageContext, stop: bool) {
        if let Some(m) = self.state.history.last() {
            let line = super::console::epoch_line(
                m,
                self.schedule.epochs,
                &self.state,
                self.schedule.patience.filter(|_| stop),
            );
            ctx.note(&line);
        }
    }

    /// The error that stops a diverged run in `epoch` (0-based) at `batch` (0-based; `None`
    /// at the epoch's end), before its checkpoint is written.
    fn diverged(&self, epoch: usize, batch: Option<usize>, what: String) -> StageError {
        StageError::Train {
            source: SessionError::Diverged {
                epoch: epoch + 1,
                batch: batch.map(|b| b + 1),
                what,
                kept: self.state.epochs_done,
            }
            .into(),
        }
    }

    /// Commits the epoch's checkpoint as one step: the best weights when `improved`, the
    /// average, the last weights (`params`), the optimizer and the loop state.
    fn save(&mut self, improved: bool, params: Tensors) -> Result<(), SessionError> {
        let best = match (improved, self.kept()) {
            (false, _) | (true, Weights::Live) => None,
            (true, which) => Some(self.net.weights(which)?),
        };
        let average = match &self.average {
            Some(average) => Some((self.net.weights(Weights::Average)?, average.steps())),
            None => None,
        };
        let mut optimizer = self.net.optimizer_state()?;
        // The refresh the next batches mine with: a resume publishes it as it was.
        if let Some(refresher) = &self.refresher {
            optimizer.tensors.extend(refresher.saved());
        }
        self.run.commit(&Checkpoint {
            best: improved.then(|| best.as_ref().unwrap_or(&params)),
            average: average.as_ref().map(|(t, s)| (t, *s)),
            last: &params,
            optimizer: &optimizer,
            state: &self.state,
        })?;
        Ok(())
    }
}

impl Sink<PairBatch> for Trainer {
    fn consume(&mut self, batch: PairBatch, ctx: &StageContext) -> Result<Flow, StageError> {
        if let Some(current) = self.epoch.filter(|&e| e != batch.epoch) {
            let stop = self.close_epoch(current)?;
            self.tell_epoch(ctx, stop);
            if stop {
                self.stopped = true;
                self.epoch = None;
                return Ok(Flow::Stop);
            }
        }
        if self.epoch.is_none() {
            self.started = Instant::now();
        }
        if self.epoch != Some(batch.epoch) {
            let (k, n) = (batch.epoch + 1, self.schedule.epochs);
            ctx.progress_section(format!("epoch {k}/{n}"), self.epoch_pairs);
        }
        self.epoch = Some(batch.epoch);
        self.step(&batch)?;
        Ok(Flow::Continue)
    }

    fn finish(&mut self, ctx: &StageContext) -> Result<(), StageError> {
        if let Some(epoch) = self.epoch.take() {
            self.stopped = self.close_epoch(epoch)?;
            self.tell_epoch(ctx, self.stopped);
        }
        Ok(())
    }
}
