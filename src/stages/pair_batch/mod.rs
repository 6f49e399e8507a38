//! `PairBatch`: samples pairs of images and gathers them into minibatches, epoch by epoch.
//!
//! Samplers are a serde enum, so a RON file swaps the restricted protocol (`PairsFile`, the
//! fixed pairs) for the identity protocol (`Balanced`, pairs drawn from train identities with
//! an exact same/different ratio per batch). Each epoch emits its train batches, then the
//! validation batches (always the fixed validation pairs, in file order).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::store::ImageStore;
use crate::data::ImageKey;
use crate::pipeline::validate::Problem;
use crate::pipeline::{Emitter, Item, PairBatch, Phase, Source, StageContext, StageError};

/// Settings of the `PairBatch` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PairBatchConfig {
    /// Where train pairs come from.
    pub sampler: Sampler,
    /// Pairs per minibatch.
    pub batch_size: usize,
    /// Capacity of the output channel, in batches.
    pub capacity: usize,
}

impl Default for PairBatchConfig {
    fn default() -> Self {
        Self {
            sampler: Sampler::default(),
            batch_size: 128,
            capacity: 4,
        }
    }
}

/// How train pairs are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Sampler {
    /// The fixed pairs of the train pairs file (LFW's restricted protocol).
    PairsFile {
        /// Reshuffle the pairs every epoch (seeded).
        #[serde(default = "yes")]
        shuffle: bool,
    },
    /// Pairs drawn from the train identities (the identity protocol).
    Balanced {
        /// Fraction of same pairs in every batch: exactly round(batch * same_ratio).
        same_ratio: f64,
        /// Pairs drawn per epoch.
        pairs_per_epoch: usize,
    },
}

fn yes() -> bool {
    true
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::PairsFile { shuffle: true }
    }
}

impl PairBatchConfig {
    /// Appends every problem of this config, each named by its RON path.
    pub fn problems(&self, path: &str, out: &mut Vec<Problem>) {
        if self.batch_size == 0 {
            out.push(Problem::new(format!("{path}.batch_size"), "must be > 0"));
        }
        if self.capacity == 0 {
            out.push(Problem::new(format!("{path}.capacity"), "must be > 0"));
        }
        if let Sampler::Balanced {
            same_ratio,
            pairs_per_epoch,
        } = self.sampler
        {
            if !(0.0..=1.0).contains(&same_ratio) {
                out.push(Problem::new(
                    format!("{path}.sampler.same_ratio"),
                    format!("must be in [0, 1], got {same_ratio}"),
                ));
            }
            if pairs_per_epoch == 0 {
                out.push(Problem::new(
                    format!("{path}.sampler.pairs_per_epoch"),
                    "must be > 0",
                ));
            }
        }
    }
}

/// What the sampler draws from, resolved against an image store.
pub struct PairSets<'a> {
    /// The train pairs (restricted protocol).
    pub train: &'a [(ImageKey, ImageKey)],
    /// The validation pairs.
    pub validation: &'a [(ImageKey, ImageKey)],
    /// Identities the identity protocol may draw from.
    pub train_identities: &'a BTreeSet<String>,
}

/// The runtime: a source of pair batches over an image store.
pub struct PairBatchSource {
    store: Arc<dyn ImageStore>,
    config: PairBatchConfig,
    epochs: usize,
    seed: u64,
    train: Vec<(u32, u32)>,
    validation: Vec<(u32, u32)>,
    identities: Vec<Vec<u32>>,
    /// Indices into `identities` of those with two or more images (same-pair candidates).
    multi: Vec<usize>,
    missing: Vec<String>,
    start_epoch: usize,
}

impl PairBatchSource {
    /// Resolves pairs and identities to store rows.
    ///
    /// Pairs whose images are not in the store (they failed to decode) are left out and
    /// reported as skipped when the source runs.
    ///
    /// # Errors
    /// When the sampler cannot draw the pairs it is asked for.
    pub fn new(
        config: &PairBatchConfig,
        store: Arc<dyn ImageStore>,
        sets: &PairSets<'_>,
        epochs: usize,
        seed: u64,
    ) -> Result<Self, StageError> {
        let mut missing = Vec::new();
        let mut resolve = |pairs: &[(ImageKey, ImageKey)]| -> Vec<(u32, u32)> {
            let mut rows = Vec::with_capacity(pairs.len());
            for (a, b) in pairs {
                match (store.row_of(a), store.row_of(b)) {
                    (Some(ra), Some(rb)) => rows.push((ra as u32, rb as u32)),
                    _ => missing.push(format!("{a} / {b}")),
                }
            }
            rows
        };
        let (train, validation) = (resolve(sets.train), resolve(sets.validation));
        let mut by_name: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for row in 0..store.len() {
            let name = store.key(row).name.as_str();
            if sets.train_identities.contains(name) {
                by_name.entry(name).or_default().push(row as u32);
            }
        }
        let identities: Vec<Vec<u32>> = by_name.into_values().collect();
        let multi = (0..identities.len())
            .filter(|&i| identities[i].len() >= 2)
            .collect();
        let source = Self {
            store,
            config: config.clone(),
            epochs,
            seed,
            train,
            validation,
            identities,
            multi,
            missing,
            start_epoch: 0,
        };
        source.check()?;
        Ok(source)
    }

    /// Skips the epochs before `epoch` (to resume a run); later epochs are unchanged,
    /// since every epoch draws from its own seed.
    pub fn starting_at(mut self, epoch: usize) -> Self {
        self.start_epoch = epoch;
        self
    }

    fn check(&self) -> Result<(), StageError> {
        let reason = match self.config.sampler {
            Sampler::PairsFile { .. } if self.train.is_empty() => {
                Some("no train pair has both images".to_string())
            }
            Sampler::Balanced { same_ratio, .. } => {
                let multi = self.multi.len();
                if same_ratio > 0.0 && multi == 0 {
                    Some("same pairs need an identity with two images".into())
                } else if same_ratio < 1.0 && self.identities.len() < 2 {
                    Some(format!(
                        "different pairs need two identities, found {}",
                        self.identities.len()
                    ))
                } else {
                    None
                }
            }
            Sampler::PairsFile { .. } => None,
        };
        reason.map_or(Ok(()), |reason| Err(StageError::Sampling { reason }))
    }

    fn train_pairs_per_epoch(&self) -> usize {
        match self.config.sampler {
            Sampler::PairsFile { .. } => self.train.len(),
            Sampler::Balanced {
                pairs_per_epoch, ..
            } => pairs_per_epoch,
        }
    }

    fn epoch_pairs(&self, rng: &mut ChaCha8Rng) -> Vec<(u32, u32)> {
        match self.config.sampler {
            Sampler::PairsFile { shuffle } => {
                let mut pairs = self.train.clone();
                if shuffle {
                    pairs.shuffle(rng);
                }
                pairs
            }
            Sampler::Balanced {
                same_ratio,
                pairs_per_epoch,
            } => {
                let b = self.config.batch_size;
                let mut pairs = Vec::with_capacity(pairs_per_epoch);
                for start in (0..pairs_per_epoch).step_by(b) {
                    let n = b.min(pairs_per_epoch - start);
                    let same = (n as f64 * same_ratio).round() as usize;
                    let mut batch: Vec<(u32, u32)> =
                        (0..n).map(|i| self.draw(rng, i < same)).collect();
                    batch.shuffle(rng);
                    pairs.extend(batch);
                }
                pairs
            }
        }
    }

    /// Draws one pair: two different images of one identity, or images of two identities.
    fn draw(&self, rng: &mut ChaCha8Rng, same: bool) -> (u32, u32) {
        if same {
            let rows = &self.identities[self.multi[rng.gen_range(0..self.multi.len())]];
            let i = rng.gen_range(0..rows.len());
            let j = (i + rng.gen_range(1..rows.len())) % rows.len();
            (rows[i], rows[j])
        } else {
            let n = self.identities.len();
            let a = rng.gen_range(0..n);
            let b = (a + rng.gen_range(1..n)) % n;
            let pick = |rows: &Vec<u32>, rng: &mut ChaCha8Rng| rows[rng.gen_range(0..rows.len())];
            (
                pick(&self.identities[a], rng),
                pick(&self.identities[b], rng),
            )
        }
    }
}

/// Copies the pairs' images out of the store into a batch (pixels as f32 in [0, 1]).
pub fn gather(
    store: &dyn ImageStore,
    phase: Phase,
    epoch: usize,
    index: usize,
    rows: &[(u32, u32)],
) -> PairBatch {
    let (h, w) = (store.height(), store.width());
    let n = h * w;
    let mut left = vec![0.0; rows.len() * n];
    let mut right = vec![0.0; rows.len() * n];
    let mut labels = Vec::with_capacity(rows.len());
    for (i, &(a, b)) in rows.iter().enumerate() {
        store.copy_f32(a as usize, &mut left[i * n..(i + 1) * n]);
        store.copy_f32(b as usize, &mut right[i * n..(i + 1) * n]);
        let same = store.key(a as usize).name == store.key(b as usize).name;
        labels.push(if same { 1.0 } else { 0.0 });
    }
    PairBatch {
        phase,
        epoch,
        index,
        height: h,
        width: w,
        rows: rows.to_vec(),
        left,
        right,
        labels,
    }
}

/// A seed for one epoch, so epochs are independent of how many draws earlier ones made.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Source for PairBatchSource {
    fn len_hint(&self) -> Option<u64> {
        let epochs = self.epochs.saturating_sub(self.start_epoch);
        Some((epochs * (self.train_pairs_per_epoch() + self.validation.len())) as u64)
    }

    fn run(&mut self, ctx: &StageContext, out: &mut Emitter<'_>) -> Result<(), StageError> {
        for pair in self.missing.drain(..) {
            ctx.skip(pair, "an image of this pair is not in the image store");
        }
        let b = self.config.batch_size;
        for epoch in self.start_epoch..self.epochs {
            let mut rng = ChaCha8Rng::seed_from_u64(epoch_seed(self.seed, epoch));
            let pairs = self.epoch_pairs(&mut rng);
            for (phase, rows) in [
                (Phase::Train, &pairs),
                (Phase::Validation, &self.validation),
            ] {
                for (index, chunk) in rows.chunks(b).enumerate() {
                    out.emit(Item::Batch(gather(
                        self.store.as_ref(),
                        phase,
                        epoch,
                        index,
                        chunk,
                    )))?;
                }
            }
        }
        Ok(())
    }
}
