//! A finished run loaded back for `eval`, `verify`, `embed` and `oneshot`: its own pipeline,
//! its network with the best weights, and the threshold chosen on validation.

use std::path::{Path, PathBuf};

use super::validate::{load, End, LoadError, Plan};
use crate::model::{build, Device, NetSpec, Network, Weights};
use crate::train::checkpoint;
use crate::train::error::SessionError;
use crate::train::RunDir;

/// A trained run loaded back: its plan, its network with the best weights, and the
/// threshold chosen on validation when it was trained.
pub struct Trained {
    /// The run's own pipeline.
    pub plan: Plan,
    /// The network with the best weights (as its live weights).
    pub net: Box<dyn Network>,
    /// The decision threshold from `summary.json`.
    pub threshold: f64,
}

impl Trained {
    /// Whether the run scores pairs as the mean with their mirrored views (`eval_flip`), as
    /// its threshold was chosen.
    pub fn eval_flip(&self) -> bool {
        matches!(&self.plan.end, End::Train(t) if t.eval_flip)
    }
}

/// Why a run cannot be loaded for evaluation.
#[derive(Debug, thiserror::Error)]
pub enum LoadRunError {
    /// The run's pipeline is unusable.
    #[error(transparent)]
    Pipeline(#[from] LoadError),
    /// The network or weights are unusable.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// `summary.json` cannot be read (most often: the run never finished).
    #[error("cannot read {}; did the run finish?", path.display())]
    SummaryRead {
        /// The summary file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `summary.json` is not JSON.
    #[error("cannot parse {}", path.display())]
    SummaryJson {
        /// The summary file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// `summary.json` lacks the threshold (the run never finished its evaluation).
    #[error("{}: no evaluation.threshold; did the run finish?", path.display())]
    NoThreshold {
        /// The summary file.
        path: PathBuf,
    },
}

/// Loads a finished run for evaluation or verification, on the run's own device or on
/// `device` when given (an override: the run's pipeline is not edited).
///
/// # Errors
/// A missing or damaged pipeline, weights or summary.
pub fn load_trained(dir: &Path, device: Option<Device>) -> Result<Trained, LoadRunError> {
    let run = RunDir::open(dir).map_err(SessionError::from)?;
    let plan = load(&run.pipeline())?;
    let p = &plan.pipeline;
    let (w, h) = plan.image_size();
    let spec = NetSpec {
        model: p.model.clone(),
        loss: p.loss,
        distance: p.distance,
        optimizer: p.optimizer,
        input: (h as usize, w as usize),
        seed: p.seed,
    };
    let mut net = build(device.unwrap_or(p.device), spec).map_err(SessionError::from)?;
    checkpoint::load_file(&run.best_weights(), net.as_mut(), Weights::Live)
        .map_err(SessionError::from)?;
    let threshold = read_threshold(&run.summary())?;
    Ok(Trained {
        plan,
        net,
        threshold,
    })
}

/// The threshold a finished run chose on validation, from its `summary.json`.
fn read_threshold(path: &Path) -> Result<f64, LoadRunError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadRunError::SummaryRead {
        path: path.into(),
        source,
    })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| LoadRunError::SummaryJson {
            path: path.into(),
            source,
        })?;
    json["evaluation"]["threshold"]
        .as_f64()
        .ok_or_else(|| LoadRunError::NoThreshold { path: path.into() })
}
