//! `PairsFile`: the fixed pairs of the train pairs file, each once an epoch (LFW's
//! restricted protocol).

use rand::seq::SliceRandom;

use super::seam::{cannot, Epoch, Inputs, PairSampler, SamplerSettings};
use crate::engine::StageError;

/// The settings of `Sampler::PairsFile`.
pub(crate) struct PairsFile {
    /// Reshuffle the pairs every epoch (seeded).
    pub shuffle: bool,
}

impl SamplerSettings for PairsFile {
    fn name(&self) -> &'static str {
        "PairsFile"
    }

    fn protocol(&self) -> &'static str {
        "restricted"
    }

    fn about(&self) -> &'static str {
        "the fixed pairs of the train pairs file (restricted protocol)"
    }

    fn build(&self, inputs: &Inputs<'_>) -> Result<Box<dyn PairSampler>, StageError> {
        if inputs.train.is_empty() {
            return Err(cannot("no train pair has both images"));
        }
        Ok(Box::new(FixedPairs {
            pairs: inputs.train.to_vec(),
            shuffle: self.shuffle,
        }))
    }
}

/// The runtime: the file's pairs, in file order or reshuffled each epoch.
struct FixedPairs {
    pairs: Vec<(u32, u32)>,
    shuffle: bool,
}

impl PairSampler for FixedPairs {
    fn pairs_per_epoch(&self) -> usize {
        self.pairs.len()
    }

    fn draw_epoch(&self, epoch: &mut Epoch<'_, '_>) -> Result<(), StageError> {
        let mut pairs = self.pairs.clone();
        if self.shuffle {
            pairs.shuffle(&mut epoch.rng);
        }
        epoch.emit_in_batches(&pairs)
    }
}
