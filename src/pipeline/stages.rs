//! A pipeline's `stages` list: one enum variant per stage kind, each holding that stage's
//! own config (defined beside its runtime, in `crate::stages` and, for `Train`, in
//! `crate::train`), with its [`Role`]: where it may stand and what it takes and gives.
//!
//! Adding a stage kind is its own file in `crate::stages` (config, runtime, `Build`), its
//! `pub mod` there, and its variant here (kind, role, problems, catalogue and, for a batch
//! stage, its arm in [`StageConfig::build_batch_stage`]).

use serde::{Deserialize, Serialize};

use crate::engine::{PairBatch, TransformStage};
use crate::problem::Problem;
use crate::stages::{
    AugmentConfig, Build, BuildContext, BuildError, DecodeConfig, PairBatchConfig, ResizeConfig,
    SinkConfig,
};
use crate::train::TrainConfig;

/// Where a stage stands in a pipeline, by what it takes and gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Files to images; the first stage.
    Decode,
    /// Images to images, run inside the decode workers.
    Image,
    /// An image store to pair batches.
    Sampler,
    /// Pair batches to pair batches.
    Batch,
    /// The end: counts, saves or trains.
    End,
}

/// One entry of a pipeline's `stages` list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StageConfig {
    /// Read and decode image files to grayscale.
    Decode(DecodeConfig),
    /// Scale images.
    Resize(ResizeConfig),
    /// Sample pairs and gather them into minibatches.
    PairBatch(PairBatchConfig),
    /// Randomly distort train pairs (affine, flip, brightness, contrast).
    Augment(AugmentConfig),
    /// End the pipeline: count or save what arrives.
    Sink(SinkConfig),
    /// End the pipeline: train the Siamese network on the batches.
    Train(TrainConfig),
}

impl StageConfig {
    /// The stage kind's name, as written in RON.
    pub fn kind(&self) -> &'static str {
        match self {
            StageConfig::Decode(_) => "Decode",
            StageConfig::Resize(_) => "Resize",
            StageConfig::PairBatch(_) => "PairBatch",
            StageConfig::Augment(_) => "Augment",
            StageConfig::Sink(_) => "Sink",
            StageConfig::Train(_) => "Train",
        }
    }

    /// Where the stage stands.
    pub fn role(&self) -> Role {
        match self {
            StageConfig::Decode(_) => Role::Decode,
            StageConfig::Resize(_) => Role::Image,
            StageConfig::PairBatch(_) => Role::Sampler,
            StageConfig::Augment(_) => Role::Batch,
            StageConfig::Sink(_) | StageConfig::Train(_) => Role::End,
        }
    }

    /// Builds a batch stage (`Role::Batch`); `None` for stages of other roles.
    ///
    /// # Errors
    /// The stage's own build error.
    pub fn build_batch_stage(
        &self,
        ctx: &BuildContext<'_>,
    ) -> Option<Result<TransformStage<PairBatch, PairBatch>, BuildError>> {
        match self {
            StageConfig::Augment(c) => Some(c.build(ctx)),
            _ => None,
        }
    }

    /// Appends every problem of this stage's settings, each named by its RON path.
    pub fn problems(&self, path: &str, out: &mut Vec<Problem>) {
        match self {
            StageConfig::Decode(c) => c.problems(path, out),
            StageConfig::Resize(c) => c.problems(path, out),
            StageConfig::PairBatch(c) => c.problems(path, out),
            StageConfig::Augment(c) => c.problems(path, out),
            StageConfig::Sink(c) => c.problems(path, out),
            StageConfig::Train(c) => c.problems(path, out),
        }
    }

    /// Appends a warning for every deprecated field this stage's settings use: still read,
    /// so old files parse, but ignored.
    pub fn deprecations(&self, path: &str, out: &mut Vec<Problem>) {
        if let StageConfig::Resize(c) = self {
            c.deprecations(path, out);
        }
    }

    /// Every stage kind with a one-line description and its default settings, for `twinflow stages`.
    pub fn catalogue() -> Vec<(StageConfig, &'static str)> {
        vec![
            (
                StageConfig::Decode(DecodeConfig::default()),
                "read image files and decode them to 8-bit grayscale",
            ),
            (
                StageConfig::Resize(ResizeConfig::default()),
                "scale images (250x250 -> 125x125 by default)",
            ),
            (
                StageConfig::PairBatch(PairBatchConfig::default()),
                "sample same/different pairs and gather them into minibatches",
            ),
            (
                StageConfig::Augment(AugmentConfig::default()),
                "distort train pairs: Koch et al.'s affine maps, flips, brightness and contrast",
            ),
            (
                StageConfig::Sink(SinkConfig::default()),
                "end the pipeline: count what arrives or save it",
            ),
            (
                StageConfig::Train(TrainConfig::default()),
                "end the pipeline: train the Siamese network (model, loss, optimizer and \
                 schedule are the pipeline's top-level settings)",
            ),
        ]
    }
}
