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
//! [`super::cpu`]; adding a backend is a module beside it and one arm in [`super::build`].

use std::time::Duration;

use super::compare::Comparator;
use super::config::{Distance, Loss, ModelConfig};
pub use super::device::Device;
pub use super::error::ModelError;
use super::head::Head;
use super::optimizer::OptimizerConfig;
pub use super::tensors::Tensors;

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
    pub phases: Vec<(String, Duration)>,
}

/// An optimizer's state: steps taken and its moment buffers, named `m1/<param>` and so on.
#[derive(Debug, Clone, Default)]
pub struct OptimizerState {
    /// Steps taken.
    pub step: i32,
    /// Moment buffers.
    pub tensors: Tensors,
}

/// A Siamese network on some device, with its optimizer and weight average.
///
/// Inference takes `&mut self` so a device can reuse its scratch buffers.
pub trait Network: Send {
    /// What the network was built from.
    fn spec(&self) -> &NetSpec;

    /// Number of trainable values.
    fn parameter_count(&self) -> usize;

    /// Where the network runs, for people: `cpu`, or `gpu: ` and the adapter's name and
    /// limits. Run folders record it.
    fn device_label(&self) -> String;

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

    /// Allocates what train steps on batches of `pairs` need, so that a network too large
    /// for its device fails now, naming the layer, rather than at its first step.
    ///
    /// # Errors
    /// A buffer over the device's limits, or memory running out.
    fn prepare(&mut self, _pairs: usize) -> Result<(), ModelError> {
        Ok(())
    }

    /// Times each op group of later train steps on its own, in [`Step::phases`], where the
    /// backend can (the GPU then waits after each group, so steps run slower). For
    /// `bench train --profile`; the CPU reports its phases always and ignores this.
    fn set_profiling(&mut self, _on: bool) {}

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
