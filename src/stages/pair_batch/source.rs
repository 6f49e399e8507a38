//! The `PairBatch` runtime: resolves pairs to image store rows, then emits each epoch's
//! train batches (as its sampler draws them) and the fixed validation batches.
//!
//! Everything here is the same for every sampler; what differs lives behind
//! [`PairSampler`], one file per sampler.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::config::PairBatchConfig;
use super::mining::{BoardError, MiningBoard, Snapshot};
use super::samplers::seam::{EmitRows, Epoch, Inputs, Labels, NoRefreshes, PairSampler, Refreshes};
use crate::cache::ImageStore;
use crate::data::ImageKey;
use crate::engine::{Emitter, PairBatch, Phase, Source, StageContext, StageError};
use crate::stages::{Build, BuildContext, BuildError};

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
    sampler: Box<dyn PairSampler>,
    batch_size: usize,
    epochs: usize,
    seed: u64,
    validation: Vec<(u32, u32)>,
    missing: Vec<String>,
    start_epoch: usize,
}

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
        let sampler = config.sampler.settings().build(&Inputs {
            store: store.as_ref(),
            train: &train,
            train_identities: sets.train_identities,
            seed,
        })?;
        Ok(Self {
            store,
            sampler,
            batch_size: config.batch_size,
            epochs,
            seed,
            validation,
            missing,
            start_epoch: 0,
        })
    }

    /// Skips the epochs before `epoch` (to resume a run); later epochs are unchanged,
    /// since every epoch draws from its own seed.
    pub fn starting_at(mut self, epoch: usize) -> Self {
        self.start_epoch = epoch;
        self
    }

    /// The board the trainer must publish embeddings to, when the sampler mines.
    pub fn mining_board(&self) -> Option<Arc<MiningBoard>> {
        self.sampler.mining_board()
    }

    /// Pairs per batch (the last of an epoch may hold fewer).
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Train batches per epoch (the last may be short).
    pub fn train_batches_per_epoch(&self) -> usize {
        self.sampler
            .pairs_per_epoch()
            .div_ceil(self.batch_size.max(1))
    }

    /// Pairs of one epoch, train and validation (units of the engine's progress).
    pub fn pairs_per_epoch(&self) -> u64 {
        (self.sampler.pairs_per_epoch() + self.validation.len()) as u64
    }

    /// Epochs the source emits in all, counting those a resume skips.
    pub fn epochs(&self) -> usize {
        self.epochs
    }

    /// How train batches are labelled: made pairs without the names.
    pub(crate) fn train_labels(&self) -> Labels<'_> {
        self.sampler.labels()
    }

    /// Draws `epoch`'s train batches and hands each to `emit` with its index, mining
    /// with the refreshes `refreshes` gives (only a mining sampler asks for any).
    pub(crate) fn train_epoch(
        &self,
        epoch: usize,
        refreshes: &mut dyn Refreshes,
        emit: &mut EmitRows<'_>,
    ) -> Result<(), StageError> {
        let rng = ChaCha8Rng::seed_from_u64(epoch_seed(self.seed, epoch));
        let first_batch = epoch * self.train_batches_per_epoch();
        let mut epoch = Epoch::new(rng, self.batch_size, first_batch, refreshes, emit);
        self.sampler.draw_epoch(&mut epoch)
    }
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

/// A seed for one epoch, so epochs are independent of how many draws earlier ones made.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Source<PairBatch> for PairBatchSource {
    fn len_hint(&self) -> Option<u64> {
        let epochs = self.epochs.saturating_sub(self.start_epoch);
        Some(epochs as u64 * self.pairs_per_epoch())
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
        let board = self.sampler.mining_board();
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
            for (index, chunk) in self.validation.chunks(self.batch_size).enumerate() {
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
