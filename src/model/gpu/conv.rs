//! Stride-1, unpadded 2-D convolution with a fused bias on the GPU (`conv.wgsl`): the
//! forward pass and the input, weight and bias gradients, each a separate entry point.

use super::buffers::Tensor;
use super::context::{Gpu, GpuError};
use super::kernel::{run_once, Access, Dispatch, Kernel, ROW_GROUPS, ROW_INVOCATIONS};

/// A convolution's geometry: input `(batch, in, height, width)`, kernel `(out, in, k, k)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    /// Samples.
    pub batch: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel side.
    pub kernel: usize,
}

impl ConvShape {
    /// Values of the input.
    pub fn input_len(&self) -> usize {
        self.batch * self.in_channels * self.height * self.width
    }

    /// Values of the kernel.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.in_channels * self.kernel * self.kernel
    }

    /// Values of the output.
    pub fn output_len(&self) -> usize {
        let (oh, ow) = (self.height + 1 - self.kernel, self.width + 1 - self.kernel);
        self.batch * self.out_channels * oh * ow
    }

    /// The shader's parameters for an entry point writing `len` values.
    fn params(&self, len: usize) -> [u32; 8] {
        [
            len as u32,
            ROW_INVOCATIONS,
            self.batch as u32,
            self.in_channels as u32,
            self.height as u32,
            self.width as u32,
            self.out_channels as u32,
            self.kernel as u32,
        ]
    }
}

/// Which gradient of a convolution to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvGrad {
    /// By the input.
    Input,
    /// By the kernel.
    Weight,
    /// By the bias.
    Bias,
}

/// The compiled convolution entry points.
#[derive(Debug)]
pub struct Conv2d {
    kernel: Kernel,
}

impl Conv2d {
    /// Compiles the entry points on `gpu`.
    pub fn new(gpu: &Gpu) -> Self {
        let access = [Access::Read, Access::Read, Access::Read, Access::Write];
        Self {
            kernel: Kernel::new(
                gpu,
                "conv.wgsl",
                // Their reductions share reduce.wgsl.
                concat!(include_str!("reduce.wgsl"), include_str!("conv.wgsl")),
                &access,
                &["forward", "input_grad", "weight_grad", "bias_grad"],
            ),
        }
    }

    /// Records `y = conv(x, w) + b`.
    pub fn encode_forward(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        shape: &ConvShape,
        (x, w, b): (&Tensor, &Tensor, &Tensor),
        y: &Tensor,
    ) {
        let len = shape.output_len();
        let params = shape.params(len);
        let buffers = [x, w, b, y];
        let dispatch = Dispatch::Values(len);
        self.kernel
            .encode(gpu, encoder, "forward", &buffers, &params, dispatch);
    }

    /// Records the gradients for output gradient `gy`: `gx` when given (the first layer's
    /// input is data and needs none), `gw` and `gb`.
    pub fn encode_backward(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        shape: &ConvShape,
        (x, w, gy): (&Tensor, &Tensor, &Tensor),
        (gx, gw, gb): (Option<&Tensor>, &Tensor, &Tensor),
    ) {
        if let Some(gx) = gx {
            self.encode_grad(gpu, encoder, shape, ConvGrad::Input, (w, gy), gx);
        }
        self.encode_grad(gpu, encoder, shape, ConvGrad::Weight, (x, gy), gw);
        self.encode_grad(gpu, encoder, shape, ConvGrad::Bias, (x, gy), gb);
    }

    /// Records one of the three gradients into `out`: `operand` is the kernel `w` for the
    /// input's gradient and the input `x` for the others.
    pub fn encode_grad(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        shape: &ConvShape,
        which: ConvGrad,
        (operand, gy): (&Tensor, &Tensor),
        out: &Tensor,
    ) {
        let (entry, len) = match which {
            ConvGrad::Input => ("input_grad", shape.input_len()),
            ConvGrad::Weight => ("weight_grad", shape.weight_len()),
            ConvGrad::Bias => ("bias_grad", shape.out_channels),
        };
        let mut params = shape.params(len);
        // The sums over the batch run one workgroup per value.
        let dispatch = match which {
            ConvGrad::Input => Dispatch::Values(len),
            ConvGrad::Weight | ConvGrad::Bias => {
                params[1] = ROW_GROUPS;
                Dispatch::Groups(len)
            }
        };
        let buffers = [gy, operand, gy, out];
        self.kernel
            .encode(gpu, encoder, entry, &buffers, &params, dispatch);
    }

    /// The forward pass and all three gradients of host values, run at once: for tests.
    /// Returns `(y, gx, gw, gb)`.
    ///
    /// # Errors
    /// Tensors over the binding limit, a refused kernel or a lost device.
    pub fn run(
        &self,
        gpu: &Gpu,
        shape: &ConvShape,
        (x, w, b, gy): (&[f32], &[f32], &[f32], &[f32]),
    ) -> Result<[Vec<f32>; 4], GpuError> {
        let x = Tensor::from_host(gpu, "conv x", x)?;
        let w = Tensor::from_host(gpu, "conv w", w)?;
        let b = Tensor::from_host(gpu, "conv b", b)?;
        let gy = Tensor::from_host(gpu, "conv gy", gy)?;
        let y = Tensor::zeros(gpu, "conv y", shape.output_len())?;
        let gx = Tensor::zeros(gpu, "conv gx", shape.input_len())?;
        let gw = Tensor::zeros(gpu, "conv gw", shape.weight_len())?;
        let gb = Tensor::zeros(gpu, "conv gb", shape.out_channels)?;
        let record = |encoder: &mut wgpu::CommandEncoder| {
            self.encode_forward(gpu, encoder, shape, (&x, &w, &b), &y);
            self.encode_backward(gpu, encoder, shape, (&x, &w, &gy), (Some(&gx), &gw, &gb));
        };
        run_once(gpu, "conv2d", record, [&y, &gx, &gw, &gb])
    }
}
