//! `HardNegative`: pairs drawn from the train identities like `Balanced`, with most
//! different pairs mined from a pool of images embedded by the model being trained (the
//! board, schedule and miner are in [`crate::stages::pair_batch::mining`]).

use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::identities::Identities;
use super::seam::{fraction, positive, Epoch, Inputs, PairSampler, SamplerSettings};
use crate::engine::StageError;
use crate::problem::Problem;
use crate::stages::pair_batch::mining::{Miner, MiningBoard, MiningMode};

/// The most images a `HardNegative` pool may hold: more than LFW-a's 13,233, and its
/// embeddings stay in memory (128 MB at the seed model's 2048 units) while every refresh
/// runs the twin on all of them.
pub const MAX_POOL: usize = 16_384;

/// The settings of `Sampler::HardNegative`.
pub(crate) struct HardNegative {
    /// Fraction of same pairs in every batch: exactly round(batch * same_ratio).
    pub same_ratio: f64,
    /// Pairs drawn per epoch.
    pub pairs_per_epoch: usize,
    /// Train steps between refreshes of the pool's embeddings.
    pub refresh_every: usize,
    /// Images embedded per refresh.
    pub pool: usize,
    /// Which different pairs of the pool are kept.
    pub mode: MiningMode,
    /// Fraction of each batch's different pairs still drawn at random.
    pub random_negatives: f64,
}

impl SamplerSettings for HardNegative {
    fn name(&self) -> &'static str {
        "HardNegative"
    }

    fn protocol(&self) -> &'static str {
        "identity"
    }

    fn about(&self) -> &'static str {
        "like Balanced, different pairs mined with the model in training \
         (mode: Hardest | SemiHard; needs Train)"
    }

    fn problems(&self, path: &str, out: &mut Vec<Problem>) {
        fraction(path, "same_ratio", self.same_ratio, out);
        positive(path, "pairs_per_epoch", self.pairs_per_epoch, out);
        positive(path, "refresh_every", self.refresh_every, out);
        if !(2..=MAX_POOL).contains(&self.pool) {
            out.push(Problem::new(
                format!("{path}.pool"),
                format!("must be in 2..={MAX_POOL}, got {}", self.pool),
            ));
        }
        fraction(path, "random_negatives", self.random_negatives, out);
    }

    fn needs_training(&self) -> bool {
        true
    }

    fn same_ratio(&self) -> Option<f64> {
        Some(self.same_ratio)
    }

    fn build(&self, inputs: &Inputs<'_>) -> Result<Box<dyn PairSampler>, StageError> {
        let identities = Identities::of(inputs);
        identities.check(self.same_ratio)?;
        let board = MiningBoard::new(
            identities.rows.clone(),
            self.pool,
            self.refresh_every,
            inputs.seed,
        );
        Ok(Box::new(MinedPairs {
            identities,
            board: Arc::new(board),
            pairs_per_epoch: self.pairs_per_epoch,
            same_ratio: self.same_ratio,
            random_negatives: self.random_negatives,
            mode: self.mode,
        }))
    }
}

/// The runtime: batches built one at a time, so the sampler only waits for the refresh
/// the next batch needs (the trainer publishes it after learning from earlier batches).
struct MinedPairs {
    identities: Identities,
    board: Arc<MiningBoard>,
    pairs_per_epoch: usize,
    same_ratio: f64,
    random_negatives: f64,
    mode: MiningMode,
}

impl PairSampler for MinedPairs {
    fn pairs_per_epoch(&self) -> usize {
        self.pairs_per_epoch
    }

    fn draw_epoch(&self, epoch: &mut Epoch<'_, '_>) -> Result<(), StageError> {
        let b = epoch.batch_size;
        let mut miner: Option<Miner> = None;
        for (index, start) in (0..self.pairs_per_epoch).step_by(b).enumerate() {
            let n = b.min(self.pairs_per_epoch - start);
            if let Some(r) = self.board.refresh_for(epoch.first_batch + index) {
                if miner.as_ref().is_none_or(|m| m.refresh() != r) {
                    miner = Some(Miner::new(epoch.refreshes.get(r)?));
                }
            }
            let rows = self.mined_batch(&mut epoch.rng, n, miner.as_mut());
            epoch.emit(index, &rows)?;
        }
        Ok(())
    }

    fn mining_board(&self) -> Option<Arc<MiningBoard>> {
        Some(Arc::clone(&self.board))
    }
}

impl MinedPairs {
    /// One batch of `n` pairs: exactly round(n * same_ratio) same pairs, and of the `d`
    /// different pairs round(d * random_negatives) drawn at random and the rest mined
    /// (random too before the first refresh, or when the pool has one identity only).
    fn mined_batch(
        &self,
        rng: &mut ChaCha8Rng,
        n: usize,
        mut miner: Option<&mut Miner>,
    ) -> Vec<(u32, u32)> {
        let same = (n as f64 * self.same_ratio).round() as usize;
        let different = n - same;
        let random = (different as f64 * self.random_negatives).round() as usize;
        let mut batch: Vec<(u32, u32)> = (0..same + random)
            .map(|i| self.identities.draw(rng, i < same))
            .collect();
        for _ in random..different {
            let mined = miner.as_mut().and_then(|miner| {
                // An empty pool (only a hand-built config can ask for one) mines nothing.
                if miner.anchors().is_empty() {
                    return None;
                }
                let anchor = miner.anchors()[rng.gen_range(0..miner.anchors().len())];
                let negative = miner.negative(anchor, self.mode)?;
                Some((miner.image(anchor).row, miner.image(negative).row))
            });
            batch.push(mined.unwrap_or_else(|| self.identities.draw(rng, false)));
        }
        batch.shuffle(rng);
        batch
    }
}
