//! Running a validated [`Plan`]: scan the data, produce the images (from the cache, or by
//! streaming the JPEGs), then stream pair batches to the last stage.
//!
//! A run has up to two engine chains. The image chain (files -> Decode -> Resize) ends in
//! the cache writer, in a memory store, or in the sink itself when there is no `PairBatch`.
//! The batch chain starts at `PairBatch`, which samples from an [`ImageStore`]: the
//! memory-mapped cache or the memory store, so both paths feed the same downstream stages
//! (`Augment`, when the plan has it, then the sink).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use super::cache::{open_or_build, Opened, Verify};
pub use super::error::RunError;
use super::images::{image_chain, options};
pub use super::images::{run_images, RunSettings};
use super::validate::{End, Plan};
use crate::cache::{DataCheck, ImageStore};
use crate::data::{
    read_pairs, split_validation, Dataset, Fingerprint, ImageEntry, ImageKey, ImageSet, Pair,
    Splits,
};
use crate::engine::metrics::{RunReport, Skipped};
use crate::engine::{run as run_chain, Chain, PairBatch, SourceStage, TransformStage};
use crate::stages::pair_batch::{PairBatchSource, PairSets};
use crate::stages::sink::Counts;
use crate::stages::store::MemoryStore;
use crate::stages::{Build, BuildContext};
use crate::train::console::AlreadyFinished;
use crate::train::data_record::DataRecord;
use crate::train::error::SessionError;
use crate::train::evaluation::EvalPairs;
use crate::train::session::{self, Images, Recipe, Start, TrainSummary};
use crate::train::RunDir;
use crate::train::TrainConfig;

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// One report per engine chain that ran, with the chain's name.
    pub reports: Vec<(String, RunReport)>,
    /// What reached the sink.
    pub counts: Counts,
    /// Everything skipped, over all chains and the cache.
    pub skipped: Vec<Skipped>,
    /// How the cache was used, when the plan has one.
    pub cache: Option<String>,
    /// True when skipped items must make the run fail (`on_error: Report`).
    pub failed_items: bool,
    /// What training produced, when the pipeline ends in `Train`.
    pub train: Option<TrainSummary>,
    /// Set instead of `train` when `--resume` found the run finished: nothing ran.
    pub finished: Option<AlreadyFinished>,
}

/// The dataset and its pairs, resolved and checked.
struct Prepared {
    dataset: Dataset,
    train_pairs: Vec<Pair>,
    test_pairs: Vec<Pair>,
    splits: Splits,
}

fn prepare(plan: &Plan, root: &Path) -> Result<Prepared, RunError> {
    let data = &plan.pipeline.data;
    let dataset = Dataset::scan(root)?;
    let train_path = root.join(&data.train_pairs);
    let test_path = root.join(&data.test_pairs);
    let train_pairs = read_pairs(&train_path)?;
    let test_pairs = read_pairs(&test_path)?;
    dataset.check_pairs(&train_pairs, &train_path)?;
    dataset.check_pairs(&test_pairs, &test_path)?;
    let splits = Splits::from_pairs(&dataset, &train_pairs, &test_pairs)?;
    Ok(Prepared {
        dataset,
        train_pairs,
        test_pairs,
        splits,
    })
}

/// The images of the identities the plan decodes, in key order.
fn images_of(plan: &Plan, prepared: &Prepared) -> Vec<ImageEntry> {
    let s = &prepared.splits;
    let keep = |name: &str| match plan.pipeline.data.images {
        ImageSet::Used => s.train.contains(name) || s.test.contains(name),
        ImageSet::Train => s.train.contains(name),
        ImageSet::Test => s.test.contains(name),
        ImageSet::All => true,
    };
    prepared
        .dataset
        .images
        .iter()
        .filter(|e| keep(&e.key.name))
        .cloned()
        .collect()
}

/// Runs a plan to the end.
///
/// # Errors
/// The first thing that stops the run; items skipped under an error policy are not errors
/// here but are listed in the outcome.
pub fn run(plan: &Plan, settings: &RunSettings) -> Result<RunOutcome, RunError> {
    let mut outcome = RunOutcome {
        reports: Vec::new(),
        counts: Counts::default(),
        skipped: Vec::new(),
        cache: None,
        failed_items: false,
        train: None,
        finished: None,
    };
    run_into(plan, settings, &mut outcome)?;
    outcome.failed_items = plan.decode.on_error.fails(outcome.skipped.len());
    Ok(outcome)
}

impl RunOutcome {
    /// Keeps a finished chain's report and the items it skipped.
    fn record(&mut self, chain: &str, report: RunReport) {
        self.skipped.extend(report.skipped.iter().cloned());
        self.reports.push((chain.to_string(), report));
    }
}

/// The body of [`run`]: fills `outcome` chain by chain.
fn run_into(plan: &Plan, settings: &RunSettings, outcome: &mut RunOutcome) -> Result<(), RunError> {
    if let (End::Train(_), Some(dir)) = (&plan.end, &settings.resume) {
        // Said at once, before the data is scanned and the images decoded for nothing.
        let run = RunDir::open(dir).map_err(SessionError::from)?;
        outcome.finished = session::already_finished(&run, &plan.pipeline.schedule)?;
        if outcome.finished.is_some() {
            return Ok(());
        }
    }
    if matches!(plan.end, End::Train(_)) {
        // A missing GPU driver is said before the data is scanned or cached.
        crate::model::probe(settings.device.unwrap_or(plan.pipeline.device))
            .map_err(SessionError::from)?;
    }
    let prepared = prepare(plan, &settings.data_root)?;
    let entries = images_of(plan, &prepared);
    super::preflight::check_crop(plan, &entries)?;
    let Some(pair_batch) = &plan.pair_batch else {
        let End::Sink(sink) = &plan.end else {
            // `plan()` rejects this; a hand-built Plan gets an error, not a panic.
            return Err(RunError::Plan {
                reason: "a Train stage needs a PairBatch stage before it",
            });
        };
        let sink = sink.build(&BuildContext::default())?;
        let chain = image_chain(plan, entries, "sink", sink)?;
        let (sink, report) = run_chain(chain, &options(settings, "images"))?;
        outcome.counts = sink.counts;
        outcome.record("images", report);
        return Ok(());
    };
    let (store, check) = image_store(plan, settings, entries, outcome)?;
    let pairs = RunPairs::new(plan, &prepared);
    let sets = pairs.sets();
    let ctx = BuildContext {
        seed: plan.pipeline.seed,
        epochs: plan.pipeline.schedule.epochs,
        store: Some(&store),
        pairs: Some(&sets),
    };
    let source = pair_batch.build(&ctx)?;
    let batch = plan.batch_stages(&ctx)?;
    let sink = match &plan.end {
        End::Train(config) => {
            let eval = EvalPairs {
                validation: sets.validation,
                test: &pairs.test,
            };
            let fingerprint =
                Fingerprint::take(&prepared.dataset, &settings.data_root, &plan.pipeline.data)?;
            let train = Training {
                config,
                source,
                batch,
                eval,
                data: DataRecord::new(&settings.data_root, fingerprint),
            };
            let images = Images { store, check };
            return train_into(plan, settings, images, train, outcome);
        }
        // `plan()` rejects this too; without a trainer to publish embeddings the sampler
        // would wait forever at its first refresh.
        End::Sink(_) if source.mining_board().is_some() => {
            return Err(RunError::Plan {
                reason: "HardNegative mines with the model being trained: end the pipeline \
                         in Train",
            });
        }
        End::Sink(sink) => sink.build(&ctx)?,
    };
    let chain = Chain::start(SourceStage {
        name: "pair-batch".into(),
        capacity: pair_batch.capacity,
        source: Box::new(source),
    })
    .then_all(batch)
    .end("sink", sink);
    let (sink, report) = run_chain(chain, &options(settings, "pairs"))?;
    outcome.counts = sink.counts;
    outcome.record("batches", report);
    Ok(())
}

/// The pairs of a run as image keys: train and validation split off the train pairs
/// (identity-disjoint), the train identities left after the split, and the test pairs.
struct RunPairs {
    train: Vec<(ImageKey, ImageKey)>,
    validation: Vec<(ImageKey, ImageKey)>,
    train_identities: BTreeSet<String>,
    test: Vec<(ImageKey, ImageKey)>,
}

impl RunPairs {
    fn new(plan: &Plan, prepared: &Prepared) -> Self {
        let split = split_validation(
            &prepared.train_pairs,
            &plan.pipeline.data.validation,
            plan.pipeline.seed,
        );
        let as_keys = |pairs: &[Pair]| -> Vec<(ImageKey, ImageKey)> {
            pairs.iter().map(|p| (p.a.clone(), p.b.clone())).collect()
        };
        Self {
            train: as_keys(&split.train),
            validation: as_keys(&split.validation),
            train_identities: prepared
                .splits
                .train
                .difference(&split.validation_identities)
                .cloned()
                .collect(),
            test: as_keys(&prepared.test_pairs),
        }
    }

    fn sets(&self) -> PairSets<'_> {
        PairSets {
            train: &self.train,
            validation: &self.validation,
            train_identities: &self.train_identities,
        }
    }
}

/// What a run that ends in `Train` hands its session.
struct Training<'a> {
    config: &'a TrainConfig,
    source: PairBatchSource,
    batch: Vec<TransformStage<PairBatch, PairBatch>>,
    eval: EvalPairs<'a>,
    /// The dataset it trains on, for the run folder's `data.json`.
    data: DataRecord,
}

/// Trains (or resumes) the plan's network and records the summary in `outcome`.
fn train_into(
    plan: &Plan,
    settings: &RunSettings,
    images: Images,
    train: Training<'_>,
    outcome: &mut RunOutcome,
) -> Result<(), RunError> {
    let p = &plan.pipeline;
    let device = settings.device.unwrap_or(p.device);
    let start = match &settings.resume {
        Some(dir) => {
            let run = RunDir::open(dir).map_err(SessionError::from)?;
            super::edits::check_resume(&run, p, settings.allow_changes)?;
            // The CLI has checked the data against the record (`--other-data`); a run made
            // before records existed gets one now.
            train.data.update(&run).map_err(SessionError::from)?;
            Start::Resume(run)
        }
        // A fresh run records the device it trains on.
        None => Start::Fresh {
            stem: settings.name.clone(),
            pipeline: p
                .with_device(device)
                .to_ron()
                .map_err(|source| RunError::Serialise {
                    what: "the pipeline",
                    source,
                })?,
            data: train.data,
        },
    };
    let pair_batch = plan.pair_batch.as_ref();
    let recipe = Recipe {
        model: &p.model,
        loss: p.loss,
        distance: p.distance,
        optimizer: p.optimizer,
        schedule: p.schedule,
        seed: p.seed,
        stage: train.config,
        protocol: pair_batch.map_or("restricted", |c| c.sampler.protocol()),
        capacity: pair_batch.map_or(4, |c| c.capacity),
        device,
    };
    let summary = session::train(
        &recipe,
        images,
        train.source,
        train.batch,
        &train.eval,
        start,
        &options(settings, "pairs"),
    )?;
    if let Some(report) = summary.report.clone() {
        outcome.record("training", report);
    }
    outcome.train = Some(summary);
    Ok(())
}

/// The images as a store: the cache when the plan has one, else decoded into memory; with
/// the data check of a reused cache, still running.
fn image_store(
    plan: &Plan,
    settings: &RunSettings,
    entries: Vec<ImageEntry>,
    outcome: &mut RunOutcome,
) -> Result<(Arc<dyn ImageStore>, Option<DataCheck>), RunError> {
    if let Some(config) = &plan.pipeline.cache {
        let opened = open_or_build(plan, config, settings, entries, Verify::Background)?;
        outcome.skipped.extend(opened.skipped);
        outcome
            .reports
            .extend(opened.report.map(|r| ("cache build".to_string(), r)));
        outcome.cache = Some(opened.status);
        return Ok((opened.cache, opened.check));
    }
    let chain = image_chain(plan, entries, "memory-store", MemoryStore::new())?;
    let (store, report) = run_chain(chain, &options(settings, "images"))?;
    outcome.record("images", report);
    Ok((Arc::new(store), None))
}

/// Builds (or reuses) the cache a plan would use, without running the rest of it.
///
/// `force` builds anew even over a valid cache; the old file stays usable until the new
/// one replaces it (a kill mid-build keeps it). A plan without `cache` uses the defaults.
///
/// # Errors
/// Data, cache and image-chain errors.
pub fn build_cache(plan: &Plan, settings: &RunSettings, force: bool) -> Result<Opened, RunError> {
    let prepared = prepare(plan, &settings.data_root)?;
    let entries = images_of(plan, &prepared);
    super::preflight::check_crop(plan, &entries)?;
    let config = plan.pipeline.cache.clone().unwrap_or_default();
    open_or_build(plan, &config, settings, entries, Verify::Now { force })
}
