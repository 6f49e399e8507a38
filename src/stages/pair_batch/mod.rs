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

mod config;
pub mod mining;
mod samplers;
mod source;

#[cfg(test)]
mod tests;

pub use config::{PairBatchConfig, MAX_BATCH};
pub use mining::{BoardError, MiningBoard, MiningMode, PoolImage, Snapshot};
pub use samplers::{Labels, Sampler, MAX_MADE_PER_PAIR, MAX_POOL};
pub use source::{gather, PairBatchSource, PairSets};
