//! `PairBatch`: samples pairs of images and gathers them into minibatches, epoch by epoch.
//!
//! Samplers are a serde enum, so a RON file swaps the restricted protocol (`PairsFile`, the
//! fixed pairs; `PairsFilePlus` adds pairs made from their images without labels) for the
//! identity protocol (`Balanced`, pairs drawn from train identities with an exact
//! same/different ratio per batch), or for `HardNegative`, which draws like
//! `Balanced` but mines its different pairs with the model being trained (see [`mining`]).
//! Each epoch emits its train batches, then the validation batches (always the fixed
//! validation pairs, in file order).

pub mod mining;
mod source;

impl Build<&BuildContext<'_>> for PairBatchConfig {
    type Runtime = PairBatchSource;

    /// The sampler over the run's image store and pairs, for the run's epochs.
    fn build(&self, ctx: &BuildContext<'_>) -> Result<PairBatchSource, BuildError> {
        let store = Arc::clone(ctx.store("PairBatch")?);
        PairBatchSource::new(self, store, ctx.pairs("PairBatch")?, ctx.epochs, ctx.seed).map_err(
            |source| BuildError::Stage {
                stage: "PairBatch",
                source,
            },
        )
    }
}

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use mining::{BoardError, MiningBoard, MiningMode, PoolImage, Snapshot};
pub use source::{gather, Labels, PairBatchSource, PairSets};

use std::sync::Arc;

use super::{Build, BuildContext, BuildError};
use crate::problem::Problem;

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
#[serde(deny_unknown_fields)]
pub enum Sampler {
    /// The fixed pairs of the train pairs file (LFW's restricted protocol).
    PairsFile {
        /// Reshuffle the pairs every epoch (seeded).
        #[serde(default = "yes")]
        shuffle: bool,
    },
    /// The fixed train pairs, each once an epoch, plus pairs made from their images without
    /// labels: an image with itself as a same pair (`Augment` distorts each twin apart, so
    /// the two views differ) and two distinct images as a different pair (LFW holds so many
    /// people that two random images are almost never one person's). Made pairs are labelled
    /// by that rule, never by the names, so only the pairs file's labels are used; runs are
    /// reported as `restricted+made`, since the made different pairs assume two random
    /// images show two people. A made pair that is a fixed same pair keeps the file's label.
    PairsFilePlus {
        /// Same pairs made from one image each epoch, as a multiple of the fixed pairs. Off by
        /// default: on LFW they taught nothing (docs/results.md, attempt 17).
        #[serde(default)]
        self_same: f64,
        /// Different pairs made from two images each epoch, as a multiple of the fixed pairs.
        #[serde(default = "one")]
        random_different: f64,
    },
    /// Pairs drawn from the train identities (the identity protocol).
    Balanced {
        /// Fraction of same pairs in every batch: exactly round(batch * same_ratio).
        same_ratio: f64,
        /// Pairs drawn per epoch.
        pairs_per_epoch: usize,
    },
    /// Pairs drawn from the train identities like `Balanced`, with the different pairs
    /// mined from a pool of images embedded by the model being trained. Needs a `Train`
    /// stage; the same RON and seed give the same batches whatever the thread timing.
    HardNegative {
        /// Fraction of same pairs in every batch: exactly round(batch * same_ratio).
        #[serde(default = "half")]
        same_ratio: f64,
        /// Pairs drawn per epoch.
        #[serde(default = "lfw_train_pairs")]
        pairs_per_epoch: usize,
        /// Train steps between refreshes of the pool's embeddings. Batch `b` mines with the
        /// embeddings taken after step `floor(b / refresh_every) * refresh_every`; the first
        /// `refresh_every` batches draw random different pairs. Refreshes sooner than the
        /// channels hold batches make the sampler wait for the trainer.
        #[serde(default = "twenty")]
        refresh_every: usize,
        /// Images embedded per refresh: up to two of each of a seeded choice of train
        /// identities, drawn afresh at every refresh.
        #[serde(default = "pool")]
        pool: usize,
        /// Which different pairs of the pool are kept.
        #[serde(default)]
        mode: MiningMode,
        /// Fraction of each batch's different pairs still drawn at random, exactly
        /// round(different * random_negatives), so the model keeps seeing easy pairs.
        #[serde(default = "quarter")]
        random_negatives: f64,
    },
}

fn yes() -> bool {
    true
}

fn half() -> f64 {
    0.5
}

fn one() -> f64 {
    1.0
}

/// The most pairs `PairsFilePlus` may make per fixed pair, of either kind.
pub const MAX_MADE_PER_PAIR: f64 = 100.0;

fn quarter() -> f64 {
    0.25
}

/// The number of pairs in `pairsDevTrain.txt`, an epoch of the restricted protocol.
fn lfw_train_pairs() -> usize {
    2200
}

fn twenty() -> usize {
    20
}

fn pool() -> usize {
    512
}

/// The most images a `HardNegative` pool may hold: more than LFW-a's 13,233, and its
/// embeddings stay in memory (128 MB at the seed model's 2048 units) while every refresh
/// runs the twin on all of them.
pub const MAX_POOL: usize = 16_384;

impl Default for Sampler {
    fn default() -> Self {
        Sampler::PairsFile { shuffle: true }
    }
}

impl Sampler {
    /// The evaluation protocol this sampler trains under: `restricted` (only the pairs of
    /// the train pairs file), `restricted+made` (those pairs plus pairs made from their
    /// images without labels, which assume two random images show two people) or
    /// `identity` (pairs drawn from the train identities).
    pub fn protocol(&self) -> &'static str {
        match self {
            Sampler::PairsFile { .. } => "restricted",
            Sampler::PairsFilePlus { .. } => "restricted+made",
            Sampler::Balanced { .. } | Sampler::HardNegative { .. } => "identity",
        }
    }

    /// The variant's name, as written in RON.
    pub fn name(&self) -> &'static str {
        match self {
            Sampler::PairsFile { .. } => "PairsFile",
            Sampler::PairsFilePlus { .. } => "PairsFilePlus",
            Sampler::Balanced { .. } => "Balanced",
            Sampler::HardNegative { .. } => "HardNegative",
        }
    }

    /// `HardNegative` with every field at its default.
    pub fn hard_negative() -> Self {
        Sampler::HardNegative {
            same_ratio: half(),
            pairs_per_epoch: lfw_train_pairs(),
            refresh_every: twenty(),
            pool: pool(),
            mode: MiningMode::default(),
            random_negatives: quarter(),
        }
    }

    /// Every sampler with example settings and a one-line description, for `twinflow stages`.
    pub fn catalogue() -> Vec<(Sampler, &'static str)> {
        vec![
            (
                Sampler::default(),
                "the fixed pairs of the train pairs file (restricted protocol)",
            ),
            (
                Sampler::PairsFilePlus {
                    self_same: 0.0,
                    random_different: one(),
                },
                "the fixed train pairs plus label-free pairs made from their images \
                 (protocol restricted+made)",
            ),
            (
                Sampler::Balanced {
                    same_ratio: 0.5,
                    pairs_per_epoch: lfw_train_pairs(),
                },
                "pairs drawn from train identities",
            ),
            (
                Sampler::hard_negative(),
                "like Balanced, different pairs mined with the model in training \
                 (mode: Hardest | SemiHard; needs Train)",
            ),
        ]
    }

    /// True when the sampler needs the model being trained.
    pub fn needs_training(&self) -> bool {
        matches!(self, Sampler::HardNegative { .. })
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
        let path = format!("{path}.sampler");
        match self.sampler {
            Sampler::PairsFile { .. } => {}
            Sampler::PairsFilePlus {
                self_same,
                random_different,
            } => {
                for (field, value) in [
                    ("self_same", self_same),
                    ("random_different", random_different),
                ] {
                    if !(0.0..=MAX_MADE_PER_PAIR).contains(&value) {
                        out.push(Problem::new(
                            format!("{path}.{field}"),
                            format!("must be in [0, {MAX_MADE_PER_PAIR}], got {value}"),
                        ));
                    }
                }
            }
            Sampler::Balanced {
                same_ratio,
                pairs_per_epoch,
            } => {
                fraction(&path, "same_ratio", same_ratio, out);
                positive(&path, "pairs_per_epoch", pairs_per_epoch, out);
            }
            Sampler::HardNegative {
                same_ratio,
                pairs_per_epoch,
                refresh_every,
                pool,
                mode: _,
                random_negatives,
            } => {
                fraction(&path, "same_ratio", same_ratio, out);
                positive(&path, "pairs_per_epoch", pairs_per_epoch, out);
                positive(&path, "refresh_every", refresh_every, out);
                if !(2..=MAX_POOL).contains(&pool) {
                    out.push(Problem::new(
                        format!("{path}.pool"),
                        format!("must be in 2..={MAX_POOL}, got {pool}"),
                    ));
                }
                fraction(&path, "random_negatives", random_negatives, out);
            }
        }
    }
}

fn fraction(path: &str, field: &str, value: f64, out: &mut Vec<Problem>) {
    if !(0.0..=1.0).contains(&value) {
        out.push(Problem::new(
            format!("{path}.{field}"),
            format!("must be in [0, 1], got {value}"),
        ));
    }
}

fn positive(path: &str, field: &str, value: usize, out: &mut Vec<Problem>) {
    if value == 0 {
        out.push(Problem::new(format!("{path}.{field}"), "must be > 0"));
    }
}
