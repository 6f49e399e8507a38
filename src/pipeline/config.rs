//! The RON pipeline schema: what a `pipelines/*.ron` file may say.
//!
//! Every struct denies unknown fields so a typo is an error, not a silently ignored setting,
//! and every field has a default so small files stay small. Semantic checks (ranges, stage
//! order) live in [`super::validate`], which reports every problem at once.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::training::{Distance, Loss, ModelConfig, OptimizerConfig, Schedule};
use crate::cache::Dtype;
use crate::data::ValidationSplit;
use crate::stages::StageConfig;

/// A whole pipeline, as written in a RON file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Where the images and pairs files are, and how validation is split off.
    #[serde(default)]
    pub data: DataConfig,
    /// The memory-mapped tensor cache; `None` streams from the JPEGs every run.
    #[serde(default)]
    pub cache: Option<CacheConfig>,
    /// The seed for every random choice (splits, sampling, augmentation, initialisation).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The stages, in the order data flows through them.
    pub stages: Vec<StageConfig>,
    /// The Siamese network.
    #[serde(default)]
    pub model: ModelConfig,
    /// The training loss.
    #[serde(default)]
    pub loss: Loss,
    /// How the twins' embeddings are compared.
    #[serde(default)]
    pub distance: Distance,
    /// The optimizer and its learning rate.
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// Epochs and early stopping.
    #[serde(default)]
    pub schedule: Schedule,
}

fn default_seed() -> u64 {
    42
}

/// The same defaults a RON file gets for omitted fields, with no stages.
impl Default for Pipeline {
    fn default() -> Self {
        Self {
            data: DataConfig::default(),
            cache: None,
            seed: default_seed(),
            stages: Vec::new(),
            model: ModelConfig::default(),
            loss: Loss::default(),
            distance: Distance::default(),
            optimizer: OptimizerConfig::default(),
            schedule: Schedule::default(),
        }
    }
}

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
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            root: None,
            train_pairs: PathBuf::from("pairsDevTrain.txt"),
            test_pairs: PathBuf::from("pairsDevTest.txt"),
            validation: ValidationSplit::default(),
            images: ImageSet::default(),
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

/// Where and how decoded, resized images are cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// The folder holding cache files; the file name is derived from the image size and dtype.
    pub dir: PathBuf,
    /// The element type stored per pixel.
    pub dtype: Dtype,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("cache"),
            dtype: Dtype::U8,
        }
    }
}
