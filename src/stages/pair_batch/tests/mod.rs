//! Sampler tests: settings and their problems here, the samplers' properties (proptest) and
//! the mining board, miner and threaded runs in the submodules. Fixtures are tiny image
//! stores built in memory, with train, validation and test identities side by side.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::samplers::seam::{NoRefreshes, Refreshes};
use super::*;
use crate::cache::ImageStore;
use crate::data::ImageKey;
use crate::engine::StageError;
use crate::model::compare::Comparator;
use crate::model::Distance;
use crate::stages::store::MemoryStore;

mod mining;
mod properties;
mod threads;

/// A store of 1x1 images: `train[i]` images of train identity `t{i}`, then validation
/// (`v{i}`) and test (`x{i}`) identities, which no train batch may use.
struct Fixture {
    store: Arc<MemoryStore>,
    train_identities: BTreeSet<String>,
    train_pairs: Vec<(ImageKey, ImageKey)>,
    validation_pairs: Vec<(ImageKey, ImageKey)>,
}

impl Fixture {
    fn new(train: &[usize], others: &[usize]) -> Self {
        let mut store = MemoryStore::new();
        let mut add = |name: &str, n: usize| {
            for k in 0..n {
                let key = ImageKey::new(name, k as u32 + 1);
                store.push(key, 1, 1, &[(k * 31) as u8]).expect("1x1 image");
            }
        };
        let mut train_identities = BTreeSet::new();
        for (i, &n) in train.iter().enumerate() {
            add(&format!("t{i}"), n);
            train_identities.insert(format!("t{i}"));
        }
        for (i, &n) in others.iter().enumerate() {
            add(&format!("v{i}"), n);
            add(&format!("x{i}"), n);
        }
        // Fixed pairs: each train image with the next one, wrapping around.
        let keys: Vec<ImageKey> = (0..store.len())
            .map(|r| store.key(r).clone())
            .filter(|k| k.name.starts_with('t'))
            .collect();
        let train_pairs = (0..keys.len())
            .map(|i| (keys[i].clone(), keys[(i + 1) % keys.len()].clone()))
            .collect();
        let validation_pairs = vec![(ImageKey::new("v0", 1), ImageKey::new("x0", 1))];
        Self {
            store: Arc::new(store),
            train_identities,
            train_pairs,
            validation_pairs,
        }
    }

    fn source(&self, sampler: Sampler, batch_size: usize, seed: u64) -> PairBatchSource {
        self.try_source(sampler, batch_size, seed)
            .expect("a usable sampler")
    }

    fn try_source(
        &self,
        sampler: Sampler,
        batch_size: usize,
        seed: u64,
    ) -> Result<PairBatchSource, StageError> {
        let config = PairBatchConfig {
            sampler,
            batch_size,
            capacity: 2,
        };
        let sets = PairSets {
            train: &self.train_pairs,
            validation: &self.validation_pairs,
            train_identities: &self.train_identities,
        };
        let store: Arc<dyn ImageStore> = self.store.clone();
        PairBatchSource::new(&config, store, &sets, 3, seed)
    }

    fn name(&self, row: u32) -> &str {
        &self.store.key(row as usize).name
    }
}

/// A stand-in for the trainer: refresh `r` embeds the board's pool with [`embedding`], so
/// snapshots are a pure function of the refresh (as the trainer's are of the steps run).
struct FakeTrainer {
    board: Arc<MiningBoard>,
    store: Arc<MemoryStore>,
    drift: bool,
    asked: Vec<usize>,
}

impl FakeTrainer {
    fn new(source: &PairBatchSource, store: &Arc<MemoryStore>, drift: bool) -> Self {
        Self {
            board: source.mining_board().expect("a mining sampler"),
            store: Arc::clone(store),
            drift,
            asked: Vec::new(),
        }
    }

    fn snapshot(&self, refresh: usize) -> Snapshot {
        let images = self.board.pool(refresh);
        let shift = if self.drift { refresh } else { 0 };
        let embeddings = images
            .iter()
            .map(|i| embedding(&self.store.key(i.row as usize).name, i.row, shift))
            .collect();
        let comparator = Comparator::NegativeDistance {
            distance: Distance::Euclidean,
        };
        Snapshot::new(refresh, images, embeddings, comparator).expect("fits the pool")
    }
}

impl Refreshes for FakeTrainer {
    fn get(&mut self, refresh: usize) -> Result<Arc<Snapshot>, StageError> {
        self.asked.push(refresh);
        Ok(Arc::new(self.snapshot(refresh)))
    }
}

/// A fake 4-D embedding: a point per identity (seeded by its name) plus a little per
/// image, moved a bit per `shift` so successive refreshes differ.
fn embedding(name: &str, row: u32, shift: usize) -> Vec<f32> {
    let seed = name
        .bytes()
        .fold(17u64, |h, b| h.wrapping_mul(31) ^ u64::from(b));
    let mut centre = ChaCha8Rng::seed_from_u64(seed);
    let mut noise = ChaCha8Rng::seed_from_u64(u64::from(row) ^ ((shift as u64) << 32));
    (0..4)
        .map(|_| centre.gen_range(-1.0f32..1.0) + noise.gen_range(-0.4f32..0.4))
        .collect()
}

/// Every train batch of `epochs` epochs, as rows.
fn batches(
    source: &PairBatchSource,
    epochs: usize,
    refreshes: &mut dyn Refreshes,
) -> Vec<Vec<(u32, u32)>> {
    let mut out = Vec::new();
    for epoch in 0..epochs {
        source
            .train_epoch(epoch, refreshes, &mut |_, rows| {
                out.push(rows.to_vec());
                Ok(())
            })
            .expect("an epoch");
    }
    out
}

fn hard(mode: MiningMode, refresh_every: usize, pool: usize) -> Sampler {
    Sampler::HardNegative {
        same_ratio: 0.5,
        pairs_per_epoch: 40,
        refresh_every,
        pool,
        mode,
        random_negatives: 0.25,
    }
}

fn problems_of(ron: &str) -> Vec<String> {
    let text = format!("Pipeline(stages: [Decode(()), PairBatch(({ron})), Train(())])");
    let pipeline = crate::pipeline::validate::parse(&text, Path::new("t.ron")).expect("parses");
    match crate::pipeline::validate::plan(pipeline) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn hard_negative_fields_default_and_bad_values_are_reported_by_path() {
    let text = "Pipeline(stages: [Decode(()), \
                PairBatch((sampler: HardNegative(mode: Hardest))), Train(())])";
    let plan = crate::pipeline::validate::plan(
        crate::pipeline::validate::parse(text, Path::new("t.ron")).expect("parses"),
    )
    .expect("valid");
    let Some(Sampler::HardNegative { mode, pool, .. }) = plan.pair_batch.map(|c| c.sampler) else {
        panic!("not HardNegative");
    };
    assert_eq!((mode, pool), (MiningMode::Hardest, 512));
    let got = problems_of(
        "sampler: HardNegative(same_ratio: 1.5, pairs_per_epoch: 0, refresh_every: 0, \
         pool: 1, random_negatives: -0.1)",
    );
    for want in [
        "stages[1].sampler.same_ratio: must be in [0, 1], got 1.5",
        "stages[1].sampler.pairs_per_epoch: must be > 0",
        "stages[1].sampler.refresh_every: must be > 0",
        "stages[1].sampler.pool: must be in 2..=16384, got 1",
        "stages[1].sampler.random_negatives: must be in [0, 1], got -0.1",
    ] {
        assert!(got.iter().any(|p| p == want), "{want} missing from {got:?}");
    }
    assert!(problems_of("sampler: HardNegative(pool: 3)").is_empty());
}

#[test]
fn hard_negative_needs_a_train_stage_and_typos_are_errors() {
    let text = "Pipeline(stages: [Decode(()), PairBatch((sampler: HardNegative())), Sink(Count)])";
    let pipeline = crate::pipeline::validate::parse(text, Path::new("t.ron")).expect("parses");
    let problems = crate::pipeline::validate::plan(pipeline).expect_err("no Train");
    assert!(
        problems
            .iter()
            .any(|p| p.path == "stages[1].sampler" && p.message.contains("end in Train")),
        "{problems:?}"
    );
    let typo =
        "Pipeline(stages: [Decode(()), PairBatch((sampler: HardNegative(pol: 3))), Train(())])";
    assert!(crate::pipeline::validate::parse(typo, Path::new("t.ron")).is_err());
}

#[test]
fn the_catalogue_lists_every_sampler_as_valid_ron() {
    let listed: Vec<String> = Sampler::catalogue()
        .iter()
        .map(|(s, _)| ron::ser::to_string(s).expect("ron"))
        .collect();
    for kind in ["PairsFile", "PairsFilePlus", "Balanced", "HardNegative"] {
        assert!(listed.iter().any(|s| s.starts_with(kind)), "{listed:?}");
    }
    for ron in &listed {
        assert!(problems_of(&format!("sampler: {ron}")).is_empty(), "{ron}");
    }
}

#[test]
fn a_mining_sampler_without_identities_to_draw_from_is_refused() {
    let fixture = Fixture::new(&[1, 1], &[2]);
    let err = fixture
        .try_source(hard(MiningMode::Hardest, 2, 4), 4, 0)
        .err()
        .expect("no identity has two images");
    assert!(err.to_string().contains("two images"), "{err}");
    let fixture = Fixture::new(&[3], &[2]);
    let err = fixture
        .try_source(hard(MiningMode::Hardest, 2, 4), 4, 0)
        .err()
        .expect("one identity only");
    assert!(err.to_string().contains("two identities"), "{err}");
}

#[test]
fn batches_before_the_first_refresh_wait_for_nothing() {
    // 40 pairs in batches of 8: 5 batches per epoch; refresh_every 5 means epoch 0 draws
    // at random and asks for no refresh.
    let fixture = Fixture::new(&[3, 2, 4], &[2]);
    let source = fixture.source(hard(MiningMode::SemiHard, 5, 6), 8, 1);
    let got = batches(&source, 1, &mut NoRefreshes);
    assert_eq!(got.len(), 5);
    // Epoch 1 (batches 5..10) mines with refresh 0 only, fetched once.
    let mut trainer = FakeTrainer::new(&source, &fixture.store, true);
    source
        .train_epoch(1, &mut trainer, &mut |_, _| Ok(()))
        .expect("epoch 1");
    assert_eq!(trainer.asked, vec![0]);
}

fn plus(self_same: f64, random_different: f64) -> Sampler {
    Sampler::PairsFilePlus {
        self_same,
        random_different,
    }
}

#[test]
fn pairs_file_plus_labels_made_pairs_by_the_file_never_by_the_names() {
    // Train images t0_1..t0_3, t1_1, t1_2; the file pairs each with the next, so
    // (t0_1, t0_3) is one person's but not a fixed pair.
    let fixture = Fixture::new(&[3, 2], &[1]);
    let source = fixture.source(plus(1.0, 2.0), 4, 7);
    let row =
        |name: &str, n: u32| fixture.store.row_of(&ImageKey::new(name, n)).expect("row") as u32;
    let (a, b, c) = (row("t0", 1), row("t0", 2), row("t0", 3));
    let rows = [(a, c), (b, a), (c, c), (c, row("t1", 1))];
    let store = fixture.store.as_ref();
    let made = gather(
        store,
        crate::engine::Phase::Train,
        0,
        0,
        &rows,
        source.train_labels(),
    );
    assert_eq!(made.labels, vec![0.0, 1.0, 1.0, 0.0]);
    let named = gather(
        store,
        crate::engine::Phase::Train,
        0,
        0,
        &rows,
        Labels::ByName,
    );
    assert_eq!(named.labels, vec![1.0, 1.0, 1.0, 0.0]);
    // Other samplers label by name.
    let plain = fixture.source(Sampler::PairsFile { shuffle: true }, 4, 7);
    assert!(matches!(plain.train_labels(), Labels::ByName));
    assert_eq!(plus(1.0, 2.0).protocol(), "restricted+made");
    assert_eq!(
        Sampler::PairsFile { shuffle: true }.protocol(),
        "restricted"
    );
}

#[test]
fn pairs_file_plus_without_made_pairs_is_pairs_file() {
    let fixture = Fixture::new(&[3, 2, 4], &[2]);
    let a = fixture.source(plus(0.0, 0.0), 4, 11);
    let b = fixture.source(Sampler::PairsFile { shuffle: true }, 4, 11);
    assert_eq!(
        batches(&a, 3, &mut NoRefreshes),
        batches(&b, 3, &mut NoRefreshes)
    );
}

#[test]
fn pairs_file_plus_settings_are_checked_by_path() {
    let got = problems_of("sampler: PairsFilePlus(self_same: -1.0, random_different: 101.0)");
    for want in [
        "stages[1].sampler.self_same: must be in [0, 100], got -1",
        "stages[1].sampler.random_different: must be in [0, 100], got 101",
    ] {
        assert!(got.iter().any(|p| p == want), "{want} missing from {got:?}");
    }
    assert!(problems_of("sampler: PairsFilePlus()").is_empty());
    let defaults: Sampler = ron::from_str("PairsFilePlus()").expect("ron");
    assert_eq!(
        defaults,
        plus(0.0, 1.0),
        "only made different pairs by default"
    );
}
