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
    /// A hand-built plan that validation would have refused.
    #[error("this plan cannot run: {reason}")]
    Plan {
        /// What is wrong with it.
        reason: &'static str,
    },
}
