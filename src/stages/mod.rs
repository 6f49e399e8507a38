//! Stage kinds: each file holds one stage's RON config and the runtime built from it.
//!
//! Image stages (`Decode`, `Resize`) turn files into images, one item at a time and in
//! parallel. `PairBatch` turns an image store (the memory-mapped cache, or the images
//! collected in memory) into minibatches of pairs, which `Augment` may distort. A `Sink`
//! ends the chain; so does `Train`, which lives in `crate::train` with the loop it runs.

pub mod augment;
pub mod build;
pub mod decode;
pub mod pair_batch;
pub mod resize;
pub mod sink;
pub mod source;
pub mod store;

use serde::{Deserialize, Serialize};

pub use augment::AugmentConfig;
pub use build::{Build, BuildContext, BuildError};
pub use decode::{DecodeConfig, Scale};
pub use pair_batch::{PairBatchConfig, Sampler};
pub use resize::{Crop, Filter, ResizeConfig};
pub use sink::SinkConfig;

use crate::problem::Problem;

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

impl OnError {
    /// Whether a command that skipped `skipped` items under this policy must exit non-zero.
    pub fn fails(self, skipped: usize) -> bool {
        self == OnError::Report && skipped > 0
    }

    /// Applies this policy to an image a stage cannot use for `reason`: under `Abort` the
    /// run's error, else skipped and reported with its size.
    ///
    /// # Errors
    /// [`StageError::BadImage`] under `Abort`.
    pub fn bad_image(
        self,
        img: &crate::engine::ImageItem,
        reason: String,
        ctx: &crate::engine::StageContext,
    ) -> Result<(), crate::engine::StageError> {
        if self == OnError::Abort {
            return Err(crate::engine::StageError::BadImage {
                key: img.key.to_string(),
                width: img.width,
                height: img.height,
                reason,
            });
        }
        ctx.skip(
            &img.key,
            format!("{}x{} image: {reason}", img.width, img.height),
        );
        Ok(())
    }
}

/// The most worker threads a stage may ask for.
pub const MAX_WORKERS: usize = 64;

/// The most items a stage's output channel may hold: a few per worker keep a stage fed,
/// and more only hold memory (a capacity of 10^11 once asked for terabytes).
pub const MAX_CAPACITY: usize = 1024;

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
    check_capacity(path, capacity, out);
}

/// Checks an output channel's capacity: 1..=[`MAX_CAPACITY`].
pub(crate) fn check_capacity(path: &str, capacity: usize, out: &mut Vec<Problem>) {
    if capacity == 0 || capacity > MAX_CAPACITY {
        out.push(Problem::new(
            format!("{path}.capacity"),
            format!("must be in 1..={MAX_CAPACITY}, got {capacity}"),
        ));
    }
}
