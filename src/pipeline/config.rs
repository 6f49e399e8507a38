//! The RON pipeline schema: what a `pipelines/*.ron` file may say.
//!
//! Every struct denies unknown fields so a typo is an error, not a silently ignored setting,
//! and every field has a default so small files stay small. Semantic checks (ranges, stage
//! order) live in [`super::validate`], which reports every problem at once.

use serde::{Deserialize, Serialize};

use super::stages::StageConfig;
use crate::cache::CacheConfig;
use crate::data::DataConfig;
use crate::model::{Device, Distance, Loss, ModelConfig, OptimizerConfig};
use crate::train::schedule::Schedule;

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
    /// The backend that trains and scores the network (`Cpu`); `--device` overrides it.
    #[serde(default)]
    pub device: Device,
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
            device: Device::default(),
        }
    }
}

impl Pipeline {
    /// The RON path of the first stage of `kind` (`stages[2]`), for problems that name a
    /// stage's field; `stages[0]` when there is none.
    pub fn stage_path(&self, kind: &str) -> String {
        let i = self
            .stages
            .iter()
            .position(|s| s.kind() == kind)
            .unwrap_or_default();
        format!("stages[{i}]")
    }

    /// This pipeline on `device`.
    pub fn with_device(&self, device: Device) -> Self {
        Self {
            device,
            ..self.clone()
        }
    }

    /// The pipeline as pretty RON, as a run folder records it.
    ///
    /// # Errors
    /// The serialiser's error (not expected for a parsed pipeline).
    pub fn to_ron(&self) -> Result<String, ron::Error> {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::new())
    }
}
