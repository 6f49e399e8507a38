//! The trainer's half of hard-negative mining: every `refresh_every` train steps, embed the
//! board's pool with the current weights and publish it for the sampler.
//!
//! Refreshes are keyed by step, never by time (see [`crate::stages::pair_batch::mining`]),
//! so the batches a run mines are the same however its threads are scheduled.

use std::sync::Arc;

use crate::cache::ImageStore;
use crate::model::compare::Comparator;
use crate::model::{ModelError, Network, Tensors, Weights};
use crate::stages::pair_batch::{BoardError, MiningBoard, Snapshot};

use super::scoring::embed_rows;

/// Images per forward pass while embedding a pool.
const EMBED_BATCH: usize = 64;

/// Why a refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The twin could not embed the pool.
    #[error("cannot embed the pool of refresh {refresh}")]
    Embed {
        /// The refresh.
        refresh: usize,
        /// The model's error.
        #[source]
        source: ModelError,
    },
    /// The embeddings do not fit the pool.
    #[error(transparent)]
    Board(#[from] BoardError),
}

/// The prefix of the tensors a checkpoint keeps of the last published refresh (in the
/// optimizer's file, which every checkpoint writes).
pub const SAVED: &str = "mining/";

/// The last published refresh as a checkpoint keeps it: its number, the pool's
/// embeddings and the head weights its comparator came from. A resume publishes it again
/// as it was, since the weights it was embedded with (those of its step, not the epoch's
/// end) are not saved.
fn to_tensors(snapshot: &Snapshot) -> Tensors {
    let embeddings = snapshot.embeddings();
    let dims = embeddings.first().map_or(0, Vec::len);
    let mut out = vec![
        // Refresh numbers stay far below 2^24, where f32 stops counting exactly.
        (
            format!("{SAVED}refresh"),
            vec![1],
            vec![snapshot.refresh() as f32],
        ),
        (
            format!("{SAVED}embeddings"),
            vec![embeddings.len(), dims],
            embeddings.concat(),
        ),
    ];
    for (name, shape, values) in snapshot.comparator().to_weights() {
        out.push((format!("{SAVED}{name}"), shape, values));
    }
    out
}

/// What [`to_tensors`] kept: the refresh, the embeddings and the head weights.
fn from_tensors(tensors: &Tensors) -> Option<(usize, Vec<Vec<f32>>, Tensors)> {
    let get = |name: &str| {
        tensors
            .iter()
            .find(|(n, _, _)| n.strip_prefix(SAVED) == Some(name))
    };
    let refresh = *get("refresh")?.2.first()? as usize;
    let (_, shape, flat) = get("embeddings")?;
    let dims = *shape.get(1)?;
    let embeddings = if dims == 0 {
        Vec::new()
    } else {
        flat.chunks(dims).map(<[f32]>::to_vec).collect()
    };
    let head = tensors
        .iter()
        .filter_map(|(n, shape, v)| {
            let name = n.strip_prefix(SAVED)?;
            name.starts_with("head.")
                .then(|| (name.to_string(), shape.clone(), v.clone()))
        })
        .collect();
    Some((refresh, embeddings, head))
}

/// Publishes refreshes to a mining board; closes the board when dropped, so a sampler
/// waiting on it never outlives the trainer.
pub struct Refresher {
    board: Arc<MiningBoard>,
    store: Arc<dyn ImageStore>,
    batches_per_epoch: usize,
    total_steps: usize,
}

impl Refresher {
    /// A refresher for a run of `epochs` epochs of `batches_per_epoch` train batches.
    pub fn new(
        board: Arc<MiningBoard>,
        store: Arc<dyn ImageStore>,
        batches_per_epoch: usize,
        epochs: usize,
    ) -> Self {
        Self {
            board,
            store,
            batches_per_epoch,
            total_steps: batches_per_epoch * epochs,
        }
    }

    /// The last published refresh as tensors for the checkpoint (names under [`SAVED`]);
    /// empty before the first.
    pub fn saved(&self) -> Tensors {
        self.board
            .latest()
            .map_or_else(Vec::new, |snapshot| to_tensors(&snapshot))
    }

    /// Called after learning from train batch `index` of `epoch`: publishes the refresh
    /// that step completes, if one is due and some later batch will use it.
    ///
    /// # Errors
    /// When the pool cannot be embedded.
    pub fn after_step(
        &self,
        net: &mut dyn Network,
        epoch: usize,
        index: usize,
    ) -> Result<(), RefreshError> {
        let steps = epoch * self.batches_per_epoch + index + 1;
        match self.board.refresh_after(steps) {
            Some(refresh) if steps < self.total_steps => self.refresh(net, refresh),
            _ => Ok(()),
        }
    }

    /// Before a resumed run's first batch: publishes the refresh that batch mines with. A
    /// checkpoint keeps the last published refresh (`saved`, see [`Refresher::saved`]): it
    /// is published again as the uninterrupted run had it, whatever step it was embedded at.
    /// A checkpoint without it (older runs) gets the refresh embedded from the resumed
    /// weights, the uninterrupted run's only when the resumed step is a multiple of
    /// `refresh_every`.
    ///
    /// # Errors
    /// When the pool cannot be embedded.
    pub fn prime(
        &self,
        net: &mut dyn Network,
        start_epoch: usize,
        saved: &Tensors,
    ) -> Result<(), RefreshError> {
        let Some(refresh) = self.board.refresh_for(start_epoch * self.batches_per_epoch) else {
            return Ok(());
        };
        match from_tensors(saved).filter(|(r, _, _)| *r == refresh) {
            Some((_, embeddings, head)) => {
                let spec = net.spec();
                let comparator = Comparator::from_weights(spec.loss, spec.distance, &head);
                let images = self.board.pool(refresh);
                let snapshot = Snapshot::new(refresh, images, embeddings, comparator)?;
                self.board.publish(snapshot);
                Ok(())
            }
            None => self.refresh(net, refresh),
        }
    }

    fn refresh(&self, net: &mut dyn Network, refresh: usize) -> Result<(), RefreshError> {
        let images = self.board.pool(refresh);
        let rows: Vec<u32> = images.iter().map(|i| i.row).collect();
        let embeddings = embed_rows(net, self.store.as_ref(), &rows, EMBED_BATCH)
            .map_err(|source| RefreshError::Embed { refresh, source })?;
        let comparator = net
            .comparator(Weights::Live)
            .map_err(|source| RefreshError::Embed { refresh, source })?;
        let snapshot = Snapshot::new(refresh, images, embeddings, comparator)?;
        self.board.publish(snapshot);
        Ok(())
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        self.board.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ImageKey;
    use crate::model::{build, ConvLayer, DenseLayer, Device, Distance, Loss, ModelConfig};
    use crate::model::{NetSpec, OptimizerConfig};
    use crate::stages::store::MemoryStore;

    fn setup() -> (Box<dyn Network>, Arc<MiningBoard>, Refresher) {
        let mut store = MemoryStore::new();
        for i in 0..12u32 {
            let pixels: Vec<u8> = (0..64).map(|p| (p * 3 + i * 17) as u8).collect();
            store
                .push(
                    ImageKey::new(format!("p{}", i / 3), i % 3 + 1),
                    8,
                    8,
                    &pixels,
                )
                .expect("8x8");
        }
        let identities = (0..4).map(|p| (p * 3..p * 3 + 3).collect()).collect();
        let board = Arc::new(MiningBoard::new(identities, 6, 3, 1));
        let config = ModelConfig {
            conv: vec![ConvLayer {
                filters: 2,
                kernel: 3,
                pool: true,
            }],
            dense: DenseLayer {
                units: 5,
                ..DenseLayer::default()
            },
            ..ModelConfig::default()
        };
        let spec = NetSpec {
            model: config,
            loss: Loss::BinaryCrossEntropy,
            distance: Distance::L1,
            optimizer: OptimizerConfig::default(),
            input: (8, 8),
            seed: 2,
        };
        let net = build(Device::Cpu, spec).expect("net");
        // 4 batches per epoch, 2 epochs: 8 steps.
        let refresher = Refresher::new(Arc::clone(&board), Arc::new(store), 4, 2);
        (net, board, refresher)
    }

    #[test]
    fn refreshes_are_published_after_every_kth_step_while_a_batch_needs_them() {
        let (mut net, board, refresher) = setup();
        for (epoch, index) in [(0, 0), (0, 1)] {
            refresher
                .after_step(net.as_mut(), epoch, index)
                .expect("no refresh due");
        }
        assert!(board.wait_for(0, || true).is_err(), "nothing published yet");
        refresher.after_step(net.as_mut(), 0, 2).expect("refresh 0");
        let snapshot = board.wait_for(0, || false).expect("refresh 0 after step 3");
        assert_eq!(snapshot.images(), board.pool(0).as_slice());
        assert_eq!(snapshot.images().len(), 6);
        // Step 6 (epoch 1, batch 1) publishes refresh 1.
        refresher.after_step(net.as_mut(), 1, 1).expect("refresh 1");
        assert_eq!(board.wait_for(1, || false).expect("published").refresh(), 1);
        drop(refresher);
        assert!(matches!(
            board.wait_for(2, || false),
            Err(BoardError::Closed { refresh: 2 })
        ));
    }

    #[test]
    fn a_resumed_run_primes_the_refresh_its_first_batch_needs() {
        let (mut net, board, refresher) = setup();
        refresher
            .prime(net.as_mut(), 0, &Vec::new())
            .expect("nothing to prime");
        assert!(board.wait_for(0, || true).is_err());
        // Epoch 1 starts at batch 4, which mines with refresh 0.
        refresher
            .prime(net.as_mut(), 1, &Vec::new())
            .expect("primed");
        let snapshot = board.wait_for(0, || false).expect("refresh 0");
        // The published embeddings are the twin's.
        let rows: Vec<u32> = snapshot.images().iter().map(|i| i.row).collect();
        let store = Arc::clone(&refresher.store);
        let want = embed_rows(net.as_mut(), store.as_ref(), &rows, 4).expect("embeds");
        let comparator = net.comparator(Weights::Live).expect("comparator");
        assert_eq!(
            snapshot.similarity(0, 1),
            comparator.similarity(&want[0], &want[1])
        );
    }
}
