//! The pair samplers: the `Sampler` settings enum as RON spells it, and one file per
//! sampler behind the seam in [`seam`].
//!
//! Each sampler's file holds its settings struct (checks, protocol, description) and its
//! runtime; this file only maps each RON variant onto its settings, in [`Sampler::settings`].
//! A new sampler is its own file plus, here, its `mod` line, its variant, its arm in
//! `settings` and an example in `catalogue` (for `twinflow stages`).

mod balanced;
mod hard_negative;
mod identities;
mod pairs_file;
mod pairs_file_plus;
pub(crate) mod seam;

use serde::{Deserialize, Serialize};

pub use hard_negative::MAX_POOL;
pub use pairs_file_plus::MAX_MADE_PER_PAIR;
pub use seam::Labels;

use super::mining::MiningMode;
use crate::problem::Problem;
use seam::SamplerSettings;

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

impl Default for Sampler {
    fn default() -> Self {
        Sampler::PairsFile { shuffle: true }
    }
}

impl Sampler {
    /// The variant's settings, whose file says everything else about the sampler: the one
    /// place that maps a RON variant onto its sampler.
    pub(crate) fn settings(&self) -> Box<dyn SamplerSettings> {
        match *self {
            Sampler::PairsFile { shuffle } => Box::new(pairs_file::PairsFile { shuffle }),
            Sampler::PairsFilePlus {
                self_same,
                random_different,
            } => Box::new(pairs_file_plus::PairsFilePlus {
                self_same,
                random_different,
            }),
            Sampler::Balanced {
                same_ratio,
                pairs_per_epoch,
            } => Box::new(balanced::Balanced {
                same_ratio,
                pairs_per_epoch,
            }),
            Sampler::HardNegative {
                same_ratio,
                pairs_per_epoch,
                refresh_every,
                pool,
                mode,
                random_negatives,
            } => Box::new(hard_negative::HardNegative {
                same_ratio,
                pairs_per_epoch,
                refresh_every,
                pool,
                mode,
                random_negatives,
            }),
        }
    }

    /// The evaluation protocol this sampler trains under: `restricted` (only the pairs of
    /// the train pairs file), `restricted+made` (those pairs plus pairs made from their
    /// images without labels, which assume two random images show two people) or
    /// `identity` (pairs drawn from the train identities).
    pub fn protocol(&self) -> &'static str {
        self.settings().protocol()
    }

    /// The variant's name, as written in RON.
    pub fn name(&self) -> &'static str {
        self.settings().name()
    }

    /// The fraction of same pairs in every batch, for samplers that fix one.
    pub fn same_ratio(&self) -> Option<f64> {
        self.settings().same_ratio()
    }

    /// True when the sampler needs the model being trained.
    pub fn needs_training(&self) -> bool {
        self.settings().needs_training()
    }

    /// Appends every problem of these settings, each named by its RON path under `path`.
    pub fn problems(&self, path: &str, out: &mut Vec<Problem>) {
        self.settings().problems(path, out);
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
        let examples = [
            Sampler::default(),
            Sampler::PairsFilePlus {
                self_same: 0.0,
                random_different: one(),
            },
            Sampler::Balanced {
                same_ratio: 0.5,
                pairs_per_epoch: lfw_train_pairs(),
            },
            Sampler::hard_negative(),
        ];
        examples
            .into_iter()
            .map(|sampler| (sampler, sampler.settings().about()))
            .collect()
    }
}
