//! The Siamese network: a convolutional twin shared by both images, a distance, and a head.
//!
//! Parameters are kept as flat dfdx tensors with their logical shapes beside them; each use
//! reshapes a `retaped` copy, so gradients land on the flat parameter and one optimizer loop
//! updates every parameter alike. Both twins run as one batch of `2B` images (bigger GEMMs,
//! each parameter used once per step); the twins' embeddings are then picked apart with
//! selection matmuls, which cost well under 1% of a step and need no slicing of taped tensors.

use dfdx::shapes::{Axis, HasShape};
use dfdx::tensor::{Cpu, OwnedTape, Tape, Tensor, TensorFromVec, Trace};
use dfdx::tensor_ops::{BroadcastTo, ReshapeTo, TryMatMul};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

use super::ops::{
    try_batch_norm2d, try_conv2d, try_max_pool2d, BatchNormMode, InputGrad, OpsError, RunningStats,
    Shape4,
};
use crate::model::{Activation, ConvLayer, Distance, Init, Loss, ModelConfig};

/// A flat parameter tensor.
pub type Flat = Tensor<(usize,), f32, Cpu>;

/// Keras' batch-norm defaults: running statistics keep 99% of their value per step.
const BN_MOMENTUM: f32 = 0.99;
/// Keras' batch-norm epsilon.
const BN_EPS: f32 = 1e-3;

/// What a parameter is, for regularisation and initialisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ParamKind {
    /// A convolution kernel `(out, in, k, k)`.
    ConvWeight,
    /// A convolution bias `(out,)`.
    ConvBias,
    /// A batch-norm scale `(channels,)`.
    BnGamma,
    /// A batch-norm shift `(channels,)`.
    BnBeta,
    /// The embedding layer's weights `(in, units)`.
    DenseWeight,
    /// The embedding layer's bias `(units,)`.
    DenseBias,
    /// The head's weights `(in, 1)`.
    HeadWeight,
    /// The head's bias `(1,)`.
    HeadBias,
}

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
    /// The training loss (data loss plus L2 penalties), taped.
    pub loss: Tensor<(), f32, Cpu, T>,
    /// The loss without penalties, for reporting.
    pub data_loss: f32,
    /// One score per pair; higher means more likely the same person.
    pub scores: Vec<f32>,
}

/// Why the network cannot be built or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A custom op refused its inputs.
    #[error(transparent)]
    Ops(#[from] OpsError),
    /// dfdx could not allocate.
    #[error("tensor allocation failed: {message}")]
    Device {
        /// dfdx's message.
        message: String,
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
}

pub(super) fn dev_err(e: impl std::fmt::Debug) -> ModelError {
    ModelError::Device {
        message: format!("{e:?}"),
    }
}

/// The whole Siamese model.
#[derive(Debug, Clone)]
pub struct SiameseNet {
    /// Every trainable tensor, in a fixed order.
    pub params: Vec<Param>,
    /// Index of the first batch-norm parameter (two per conv layer), when batch norm is on.
    bn_first: Option<usize>,
    /// Batch norm's running statistics per conv layer (saved in checkpoints).
    pub bn_stats: Vec<RunningStats<f32>>,
    pub(super) config: ModelConfig,
    pub(super) distance: Distance,
    pub(super) loss: Loss,
    pub(super) l2: (f64, f64),
    height: usize,
    width: usize,
    flat: usize,
    pub(super) dev: Cpu,
}

impl SiameseNet {
    /// Builds and initialises the network for `height` x `width` inputs; the same seed gives
    /// the same weights.
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
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut params = Vec::new();
        let (mut c, mut h, mut w) = (1, height, width);
        for (i, layer) in config.conv.iter().enumerate() {
            let (f, k) = (layer.filters, layer.kernel);
            let fans = (c * k * k, f * k * k);
            params.push(make(
                format!("conv{i}.weight"),
                vec![f, c, k, k],
                ParamKind::ConvWeight,
                config.init.conv_weight,
                fans,
                &mut rng,
            ));
            params.push(make(
                format!("conv{i}.bias"),
                vec![f],
                ParamKind::ConvBias,
                config.init.bias,
                fans,
                &mut rng,
            ));
            (c, h, w) = (f, h + 1 - k, w + 1 - k);
            if layer.pool {
                (h, w) = (h / 2, w / 2);
            }
        }
        let flat = c * h * w;
        let units = config.dense.units;
        params.push(make(
            "dense.weight".into(),
            vec![flat, units],
            ParamKind::DenseWeight,
            config.init.dense_weight,
            (flat, units),
            &mut rng,
        ));
        params.push(make(
            "dense.bias".into(),
            vec![units],
            ParamKind::DenseBias,
            config.init.bias,
            (flat, units),
            &mut rng,
        ));
        if loss == Loss::BinaryCrossEntropy {
            let head_in = if distance == Distance::L1 { units } else { 1 };
            params.push(make(
                "head.weight".into(),
                vec![head_in, 1],
                ParamKind::HeadWeight,
                config.init.dense_weight,
                (head_in, 1),
                &mut rng,
            ));
            params.push(make(
                "head.bias".into(),
                vec![1],
                ParamKind::HeadBias,
                config.init.bias,
                (head_in, 1),
                &mut rng,
            ));
        }
        let bn_first = config.batch_norm.then_some(params.len());
        let mut bn_stats = Vec::new();
        if config.batch_norm {
            for (i, layer) in config.conv.iter().enumerate() {
                let f = layer.filters;
                let one = Init::Normal {
                    mean: 1.0,
                    std: 0.0,
                };
                params.push(make(
                    format!("conv{i}.bn.gamma"),
                    vec![f],
                    ParamKind::BnGamma,
                    one,
                    (f, f),
                    &mut rng,
                ));
                params.push(make(
                    format!("conv{i}.bn.beta"),
                    vec![f],
                    ParamKind::BnBeta,
                    Init::Zeros,
                    (f, f),
                    &mut rng,
                ));
                bn_stats.push(RunningStats::new(f));
            }
        }
        let dev = Cpu::seed_from_u64(seed ^ 0x5EED);
        let params = params
            .into_iter()
            .map(|(name, shape, kind, data)| {
                let n = data.len();
                Param {
                    name,
                    shape,
                    kind,
                    value: dev.tensor_from_vec(data, (n,)),
                }
            })
            .collect();
        let l2 = (config.l2.conv, config.l2.dense);
        Ok(Self {
            params,
            bn_first,
            bn_stats,
            config: config.clone(),
            distance,
            loss,
            l2,
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
        self.head(e, labels, 2 * self.config.conv.len() + 2)
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
        let rates = self.dropout_rates();
        for (i, layer) in self.config.conv.iter().enumerate() {
            let bn = self.bn_first.map(|_| match train_stats.as_deref_mut() {
                Some(stats) => BatchNormMode::Train {
                    stats: &mut stats[i],
                    momentum: BN_MOMENTUM,
                },
                None => BatchNormMode::Infer(&self.bn_stats[i]),
            });
            x = self.conv_block(x, i, layer, i > 0, train.then_some(rates[i]), bn)?;
        }
        let (ci, units) = (2 * self.config.conv.len(), self.config.dense.units);
        let w = self.param::<T>(ci).reshape_like(&(self.flat, units));
        let b = self
            .param::<T>(ci + 1)
            .reshape_like(&(units,))
            .broadcast_like::<_, Axis<0>>(&(n, units));
        let z = x
            .reshape_like(&(n, self.flat))
            .try_matmul(w)
            .map_err(dev_err)?
            + b;
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
        dropout: Option<Option<f64>>,
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
        let mut y = try_conv2d(x, w, b, grad)?;
        if let (Some(mode), Some(first)) = (bn, self.bn_first) {
            let f = shape[0];
            let gamma = self.param::<T>(first + 2 * i).reshape_like(&(f,));
            let beta = self.param::<T>(first + 2 * i + 1).reshape_like(&(f,));
            y = try_batch_norm2d(y, gamma, beta, mode, BN_EPS)?;
        }
        // relu(max(a, b)) = max(relu(a), relu(b)): pooling first gives the same function and
        // gradients with relu on a quarter of the elements (~20% of a step).
        if layer.pool {
            y = try_max_pool2d(y)?;
        }
        y = y.relu();
        if let Some(Some(p)) = dropout {
            y = y.dropout(p);
        }
        Ok(y)
    }

    /// The seed's decreasing dropout: `first` after layer 0, minus `step` per layer, never
    /// below `last`, and `last` after the dense layer. One entry per conv layer plus one.
    fn dropout_rates(&self) -> Vec<Option<f64>> {
        let layers = self.config.conv.len() + 1;
        match self.config.dropout {
            None => vec![None; layers],
            Some(d) => (0..layers)
                .map(|i| {
                    let rate = if i + 1 == layers {
                        d.last
                    } else {
                        (d.first - d.step * i as f64).max(d.last)
                    };
                    (rate > 0.0).then_some(rate)
                })
                .collect(),
        }
    }
}

fn activate<S: dfdx::shapes::Shape, T: Tape<f32, Cpu>>(
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

type Drawn = (String, Vec<usize>, ParamKind, Vec<f32>);

fn make(
    name: String,
    shape: Vec<usize>,
    kind: ParamKind,
    init: Init,
    (fan_in, fan_out): (usize, usize),
    rng: &mut ChaCha8Rng,
) -> Drawn {
    let n: usize = shape.iter().product();
    let (mean, std) = match init {
        Init::Normal { mean, std } => (mean, std),
        Init::GlorotNormal => (0.0, (2.0 / (fan_in + fan_out) as f64).sqrt()),
        Init::LecunNormal => (0.0, (1.0 / fan_in as f64).sqrt()),
        Init::Zeros => (0.0, 0.0),
    };
    let data = match Normal::new(mean, std) {
        Ok(dist) if std > 0.0 => (0..n).map(|_| dist.sample(rng) as f32).collect(),
        _ => vec![mean as f32; n],
    };
    (name, shape, kind, data)
}
