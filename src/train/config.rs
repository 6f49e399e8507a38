//! `Train`: the stage that ends a training pipeline. The network, loss, distance, optimizer
//! and schedule are the pipeline's top-level settings; this stage only says where runs go.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// Settings of the `Train` stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Folder that holds one sub-folder per run.
    pub runs: PathBuf,
    /// Name of the run folder, numbered (`<name>-1`, `<name>-2`, ...); `None` uses the
    /// pipeline file's name.
    pub name: Option<String>,
    /// Pairs per forward pass when scoring validation and test pairs after training.
    pub eval_batch: usize,
    /// Score each validation and test pair twice, as given and with both images mirrored,
    /// and average: faces are near-symmetric, so the mirrored view is a free second opinion.
    /// Applies to the final evaluation (and `eval`/`verify` of the run), not to the
    /// per-epoch validation that early stopping watches.
    pub eval_flip: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            runs: PathBuf::from("runs"),
            name: None,
            eval_batch: 128,
            eval_flip: false,
        }
    }
}

impl TrainConfig {
    /// Appends every problem of this config, each named by its RON path.
    pub fn problems(&self, path: &str, out: &mut Vec<Problem>) {
        if self.runs.as_os_str().is_empty() {
            out.push(Problem::new(format!("{path}.runs"), "must not be empty"));
        }
        let most = crate::stages::pair_batch::MAX_BATCH;
        if self.eval_batch == 0 || self.eval_batch > most {
            out.push(Problem::new(
                format!("{path}.eval_batch"),
                format!("must be in 1..={most}, got {}", self.eval_batch),
            ));
        }
        if let Some(name) = &self.name {
            if name.is_empty() || name.contains(['/', '\\']) {
                out.push(Problem::new(
                    format!("{path}.name"),
                    "must be a plain, non-empty folder name",
                ));
            }
        }
    }
}
