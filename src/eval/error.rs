//! Errors of the evaluation metrics and plots.

use std::path::PathBuf;

/// Why a metric or plot could not be computed.
///
/// Metrics refuse input they cannot give a meaningful number for (no scores, a NaN, a
/// single class) instead of returning NaN, so a broken run fails loudly.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A score list was empty.
    #[error("{what} has no scores")]
    Empty {
        /// Which input (e.g. "validation set").
        what: &'static str,
    },
    /// Scores and labels differ in length.
    #[error("{what} has {scores} scores but {labels} labels")]
    LengthMismatch {
        /// Which input.
        what: &'static str,
        /// Number of scores.
        scores: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A score was NaN or infinite.
    #[error("{what}: score {index} is {value}; scores must be finite")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Position of the score.
        index: usize,
        /// The score.
        value: f64,
    },
    /// A metric that compares the classes got only one.
    #[error(
        "{what} needs both same and different pairs, but has {same} same and {different} different"
    )]
    OneClass {
        /// Which input.
        what: &'static str,
        /// Number of same pairs.
        same: usize,
        /// Number of different pairs.
        different: usize,
    },
    /// A threshold was NaN.
    #[error("threshold is {value}; it must not be NaN")]
    BadThreshold {
        /// The threshold.
        value: f64,
    },
    /// A fold list does not name one fold per pair.
    #[error("fold list has {folds} entries but there are {scores} scores")]
    FoldLength {
        /// Entries in the fold list.
        folds: usize,
        /// Number of scores.
        scores: usize,
    },
    /// Cross-validation was asked for fewer than two folds.
    #[error("cross-validation needs at least 2 folds, got {k}")]
    TooFewFolds {
        /// Folds asked for (or found).
        k: usize,
    },
    /// Fold ids must run 0..k without gaps.
    #[error("fold {fold} has no pairs (fold ids must run from 0 without gaps)")]
    EmptyFold {
        /// The empty fold.
        fold: usize,
    },
    /// One fold's threshold could not be chosen.
    #[error("cannot choose a threshold with fold {fold} held out")]
    Fold {
        /// The held-out fold.
        fold: usize,
        /// What went wrong on the other folds.
        #[source]
        source: Box<EvalError>,
    },
    /// One-shot identification was asked for fewer than two candidates.
    #[error("one-shot needs at least 2 candidates per trial, got {n_way}")]
    TooFewWays {
        /// Candidates per trial.
        n_way: usize,
    },
    /// One-shot identification was asked for no trials.
    #[error("one-shot needs at least one trial")]
    NoTrials,
    /// Not enough identities to fill the support set.
    #[error("{n_way}-way one-shot needs {n_way} identities, found {identities}")]
    TooFewIdentities {
        /// Candidates per trial.
        n_way: usize,
        /// Distinct identities given.
        identities: usize,
    },
    /// No identity can provide both a query and its true support.
    #[error("none of the {identities} identities has two images (a query and its support)")]
    NoRepeatedIdentity {
        /// Distinct identities given.
        identities: usize,
    },
    /// The one-shot scorer returned NaN or infinity.
    #[error("one-shot trial {trial}: the scorer returned {value}; scores must be finite")]
    ScorerNonFinite {
        /// The trial (0-based).
        trial: usize,
        /// The score.
        value: f64,
    },
    /// A plot path has no extension we can render.
    #[error("cannot tell the plot format of {}: use a .png or .svg extension", path.display())]
    PlotFormat {
        /// The path.
        path: PathBuf,
    },
    /// A plot was given nothing to draw.
    #[error("nothing to plot in {}: {reason}", path.display())]
    NothingToPlot {
        /// The plot's path.
        path: PathBuf,
        /// What is missing.
        reason: &'static str,
    },
    /// The plotting library failed while drawing.
    #[error("cannot draw {}", path.display())]
    Draw {
        /// The plot's path.
        path: PathBuf,
        /// The plotting library's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The embedded font could not be loaded (a build problem, not an input problem).
    #[error("the embedded plot font is not a valid font")]
    Font,
    /// A plot file could not be written.
    #[error("cannot write {}", path.display())]
    WritePlot {
        /// The plot's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A PNG could not be encoded or saved.
    #[error("cannot save {}", path.display())]
    EncodePng {
        /// The plot's path.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: image::ImageError,
    },
}
