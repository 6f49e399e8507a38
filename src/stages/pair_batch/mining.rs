//! Hard-negative mining: the board between the trainer and the sampler, and the choice of
//! a hard different pair from a pool of embedded images.
//!
//! Determinism is the design constraint: the same RON and seed give the same batches
//! whatever the thread timing. So nothing depends on *when* an embedding arrives, only on
//! *which* refresh it belongs to:
//!
//! - refresh `r` embeds the pool [`MiningBoard::pool`]`(r)` (a seeded choice of images)
//!   with the weights after train step `(r + 1) * K`, `K` being `refresh_every`;
//! - train batch `b` (counted over all epochs) mines with refresh `floor(b / K) - 1`, and
//!   draws random different pairs while that is negative. Every batch that refresh waits
//!   for comes before `b`, so the sampler can always wait for it without a deadlock;
//! - the sampler blocks in [`MiningBoard::wait_for`] until that refresh is published. With
//!   `K` larger than the batches the channels hold, the trainer is usually done first.
//!
//! The waiter wakes when the run is cancelled (a failed stage, early stopping, Ctrl-C) or
//! when the board is closed (the trainer is gone), so it never outlives the trainer.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use rand::seq::{index, SliceRandom};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::model::compare::Comparator;

/// Which different pairs the miner keeps for an anchor image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MiningMode {
    /// The image of another identity the model finds most alike.
    Hardest,
    /// FaceNet's semi-hard negative: the most alike image of another identity that the
    /// model still finds less alike than the anchor's own-identity image in the pool; when
    /// there is none, the least alike (as TensorFlow Addons' semi-hard triplet loss does).
    /// Kinder than `Hardest` early in training, when the hardest pairs are mostly noise.
    #[default]
    SemiHard,
}

/// One image of a pool: its row in the image store and its identity (an index into the
/// sampler's train identities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolImage {
    /// The image store row.
    pub row: u32,
    /// The identity's index.
    pub identity: u32,
}

/// Why a snapshot cannot be published or a refresh cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// The embeddings do not match the pool.
    #[error(
        "refresh {refresh}: {images} pool images but {embeddings} embeddings of {dims:?} values"
    )]
    Shape {
        /// The refresh.
        refresh: usize,
        /// Images in the pool.
        images: usize,
        /// Embeddings given.
        embeddings: usize,
        /// The distinct embedding lengths seen.
        dims: Vec<usize>,
    },
    /// The trainer is gone and will publish no more refreshes.
    #[error("the trainer stopped before publishing the embeddings of refresh {refresh}")]
    Closed {
        /// The refresh waited for.
        refresh: usize,
    },
    /// The run is stopping.
    #[error("cancelled while waiting for refresh {refresh}")]
    Cancelled {
        /// The refresh waited for.
        refresh: usize,
    },
    /// A later refresh was published before this one was taken (a scheduling bug).
    #[error("refresh {wanted} was wanted but refresh {latest} is already published")]
    Overtaken {
        /// The refresh waited for.
        wanted: usize,
        /// The latest published.
        latest: usize,
    },
}

/// The pool of one refresh and its embeddings, with the head that compares them.
#[derive(Debug, Clone)]
pub struct Snapshot {
    refresh: usize,
    images: Vec<PoolImage>,
    embeddings: Vec<Vec<f32>>,
    comparator: Comparator,
}

impl Snapshot {
    /// A snapshot of `images` (the board's pool for `refresh`) and their embeddings.
    ///
    /// # Errors
    /// [`BoardError::Shape`] when the counts differ or the embeddings differ in length.
    pub fn new(
        refresh: usize,
        images: Vec<PoolImage>,
        embeddings: Vec<Vec<f32>>,
        comparator: Comparator,
    ) -> Result<Self, BoardError> {
        let mut dims: Vec<usize> = embeddings.iter().map(Vec::len).collect();
        dims.sort_unstable();
        dims.dedup();
        if images.len() != embeddings.len() || dims.len() > 1 {
            return Err(BoardError::Shape {
                refresh,
                images: images.len(),
                embeddings: embeddings.len(),
                dims,
            });
        }
        Ok(Self {
            refresh,
            images,
            embeddings,
            comparator,
        })
    }

    /// The refresh this snapshot belongs to.
    pub fn refresh(&self) -> usize {
        self.refresh
    }

    /// The pool's images.
    pub fn images(&self) -> &[PoolImage] {
        &self.images
    }

    /// The pool's embeddings, one per image.
    pub fn embeddings(&self) -> &[Vec<f32>] {
        &self.embeddings
    }

    /// The head that compares them.
    pub fn comparator(&self) -> &Comparator {
        &self.comparator
    }

    /// How alike the model finds pool images `i` and `j`.
    pub fn similarity(&self, i: usize, j: usize) -> f32 {
        self.comparator
            .similarity(&self.embeddings[i], &self.embeddings[j])
    }
}

/// Chooses which images each refresh embeds: up to two images of each of a seeded
/// shuffle of the train identities, so most pool images have an own-identity partner
/// for `SemiHard` to compare with.
#[derive(Debug, Clone)]
struct PoolPlan {
    identities: Vec<Vec<u32>>,
    size: usize,
    seed: u64,
}

impl PoolPlan {
    fn images(&self, refresh: usize) -> Vec<PoolImage> {
        let seed = self.seed ^ (refresh as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..self.identities.len()).collect();
        order.shuffle(&mut rng);
        let mut images = Vec::with_capacity(self.size);
        for id in order {
            let rows = &self.identities[id];
            let take = rows.len().min(2).min(self.size - images.len());
            for i in index::sample(&mut rng, rows.len(), take) {
                images.push(PoolImage {
                    row: rows[i],
                    identity: id as u32,
                });
            }
            if images.len() == self.size {
                break;
            }
        }
        images
    }
}

#[derive(Debug, Default)]
struct BoardState {
    latest: Option<Arc<Snapshot>>,
    closed: bool,
}

/// How often a waiting sampler looks at the run's cancel flag.
const POLL: Duration = Duration::from_millis(20);

/// Where the trainer publishes each refresh's embeddings for the sampler.
///
/// It keeps only the latest refresh: the trainer cannot publish refresh `r + 1` before it
/// has learned from batches that the sampler mined with refresh `r`, so the sampler has
/// always taken `r` by then.
#[derive(Debug)]
pub struct MiningBoard {
    plan: PoolPlan,
    every: usize,
    state: Mutex<BoardState>,
    changed: Condvar,
}

impl MiningBoard {
    /// A board for pools of `pool` images of `identities` (each a list of store rows),
    /// refreshed every `every` train steps; `seed` chooses the pools.
    pub fn new(identities: Vec<Vec<u32>>, pool: usize, every: usize, seed: u64) -> Self {
        Self {
            plan: PoolPlan {
                identities,
                size: pool,
                seed,
            },
            every: every.max(1),
            state: Mutex::new(BoardState::default()),
            changed: Condvar::new(),
        }
    }

    /// The images refresh `refresh` embeds.
    pub fn pool(&self, refresh: usize) -> Vec<PoolImage> {
        self.plan.images(refresh)
    }

    /// The refresh train batch `batch` (0-based, over all epochs) mines with; `None` for
    /// the batches before the first refresh.
    pub fn refresh_for(&self, batch: usize) -> Option<usize> {
        (batch / self.every).checked_sub(1)
    }

    /// The refresh to publish once `steps` train steps are done, if one is due.
    pub fn refresh_after(&self, steps: usize) -> Option<usize> {
        (steps > 0 && steps.is_multiple_of(self.every)).then(|| steps / self.every - 1)
    }

    /// The latest published refresh, if any: what a checkpoint keeps of the mining.
    pub fn latest(&self) -> Option<Arc<Snapshot>> {
        self.lock().latest.clone()
    }

    /// Publishes a refresh and wakes the sampler.
    pub fn publish(&self, snapshot: Snapshot) {
        let mut state = self.lock();
        state.latest = Some(Arc::new(snapshot));
        self.changed.notify_all();
    }

    /// Tells waiters that no refresh will come any more.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Blocks until refresh `refresh` is published, the board is closed, or `cancelled`
    /// says the run is stopping (checked every few milliseconds).
    ///
    /// # Errors
    /// [`BoardError::Cancelled`], [`BoardError::Closed`], or [`BoardError::Overtaken`].
    pub fn wait_for(
        &self,
        refresh: usize,
        cancelled: impl Fn() -> bool,
    ) -> Result<Arc<Snapshot>, BoardError> {
        let mut state = self.lock();
        loop {
            // Cancellation first: a trainer that stopped early or failed also closes the
            // board, and that is no error of the sampler's.
            if cancelled() {
                return Err(BoardError::Cancelled { refresh });
            }
            match &state.latest {
                Some(s) if s.refresh == refresh => return Ok(Arc::clone(s)),
                Some(s) if s.refresh > refresh => {
                    return Err(BoardError::Overtaken {
                        wanted: refresh,
                        latest: s.refresh,
                    })
                }
                _ if state.closed => return Err(BoardError::Closed { refresh }),
                _ => {}
            }
            state = self
                .changed
                .wait_timeout(state, POLL)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BoardState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One snapshot prepared for mining: which pool images may be anchors, and each anchor's
/// negative once computed (an anchor drawn twice costs one scan of the pool).
pub(crate) struct Miner {
    snapshot: Arc<Snapshot>,
    anchors: Vec<usize>,
    /// Per pool image: its own-identity partners in the pool.
    partners: Vec<Vec<usize>>,
    chosen: Vec<Option<Option<usize>>>,
}

impl Miner {
    pub(crate) fn new(snapshot: Arc<Snapshot>) -> Self {
        let images = snapshot.images();
        // Grouped by identity first: a pool may hold thousands of images.
        let mut by_identity: HashMap<u32, Vec<usize>> = HashMap::new();
        for (i, image) in images.iter().enumerate() {
            by_identity.entry(image.identity).or_default().push(i);
        }
        let partners: Vec<Vec<usize>> = (0..images.len())
            .map(|i| {
                by_identity[&images[i].identity]
                    .iter()
                    .copied()
                    .filter(|&j| j != i)
                    .collect()
            })
            .collect();
        // Anchors have a partner, so SemiHard has a positive to compare with; a pool
        // without any (no identity with two images) uses every image.
        let mut anchors: Vec<usize> = (0..images.len())
            .filter(|&i| !partners[i].is_empty())
            .collect();
        if anchors.is_empty() {
            anchors = (0..images.len()).collect();
        }
        Self {
            chosen: vec![None; images.len()],
            snapshot,
            anchors,
            partners,
        }
    }

    /// The refresh mined from.
    pub(crate) fn refresh(&self) -> usize {
        self.snapshot.refresh()
    }

    /// Pool images that may anchor a mined pair.
    pub(crate) fn anchors(&self) -> &[usize] {
        &self.anchors
    }

    /// The pool image of the anchor.
    pub(crate) fn image(&self, i: usize) -> PoolImage {
        self.snapshot.images()[i]
    }

    /// The negative of pool image `anchor` under `mode`; `None` when the pool holds no
    /// other identity or the model's similarities are not finite.
    pub(crate) fn negative(&mut self, anchor: usize, mode: MiningMode) -> Option<usize> {
        if let Some(done) = self.chosen[anchor] {
            return done;
        }
        let found = self.find(anchor, mode);
        self.chosen[anchor] = Some(found);
        found
    }

    fn find(&self, anchor: usize, mode: MiningMode) -> Option<usize> {
        let s = &self.snapshot;
        let own = s.images()[anchor].identity;
        let negatives: Vec<(usize, f32)> = (0..s.images().len())
            .filter(|&j| s.images()[j].identity != own)
            .map(|j| (j, s.similarity(anchor, j)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        // Ties go to the lower pool index, so the choice is a function of the snapshot.
        let most = |it: &mut dyn Iterator<Item = &(usize, f32)>| {
            it.fold(None, |best: Option<(usize, f32)>, &(j, v)| match best {
                Some((_, b)) if b >= v => best,
                _ => Some((j, v)),
            })
        };
        let hardest = most(&mut negatives.iter()).map(|(j, _)| j);
        if mode == MiningMode::Hardest {
            return hardest;
        }
        let positive = self.partners[anchor]
            .iter()
            .map(|&p| s.similarity(anchor, p))
            .filter(|v| v.is_finite())
            .reduce(f32::min);
        let Some(bound) = positive else {
            return hardest;
        };
        most(&mut negatives.iter().filter(|(_, v)| *v < bound))
            .map(|(j, _)| j)
            .or_else(|| {
                let least = negatives
                    .iter()
                    .fold(None, |best: Option<(usize, f32)>, &(j, v)| match best {
                        Some((_, b)) if b <= v => best,
                        _ => Some((j, v)),
                    });
                least.map(|(j, _)| j)
            })
    }
}
