//! Why a training run failed outside its stages: the network, the run folder, checkpoints,
//! metrics and plots (TensorBoard's included), the batch chain, or the hard-negative refresher.

use super::checkpoint::CheckpointError;
use super::refresh::RefreshError;
use super::rundir::RunDirError;
use super::tensorboard::TensorBoardError;
use crate::engine::PipelineError;
use crate::eval::EvalError;
use crate::model::ModelError;

/// Why a training run failed before or after its chain.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The network could not be built or run.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The run folder could not be written or read.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// A checkpoint could not be used.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Metrics or plots failed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The plots could not be added to the TensorBoard files.
    #[error(transparent)]
    TensorBoard(#[from] TensorBoardError),
    /// The batch chain failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A resumed run could not embed the pool its first batches mine from.
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    /// The run's summary could not be serialised.
    #[error("cannot serialise {}", path.display())]
    Summary {
        /// The summary file.
        path: std::path::PathBuf,
        /// The serialiser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A loss or a weight stopped being a finite number: training diverged (too high a
    /// learning rate, most often). The run keeps its last good checkpoint.
    #[error(
        "training diverged in epoch {epoch}, {}: {what} is not finite; {}",
        batch.map_or("at its end".to_string(), |b| format!("batch {b}")),
        match kept {
            0 => "no epoch was checkpointed yet (lower the learning rate and start again)".to_string(),
            n => format!("the run keeps its checkpoint of epoch {n} (lower the learning rate, then resume)"),
        }
    )]
    Diverged {
        /// The epoch (counted from 1, as printed).
        epoch: usize,
        /// The batch within the epoch (counted from 1); `None` at the epoch's end.
        batch: Option<usize>,
        /// What: the loss (its value) or a weight tensor.
        what: String,
        /// Epochs checkpointed before it (0: none).
        kept: usize,
    },
    /// The reused cache's rows fail their checksum (checked in the background of the first
    /// epoch): the epoch is not checkpointed and the file is moved aside to be rebuilt.
    #[error(
        "epoch {epoch} was not kept: the cache it trained on is damaged; it was moved to `{}`, \
         and `twinflow run --resume {}` rebuilds it and trains the epoch again",
        aside.display(),
        run.display()
    )]
    CacheDamaged {
        /// The epoch (counted from 1).
        epoch: usize,
        /// Where the damaged file went.
        aside: std::path::PathBuf,
        /// The run folder.
        run: std::path::PathBuf,
        /// The failed check (boxed: it is large and rare).
        #[source]
        source: Box<crate::cache::CacheError>,
    },
    /// The reused cache's data check could not run (the file could not be read or moved).
    #[error("cannot check the data of the cache this run trains on")]
    CacheCheck {
        /// Why (boxed: it is large and rare).
        #[source]
        source: Box<crate::cache::CacheError>,
    },
    /// The user interrupted training (Ctrl-C); the run folder keeps its last checkpoint.
    #[error(
        "interrupted: {} keeps {epochs} finished epoch(s); continue with `twinflow run --resume {}`",
        run.display(),
        run.display()
    )]
    Interrupted {
        /// The run folder.
        run: std::path::PathBuf,
        /// Epochs its checkpoint holds.
        epochs: usize,
    },
    /// The `Train` stage could not be built.
    #[error(transparent)]
    Build {
        /// Why.
        source: Box<crate::stages::BuildError>,
    },
}
