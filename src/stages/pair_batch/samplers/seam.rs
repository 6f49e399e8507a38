//! The sampler seam: what every pair sampler tells a pipeline about its settings
//! ([`SamplerSettings`]) and what its runtime does for `PairBatchSource` ([`PairSampler`]).
//!
//! The source owns the plumbing every sampler shares (resolving pairs to store rows,
//! seeding each epoch's generator, the validation batches, labelling, the channel), so a
//! sampler only says how many pairs an epoch holds and draws them, batch by batch.

use std::collections::BTreeSet;
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;

use crate::cache::ImageStore;
use crate::engine::StageError;
use crate::problem::Problem;
use crate::stages::pair_batch::mining::{MiningBoard, Snapshot};

/// A sampler's settings, one struct per RON variant: the facts a pipeline is checked and
/// reported by, and the runtime they build.
pub(crate) trait SamplerSettings {
    /// The variant's name, as written in RON.
    fn name(&self) -> &'static str;

    /// The evaluation protocol this sampler trains under (see [`super::Sampler::protocol`]).
    fn protocol(&self) -> &'static str;

    /// A one-line description, for `twinflow stages`.
    fn about(&self) -> &'static str;

    /// Appends every problem of these settings, each named by its RON path under `path`.
    fn problems(&self, _path: &str, _out: &mut Vec<Problem>) {}

    /// True when the sampler needs the model being trained (the pipeline must end in
    /// `Train`, whose trainer publishes to [`PairSampler::mining_board`]).
    fn needs_training(&self) -> bool {
        false
    }

    /// The fraction of same pairs in every batch, for samplers that fix one.
    fn same_ratio(&self) -> Option<f64> {
        None
    }

    /// The runtime, drawing from `inputs`.
    ///
    /// # Errors
    /// [`StageError::Sampling`] when the inputs cannot give the pairs the settings ask for.
    fn build(&self, inputs: &Inputs<'_>) -> Result<Box<dyn PairSampler>, StageError>;
}

/// What a sampler is built from: the train side of the split, resolved against the store.
pub(crate) struct Inputs<'a> {
    /// The image store the rows index.
    pub store: &'a dyn ImageStore,
    /// The train pairs whose images are both in the store, as store rows, in file order.
    pub train: &'a [(u32, u32)],
    /// The identities the identity protocol may draw from.
    pub train_identities: &'a BTreeSet<String>,
    /// The run's seed, for anything a sampler seeds beyond its epochs (mining pools).
    pub seed: u64,
}

/// A sampler at run time: draws each epoch's train pairs from the generator it is handed.
pub(crate) trait PairSampler: Send {
    /// Train pairs drawn per epoch.
    fn pairs_per_epoch(&self) -> usize;

    /// Draws one epoch's train batches and hands them to [`Epoch::emit`] in order, as
    /// `ceil(pairs_per_epoch / batch_size)` batches whose last may be short.
    ///
    /// # Errors
    /// The first error `emit` or a refresh returns.
    fn draw_epoch(&self, epoch: &mut Epoch<'_, '_>) -> Result<(), StageError>;

    /// How train pairs are labelled: by their names unless the sampler makes pairs
    /// without looking at them.
    fn labels(&self) -> Labels<'_> {
        Labels::ByName
    }

    /// The board the trainer must publish embeddings to, when the sampler mines.
    fn mining_board(&self) -> Option<Arc<MiningBoard>> {
        None
    }
}

/// Takes one train batch, as its index in the epoch and its store rows.
pub(crate) type EmitRows<'a> = dyn FnMut(usize, &[(u32, u32)]) -> Result<(), StageError> + 'a;

/// One epoch as the source hands it to a sampler.
pub(crate) struct Epoch<'a, 'e> {
    /// The epoch's own generator, seeded from the run's seed and the epoch number. Draw
    /// only from it and in a fixed order: that is what makes a RON and seed give the same
    /// batches, whatever earlier epochs drew.
    pub rng: ChaCha8Rng,
    /// Pairs per batch, at least 1.
    pub batch_size: usize,
    /// The index, counted over all epochs, of this epoch's first train batch: the mining
    /// schedule is keyed by it.
    pub first_batch: usize,
    /// Where a mining sampler gets the embeddings of a refresh.
    pub refreshes: &'a mut dyn Refreshes,
    emit: &'a mut EmitRows<'e>,
}

impl<'a, 'e> Epoch<'a, 'e> {
    /// An epoch drawing from `rng`, handing its batches to `emit`.
    pub(crate) fn new(
        rng: ChaCha8Rng,
        batch_size: usize,
        first_batch: usize,
        refreshes: &'a mut dyn Refreshes,
        emit: &'a mut EmitRows<'e>,
    ) -> Self {
        Self {
            rng,
            batch_size: batch_size.max(1),
            first_batch,
            refreshes,
            emit,
        }
    }

    /// Hands on the train batch `index` of the epoch.
    ///
    /// # Errors
    /// When the batch cannot be sent on (the run is stopping).
    pub(crate) fn emit(&mut self, index: usize, rows: &[(u32, u32)]) -> Result<(), StageError> {
        (self.emit)(index, rows)
    }

    /// Hands on a whole epoch drawn at once, cut into batches.
    ///
    /// # Errors
    /// As [`Epoch::emit`].
    pub(crate) fn emit_in_batches(&mut self, pairs: &[(u32, u32)]) -> Result<(), StageError> {
        for (index, chunk) in pairs.chunks(self.batch_size).enumerate() {
            (self.emit)(index, chunk)?;
        }
        Ok(())
    }
}

/// Where a mining sampler gets refresh `r`'s embeddings from: the board in a run, a
/// stand-in in tests.
pub(crate) trait Refreshes {
    /// The snapshot of refresh `refresh`, waiting for it if need be.
    ///
    /// # Errors
    /// When the refresh will never come (the run stops, the trainer is gone).
    fn get(&mut self, refresh: usize) -> Result<Arc<Snapshot>, StageError>;
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

/// How a batch's pairs are labelled.
#[derive(Debug, Clone, Copy)]
pub enum Labels<'a> {
    /// Same when both images carry one name: the pairs files' labels, and the identities'.
    ByName,
    /// Same when both twins are one image, or the pair is one of these fixed same pairs;
    /// for pairs made without looking at names.
    Made(&'a BTreeSet<(u32, u32)>),
}

/// A sampler's refusal to build, with why.
pub(crate) fn cannot(reason: impl Into<String>) -> StageError {
    StageError::Sampling {
        reason: reason.into(),
    }
}

/// Reports `path.field` unless `value` is in [0, 1].
pub(crate) fn fraction(path: &str, field: &str, value: f64, out: &mut Vec<Problem>) {
    if !(0.0..=1.0).contains(&value) {
        out.push(Problem::new(
            format!("{path}.{field}"),
            format!("must be in [0, 1], got {value}"),
        ));
    }
}

/// Reports `path.field` when `value` is zero.
pub(crate) fn positive(path: &str, field: &str, value: usize, out: &mut Vec<Problem>) {
    if value == 0 {
        out.push(Problem::new(format!("{path}.{field}"), "must be > 0"));
    }
}
