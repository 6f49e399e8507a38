//! Per-channel batch normalisation on the GPU (`batch_norm.wgsl`), in training (batch
//! statistics, running statistics updated) and inference (running statistics), with the
//! input, scale and shift gradients.

use super::buffers::Tensor;
use super::context::{Gpu, GpuError};
use super::kernel::{run_once, Access, Dispatch, Kernel, ROW_INVOCATIONS};

/// The geometry and settings of one batch-norm layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BnShape {
    /// Samples.
    pub batch: usize,
    /// Channels.
    pub channels: usize,
    /// Values per channel plane (height * width).
    pub plane: usize,
    /// Weight of the old running value (Keras: 0.99).
    pub momentum: f32,
    /// Added to the variance (Keras: 1e-3).
    pub eps: f32,
}

impl BnShape {
    fn len(&self) -> usize {
        self.batch * self.channels * self.plane
    }

    fn params(&self, len: usize, train: bool) -> [u32; 8] {
        [
            len as u32,
            ROW_INVOCATIONS,
            self.batch as u32,
            self.channels as u32,
            self.plane as u32,
            u32::from(train),
            self.momentum.to_bits(),
            self.eps.to_bits(),
        ]
    }
}

/// A layer's tensors on the device: `affine` is gamma then beta, `running` the running mean
/// then variance, `stat` this batch's mean then `1 / sqrt(var + eps)`, `xhat` the
/// normalised input the backward pass needs.
#[derive(Debug)]
pub struct BnTensors<'a> {
    /// Gamma, then beta.
    pub affine: &'a Tensor,
    /// Running mean, then running variance.
    pub running: &'a Tensor,
    /// This batch's mean, then inverse standard deviation.
    pub stat: &'a Tensor,
    /// The normalised input.
    pub xhat: &'a Tensor,
}

/// The compiled entry points.
#[derive(Debug)]
pub struct BatchNorm {
    kernel: Kernel,
}

impl BatchNorm {
    /// Compiles the entry points on `gpu`.
    pub fn new(gpu: &Gpu) -> Self {
        use Access::{Read, Write};
        Self {
            kernel: Kernel::new(
                gpu,
                "batch_norm.wgsl",
                // Their reductions share reduce.wgsl.
                concat!(include_str!("reduce.wgsl"), include_str!("batch_norm.wgsl")),
                &[Read, Write, Read, Write, Write, Write],
                &["stats", "normalize", "param_grad", "input_grad"],
            ),
        }
    }

    /// Records `y = gamma * (x - mean) / sqrt(var + eps) + beta`, with the batch's
    /// statistics (updating the running ones) when `train`, the running ones otherwise.
    pub fn encode_forward(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        (shape, train): (&BnShape, bool),
        t: &BnTensors<'_>,
        (x, y): (&Tensor, &Tensor),
    ) {
        let buffers = [x, t.xhat, t.affine, t.stat, t.running, y];
        let per_channel = shape.params(shape.channels, train);
        self.kernel.encode(
            gpu,
            encoder,
            "stats",
            &buffers,
            &per_channel,
            Dispatch::Groups(shape.channels),
        );
        let len = shape.len();
        let params = shape.params(len, train);
        self.kernel.encode(
            gpu,
            encoder,
            "normalize",
            &buffers,
            &params,
            Dispatch::Values(len),
        );
    }

    /// Records the gradients for output gradient `gy`: `dparams` gets dgamma then dbeta,
    /// and `gx` the input gradient (through the batch statistics when `train`).
    pub fn encode_backward(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        (shape, train): (&BnShape, bool),
        t: &BnTensors<'_>,
        gy: &Tensor,
        (gx, dparams): (&Tensor, &Tensor),
    ) {
        let per_channel = shape.params(shape.channels, train);
        let buffers = [gy, t.xhat, t.affine, t.stat, t.running, dparams];
        self.kernel.encode(
            gpu,
            encoder,
            "param_grad",
            &buffers,
            &per_channel,
            Dispatch::Groups(shape.channels),
        );
        // The input gradient reads dgamma and dbeta where the forward pass keeps the running
        // statistics (binding 4), so the layout stays one for all entry points.
        let len = shape.len();
        let params = shape.params(len, train);
        let buffers = [gy, t.xhat, t.affine, t.stat, dparams, gx];
        self.kernel.encode(
            gpu,
            encoder,
            "input_grad",
            &buffers,
            &params,
            Dispatch::Values(len),
        );
    }

    /// Forward and backward of host values, run at once: for tests. `running` is updated in
    /// place when `train`. Returns `(y, gx, dgamma then dbeta)`.
    ///
    /// # Errors
    /// Tensors over the binding limit, a refused kernel or a lost device.
    pub fn run(
        &self,
        gpu: &Gpu,
        (shape, train): (&BnShape, bool),
        (x, affine, gy): (&[f32], &[f32], &[f32]),
        running: &mut [f32],
    ) -> Result<[Vec<f32>; 3], GpuError> {
        let c = shape.channels;
        let x = Tensor::from_host(gpu, "bn x", x)?;
        let gy = Tensor::from_host(gpu, "bn gy", gy)?;
        let affine = Tensor::from_host(gpu, "bn affine", affine)?;
        let running_t = Tensor::from_host(gpu, "bn running", running)?;
        let stat = Tensor::zeros(gpu, "bn stat", 2 * c)?;
        let xhat = Tensor::zeros(gpu, "bn xhat", x.len)?;
        let y = Tensor::zeros(gpu, "bn y", x.len)?;
        let gx = Tensor::zeros(gpu, "bn gx", x.len)?;
        let dparams = Tensor::zeros(gpu, "bn dparams", 2 * c)?;
        let t = BnTensors {
            affine: &affine,
            running: &running_t,
            stat: &stat,
            xhat: &xhat,
        };
        let record = |encoder: &mut wgpu::CommandEncoder| {
            self.encode_forward(gpu, encoder, (shape, train), &t, (&x, &y));
            self.encode_backward(gpu, encoder, (shape, train), &t, &gy, (&gx, &dparams));
        };
        let [y, gx, dparams, moved] =
            run_once(gpu, "batch_norm", record, [&y, &gx, &dparams, &running_t])?;
        running.copy_from_slice(&moved);
        Ok([y, gx, dparams])
    }
}
