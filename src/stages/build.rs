//! How every stage is built: its settings plus what the run gives it ([`BuildContext`])
//! make its runtime, one way for all stages ([`Build`]), with one error type
//! ([`BuildError`]). The `Train` stage builds the same way from the parts its session
//! prepares (`crate::train`).

use std::sync::Arc;

use crate::cache::ImageStore;
use crate::engine::StageError;

use super::pair_batch::PairSets;

/// What the run gives a stage's `build`, besides the stage's own settings.
#[derive(Clone, Copy, Default)]
pub struct BuildContext<'a> {
    /// The pipeline's seed: sampling and augmentation are drawn from it.
    pub seed: u64,
    /// The epochs the batch stages produce.
    pub epochs: usize,
    /// The decoded images, for the batch stages.
    pub store: Option<&'a Arc<dyn ImageStore>>,
    /// The pairs and identities a sampler draws from.
    pub pairs: Option<&'a PairSets<'a>>,
}

impl<'a> BuildContext<'a> {
    /// The image store, or the error that `stage` needs one.
    ///
    /// # Errors
    /// [`BuildError::Missing`] when the run gave none.
    pub fn store(&self, stage: &'static str) -> Result<&'a Arc<dyn ImageStore>, BuildError> {
        self.store.ok_or(BuildError::Missing {
            stage,
            what: "an image store",
        })
    }

    /// The pair sets, or the error that `stage` needs them.
    ///
    /// # Errors
    /// [`BuildError::Missing`] when the run gave none.
    pub fn pairs(&self, stage: &'static str) -> Result<&'a PairSets<'a>, BuildError> {
        self.pairs.ok_or(BuildError::Missing {
            stage,
            what: "the train and validation pairs",
        })
    }
}

/// Why a stage could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The run did not give the stage something it needs: a runner bug, reported rather
    /// than a panic.
    #[error("stage `{stage}` needs {what} from the run")]
    Missing {
        /// The stage kind.
        stage: &'static str,
        /// What it needs.
        what: &'static str,
    },
    /// The stage's settings do not work with the data it was given.
    #[error("stage `{stage}` cannot start")]
    Stage {
        /// The stage kind.
        stage: &'static str,
        /// Why.
        #[source]
        source: StageError,
    },
}

/// A stage's settings, which build its runtime from what the run gives (`Ctx`: a
/// [`BuildContext`] for the stages of this module).
pub trait Build<Ctx> {
    /// What runs: a source, a transform stage or a sink of the engine.
    type Runtime;

    /// Builds the runtime.
    ///
    /// # Errors
    /// What the stage is missing, or why its settings do not fit the data.
    fn build(&self, ctx: Ctx) -> Result<Self::Runtime, BuildError>;
}
