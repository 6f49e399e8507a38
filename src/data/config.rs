//! The `data` section of a pipeline: where LFW-a is, which pairs files name the train and
//! test identities, how validation is split off, which identities' images are decoded, and
//! the synthetic dataset to make when there is none.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::synth::SynthOptions;
use super::ValidationSplit;

/// Where LFW-a is and how it is split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// The LFW-a folder (holding `lfw2/`). `None` defers to `--data` or `TWINFLOW_DATA`;
    /// a relative path is taken from the current directory.
    pub root: Option<PathBuf>,
    /// The pairs file whose identities are the train set, relative to `root`.
    pub train_pairs: PathBuf,
    /// The pairs file whose identities are the test set, relative to `root`.
    pub test_pairs: PathBuf,
    /// How validation identities are split off the train identities.
    pub validation: ValidationSplit,
    /// Which identities' images flow through the image stages.
    pub images: ImageSet,
    /// A synthetic dataset to make when the data folder is missing or empty, so the
    /// pipeline runs with nothing downloaded: `Some((identities: 480, size: 32))` generates
    /// it there on first use (seeded, so every machine gets the same files), reuses it
    /// after, and regenerates it when these settings change. A folder that holds another
    /// dataset, LFW-a say, is used as it is. `None` (the default) never generates.
    pub synth: Option<SynthOptions>,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            root: None,
            train_pairs: PathBuf::from("pairsDevTrain.txt"),
            test_pairs: PathBuf::from("pairsDevTest.txt"),
            validation: ValidationSplit::default(),
            images: ImageSet::default(),
            synth: None,
        }
    }
}

/// A set of identities whose images are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ImageSet {
    /// Train and test identities: everything training and evaluation can use.
    #[default]
    Used,
    /// Only the identities named in the train pairs file.
    Train,
    /// Only the identities named in the test pairs file.
    Test,
    /// Every image of the dataset, unused identities included (for benchmarks and stats).
    All,
}
