//! A pass of the network recorded into one command encoder: the twin's forward pass, the
//! head, the backward pass and the optimizer's step, each a few dispatches of the op
//! kernels. Nothing here waits on the device; the caller submits once.

use super::super::activation::Activations;
use super::super::batch_norm::{BatchNorm, BnShape, BnTensors};
use super::super::bias::Bias;
use super::super::buffers::Tensor;
use super::super::conv::{Conv2d, ConvGrad};
use super::super::dropout::Dropout;
use super::super::head::{HeadKernel, HeadTensors};
use super::super::matmul::{Layout, Matmul};
use super::super::optimizer::{Optimizers, Slot};
use super::super::pool::MaxPool;
use super::super::Gpu;
use super::params::Slots;
use super::pass::Pass;
use super::record::Recorder;
use crate::model::config::{Activation, BN_EPS, BN_MOMENTUM};
use crate::model::{Head, NetSpec};

/// One copy of the weights on the device: a buffer per parameter slot and batch norm's
/// running statistics per layer (means, then variances).
#[derive(Debug)]
pub(super) struct WeightSet {
    /// Per slot, in [`Slots`] order.
    pub params: Vec<Tensor>,
    /// Per conv layer with batch norm.
    pub running: Vec<Tensor>,
}

/// The optimizer's buffers per slot.
#[derive(Debug)]
pub(super) struct Moments {
    /// Gradients, written by the backward pass.
    pub grads: Vec<Tensor>,
    /// First moment or velocity.
    pub m1: Vec<Tensor>,
    /// Second moment or square average.
    pub m2: Vec<Tensor>,
}

/// Every op kernel, compiled once per network.
#[derive(Debug)]
pub(super) struct Kernels {
    gpu: Gpu,
    conv: Conv2d,
    pool: MaxPool,
    bn: BatchNorm,
    act: Activations,
    dropout: Dropout,
    matmul: Matmul,
    bias: Bias,
    head: HeadKernel,
    optim: Optimizers,
    /// Fills bindings an entry point does not use.
    scratch: [Tensor; 2],
}

/// Dropout's seed for layer `layer` at optimizer step `step`: the masks differ per layer
/// and step and repeat for the same network seed.
fn dropout_seed(seed: u64, step: i32, layer: usize) -> u32 {
    let mut z = seed ^ (u64::from(step as u32) << 16) ^ layer as u64;
    // SplitMix64's finaliser.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as u32
}

impl Kernels {
    /// Compiles every kernel on `gpu`.
    pub fn new(gpu: &Gpu) -> Result<Self, super::super::GpuError> {
        let scratch = [
            Tensor::zeros(gpu, "scratch", 1)?,
            Tensor::zeros(gpu, "scratch", 1)?,
        ];
        Ok(Self {
            gpu: gpu.clone(),
            conv: Conv2d::new(gpu),
            pool: MaxPool::new(gpu),
            bn: BatchNorm::new(gpu),
            act: Activations::new(gpu),
            dropout: Dropout::new(gpu),
            matmul: Matmul::new(gpu),
            bias: Bias::new(gpu),
            head: HeadKernel::new(gpu),
            optim: Optimizers::new(gpu),
            scratch,
        })
    }

    /// The twin's forward pass over `pass.input` with `set`'s weights; `step` is the
    /// optimizer step whose dropout masks a training pass draws.
    pub fn forward(
        &self,
        rec: &mut Recorder<'_>,
        (spec, slots): (&NetSpec, &Slots),
        pass: &Pass,
        set: &WeightSet,
        step: i32,
    ) {
        let gpu = &self.gpu;
        let mut x = &pass.input;
        for (i, block) in pass.blocks.iter().enumerate() {
            let (w, b) = slots.conv[i];
            let (w, b) = (&set.params[w], &set.params[b]);
            self.conv
                .encode_forward(gpu, rec.encoder(), &block.shape, (x, w, b), &block.conv);
            rec.mark(|| format!("conv{i} forward"));
            let mut y = &block.conv;
            if let Some(bn) = &block.bn {
                let t = BnTensors {
                    affine: &set.params[slots.bn[i]],
                    running: &set.running[i],
                    stat: &bn.stat,
                    xhat: &bn.xhat,
                };
                let shape = bn_shape(pass, i);
                self.bn
                    .encode_forward(gpu, rec.encoder(), (&shape, pass.train), &t, (y, &bn.out));
                rec.mark(|| format!("conv{i} batch norm"));
                y = &bn.out;
            }
            if let (Some(planes), Some((pooled, winners))) = (block.pool_planes, &block.pool) {
                self.pool
                    .encode_forward(gpu, rec.encoder(), planes, y, (pooled, winners));
                y = pooled;
            }
            self.act
                .encode_forward(gpu, rec.encoder(), Activation::Relu, y, &block.relu);
            if let (Some(rate), Some(dropped)) = (block.rate, &block.dropped) {
                let seed = dropout_seed(spec.seed, step, i);
                self.dropout
                    .encode_forward(gpu, rec.encoder(), (rate, seed), &block.relu, dropped);
            }
            rec.mark(|| format!("conv{i} pool, relu, dropout"));
            x = block.output();
        }
        let dense = &pass.dense;
        let (w, b) = (&set.params[slots.dense.0], &set.params[slots.dense.1]);
        let units = spec.model.dense.units;
        let flat = x.len / pass.images;
        let dims = (pass.images, flat, units);
        self.matmul.encode(
            gpu,
            rec.encoder(),
            (x, w, &dense.z),
            dims,
            Layout::default(),
        );
        self.bias.encode_add(gpu, rec.encoder(), b, &dense.z);
        let activation = spec.model.dense.activation;
        self.act
            .encode_forward(gpu, rec.encoder(), activation, &dense.z, &dense.a);
        if let (Some(rate), Some(dropped)) = (dense.rate, &dense.dropped) {
            let seed = dropout_seed(spec.seed, step, spec.model.conv.len());
            self.dropout
                .encode_forward(gpu, rec.encoder(), (rate, seed), &dense.a, dropped);
        }
        rec.mark(|| "dense forward".into());
    }

    /// The head on the pass's embeddings: per-pair results, the embeddings' gradient and,
    /// with `d_head`, the head's own gradient.
    pub fn head(
        &self,
        rec: &mut Recorder<'_>,
        (spec, slots): (&NetSpec, &Slots),
        pass: &Pass,
        set: &WeightSet,
        d_head: Option<&Tensor>,
    ) {
        let head = Head::new(spec.loss, spec.distance);
        let params = slots.head.map_or(&self.scratch[0], |h| &set.params[h]);
        let t = HeadTensors {
            embeddings: pass.dense.embedding(),
            labels: &pass.labels,
            params,
            per_pair: &pass.per_pair,
        };
        let dims = (pass.images / 2, spec.model.dense.units);
        self.head.encode(
            &self.gpu,
            rec.encoder(),
            &head,
            dims,
            &t,
            &pass.d_embeddings,
            d_head,
        );
        rec.mark(|| "head".into());
    }

    /// The backward pass from the head's [`Pass::d_embeddings`] into `moments.grads`.
    pub fn backward(
        &self,
        rec: &mut Recorder<'_>,
        (spec, slots): (&NetSpec, &Slots),
        pass: &Pass,
        set: &WeightSet,
        moments: &Moments,
        step: i32,
    ) {
        let gpu = &self.gpu;
        let grads = &moments.grads;
        let dense = &pass.dense;
        let Some((g_act, g_z)) = &dense.grads else {
            return;
        };
        let mut g = &pass.d_embeddings;
        if let (Some(rate), Some(g_act)) = (dense.rate, g_act) {
            let seed = dropout_seed(spec.seed, step, spec.model.conv.len());
            self.dropout
                .encode_backward(gpu, rec.encoder(), (rate, seed), g, g_act);
            g = g_act;
        }
        let activation = spec.model.dense.activation;
        self.act
            .encode_backward(gpu, rec.encoder(), activation, (&dense.a, g), g_z);
        let Some(last) = pass.blocks.last() else {
            return;
        };
        let x = last.output();
        let (n, units) = (pass.images, spec.model.dense.units);
        let flat = x.len / n;
        let (dw, db) = (&grads[slots.dense.0], &grads[slots.dense.1]);
        let transpose_a = Layout {
            transpose_a: true,
            ..Layout::default()
        };
        self.matmul.encode(
            gpu,
            rec.encoder(),
            (x, g_z, dw),
            (flat, n, units),
            transpose_a,
        );
        self.bias.encode_grad(gpu, rec.encoder(), g_z, db);
        let transpose_b = Layout {
            transpose_b: true,
            ..Layout::default()
        };
        let w = &set.params[slots.dense.0];
        if let Some(g_out) = last.grads.as_ref().map(|g| &g.out) {
            self.matmul.encode(
                gpu,
                rec.encoder(),
                (g_z, w, g_out),
                (n, units, flat),
                transpose_b,
            );
        }
        rec.mark(|| "dense backward".into());
        for i in (0..pass.blocks.len()).rev() {
            self.block_backward(rec, (spec, slots), pass, (set, grads), (i, step));
        }
    }

    fn block_backward(
        &self,
        rec: &mut Recorder<'_>,
        (spec, slots): (&NetSpec, &Slots),
        pass: &Pass,
        (set, grads): (&WeightSet, &[Tensor]),
        (i, step): (usize, i32),
    ) {
        let gpu = &self.gpu;
        let block = &pass.blocks[i];
        let Some(bg) = &block.grads else { return };
        let mut g = &bg.out;
        if let (Some(rate), Some(g_relu)) = (block.rate, &bg.relu) {
            let seed = dropout_seed(spec.seed, step, i);
            self.dropout
                .encode_backward(gpu, rec.encoder(), (rate, seed), g, g_relu);
            g = g_relu;
        }
        self.act.encode_backward(
            gpu,
            rec.encoder(),
            Activation::Relu,
            (&block.relu, g),
            &bg.relu_in,
        );
        g = &bg.relu_in;
        if let (Some(planes), Some((_, winners)), Some(g_in)) =
            (block.pool_planes, &block.pool, &bg.pool_in)
        {
            self.pool.encode_backward(
                gpu,
                rec.encoder(),
                planes,
                (g, winners),
                (g_in, &self.scratch[0]),
            );
            g = g_in;
        }
        rec.mark(|| format!("conv{i} dropout, relu, pool backward"));
        if let (Some(bn), Some(g_conv)) = (&block.bn, &bg.conv) {
            let t = BnTensors {
                affine: &set.params[slots.bn[i]],
                running: &set.running[i],
                stat: &bn.stat,
                xhat: &bn.xhat,
            };
            let shape = bn_shape(pass, i);
            let d_affine = &grads[slots.bn[i]];
            self.bn.encode_backward(
                gpu,
                rec.encoder(),
                (&shape, true),
                &t,
                g,
                (g_conv, d_affine),
            );
            rec.mark(|| format!("conv{i} batch norm backward"));
            g = g_conv;
        }
        let x = match i {
            0 => &pass.input,
            _ => pass.blocks[i - 1].output(),
        };
        let g_x = match i {
            0 => None,
            _ => pass.blocks[i - 1].grads.as_ref().map(|g| &g.out),
        };
        let (w, b) = slots.conv[i];
        let shape = &block.shape;
        if let Some(g_x) = g_x {
            let operands = (&set.params[w], g);
            self.conv
                .encode_grad(gpu, rec.encoder(), shape, ConvGrad::Input, operands, g_x);
            rec.mark(|| format!("conv{i} input gradient"));
        }
        self.conv.encode_grad(
            gpu,
            rec.encoder(),
            shape,
            ConvGrad::Weight,
            (x, g),
            &grads[w],
        );
        rec.mark(|| format!("conv{i} weight gradient"));
        self.conv
            .encode_grad(gpu, rec.encoder(), shape, ConvGrad::Bias, (x, g), &grads[b]);
        rec.mark(|| format!("conv{i} bias gradient"));
    }

    /// The optimizer's step `step` on every slot.
    pub fn update(
        &self,
        rec: &mut Recorder<'_>,
        (spec, slots): (&NetSpec, &Slots),
        set: &WeightSet,
        moments: &Moments,
        step: i32,
    ) {
        for (k, slot) in slots.slots.iter().enumerate() {
            let tensors = Slot {
                param: &set.params[k],
                grad: &moments.grads[k],
                m1: &moments.m1[k],
                m2: &moments.m2[k],
            };
            self.optim.encode_step(
                &self.gpu,
                rec.encoder(),
                (&spec.optimizer, step, slot.l2),
                tensors,
            );
        }
        rec.mark(|| "optimizer".into());
    }

    /// Moves `average` towards `live`: every parameter and running statistic.
    pub fn average(
        &self,
        rec: &mut Recorder<'_>,
        decay: f32,
        average: &WeightSet,
        live: &WeightSet,
    ) {
        let pairs = average
            .params
            .iter()
            .zip(&live.params)
            .chain(average.running.iter().zip(&live.running));
        for (avg, w) in pairs {
            self.optim.encode_average(
                &self.gpu,
                rec.encoder(),
                decay,
                (avg, w),
                (&self.scratch[0], &self.scratch[1]),
            );
        }
    }
}

/// Batch norm's shape in block `i` of `pass`.
fn bn_shape(pass: &Pass, i: usize) -> BnShape {
    let s = &pass.blocks[i].shape;
    BnShape {
        batch: s.batch,
        channels: s.out_channels,
        plane: (s.height + 1 - s.kernel) * (s.width + 1 - s.kernel),
        momentum: BN_MOMENTUM,
        eps: BN_EPS,
    }
}
