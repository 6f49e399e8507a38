//! `PairsFilePlus`: the fixed train pairs, each once an epoch, plus pairs made from their
//! images without labels (protocol `restricted+made`). Made pairs are labelled by the rule
//! that made them, never by the names, so the only labels used are the pairs file's.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand::Rng;

use super::seam::{cannot, Epoch, Inputs, Labels, PairSampler, SamplerSettings};
use crate::engine::StageError;
use crate::problem::Problem;

/// The most pairs `PairsFilePlus` may make per fixed pair, of either kind.
pub const MAX_MADE_PER_PAIR: f64 = 100.0;

/// The settings of `Sampler::PairsFilePlus`.
pub(crate) struct PairsFilePlus {
    /// Same pairs made from one image each epoch, as a multiple of the fixed pairs.
    pub self_same: f64,
    /// Different pairs made from two images each epoch, as a multiple of the fixed pairs.
    pub random_different: f64,
}

impl SamplerSettings for PairsFilePlus {
    fn name(&self) -> &'static str {
        "PairsFilePlus"
    }

    fn protocol(&self) -> &'static str {
        // Not plain `restricted`: made different pairs assume two random images show two
        // people, which the restricted protocol does not grant.
        "restricted+made"
    }

    fn about(&self) -> &'static str {
        "the fixed train pairs plus label-free pairs made from their images \
         (protocol restricted+made)"
    }

    fn problems(&self, path: &str, out: &mut Vec<Problem>) {
        for (field, value) in [
            ("self_same", self.self_same),
            ("random_different", self.random_different),
        ] {
            if !(0.0..=MAX_MADE_PER_PAIR).contains(&value) {
                out.push(Problem::new(
                    format!("{path}.{field}"),
                    format!("must be in [0, {MAX_MADE_PER_PAIR}], got {value}"),
                ));
            }
        }
    }

    fn build(&self, inputs: &Inputs<'_>) -> Result<Box<dyn PairSampler>, StageError> {
        let train = inputs.train;
        if train.is_empty() {
            return Err(cannot("no train pair has both images"));
        }
        let images: Vec<u32> = train
            .iter()
            .flat_map(|&(a, b)| [a, b])
            .collect::<BTreeSet<u32>>()
            .into_iter()
            .collect();
        if self.random_different > 0.0 && images.len() < 2 {
            return Err(cannot(
                "made different pairs need two distinct train images",
            ));
        }
        let store = inputs.store;
        let fixed_same = train
            .iter()
            .filter(|&&(a, b)| store.key(a as usize).name == store.key(b as usize).name)
            .flat_map(|&(a, b)| [(a, b), (b, a)])
            .collect();
        let times = |k: f64| (train.len() as f64 * k).round() as usize;
        Ok(Box::new(MadePairs {
            fixed: train.to_vec(),
            images,
            fixed_same,
            same: times(self.self_same),
            different: times(self.random_different),
        }))
    }
}

/// The runtime: the fixed pairs and the pairs made from their images each epoch.
struct MadePairs {
    fixed: Vec<(u32, u32)>,
    /// The distinct images of the fixed pairs, which made pairs are drawn from.
    images: Vec<u32>,
    /// The fixed pairs labelled same, both ways round, for labelling made pairs.
    fixed_same: BTreeSet<(u32, u32)>,
    /// Same pairs made per epoch.
    same: usize,
    /// Different pairs made per epoch.
    different: usize,
}

impl PairSampler for MadePairs {
    fn pairs_per_epoch(&self) -> usize {
        self.fixed.len() + self.same + self.different
    }

    fn draw_epoch(&self, epoch: &mut Epoch<'_, '_>) -> Result<(), StageError> {
        let rng = &mut epoch.rng;
        let images = &self.images;
        let mut pairs = self.fixed.clone();
        for _ in 0..self.same {
            let row = images[rng.gen_range(0..images.len())];
            pairs.push((row, row));
        }
        for _ in 0..self.different {
            let a = rng.gen_range(0..images.len());
            let b = (a + rng.gen_range(1..images.len())) % images.len();
            pairs.push((images[a], images[b]));
        }
        pairs.shuffle(rng);
        epoch.emit_in_batches(&pairs)
    }

    fn labels(&self) -> Labels<'_> {
        Labels::Made(&self.fixed_same)
    }
}
