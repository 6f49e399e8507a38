//! `PairBatch`: samples pairs of images and gathers them into minibatches, epoch by epoch.
//!
//! Samplers are a serde enum, so a RON file swaps the restricted protocol (`PairsFile`, the
//! fixed pairs; `PairsFilePlus` adds pairs made from their images without labels) for the
//! identity protocol (`Balanced`, pairs drawn from train identities with an exact
//! same/different ratio per batch), or for `HardNegative`, which draws like
//! `Balanced` but mines its different pairs with the model being trained (see [`mining`]).
//! Each epoch emits its train batches, then the validation batches (always the fixed
//! validation pairs, in file order).
//!
//! Each sampler is one file under `samplers/` (its settings' checks and its runtime) behind
//! one seam (`samplers/seam.rs`); `source.rs` is the plumbing they share: store rows, epoch
//! seeds, validation batches, labels and the channel.

pub mod mining;
mod samplers;
mod source;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use mining::{BoardError, MiningBoard, MiningMode, PoolImage, Snapshot};
pub use samplers::{Labels, Sampler, MAX_MADE_PER_PAIR, MAX_POOL};
pub use source::{gather, PairBatchSource, PairSets};

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

impl PairBatchConfig {
    /// Appends every problem of this config, each named by its RON path.
    pub fn problems(&self, path: &str, out: &mut Vec<Problem>) {
        if self.batch_size == 0 {
            out.push(Problem::new(format!("{path}.batch_size"), "must be > 0"));
        }
        if self.capacity == 0 {
            out.push(Problem::new(format!("{path}.capacity"), "must be > 0"));
        }
        self.sampler.problems(&format!("{path}.sampler"), out);
    }
}
