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
    /// The network's input `(height, width)`, as the run trained it.
    pub input: (usize, usize),
    /// How well the kept weights did on validation, where the run recorded it.
    pub validation: Validation,
}

/// A finished run's validation figures: what a verdict of its network is worth.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Validation {
    /// Accuracy at the chosen threshold (`summary.json`).
    pub accuracy: Option<f64>,
    /// AUC of the kept epoch (`state.json`); threshold-free, so near 0.5 means near chance.
    pub auc: Option<f64>,
}

impl Validation {
    /// Below this validation AUC a model is called near chance: its verdicts mean little.
    pub const NEAR_CHANCE_AUC: f64 = 0.6;

    /// Whether the model's validation AUC says it barely tells faces apart.
    pub fn near_chance(&self) -> bool {
        self.auc.is_some_and(|auc| auc < Self::NEAR_CHANCE_AUC)
    }
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
    let summary = read_summary(&run.summary())?;
    // The size the run trained at; older summaries lack it, and then the pipeline's own
    // (its Resize, or LFW-a's 250x250) is all there is.
    let input = match summary["input"].as_array().map(Vec::as_slice) {
        Some([h, w]) => h.as_u64().zip(w.as_u64()),
        _ => None,
    }
    .map(|(h, w)| (h as usize, w as usize))
    .unwrap_or_else(|| {
        let (w, h) = plan.image_size();
        (h as usize, w as usize)
    });
    let spec = NetSpec {
        input,
        ..plan.net_spec()
    };
    let mut net = build(device.unwrap_or(p.device), spec).map_err(SessionError::from)?;
    checkpoint::load_file(&run.best_weights(), net.as_mut(), Weights::Live)
        .map_err(SessionError::from)?;
    let threshold =
        summary["evaluation"]["threshold"]
            .as_f64()
            .ok_or_else(|| LoadRunError::NoThreshold {
                path: run.summary(),
            })?;
    // The kept epoch's validation AUC; old or odd folders without it just lack the figure.
    let auc = run.load_state().ok().and_then(|state| {
        let (_, best) = state.best?;
        state.history.iter().find(|m| m.epoch == best)?.val.auc
    });
    let validation = Validation {
        accuracy: summary["evaluation"]["val_accuracy"].as_f64(),
        auc,
    };
    Ok(Trained {
        plan,
        net,
        threshold,
        input,
        validation,
    })
}

/// A finished run's `summary.json`.
fn read_summary(path: &Path) -> Result<serde_json::Value, LoadRunError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadRunError::SummaryRead {
        path: path.into(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| LoadRunError::SummaryJson {
        path: path.into(),
        source,
    })
}
