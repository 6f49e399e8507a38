//! The training-backend seam: what the trainer, the hard-negative refresher, evaluation,
//! `verify`/`embed`/`oneshot` and checkpoints need of a device, and nothing more.
//!
//! A backend builds a network from a [`NetSpec`] (the same seed gives the same initial
//! weights on every backend: they are drawn on the host by [`super::layout`]), takes train
//! steps on batches of pairs (forward, loss, backward and the optimizer's update, all where
//! the weights live), scores pairs and embeds images without gradients, keeps the weight
//! average, and moves its state in and out as named host `f32` tensors in the safetensors
//! layout of [`super::layout`]. What is shared by all backends stays above the seam: the
//! mirrored scoring of `eval_flip`, the average's warm-up, the learning-rate schedule, the
//! head's comparison of embeddings ([`super::compare`]) and the checkpoint files.
//!
//! The CPU implementation (dfdx with our own conv, pool and batch-norm kernels) lives in
//! [`super::cpu`]; adding a backend is a module beside it and one arm in [`build`].

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::compare::Comparator;
use super::head::Head;
use super::{Distance, Loss, ModelConfig, OptimizerConfig};

/// Named flat `f32` tensors with their logical shapes, as checkpoints hold them.
pub type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;

/// Which backend trains and scores a pipeline: the pipeline's top-level `device`, recorded in
/// each run folder, and overridden by `--device` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Device {
    /// dfdx with twinflow's own conv, pool and batch-norm kernels, on every core.
    #[default]
    Cpu,
}

impl Device {
    /// Every device this build knows, as written on the command line.
    pub const NAMES: [&'static str; 1] = ["cpu"];
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
        }
    }
}

impl FromStr for Device {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            other => Err(format!(
                "unknown device `{other}`: expected one of {}",
                Device::NAMES.join(", ")
            )),
        }
    }
}

/// Everything a backend needs to build a network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetSpec {
    /// Layers, batch norm, dropout, initialisers and L2 penalties.
    pub model: ModelConfig,
    /// The training loss, which also decides the head.
    pub loss: Loss,
    /// How the twins' embeddings are compared.
    pub distance: Distance,
    /// The optimizer the train steps apply.
    pub optimizer: OptimizerConfig,
    /// Input image size `(height, width)`.
    pub input: (usize, usize),
    /// Seeds the initial weights (and the CPU's dropout masks).
    pub seed: u64,
}

/// Which copy of the weights an inference call or a state transfer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// The weights the optimizer trains.
    Live,
    /// The exponential moving average of the live weights (`schedule.average`).
    Average,
}

/// What one train step gives back.
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// The batch's mean loss without the L2 penalties.
    pub loss: f32,
    /// One score per pair; higher means more likely the same person.
    pub scores: Vec<f32>,
    /// Time per phase of the step, where the backend can tell (for `bench train`).
    pub phases: Vec<(&'static str, Duration)>,
}

/// An optimizer's state: steps taken and its moment buffers, named `m1/<param>` and so on.
#[derive(Debug, Clone, Default)]
pub struct OptimizerState {
    /// Steps taken.
    pub step: i32,
    /// Moment buffers.
    pub tensors: Tensors,
}

/// Why a network cannot be built, run or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// One of the CPU's own ops refused its inputs.
    #[error(transparent)]
    Ops(#[from] super::cpu::ops::OpsError),
    /// The device could not allocate or run a kernel.
    #[error("the {device} backend failed")]
    Device {
        /// The backend.
        device: Device,
        /// The device's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The input has the wrong size for the network.
    #[error("batch of {got} values does not hold {pairs} pairs of {height}x{width} images")]
    BadBatch {
        /// Values given per twin.
        got: usize,
        /// Pairs expected.
        pairs: usize,
        /// Image height.
        height: usize,
        /// Image width.
        width: usize,
    },
    /// Tensors given to the network do not fit it.
    #[error("{reason}")]
    Mismatch {
        /// What differs: a missing, extra or misshapen tensor.
        reason: String,
    },
    /// The network has no weight average to use.
    #[error("the network keeps no weight average (schedule.average is None)")]
    NoAverage,
}

/// A Siamese network on some device, with its optimizer and weight average.
///
/// Inference takes `&mut self` so a device can reuse its scratch buffers.
pub trait Network: Send {
    /// What the network was built from.
    fn spec(&self) -> &NetSpec;

    /// Number of trainable values.
    fn parameter_count(&self) -> usize;

    /// One optimizer step on a batch of pairs: each twin's pixels are `pairs * height *
    /// width` floats in [0, 1]; `labels` are 1 for a same pair and 0 for a different one.
    ///
    /// # Errors
    /// Wrong batch sizes, device failures.
    fn train_step(
        &mut self,
        left: &[f32],
        right: &[f32],
        labels: &[f32],
    ) -> Result<Step, ModelError>;

    /// Optimizer steps taken so far (counted across resumes).
    fn steps(&self) -> u64;

    /// The mean loss (without penalties) and the scores of pairs, without gradients or
    /// dropout, with batch norm's running statistics.
    ///
    /// # Errors
    /// Wrong batch sizes, device failures, [`ModelError::NoAverage`].
    fn evaluate(
        &mut self,
        weights: Weights,
        left: &[f32],
        right: &[f32],
        labels: &[f32],
    ) -> Result<(f32, Vec<f32>), ModelError>;

    /// The twin's embedding of each image (`images * height * width` floats), without
    /// dropout.
    ///
    /// # Errors
    /// A wrong number of values, device failures, [`ModelError::NoAverage`].
    fn embed(&mut self, weights: Weights, pixels: &[f32]) -> Result<Vec<Vec<f32>>, ModelError>;

    /// Starts the weight average at the live weights.
    ///
    /// # Errors
    /// Device failures.
    fn start_average(&mut self) -> Result<(), ModelError>;

    /// Moves the average towards the live weights: `avg = decay * avg + (1 - decay) * w`,
    /// batch norm's running statistics included.
    ///
    /// # Errors
    /// Device failures, [`ModelError::NoAverage`].
    fn update_average(&mut self, decay: f32) -> Result<(), ModelError>;

    /// The parameters and batch norm's running statistics, named as in a checkpoint, in
    /// layout order.
    ///
    /// # Errors
    /// Device failures, [`ModelError::NoAverage`].
    fn weights(&self, which: Weights) -> Result<Tensors, ModelError>;

    /// Replaces the parameters and running statistics (setting `Average` starts the average
    /// if there was none). Every tensor of the layout must be present with its shape.
    ///
    /// # Errors
    /// [`ModelError::Mismatch`] naming the tensor that is missing, extra or misshapen.
    fn set_weights(&mut self, which: Weights, tensors: &Tensors) -> Result<(), ModelError>;

    /// The optimizer's state, for a checkpoint.
    ///
    /// # Errors
    /// Device failures.
    fn optimizer_state(&mut self) -> Result<OptimizerState, ModelError>;

    /// Restores what [`Network::optimizer_state`] gave.
    ///
    /// # Errors
    /// [`ModelError::Mismatch`] for a missing or misshapen buffer.
    fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<(), ModelError>;

    /// The head's comparison of two embeddings, with the head's weights copied out.
    ///
    /// # Errors
    /// Device failures, [`ModelError::NoAverage`].
    fn comparator(&self, which: Weights) -> Result<Comparator, ModelError> {
        let spec = self.spec();
        Ok(Head::new(spec.loss, spec.distance).comparator(&self.weights(which)?))
    }
}

/// Builds a network on `device`.
///
/// # Errors
/// A device that cannot be used, or a network it cannot hold.
pub fn build(device: Device, spec: NetSpec) -> Result<Box<dyn Network>, ModelError> {
    match device {
        Device::Cpu => Ok(Box::new(super::cpu::CpuNetwork::new(spec)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_from_their_names_and_refuse_others() {
        for name in Device::NAMES {
            let d: Device = name.parse().expect("known");
            assert_eq!(d.to_string(), name);
        }
        assert_eq!("CPU".parse::<Device>(), Ok(Device::Cpu));
        let err = "tpu".parse::<Device>().expect_err("unknown");
        assert!(err.contains("tpu") && err.contains("cpu"), "{err}");
    }
}
