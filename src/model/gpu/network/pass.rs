//! The device buffers one pass of the network needs for a given number of images: the
//! input, every layer's outputs (and what its backward pass reads, such as pooling's
//! winners and batch norm's normalised values), the head's per-pair results and, for
//! training, a gradient buffer beside each. A pass is built once per batch size and reused
//! step after step, so a train step allocates nothing.

use super::super::buffers::Tensor;
use super::super::conv::ConvShape;
use super::super::head::PER_PAIR;
use super::super::{Gpu, GpuError};
use crate::model::config::ModelConfig;

/// One conv block's buffers: conv -> (batch norm) -> (2x2 max pool) -> ReLU -> (dropout).
#[derive(Debug)]
pub(super) struct Block {
    /// The convolution's shape for this pass's images.
    pub shape: ConvShape,
    /// `(planes, height, width)` the pool reads, when the block pools.
    pub pool_planes: Option<(usize, usize, usize)>,
    /// The dropout rate after the block, in training.
    pub rate: Option<f64>,
    /// The convolution's output.
    pub conv: Tensor,
    /// Batch norm's normalised values, its batch statistics and its output.
    pub bn: Option<BnBuffers>,
    /// The pool's output and winners.
    pub pool: Option<(Tensor, Tensor)>,
    /// The ReLU's output.
    pub relu: Tensor,
    /// Dropout's output.
    pub dropped: Option<Tensor>,
    /// Gradients, in training.
    pub grads: Option<BlockGrads>,
}

/// Batch norm's buffers in one block.
#[derive(Debug)]
pub(super) struct BnBuffers {
    /// The normalised values, kept for the backward pass.
    pub xhat: Tensor,
    /// The batch's mean and inverse deviation per channel.
    pub stat: Tensor,
    /// The scaled and shifted output.
    pub out: Tensor,
}

/// The gradients of one block's values.
#[derive(Debug)]
pub(super) struct BlockGrads {
    /// By the block's output.
    pub out: Tensor,
    /// By the ReLU's output, when dropout follows it.
    pub relu: Option<Tensor>,
    /// By the ReLU's input.
    pub relu_in: Tensor,
    /// By the pool's input.
    pub pool_in: Option<Tensor>,
    /// By batch norm's input (the convolution's output).
    pub conv: Option<Tensor>,
}

impl Block {
    /// What the block hands on: dropout's output, or the ReLU's.
    pub fn output(&self) -> &Tensor {
        self.dropped.as_ref().unwrap_or(&self.relu)
    }
}

/// The dense layer's buffers: `z = x W + b`, `a = act(z)`, then dropout.
#[derive(Debug)]
pub(super) struct DenseBuffers {
    /// Pre-activation.
    pub z: Tensor,
    /// Activation.
    pub a: Tensor,
    /// Dropout's output (the embedding), in training with dropout.
    pub dropped: Option<Tensor>,
    /// The dropout rate, in training.
    pub rate: Option<f64>,
    /// Gradients by the activation (with dropout) and by `z`, in training; the gradient by
    /// the embedding is the head's [`Pass::d_embeddings`].
    pub grads: Option<(Option<Tensor>, Tensor)>,
}

impl DenseBuffers {
    /// The embedding.
    pub fn embedding(&self) -> &Tensor {
        self.dropped.as_ref().unwrap_or(&self.a)
    }
}

/// Everything one pass over `images` images needs.
#[derive(Debug)]
pub(super) struct Pass {
    /// Images the pass runs.
    pub images: usize,
    /// Whether it trains (gradients, dropout, batch statistics).
    pub train: bool,
    /// The images' pixels: left twins, then right twins for pairs.
    pub input: Tensor,
    /// The conv blocks.
    pub blocks: Vec<Block>,
    /// The dense layer.
    pub dense: DenseBuffers,
    /// One label per pair.
    pub labels: Tensor,
    /// The head's per-pair results ([`PER_PAIR`] values each).
    pub per_pair: Tensor,
    /// The loss's gradient by the embeddings (the head kernel writes it in every pass).
    pub d_embeddings: Tensor,
}

impl Pass {
    /// Allocates a pass of `images` images of `input` size for `model`; `train` adds the
    /// gradient buffers and dropout's. Buffers are named by layer in errors.
    ///
    /// # Errors
    /// [`GpuError::TooLarge`] naming the layer's buffer over the adapter's binding limit.
    pub fn new(
        gpu: &Gpu,
        model: &ModelConfig,
        (height, width): (usize, usize),
        images: usize,
        train: bool,
    ) -> Result<Self, GpuError> {
        let rates = model.dropout_rates();
        let zeros = |what: String, len: usize| {
            Tensor::zeros(gpu, &format!("{what} ({images} images)"), len)
        };
        let input = zeros("the input".into(), images * height * width)?;
        let (mut c, mut h, mut w) = (1, height, width);
        let mut blocks = Vec::with_capacity(model.conv.len());
        for (i, layer) in model.conv.iter().enumerate() {
            let shape = ConvShape {
                batch: images,
                in_channels: c,
                height: h,
                width: w,
                out_channels: layer.filters,
                kernel: layer.kernel,
            };
            (c, h, w) = (layer.filters, h + 1 - layer.kernel, w + 1 - layer.kernel);
            let full = shape.output_len();
            let conv = zeros(format!("conv{i}'s output"), full)?;
            let bn = if model.batch_norm {
                Some(BnBuffers {
                    xhat: zeros(format!("conv{i}'s normalised values"), full)?,
                    stat: zeros(format!("conv{i}'s batch statistics"), 2 * c)?,
                    out: zeros(format!("conv{i}'s batch norm"), full)?,
                })
            } else {
                None
            };
            let pool_planes = layer.pool.then_some((images * c, h, w));
            if layer.pool {
                (h, w) = (h / 2, w / 2);
            }
            let out_len = images * c * h * w;
            let pool = match pool_planes {
                Some(_) => Some((
                    zeros(format!("conv{i}'s pool"), out_len)?,
                    zeros(format!("conv{i}'s pool winners"), out_len)?,
                )),
                None => None,
            };
            let rate = rates[i].filter(|_| train);
            let dropped = match rate {
                Some(_) => Some(zeros(format!("conv{i}'s dropout"), out_len)?),
                None => None,
            };
            let grads = if train {
                let grad =
                    |what: &str, len: usize| zeros(format!("conv{i}'s {what} gradient"), len);
                Some(BlockGrads {
                    out: grad("output", out_len)?,
                    relu: rate.map(|_| grad("relu", out_len)).transpose()?,
                    relu_in: grad("relu input", out_len)?,
                    pool_in: pool_planes.map(|_| grad("pool input", full)).transpose()?,
                    conv: bn.as_ref().map(|_| grad("conv output", full)).transpose()?,
                })
            } else {
                None
            };
            blocks.push(Block {
                shape,
                pool_planes,
                rate,
                conv,
                bn,
                pool,
                relu: zeros(format!("conv{i}'s relu"), out_len)?,
                dropped,
                grads,
            });
        }
        let units = model.dense.units;
        let rate = rates[model.conv.len()].filter(|_| train);
        let embeddings = images * units;
        let dense = DenseBuffers {
            z: zeros("the dense layer's pre-activation".into(), embeddings)?,
            a: zeros("the dense layer's activation".into(), embeddings)?,
            dropped: rate
                .map(|_| zeros("the dense layer's dropout".into(), embeddings))
                .transpose()?,
            rate,
            grads: if train {
                let grad =
                    |what: &str| zeros(format!("the dense layer's {what} gradient"), embeddings);
                Some((
                    rate.map(|_| grad("activation")).transpose()?,
                    grad("pre-activation")?,
                ))
            } else {
                None
            },
        };
        let pairs = images / 2;
        Ok(Self {
            images,
            train,
            input,
            blocks,
            dense,
            labels: zeros("the labels".into(), pairs)?,
            per_pair: zeros("the head's results".into(), PER_PAIR * pairs)?,
            d_embeddings: zeros("the embeddings' gradient".into(), embeddings)?,
        })
    }
}
