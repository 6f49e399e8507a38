//! Why a pipeline run failed.

use crate::cache::CacheError;
use crate::data::DataError;
use crate::engine::PipelineError;
use crate::stages::BuildError;
use crate::train::error::SessionError;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The dataset or a pairs file is unusable.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A stage failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The cache could not be opened or built.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Training failed outside its stages (model, checkpoints, run folder).
    #[error(transparent)]
    Train(#[from] SessionError),
    /// A file the run writes could not be serialised.
    #[error("cannot serialise {what}")]
    Serialise {
        /// What was being serialised.
        what: &'static str,
        /// The serialiser's error.
        #[source]
        source: ron::Error,
    },
    /// A resumed run's pipeline was edited beyond what a resume may change.
    #[error(transparent)]
    Edits(#[from] super::edits::EditError),
    /// A stage could not be built (e.g. the sampler cannot work with the images it has).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A reused cache was built with images skipped, and the policy is `on_error: Abort`:
    /// the skips happened under an earlier policy, and reusing them would ignore this one.
    #[error(
        "cache `{cache}` was built with {count} image(s) skipped, the first {first} ({reason}), \
         and Decode's on_error is Abort: fix or remove the image(s) and rebuild with \
         `twinflow cache build --force`, or set on_error to Report or Skip"
    )]
    SkippedUnderAbort {
        /// The cache file.
        cache: std::path::PathBuf,
        /// How many sources it skipped.
        count: usize,
        /// The first skipped source.
        first: String,
        /// Why that one was skipped.
        reason: String,
    },
    /// The Resize stage's crop box fits none of the dataset's images.
    #[error(
        "{field}: the crop box {crop} does not fit the dataset's images, e.g. `{image}` is \
         {size}: shrink or move the box"
    )]
    CropDoesNotFit {
        /// The RON field, e.g. `stages[1].crop`.
        field: String,
        /// The box, as `x,y WxH`.
        crop: String,
        /// An image it does not fit.
        image: std::path::PathBuf,
        /// That image's size as the Resize stage sees it.
        size: String,
    },
    /// A hand-built plan that validation would have refused.
    #[error("this plan cannot run: {reason}")]
    Plan {
        /// What is wrong with it.
        reason: &'static str,
    },
}
