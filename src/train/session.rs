//! One training run from a plan: build (or resume) the network, stream batches into the
//! [`Trainer`], then score validation and test pairs with the best weights and write the
//! run's summary. Thresholds are chosen on validation, never on test.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::average::WeightAverage;
use super::checkpoint::{self, load_net};
use super::optim::Optimizer;
use super::refresh::{RefreshError, Refresher};
use super::rundir::{RunDir, RunDirError};
use super::trainer::{LoopState, Trainer};
use crate::data::ImageKey;
use crate::eval::{plot_curves, plot_roc, plot_score_histograms, EvalError, Roc, ValTestReport};
use crate::model::net::{ModelError, SiameseNet};
use crate::pipeline::engine::{run as run_chain, Chain, RunOptions, SourceStage, TransformStage};
use crate::pipeline::metrics::RunReport;
use crate::pipeline::training::Loss;
use crate::pipeline::validate::Plan;
use crate::pipeline::PipelineError;
use crate::stages::pair_batch::{gather, Labels, PairBatchSource};
use crate::stages::store::ImageStore;
use crate::stages::TrainConfig;

/// Why a training run failed before or after its chain.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The network could not be built or run.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The run folder could not be written or read.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// A checkpoint could not be used.
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    /// Metrics or plots failed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The batch chain failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A resumed run could not embed the pool its first batches mine from.
    #[error(transparent)]
    Refresh(#[from] RefreshError),
}

/// What a training run produced.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TrainSummary {
    /// The run folder.
    pub run: PathBuf,
    /// Trainable parameters.
    pub parameters: usize,
    /// Epochs run (in total, across resumes).
    pub epochs: usize,
    /// The best epoch by `schedule.monitor`, whose weights were kept, counted from 0
    /// as the `epoch` column of `metrics.csv`.
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
    /// Wall time of this invocation: training (from where a resume started) and evaluation.
    #[serde(default)]
    pub seconds: f64,
    /// Plots written into the run folder.
    pub plots: Vec<PathBuf>,
    /// Metrics of the batch chain.
    #[serde(skip)]
    pub report: Option<RunReport>,
}

/// The pairs a run trains and evaluates on, as image keys.
pub struct EvalPairs<'a> {
    /// Validation pairs.
    pub validation: &'a [(ImageKey, ImageKey)],
    /// Test pairs.
    pub test: &'a [(ImageKey, ImageKey)],
}

/// Where a run starts.
pub enum Start {
    /// A new run folder named after `stem` (unless the stage names it).
    Fresh {
        /// Default run name.
        stem: String,
    },
    /// Continue the run in this folder from its last finished epoch.
    Resume(RunDir),
}

/// The score threshold used for per-epoch accuracy: a sigmoid output of 0.5 for BCE, and
/// half the margin for the contrastive loss (scores there are negative distances).
pub fn default_threshold(loss: Loss) -> f64 {
    match loss {
        Loss::BinaryCrossEntropy => 0.5,
        Loss::Contrastive { margin } => -margin / 2.0,
    }
}

/// Trains as the plan says, then evaluates on validation and test.
///
/// # Errors
/// Model, checkpoint, run folder and pipeline errors.
#[allow(clippy::too_many_arguments)]
pub fn train(
    plan: &Plan,
    config: &TrainConfig,
    store: Arc<dyn ImageStore>,
    source: PairBatchSource,
    augment: Option<TransformStage>,
    pairs: &EvalPairs<'_>,
    start: Start,
    options: &RunOptions,
) -> Result<TrainSummary, SessionError> {
    let started = std::time::Instant::now();
    let p = &plan.pipeline;
    let mut net = SiameseNet::new(
        &p.model,
        p.distance,
        p.loss,
        (store.height(), store.width()),
        p.seed,
    )?;
    let mut optimizer = Optimizer::new(p.optimizer);
    let (run, state) = match start {
        Start::Fresh { stem } => {
            let run = RunDir::create(&config.runs, config.name.as_deref().unwrap_or(&stem))?;
            let ron =
                ron::ser::to_string_pretty(p, ron::ser::PrettyConfig::new()).unwrap_or_default();
            run.write("pipeline.ron", &ron)?;
            (run, LoopState::default())
        }
        Start::Resume(run) => {
            let (params, opt_state, state) = run.load_progress()?;
            load_net(&run.path().join("last.safetensors"), &mut net, &params)?;
            optimizer.import(&net.params, &opt_state)?;
            (run, state)
        }
    };
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
        refresher.prime(&net, state.epochs_done)?;
    }
    let average = match p.schedule.average {
        None => None,
        Some(decay) => Some(match run.load_average()? {
            Some((tensors, steps)) => {
                WeightAverage::resume(decay, &net, &run.average_weights(), &tensors, steps)?
            }
            // A fresh run, or one trained without an average so far: start from its weights.
            None => WeightAverage::new(decay, &net, optimizer.steps().max(0) as u64),
        }),
    };
    let source = source.starting_at(state.epochs_done);
    let trainer = Trainer::new(
        net,
        optimizer,
        p.schedule,
        run.clone(),
        state,
        default_threshold(p.loss),
    )
    .with_refresher(refresher)
    .with_average(average);
    let chain = Chain {
        source: SourceStage {
            name: "pair-batch".into(),
            capacity: plan.pair_batch.as_ref().map_or(4, |c| c.capacity),
            source: Box::new(source),
        },
        transforms: augment.into_iter().collect(),
        sink_name: "train".into(),
        sink: trainer,
    };
    let (trainer, report) = run_chain(chain, options)?;
    let mut net = trainer.net().clone();
    let best = run.best_weights();
    if best.exists() {
        load_net(&best, &mut net, &checkpoint::read(&best)?)?;
    }
    let (evaluation, scored) = evaluate(&net, store.as_ref(), pairs, config, p.seed)?;
    let state = trainer.state();
    let plots = plot_run(&run, state, &scored, evaluation.threshold)?;
    let summary = TrainSummary {
        run: run.path().to_path_buf(),
        parameters,
        epochs: state.epochs_done,
        best_epoch: state.best.map(|(_, e)| e),
        stopped_early: trainer.stopped_early(),
        protocol: plan
            .pair_batch
            .as_ref()
            .map_or("restricted", |c| c.sampler.protocol())
            .to_string(),
        evaluation,
        val_loss: scored.val_loss,
        test_loss: scored.test_loss,
        seconds: started.elapsed().as_secs_f64(),
        plots,
        report: Some(report),
    };
    let json = serde_json::to_string_pretty(&summary).unwrap_or_default();
    run.write("summary.json", &json)?;
    Ok(summary)
}

/// Scores `pairs` with `net`, `batch` pairs per forward pass: the scores, the labels and the
/// mean loss (without L2). Pairs whose images are not in the store are left out.
///
/// # Errors
/// Model errors.
pub fn score_pairs(
    net: &SiameseNet,
    store: &dyn ImageStore,
    pairs: &[(ImageKey, ImageKey)],
    batch: usize,
) -> Result<(Vec<f64>, Vec<bool>, f64), ModelError> {
    score_pairs_with(net, store, pairs, batch, false)
}

/// Mirrors every `width`-wide row of a batch of images in place.
pub fn mirror_rows(pixels: &mut [f32], width: usize) {
    for row in pixels.chunks_exact_mut(width.max(1)) {
        row.reverse();
    }
}

/// [`score_pairs`], and with `flip` each score (and loss) is the mean of the pair as given
/// and the pair with both images mirrored.
///
/// # Errors
/// Model errors.
pub fn score_pairs_with(
    net: &SiameseNet,
    store: &dyn ImageStore,
    pairs: &[(ImageKey, ImageKey)],
    batch: usize,
    flip: bool,
) -> Result<(Vec<f64>, Vec<bool>, f64), ModelError> {
    let rows: Vec<(u32, u32)> = pairs
        .iter()
        .filter_map(|(a, b)| Some((store.row_of(a)? as u32, store.row_of(b)? as u32)))
        .collect();
    let (mut scores, mut labels, mut loss) = (Vec::new(), Vec::new(), 0.0);
    for chunk in rows.chunks(batch.max(1)) {
        let b = gather(
            store,
            crate::pipeline::Phase::Validation,
            0,
            0,
            chunk,
            Labels::ByName,
        );
        let (l, s) = evaluate_flipped(net, b.left, b.right, &b.labels, b.width, flip)?;
        loss += f64::from(l) * chunk.len() as f64;
        scores.extend(s.iter().map(|&v| f64::from(v)));
        labels.extend(b.labels.iter().map(|&l| l > 0.5));
    }
    Ok((scores, labels, loss / rows.len().max(1) as f64))
}

/// The loss and scores of pairs of `width`-wide images; with `flip`, the mean of the pairs
/// as given and with both images mirrored (how a run with `eval_flip` scores everything).
///
/// # Errors
/// Model errors.
pub fn evaluate_flipped(
    net: &SiameseNet,
    mut left: Vec<f32>,
    mut right: Vec<f32>,
    labels: &[f32],
    width: usize,
    flip: bool,
) -> Result<(f32, Vec<f32>), ModelError> {
    let (mut loss, mut scores) = net.evaluate(&left, &right, labels)?;
    if flip {
        mirror_rows(&mut left, width);
        mirror_rows(&mut right, width);
        let (l2, s2) = net.evaluate(&left, &right, labels)?;
        loss = (loss + l2) / 2.0;
        scores
            .iter_mut()
            .zip(&s2)
            .for_each(|(a, b)| *a = (*a + b) / 2.0);
    }
    Ok((loss, scores))
}

/// The twin's embedding of each store row, `batch` images per forward pass (inference:
/// no dropout, batch norm's running statistics).
///
/// # Errors
/// Model errors.
pub fn embed_rows(
    net: &SiameseNet,
    store: &dyn ImageStore,
    rows: &[u32],
    batch: usize,
) -> Result<Vec<Vec<f32>>, ModelError> {
    let per = store.height() * store.width();
    let mut out = Vec::with_capacity(rows.len());
    let mut pixels = Vec::new();
    for chunk in rows.chunks(batch.max(1)) {
        pixels.clear();
        pixels.resize(chunk.len() * per, 0.0);
        for (i, &row) in chunk.iter().enumerate() {
            store.copy_f32(row as usize, &mut pixels[i * per..(i + 1) * per]);
        }
        out.extend(net.embed(&pixels)?);
    }
    Ok(out)
}

/// Bootstrap resamples for the confidence intervals of the final evaluation.
pub const BOOTSTRAP: usize = 1000;

/// Chooses the threshold on validation and applies it unchanged to test.
///
/// # Errors
/// Model errors, and metric errors (e.g. a split with a single class).
pub fn evaluate(
    net: &SiameseNet,
    store: &dyn ImageStore,
    pairs: &EvalPairs<'_>,
    config: &TrainConfig,
    seed: u64,
) -> Result<(ValTestReport, Scored), SessionError> {
    let (batch, flip) = (config.eval_batch, config.eval_flip);
    let (vs, vl, val_loss) = score_pairs_with(net, store, pairs.validation, batch, flip)?;
    let (ts, tl, test_loss) = score_pairs_with(net, store, pairs.test, batch, flip)?;
    let report = ValTestReport::compute(&vs, &vl, &ts, &tl, BOOTSTRAP, seed)?;
    Ok((
        report,
        Scored {
            validation: (vs, vl),
            test: (ts, tl),
            val_loss,
            test_loss,
        },
    ))
}

/// Scores and labels of the validation and test pairs.
pub struct Scored {
    /// Validation scores and labels.
    pub validation: (Vec<f64>, Vec<bool>),
    /// Test scores and labels.
    pub test: (Vec<f64>, Vec<bool>),
    /// Mean validation loss.
    pub val_loss: f64,
    /// Mean test loss.
    pub test_loss: f64,
}

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
    let roc = run.path().join("roc.png");
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
    let scores = run.path().join("test-scores.png");
    plot_score_histograms(&scores, &same, &different, Some(threshold))?;
    let h = &state.history;
    let col =
        |f: fn(&super::trainer::EpochMetrics) -> f64| -> Vec<f64> { h.iter().map(f).collect() };
    let (tl_, vl_) = (col(|m| m.train_loss), col(|m| m.val_loss));
    let loss = run.path().join("loss.png");
    plot_curves(
        &loss,
        "loss per epoch",
        &[("train", &tl_), ("validation", &vl_)],
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

/// A trained run loaded back: its plan, its network with the best weights, and the
/// threshold chosen on validation when it was trained.
pub struct Trained {
    /// The run's own pipeline.
    pub plan: Plan,
    /// The network with the best weights.
    pub net: SiameseNet,
    /// The decision threshold from `summary.json`.
    pub threshold: f64,
}

impl Trained {
    /// Whether the run scores pairs as the mean with their mirrored views (`eval_flip`), as
    /// its threshold was chosen.
    pub fn eval_flip(&self) -> bool {
        matches!(&self.plan.end, crate::pipeline::validate::End::Train(t) if t.eval_flip)
    }
}

/// Why a run cannot be loaded for evaluation.
#[derive(Debug, thiserror::Error)]
pub enum LoadRunError {
    /// The run's pipeline is unusable.
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::validate::LoadError),
    /// The network or weights are unusable.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// `summary.json` is missing or lacks the threshold (the run never finished).
    #[error("{}: no threshold; did the run finish? ({reason})", path.display())]
    Summary {
        /// The summary file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Loads a finished run for evaluation or verification.
///
/// # Errors
/// A missing or damaged pipeline, weights or summary.
pub fn load_trained(dir: &std::path::Path) -> Result<Trained, LoadRunError> {
    let run = RunDir::open(dir).map_err(SessionError::from)?;
    let plan = crate::pipeline::validate::load(&run.pipeline())?;
    let p = &plan.pipeline;
    let (w, h) = plan.image_size();
    let mut net = SiameseNet::new(
        &p.model,
        p.distance,
        p.loss,
        (h as usize, w as usize),
        p.seed,
    )
    .map_err(SessionError::from)?;
    let best = run.best_weights();
    let tensors = checkpoint::read(&best).map_err(SessionError::from)?;
    load_net(&best, &mut net, &tensors).map_err(SessionError::from)?;
    let path = run.summary();
    let summary = |reason: String| LoadRunError::Summary {
        path: path.clone(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| summary(e.to_string()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| summary(e.to_string()))?;
    let threshold = json["evaluation"]["threshold"]
        .as_f64()
        .ok_or_else(|| summary("no evaluation.threshold".into()))?;
    Ok(Trained {
        plan,
        net,
        threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_rows_reverses_each_row_and_twice_is_identity() {
        let mut px = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        mirror_rows(&mut px, 3);
        assert_eq!(px, [3.0, 2.0, 1.0, 6.0, 5.0, 4.0]);
        mirror_rows(&mut px, 3);
        assert_eq!(px, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }
}
