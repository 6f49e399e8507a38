//! One training run from a plan: build (or resume) the network, stream batches into the
//! [`Trainer`], then score validation and test pairs with the best weights and write the
//! run's summary. Thresholds are chosen on validation, never on test.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::average::WeightAverage;
use super::checkpoint;
use super::config::TrainConfig;
use super::console::{start_line, AlreadyFinished};
use super::data_record::DataRecord;
use super::error::SessionError;
use super::evaluation::{evaluate, EvalPairs};
use super::plots::{log_plots, plot_run};
use super::refresh::Refresher;
use super::rundir::RunDir;
use super::schedule::Schedule;
use super::state::{self, Finish, LoopState};
use super::trainer::TrainerParts;
use crate::cache::{DataCheck, ImageStore};
use crate::engine::metrics::RunReport;
use crate::engine::{
    run as run_chain, Chain, PairBatch, PipelineError, RunOptions, SourceStage, TransformStage,
};
use crate::eval::ValTestReport;
use crate::model::OptimizerConfig;
use crate::model::Tensors;
use crate::model::{build, Device, Distance, Loss, ModelConfig, NetSpec, Network, Weights};
use crate::stages::pair_batch::PairBatchSource;
use crate::stages::Build;

/// What a training run produced.
///
/// Deserializing renumbers the best epoch of a `summary.json` without `format`, written
/// when epochs counted from 0 (see [`super::state`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub struct TrainSummary {
    /// How the file numbers epochs: [`state::FORMAT`] once read.
    #[serde(default = "state::legacy_format")]
    pub format: u32,
    /// The run folder.
    pub run: PathBuf,
    /// Trainable parameters.
    pub parameters: usize,
    /// The network's input `(height, width)`: the images as the run's stages made them.
    /// Commands that load the run build the network for it; without a Resize stage it is
    /// the dataset's size, which the pipeline alone does not say. `None` in older files.
    #[serde(default)]
    pub input: Option<(usize, usize)>,
    /// Epochs run (in total, across resumes).
    pub epochs: usize,
    /// The number (from 1, as the `epoch` column of `metrics.csv`) of the best epoch by
    /// `schedule.monitor`, whose weights were kept.
    pub best_epoch: Option<usize>,
    /// True when early stopping ended the run.
    pub stopped_early: bool,
    /// How the network was trained: `restricted` (the train pairs file only) or `identity`
    /// (pairs drawn from the train identities).
    #[serde(default)]
    pub protocol: String,
    /// Final evaluation with the best weights: threshold chosen on validation, applied to
    /// the test pairs, with 95% bootstrap intervals.
    pub evaluation: ValTestReport,
    /// Mean loss (without L2) of the best weights on the validation pairs.
    #[serde(default)]
    pub val_loss: f64,
    /// Mean loss (without L2) of the best weights on the test pairs.
    #[serde(default)]
    pub test_loss: f64,
    /// Where this invocation trained (`cpu`, or `gpu: ` and the adapter); every
    /// invocation's is in the run folder's `devices.log`.
    #[serde(default)]
    pub device: String,
    /// Wall time of this invocation: training (from where a resume started) and evaluation.
    #[serde(default)]
    pub seconds: f64,
    /// Plots written into the run folder.
    pub plots: Vec<PathBuf>,
    /// Metrics of the batch chain.
    #[serde(skip)]
    pub report: Option<RunReport>,
}

impl Serialize for TrainSummary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        TrainSummary::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for TrainSummary {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut summary = TrainSummary::deserialize(deserializer)?;
        if summary.format < state::FORMAT {
            // Written when epochs counted from 0.
            summary.best_epoch = summary.best_epoch.map(|e| e + 1);
        }
        summary.format = state::FORMAT;
        Ok(summary)
    }
}

/// What a run trains: the pipeline's top-level training settings and its `Train` stage.
#[derive(Debug, Clone)]
pub struct Recipe<'a> {
    /// The network.
    pub model: &'a ModelConfig,
    /// The loss.
    pub loss: Loss,
    /// How the twins' embeddings are compared.
    pub distance: Distance,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// Epochs, early stopping, the monitor and the weight average.
    pub schedule: Schedule,
    /// The seed of the initial weights (and of the bootstrap intervals).
    pub seed: u64,
    /// The `Train` stage's settings.
    pub stage: &'a TrainConfig,
    /// How the pairs were made (`restricted`, `restricted+made`, `identity`), for the summary.
    pub protocol: &'static str,
    /// The batch channel's capacity (the `PairBatch` stage's `capacity`).
    pub capacity: usize,
    /// The backend that trains.
    pub device: Device,
}

/// Where a run starts.
pub enum Start {
    /// A new run folder named after `stem` (unless the stage names it), holding `pipeline`
    /// (the resolved pipeline, as RON) and the record of its dataset.
    Fresh {
        /// Default run name.
        stem: String,
        /// The resolved pipeline, written as `pipeline.ron`.
        pipeline: String,
        /// The dataset it trains on, written as `data.json`.
        data: DataRecord,
    },
    /// Continue the run in this folder from its last finished epoch.
    Resume(RunDir),
}

/// The images a run trains on.
pub struct Images {
    /// Where the batches' and evaluations' pixels come from.
    pub store: Arc<dyn ImageStore>,
    /// The data checksum of a reused cache, still being computed.
    pub check: Option<DataCheck>,
}

/// Trains as the recipe says, then evaluates on validation and test.
///
/// # Errors
/// Model, checkpoint, run folder and pipeline errors.
pub fn train(
    recipe: &Recipe<'_>,
    images: Images,
    source: PairBatchSource,
    batch: Vec<TransformStage<PairBatch, PairBatch>>,
    pairs: &EvalPairs<'_>,
    start: Start,
    options: &RunOptions,
) -> Result<TrainSummary, SessionError> {
    let started = std::time::Instant::now();
    let Images { store, check } = images;
    let spec = NetSpec {
        model: recipe.model.clone(),
        loss: recipe.loss,
        distance: recipe.distance,
        optimizer: recipe.optimizer,
        input: (store.height(), store.width()),
        seed: recipe.seed,
    };
    let mut net = build(recipe.device, spec)?;
    net.prepare(source.batch_size())?;
    // Held until training and its evaluation end: no second process trains in this folder.
    let OpenedRun {
        run,
        state,
        lock: _lock,
        mining,
    } = open_run(recipe.stage, start, net.as_mut())?;
    // Finished before its summary was written (killed while evaluating): evaluate only.
    let finished = state.finished(&recipe.schedule);
    if options.progress.is_some() && finished.is_none() {
        let line = start_line(run.path(), state.epochs_done, recipe.schedule.epochs);
        eprintln!("{line}");
    }
    // Each invocation says where it trained: a run may move between devices on resume.
    let device = net.device_label();
    run.append(
        "devices.log",
        // The number of the first epoch this invocation trains (from 1, as everywhere).
        &format!("from epoch {}: {device}", state.epochs_done + 1),
    )?;
    let parameters = net.parameter_count();
    let refresher = source.mining_board().map(|board| {
        Refresher::new(
            board,
            Arc::clone(&store),
            source.train_batches_per_epoch(),
            source.epochs(),
        )
    });
    if let Some(refresher) = &refresher {
        refresher.prime(net.as_mut(), state.epochs_done, &mining)?;
    }
    let average = start_average(recipe.schedule.average, &run, net.as_mut())?;
    let epoch_pairs = source.pairs_per_epoch();
    let first = match finished {
        Some(_) => source.epochs(),
        None => state.epochs_done,
    };
    let source = source.starting_at(first);
    let trainer = recipe
        .stage
        .build(TrainerParts {
            net,
            schedule: recipe.schedule,
            run: run.clone(),
            state,
            refresher,
            average,
            data_check: check,
            epoch_pairs,
        })
        .map_err(|source| SessionError::Build {
            source: Box::new(source),
        })?;
    let chain = Chain::start(SourceStage {
        name: "pair-batch".into(),
        capacity: recipe.capacity,
        source: Box::new(source),
    })
    .then_all(batch)
    .end("train", trainer);
    let (trainer, report) = match run_chain(chain, options) {
        Err(PipelineError::Interrupted) => {
            // What the folder keeps is its last committed checkpoint; the partial epoch
            // is trained again on resume, exactly as an uninterrupted run trains it.
            return Err(SessionError::Interrupted {
                epochs: run.load_state().map_or(0, |s| s.epochs_done),
                run: run.path().to_path_buf(),
            });
        }
        other => other?,
    };
    let stopped_early = trainer.stopped_early() || finished == Some(Finish::Patience);
    let state = trainer.state().clone();
    let done = Finished {
        net: trainer.into_network(),
        run,
        state,
        stopped_early,
        report,
        parameters,
    };
    summarise(recipe, done, store.as_ref(), pairs, started)
}

/// What a run's chain leaves for its evaluation.
struct Finished {
    net: Box<dyn Network>,
    run: RunDir,
    state: LoopState,
    stopped_early: bool,
    report: RunReport,
    parameters: usize,
}

/// Evaluates the best weights on validation (choosing the threshold) and test, plots the
/// run and writes `summary.json`.
fn summarise(
    recipe: &Recipe<'_>,
    done: Finished,
    store: &dyn ImageStore,
    pairs: &EvalPairs<'_>,
    started: std::time::Instant,
) -> Result<TrainSummary, SessionError> {
    let Finished {
        mut net,
        run,
        state,
        stopped_early,
        report,
        parameters,
    } = done;
    let best = run.best_weights();
    if best.exists() {
        checkpoint::load_file(&best, net.as_mut(), Weights::Live)?;
    }
    let (evaluation, scored) = evaluate(net.as_mut(), store, pairs, recipe.stage, recipe.seed)?;
    // The threshold the per-epoch accuracy was measured at, to say so on the plot.
    let fixed = crate::model::Head::new(net.spec().loss, net.spec().distance).default_threshold();
    let plots = plot_run(&run, &state, &scored, evaluation.threshold, fixed)?;
    log_plots(&run, &state)?;
    let summary = TrainSummary {
        format: state::FORMAT,
        run: run.path().to_path_buf(),
        parameters,
        input: Some(net.spec().input),
        epochs: state.epochs_done,
        best_epoch: state.best.map(|(_, e)| e),
        stopped_early,
        protocol: recipe.protocol.to_string(),
        evaluation,
        val_loss: scored.val_loss,
        test_loss: scored.test_loss,
        device: net.device_label(),
        seconds: started.elapsed().as_secs_f64(),
        plots,
        report: Some(report),
    };
    let json = serde_json::to_string_pretty(&summary).map_err(|source| SessionError::Summary {
        path: run.summary(),
        source,
    })?;
    run.write("summary.json", &json)?;
    Ok(summary)
}

/// The run in `run` when `--resume` would find nothing to train under `schedule` (see
/// [`LoopState::finished`]) and its summary is written; `None` when it has epochs left,
/// or finished training but was stopped before its evaluation (a resume evaluates it).
/// Takes the folder's lock for the look, and finishes or undoes a checkpoint a crash cut
/// short, exactly as a resume would; nothing else in the folder changes.
///
/// # Errors
/// [`super::rundir::RunDirError::Busy`] while another process trains in it; a damaged
/// folder.
pub fn already_finished(
    run: &RunDir,
    schedule: &Schedule,
) -> Result<Option<AlreadyFinished>, SessionError> {
    let _lock = run.lock()?;
    if !run.recover()? || !run.summary().exists() {
        return Ok(None);
    }
    let state = run.load_state()?;
    Ok(AlreadyFinished::of(run.path(), &state, schedule))
}

/// Creates and locks the run folder of a fresh run, or locks a resumed run's folder and
/// loads its last weights, optimizer state and loop state into `net`. Returns the lock.
/// A run folder opened to train in.
struct OpenedRun {
    run: RunDir,
    state: LoopState,
    /// The folder's lock, held while training.
    lock: std::fs::File,
    /// The mining refresh the checkpoint kept ([`super::refresh::SAVED`]); empty if none.
    mining: Tensors,
}

fn open_run(
    stage: &TrainConfig,
    start: Start,
    net: &mut dyn Network,
) -> Result<OpenedRun, SessionError> {
    let fresh = |run, lock| OpenedRun {
        run,
        state: LoopState::default(),
        lock,
        mining: Vec::new(),
    };
    match start {
        Start::Fresh {
            stem,
            pipeline,
            data,
        } => {
            let run = RunDir::create(&stage.runs, stage.name.as_deref().unwrap_or(&stem))?;
            let lock = run.lock()?;
            run.write("pipeline.ron", &pipeline)?;
            // So that eval, oneshot and --resume find the data without being told again.
            data.write(&run)?;
            // What a resume compares the run's pipeline.ron against (`pipeline::edits`).
            run.write(super::rundir::TRAINED_PIPELINE, &pipeline)?;
            Ok(fresh(run, lock))
        }
        Start::Resume(run) => {
            // Before anything is read or repaired: another process may be training here.
            let lock = run.lock()?;
            run.check_resumable()?;
            // A crash mid-checkpoint is finished or undone first, so what is read is one
            // committed epoch; before the first commit there is none, and the run starts
            // over from its seed (the same run a fresh start would give).
            if !run.recover()? {
                return Ok(fresh(run, lock));
            }
            let (params, mut opt_state, state) = run.load_progress()?;
            let last = run.path().join("last.safetensors");
            checkpoint::load_into(&last, net, Weights::Live, &params)?;
            // The mining refresh rides in the optimizer's file; the optimizer gets the rest.
            let (mining, moments) = std::mem::take(&mut opt_state.tensors)
                .into_iter()
                .partition(|(name, _, _)| name.starts_with(super::refresh::SAVED));
            opt_state.tensors = moments;
            net.set_optimizer_state(&opt_state)?;
            // The best weights are only read again at the end: check them now, so a damaged
            // file stops the resume instead of the evaluation after all remaining epochs.
            let best = run.best_weights();
            if best.exists() {
                checkpoint::read(&best)?;
            }
            Ok(OpenedRun {
                run,
                state,
                lock,
                mining,
            })
        }
    }
}

/// Starts (or, on resume, loads) the network's weight average when the schedule keeps one.
fn start_average(
    decay: Option<f64>,
    run: &RunDir,
    net: &mut dyn Network,
) -> Result<Option<WeightAverage>, SessionError> {
    let Some(decay) = decay else {
        return Ok(None);
    };
    let steps = match run.load_average()? {
        Some((tensors, steps)) => {
            checkpoint::load_into(&run.average_weights(), net, Weights::Average, &tensors)?;
            steps
        }
        // A fresh run, or one trained without an average so far: start from its weights.
        None => {
            net.start_average()?;
            net.steps()
        }
    };
    Ok(Some(WeightAverage::new(decay, steps)))
}
