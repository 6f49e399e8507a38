//! `Balanced`: pairs drawn from the train identities (the identity protocol), with an exact
//! same/different ratio in every batch.

use rand::seq::SliceRandom;

use super::identities::Identities;
use super::seam::{fraction, positive, Epoch, Inputs, PairSampler, SamplerSettings};
use crate::engine::StageError;
use crate::problem::Problem;

/// The settings of `Sampler::Balanced`.
pub(crate) struct Balanced {
    /// Fraction of same pairs in every batch: exactly round(batch * same_ratio).
    pub same_ratio: f64,
    /// Pairs drawn per epoch.
    pub pairs_per_epoch: usize,
}

impl SamplerSettings for Balanced {
    fn name(&self) -> &'static str {
        "Balanced"
    }

    fn protocol(&self) -> &'static str {
        "identity"
    }

    fn about(&self) -> &'static str {
        "pairs drawn from train identities"
    }

    fn problems(&self, path: &str, out: &mut Vec<Problem>) {
        fraction(path, "same_ratio", self.same_ratio, out);
        positive(path, "pairs_per_epoch", self.pairs_per_epoch, out);
    }

    fn same_ratio(&self) -> Option<f64> {
        Some(self.same_ratio)
    }

    fn build(&self, inputs: &Inputs<'_>) -> Result<Box<dyn PairSampler>, StageError> {
        let identities = Identities::of(inputs);
        identities.check(self.same_ratio)?;
        Ok(Box::new(BalancedPairs {
            identities,
            same_ratio: self.same_ratio,
            pairs_per_epoch: self.pairs_per_epoch,
        }))
    }
}

/// The runtime: batches of random pairs, the same pairs first, then shuffled.
struct BalancedPairs {
    identities: Identities,
    same_ratio: f64,
    pairs_per_epoch: usize,
}

impl PairSampler for BalancedPairs {
    fn pairs_per_epoch(&self) -> usize {
        self.pairs_per_epoch
    }

    fn draw_epoch(&self, epoch: &mut Epoch<'_, '_>) -> Result<(), StageError> {
        let b = epoch.batch_size;
        for (index, start) in (0..self.pairs_per_epoch).step_by(b).enumerate() {
            let n = b.min(self.pairs_per_epoch - start);
            let same = (n as f64 * self.same_ratio).round() as usize;
            let rng = &mut epoch.rng;
            let mut batch: Vec<(u32, u32)> = (0..n)
                .map(|i| self.identities.draw(rng, i < same))
                .collect();
            batch.shuffle(rng);
            epoch.emit(index, &batch)?;
        }
        Ok(())
    }
}
