//! The Siamese network: a convolutional twin shared by both images, a distance, and a head.
//!
//! Parameters are kept as flat dfdx tensors with their logical shapes beside them; each use
//! reshapes a `retaped` copy, so gradients land on the flat parameter and one optimizer loop
//! updates every parameter alike. Both twins run as one batch of `2B` images (bigger GEMMs,
//! each parameter used once per step); the twins' embeddings are then picked apart with
//! selection matmuls, which cost well under 1% of a step and need no slicing of taped tensors.

use dfdx::shapes::HasShape;
use dfdx::tensor::{Cpu, OwnedTape, Tape, Tensor, TensorFromVec, Trace};
use dfdx::tensor_ops::ReshapeTo;

use super::ops::{
    try_conv_block, try_dense, BatchNormMode, BlockNorm, InputGrad, RunningStats, Shape4,
};
use crate::model::config::{
    Activation, ConvLayer, Distance, Loss, ModelConfig, BN_EPS, BN_MOMENTUM,
};
use crate::model::device::Device;
use crate::model::error::ModelError;
use crate::model::layout::{self, ParamKind};

/// A flat parameter tensor.
pub type Flat = Tensor<(usize,), f32, Cpu>;

/// One trainable tensor.
#[derive(Debug, Clone)]
pub struct Param {
    /// Unique name, used in checkpoints (`conv0.weight`).
    pub name: String,
    /// Logical shape.
    pub shape: Vec<usize>,
    /// What it is.
    pub kind: ParamKind,
    /// The values, flat.
    pub value: Flat,
}

/// The network's forward results for a batch of pairs.
pub struct Output<T> {
    /// The data loss, taped. The L2 penalties are not on the tape: the optimizer adds their
    /// gradients (see `optim`).
    pub loss: Tensor<(), f32, Cpu, T>,
    /// The loss without penalties, for reporting.
    pub data_loss: f32,
    /// One score per pair; higher means more likely the same person.
    pub scores: Vec<f32>,
}

/// A dfdx error, naming the device.
pub(super) fn dev_err(e: impl std::error::Error + Send + Sync + 'static) -> ModelError {
    ModelError::Device {
        device: Device::Cpu,
        source: Box::new(e),
    }
}

/// The whole Siamese model.
#[derive(Debug, Clone)]
pub struct SiameseNet {
    /// Every trainable tensor, in a fixed order.
    pub params: Vec<Param>,
    /// Index of the dense layer's weights; its bias and the head's parameters follow.
    dense: usize,
    /// Index of the first batch-norm parameter (two per conv layer), when batch norm is on.
    bn_first: Option<usize>,
    /// Batch norm's running statistics per conv layer (saved in checkpoints).
    pub bn_stats: Vec<RunningStats<f32>>,
    pub(super) config: ModelConfig,
    pub(super) distance: Distance,
    pub(super) loss: Loss,
    height: usize,
    width: usize,
    flat: usize,
    pub(super) dev: Cpu,
}

impl SiameseNet {
    /// Builds and initialises the network for `height` x `width` inputs; the same seed gives
    /// the same weights (drawn by [`layout::initial`], as on every backend).
    ///
    /// # Errors
    /// None today; the `Result` leaves room for settings a network cannot be built from.
    pub fn new(
        config: &ModelConfig,
        distance: Distance,
        loss: Loss,
        (height, width): (usize, usize),
        seed: u64,
    ) -> Result<Self, ModelError> {
        let drawn = layout::initial(config, distance, loss, (height, width), seed);
        let dense = drawn
            .iter()
            .position(|d| d.kind == ParamKind::DenseWeight)
            .expect("the layout has a dense layer");
        let flat = drawn[dense].shape[0];
        let bn_first = drawn.iter().position(|d| d.kind == ParamKind::BnGamma);
        let bn_stats = match bn_first {
            Some(_) => config
                .conv
                .iter()
                .map(|l| RunningStats::new(l.filters))
                .collect(),
            None => Vec::new(),
        };
        let dev = Cpu::seed_from_u64(seed ^ 0x5EED);
        let params = drawn
            .into_iter()
            .map(|d| {
                let n = d.values.len();
                Param {
                    name: d.name,
                    shape: d.shape,
                    kind: d.kind,
                    value: dev.tensor_from_vec(d.values, (n,)),
                }
            })
            .collect();
        Ok(Self {
            params,
            dense,
            bn_first,
            bn_stats,
            config: config.clone(),
            distance,
            loss,
            height,
            width,
            flat,
            dev,
        })
    }

    /// Number of trainable values.
    pub fn parameter_count(&self) -> usize {
        self.params
            .iter()
            .map(|p| p.shape.iter().product::<usize>())
            .sum()
    }

    /// The device tensors live on.
    pub fn device(&self) -> &Cpu {
        &self.dev
    }

    /// Input image size `(height, width)`.
    pub fn input_size(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    /// Forward pass with gradients for training: returns the taped loss and the scores.
    ///
    /// # Errors
    /// Wrong batch sizes, op or allocation failures.
    pub fn forward_train(
        &mut self,
        left: &[f32],
        right: &[f32],
        labels: &[f32],
    ) -> Result<Output<OwnedTape<f32, Cpu>>, ModelError> {
        let x = self.input(left, right, labels.len())?.leaky_trace();
        // Training updates batch norm's running statistics; they are moved out for the pass.
        let mut stats = std::mem::take(&mut self.bn_stats);
        let out = self.forward(x, labels, Some(&mut stats));
        self.bn_stats = stats;
        out
    }

    /// Forward pass without gradients or dropout: the loss and the scores.
    ///
    /// # Errors
    /// Wrong batch sizes, op or allocation failures.
    pub fn evaluate(
        &self,
        left: &[f32],
        right: &[f32],
        labels: &[f32],
    ) -> Result<(f32, Vec<f32>), ModelError> {
        let x = self.input(left, right, labels.len())?;
        let out = self.forward(x, labels, None)?;
        Ok((out.data_loss, out.scores))
    }

    fn input(
        &self,
        left: &[f32],
        right: &[f32],
        pairs: usize,
    ) -> Result<Tensor<Shape4, f32, Cpu>, ModelError> {
        let n = self.height * self.width * pairs;
        if left.len() != n || right.len() != n {
            return Err(ModelError::BadBatch {
                got: left.len().min(right.len()),
                pairs,
                height: self.height,
                width: self.width,
            });
        }
        let mut both = Vec::with_capacity(2 * n);
        both.extend_from_slice(left);
        both.extend_from_slice(right);
        Ok(self
            .dev
            .tensor_from_vec(both, (2 * pairs, 1, self.height, self.width)))
    }

    pub(super) fn param<T: Tape<f32, Cpu>>(&self, i: usize) -> Tensor<(usize,), f32, Cpu, T> {
        self.params[i].value.retaped::<T>()
    }

    fn forward<T: Tape<f32, Cpu> + dfdx::tensor::Merge<T>>(
        &self,
        x: Tensor<Shape4, f32, Cpu, T>,
        labels: &[f32],
        train_stats: Option<&mut Vec<RunningStats<f32>>>,
    ) -> Result<Output<T>, ModelError> {
        let e = self.embed_tensor(x, train_stats)?;
        self.head(e, labels, self.dense + 2)
    }

    /// Embeddings `(images, units)` of grayscale images given as `images * height * width`
    /// floats in [0, 1], without dropout (inference).
    ///
    /// # Errors
    /// A wrong number of values, op or allocation failures.
    pub fn embed(&self, pixels: &[f32]) -> Result<Vec<Vec<f32>>, ModelError> {
        let per = self.height * self.width;
        if per == 0 || !pixels.len().is_multiple_of(per) || pixels.is_empty() {
            return Err(ModelError::BadBatch {
                got: pixels.len(),
                pairs: 0,
                height: self.height,
                width: self.width,
            });
        }
        let n = pixels.len() / per;
        let x = self
            .dev
            .tensor_from_vec(pixels.to_vec(), (n, 1, self.height, self.width));
        let e: Tensor<(usize, usize), f32, Cpu> = self.embed_tensor(x, None)?;
        Ok(e.as_vec()
            .chunks(self.config.dense.units)
            .map(<[f32]>::to_vec)
            .collect())
    }

    /// The twin: conv blocks, then the dense embedding layer, for any number of images.
    fn embed_tensor<T: Tape<f32, Cpu> + dfdx::tensor::Merge<T>>(
        &self,
        mut x: Tensor<Shape4, f32, Cpu, T>,
        mut train_stats: Option<&mut Vec<RunningStats<f32>>>,
    ) -> Result<Tensor<(usize, usize), f32, Cpu, T>, ModelError> {
        let train = train_stats.is_some();
        let n = x.shape().0;
        let rates = self.config.dropout_rates();
        for (i, layer) in self.config.conv.iter().enumerate() {
            let bn = self.bn_first.map(|_| match train_stats.as_deref_mut() {
                Some(stats) => BatchNormMode::Train {
                    stats: &mut stats[i],
                    momentum: BN_MOMENTUM,
                },
                None => BatchNormMode::Infer(&self.bn_stats[i]),
            });
            let dropout = rates[i].filter(|_| train);
            x = self.conv_block(x, i, layer, i > 0, dropout, bn)?;
        }
        let (ci, units) = (self.dense, self.config.dense.units);
        let w = self.param::<T>(ci).reshape_like(&(self.flat, units));
        let b = self.param::<T>(ci + 1).reshape_like(&(units,));
        // One op for `x W + b` on gemm 0.19 (AVX-512) in place of dfdx's matmul (gemm 0.15,
        // AVX2) and broadcast add: the seed's layer trains ~1.4x faster (ops_bench).
        let z = try_dense(x.reshape_like(&(n, self.flat)), w, b)?;
        let mut e = activate(z, self.config.dense.activation);
        if let Some(p) = train.then_some(rates[self.config.conv.len()]).flatten() {
            e = e.dropout(p);
        }
        Ok(e)
    }

    fn conv_block<T: Tape<f32, Cpu> + dfdx::tensor::Merge<T>>(
        &self,
        x: Tensor<Shape4, f32, Cpu, T>,
        i: usize,
        layer: &ConvLayer,
        input_grad: bool,
        dropout: Option<f64>,
        bn: Option<BatchNormMode<'_, f32>>,
    ) -> Result<Tensor<Shape4, f32, Cpu, T>, ModelError> {
        let shape = &self.params[2 * i].shape;
        let w = self
            .param::<T>(2 * i)
            .reshape_like(&(shape[0], shape[1], shape[2], shape[3]));
        let b = self.param::<T>(2 * i + 1).reshape_like(&(shape[0],));
        let grad = if input_grad {
            InputGrad::Compute
        } else {
            InputGrad::Skip
        };
        let norm = match (bn, self.bn_first) {
            (Some(mode), Some(first)) => {
                let f = shape[0];
                Some(BlockNorm {
                    gamma: self.param::<T>(first + 2 * i).reshape_like(&(f,)),
                    beta: self.param::<T>(first + 2 * i + 1).reshape_like(&(f,)),
                    mode,
                    eps: BN_EPS,
                })
            }
            _ => None,
        };
        // conv, batch norm, pool, relu and dropout as one op: the full-resolution maps between
        // them never become dfdx tensors, which dfdx would copy, zero gradients for, and run
        // its serial relu and dropout over (see `ops::block`).
        Ok(try_conv_block(
            x,
            (w, b),
            norm,
            (layer.pool, dropout),
            grad,
        )?)
    }
}

pub(super) fn activate<S: dfdx::shapes::Shape, T: Tape<f32, Cpu>>(
    x: Tensor<S, f32, Cpu, T>,
    a: Activation,
) -> Tensor<S, f32, Cpu, T> {
    match a {
        Activation::Sigmoid => x.sigmoid(),
        Activation::Relu => x.relu(),
        Activation::Tanh => x.tanh(),
        Activation::Linear => x,
    }
}
