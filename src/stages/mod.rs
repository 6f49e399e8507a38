//! Stage kinds: each file holds one stage's RON config and the runtime built from it.
//!
//! Image stages (`Decode`, `Resize`) turn files into images, one item at a time and in
//! parallel. `PairBatch` turns an image store (the memory-mapped cache, or the images
//! collected in memory) into minibatches of pairs, which `Augment` may distort. A `Sink`
//! ends the chain.

pub mod augment;
pub mod cached;
pub mod decode;
pub mod pair_batch;
pub mod resize;
pub mod sink;
pub mod source;
pub mod store;
pub mod train;

use serde::{Deserialize, Serialize};

pub use augment::AugmentConfig;
pub use decode::{DecodeConfig, Scale};
pub use pair_batch::{PairBatchConfig, Sampler};
pub use resize::{Crop, Filter, ResizeConfig};
pub use sink::SinkConfig;
pub use train::TrainConfig;

use crate::pipeline::validate::Problem;

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

/// What a stage does with an item it cannot process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OnError {
    /// Report it with its path, count it, skip it, and make the run exit non-zero at the end.
    #[default]
    Report,
    /// Report, count and skip it; the run still succeeds.
    Skip,
    /// Stop the whole pipeline at once.
    Abort,
}

/// The most worker threads a stage may ask for.
pub const MAX_WORKERS: usize = 64;

/// Checks the settings every stage with threads and an output channel has.
pub(crate) fn check_parallelism(
    path: &str,
    workers: usize,
    capacity: usize,
    out: &mut Vec<Problem>,
) {
    if workers == 0 || workers > MAX_WORKERS {
        out.push(Problem::new(
            format!("{path}.workers"),
            format!("must be in 1..={MAX_WORKERS}, got {workers}"),
        ));
    }
    if capacity == 0 {
        out.push(Problem::new(format!("{path}.capacity"), "must be > 0"));
    }
}
