//! The `PairBatch` runtime: resolves pairs and identities to image store rows, then emits
//! each epoch's train batches (as its sampler says) and the fixed validation batches.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::mining::{BoardError, Miner, MiningBoard, MiningMode, Snapshot};
use super::{PairBatchConfig, Sampler};
use crate::cache::ImageStore;
use crate::data::ImageKey;
use crate::engine::{Emitter, PairBatch, Phase, Source, StageContext, StageError};

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
    /// The distinct images of the train pairs, for `PairsFilePlus` to make pairs from.
    train_images: Vec<u32>,
    /// The train pairs labelled same, both ways round, for labelling made pairs.
    train_same: BTreeSet<(u32, u32)>,
    validation: Vec<(u32, u32)>,
    identities: Vec<Vec<u32>>,
    /// Indices into `identities` of those with two or more images (same-pair candidates).
    multi: Vec<usize>,
    missing: Vec<String>,
    start_epoch: usize,
    /// Where the trainer publishes embeddings, for `HardNegative`.
    board: Option<Arc<MiningBoard>>,
}

/// Where a `HardNegative` sampler gets refresh `r`'s embeddings from: the board in a run,
/// a stand-in in tests.
pub(crate) trait Refreshes {
    /// The snapshot of refresh `refresh`, waiting for it if need be.
    fn get(&mut self, refresh: usize) -> Result<Arc<Snapshot>, StageError>;
}

/// Takes one train batch, as its index in the epoch and its store rows.
pub(crate) type EmitRows<'a> = dyn FnMut(usize, &[(u32, u32)]) -> Result<(), StageError> + 'a;

/// The board as seen from the sampler's thread: waits count as the stage's receive wait,
/// and stop when the run does.
struct BoardWaiter<'a> {
    board: &'a MiningBoard,
    ctx: &'a StageContext,
}

impl Refreshes for BoardWaiter<'_> {
    fn get(&mut self, refresh: usize) -> Result<Arc<Snapshot>, StageError> {
        let t = Instant::now();
        let got = self.board.wait_for(refresh, || self.ctx.is_cancelled());
        self.ctx.metrics().add_recv_wait(t);
        got.map_err(|e| match e {
            BoardError::Cancelled { .. } => StageError::Cancelled,
            other => StageError::Mining {
                source: Box::new(other),
            },
        })
    }
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
        let train_images: Vec<u32> = train
            .iter()
            .flat_map(|&(a, b)| [a, b])
            .collect::<BTreeSet<u32>>()
            .into_iter()
            .collect();
        let train_same = train
            .iter()
            .filter(|&&(a, b)| store.key(a as usize).name == store.key(b as usize).name)
            .flat_map(|&(a, b)| [(a, b), (b, a)])
            .collect();
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
        let board = match config.sampler {
            Sampler::HardNegative {
                pool,
                refresh_every,
                ..
            } => Some(Arc::new(MiningBoard::new(
                identities.clone(),
                pool,
                refresh_every,
                seed,
            ))),
            _ => None,
        };
        let source = Self {
            store,
            config: config.clone(),
            epochs,
            seed,
            train,
            train_images,
            train_same,
            validation,
            identities,
            multi,
            missing,
            start_epoch: 0,
            board,
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

    /// The board the trainer must publish embeddings to, when the sampler mines.
    pub fn mining_board(&self) -> Option<Arc<MiningBoard>> {
        self.board.clone()
    }

    /// Train batches per epoch (the last may be short).
    pub fn train_batches_per_epoch(&self) -> usize {
        self.train_pairs_per_epoch()
            .div_ceil(self.config.batch_size.max(1))
    }

    /// Epochs the source emits in all, counting those a resume skips.
    pub fn epochs(&self) -> usize {
        self.epochs
    }

    /// How train batches are labelled: made pairs without the names.
    pub(crate) fn train_labels(&self) -> Labels<'_> {
        match self.config.sampler {
            Sampler::PairsFilePlus { .. } => Labels::Made(&self.train_same),
            _ => Labels::ByName,
        }
    }

    fn check(&self) -> Result<(), StageError> {
        let reason = match self.config.sampler {
            Sampler::PairsFile { .. } | Sampler::PairsFilePlus { .. } if self.train.is_empty() => {
                Some("no train pair has both images".to_string())
            }
            Sampler::PairsFilePlus {
                random_different, ..
            } if random_different > 0.0 && self.train_images.len() < 2 => {
                Some("made different pairs need two distinct train images".to_string())
            }
            Sampler::Balanced { same_ratio, .. } | Sampler::HardNegative { same_ratio, .. } => {
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
            Sampler::PairsFile { .. } | Sampler::PairsFilePlus { .. } => None,
        };
        reason.map_or(Ok(()), |reason| Err(StageError::Sampling { reason }))
    }

    fn train_pairs_per_epoch(&self) -> usize {
        match self.config.sampler {
            Sampler::PairsFile { .. } => self.train.len(),
            Sampler::PairsFilePlus {
                self_same,
                random_different,
            } => {
                let (same, different) = made(self.train.len(), self_same, random_different);
                self.train.len() + same + different
            }
            Sampler::Balanced {
                pairs_per_epoch, ..
            }
            | Sampler::HardNegative {
                pairs_per_epoch, ..
            } => pairs_per_epoch,
        }
    }

    /// Draws `epoch`'s train batches and hands each to `emit` with its index, mining
    /// with the refreshes `refreshes` gives (only `HardNegative` asks for any).
    ///
    /// Batches are built one at a time, so a `HardNegative` sampler only waits for the
    /// refresh the next batch needs.
    pub(crate) fn train_epoch(
        &self,
        epoch: usize,
        refreshes: &mut dyn Refreshes,
        emit: &mut EmitRows<'_>,
    ) -> Result<(), StageError> {
        let mut rng = ChaCha8Rng::seed_from_u64(epoch_seed(self.seed, epoch));
        let b = self.config.batch_size.max(1);
        let Sampler::HardNegative {
            pairs_per_epoch,
            same_ratio,
            mode,
            random_negatives,
            ..
        } = self.config.sampler
        else {
            let pairs = self.epoch_pairs(&mut rng);
            for (index, chunk) in pairs.chunks(b).enumerate() {
                emit(index, chunk)?;
            }
            return Ok(());
        };
        let board = self.board.as_ref().ok_or_else(|| StageError::Sampling {
            reason: "HardNegative has no board to mine from".into(),
        })?;
        let mut miner: Option<Miner> = None;
        let first = epoch * self.train_batches_per_epoch();
        for (index, start) in (0..pairs_per_epoch).step_by(b).enumerate() {
            let n = b.min(pairs_per_epoch - start);
            if let Some(r) = board.refresh_for(first + index) {
                if miner.as_ref().is_none_or(|m| m.refresh() != r) {
                    miner = Some(Miner::new(refreshes.get(r)?));
                }
            }
            let ratios = Ratios {
                same: same_ratio,
                random: random_negatives,
            };
            let rows = self.mined_batch(&mut rng, n, ratios, miner.as_mut().map(|m| (m, mode)));
            emit(index, &rows)?;
        }
        Ok(())
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
            Sampler::PairsFilePlus {
                self_same,
                random_different,
            } => {
                let mut pairs = self.train.clone();
                let (same, different) = made(pairs.len(), self_same, random_different);
                let images = &self.train_images;
                for _ in 0..same {
                    let row = images[rng.gen_range(0..images.len())];
                    pairs.push((row, row));
                }
                for _ in 0..different {
                    let a = rng.gen_range(0..images.len());
                    let b = (a + rng.gen_range(1..images.len())) % images.len();
                    pairs.push((images[a], images[b]));
                }
                pairs.shuffle(rng);
                pairs
            }
            Sampler::Balanced {
                same_ratio,
                pairs_per_epoch,
            } => {
                let b = self.config.batch_size.max(1);
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
            // Built batch by batch in `train_epoch`, as the trainer's refreshes arrive.
            Sampler::HardNegative { .. } => Vec::new(),
        }
    }

    /// One `HardNegative` batch of `n` pairs: exactly round(n * same) same pairs, and of
    /// the different pairs round(d * random) drawn at random and the rest mined (random
    /// too before the first refresh, or when the pool has one identity only).
    fn mined_batch(
        &self,
        rng: &mut ChaCha8Rng,
        n: usize,
        ratios: Ratios,
        mut miner: Option<(&mut Miner, MiningMode)>,
    ) -> Vec<(u32, u32)> {
        let same = (n as f64 * ratios.same).round() as usize;
        let different = n - same;
        let random = (different as f64 * ratios.random).round() as usize;
        let mut batch: Vec<(u32, u32)> = (0..same + random)
            .map(|i| self.draw(rng, i < same))
            .collect();
        for _ in random..different {
            let mined = miner.as_mut().and_then(|(miner, mode)| {
                // An empty pool (only a hand-built config can ask for one) mines nothing.
                if miner.anchors().is_empty() {
                    return None;
                }
                let anchor = miner.anchors()[rng.gen_range(0..miner.anchors().len())];
                let negative = miner.negative(anchor, *mode)?;
                Some((miner.image(anchor).row, miner.image(negative).row))
            });
            batch.push(mined.unwrap_or_else(|| self.draw(rng, false)));
        }
        batch.shuffle(rng);
        batch
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

/// How many same and different pairs `PairsFilePlus` makes per epoch from `fixed` pairs.
fn made(fixed: usize, self_same: f64, random_different: f64) -> (usize, usize) {
    let times = |k: f64| (fixed as f64 * k).round() as usize;
    (times(self_same), times(random_different))
}

/// The fractions a `HardNegative` batch holds.
#[derive(Debug, Clone, Copy)]
struct Ratios {
    /// Same pairs among all pairs.
    same: f64,
    /// Random pairs among the different pairs.
    random: f64,
}

/// How a batch's pairs are labelled.
#[derive(Debug, Clone, Copy)]
pub enum Labels<'a> {
    /// Same when both images carry one name: the pairs files' labels, and the identities'.
    ByName,
    /// Same when both twins are one image, or the pair is one of these fixed same pairs;
    /// for pairs made without looking at names.
    Made(&'a BTreeSet<(u32, u32)>),
}

/// Copies the pairs' images out of the store into a batch (pixels as f32 in [0, 1]),
/// labelled as `labels` says.
pub fn gather(
    store: &dyn ImageStore,
    phase: Phase,
    epoch: usize,
    index: usize,
    rows: &[(u32, u32)],
    labels_by: Labels<'_>,
) -> PairBatch {
    let (h, w) = (store.height(), store.width());
    let n = h * w;
    let mut left = vec![0.0; rows.len() * n];
    let mut right = vec![0.0; rows.len() * n];
    let mut labels = Vec::with_capacity(rows.len());
    for (i, &(a, b)) in rows.iter().enumerate() {
        store.copy_f32(a as usize, &mut left[i * n..(i + 1) * n]);
        store.copy_f32(b as usize, &mut right[i * n..(i + 1) * n]);
        let same = match labels_by {
            Labels::ByName => store.key(a as usize).name == store.key(b as usize).name,
            Labels::Made(fixed_same) => a == b || fixed_same.contains(&(a, b)),
        };
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

impl Source<PairBatch> for PairBatchSource {
    fn len_hint(&self) -> Option<u64> {
        let epochs = self.epochs.saturating_sub(self.start_epoch);
        Some((epochs * (self.train_pairs_per_epoch() + self.validation.len())) as u64)
    }

    fn run(
        &mut self,
        ctx: &StageContext,
        out: &mut Emitter<'_, PairBatch>,
    ) -> Result<(), StageError> {
        for pair in self.missing.drain(..) {
            ctx.skip(pair, "an image of this pair is not in the image store");
        }
        let store = Arc::clone(&self.store);
        let board = self.board.clone();
        let mut refreshes: Box<dyn Refreshes + '_> = match &board {
            Some(board) => Box::new(BoardWaiter { board, ctx }),
            None => Box::new(NoRefreshes),
        };
        let train_labels = self.train_labels();
        for epoch in self.start_epoch..self.epochs {
            self.train_epoch(epoch, refreshes.as_mut(), &mut |index, rows| {
                out.emit(gather(
                    store.as_ref(),
                    Phase::Train,
                    epoch,
                    index,
                    rows,
                    train_labels,
                ))
            })?;
            for (index, chunk) in self.validation.chunks(self.config.batch_size).enumerate() {
                out.emit(gather(
                    store.as_ref(),
                    Phase::Validation,
                    epoch,
                    index,
                    chunk,
                    Labels::ByName,
                ))?;
            }
        }
        Ok(())
    }
}

/// The refreshes of a sampler that does not mine: asking for one is a bug, reported as
/// an error rather than a panic.
pub(crate) struct NoRefreshes;

impl Refreshes for NoRefreshes {
    fn get(&mut self, refresh: usize) -> Result<Arc<Snapshot>, StageError> {
        Err(StageError::Sampling {
            reason: format!("refresh {refresh} asked of a sampler without a board"),
        })
    }
}
