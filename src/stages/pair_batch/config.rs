//! The `PairBatch` stage's settings, apart from the runtime that reads them.

use serde::{Deserialize, Serialize};

use super::samplers::Sampler;
use crate::problem::Problem;

/// The most pairs a minibatch may hold: far beyond what trains well, and what a
/// machine's memory is checked against separately.
pub const MAX_BATCH: usize = 65_536;

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
        if self.batch_size == 0 || self.batch_size > MAX_BATCH {
            out.push(Problem::new(
                format!("{path}.batch_size"),
                format!("must be in 1..={MAX_BATCH}, got {}", self.batch_size),
            ));
        }
        crate::stages::check_capacity(path, self.capacity, out);
        self.sampler.problems(&format!("{path}.sampler"), out);
    }
}
