//! Dropout on the GPU (`dropout.wgsl`), its masks drawn on the device from a seed by a
//! counter-based hash: the same seed drops the same values on every run, and the backward
//! pass redraws the mask rather than storing it. The CPU draws its masks from dfdx's own
//! generator, so the two backends drop different values; the scaling is dfdx's.

use super::buffers::Tensor;
use super::context::{Gpu, GpuError};
use super::kernel::{run_once, Access, Dispatch, Kernel, ROW_INVOCATIONS};

/// The compiled `forward` and `backward` entry points.
#[derive(Debug)]
pub struct Dropout {
    kernel: Kernel,
}

impl Dropout {
    /// Compiles both entry points on `gpu`.
    pub fn new(gpu: &Gpu) -> Self {
        Self {
            kernel: Kernel::new(
                gpu,
                "dropout.wgsl",
                include_str!("dropout.wgsl"),
                &[Access::Read, Access::Write],
                &["forward", "backward"],
            ),
        }
    }

    fn params(len: usize, rate: f64, seed: u32) -> [u32; 8] {
        [
            len as u32,
            ROW_INVOCATIONS,
            seed,
            (rate as f32).to_bits(),
            ((1.0 - rate) as f32).to_bits(),
            ((1.0 - rate).recip() as f32).to_bits(),
            0,
            0,
        ]
    }

    /// Records `y = x` with values dropped at `rate` (the mask of `seed`), kept ones scaled.
    pub fn encode_forward(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        (rate, seed): (f64, u32),
        x: &Tensor,
        y: &Tensor,
    ) {
        let params = Self::params(x.len, rate, seed);
        self.kernel.encode(
            gpu,
            encoder,
            "forward",
            &[x, y],
            &params,
            Dispatch::Values(x.len),
        );
    }

    /// Records `dx` for `dy` under the mask of `seed`.
    pub fn encode_backward(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        (rate, seed): (f64, u32),
        dy: &Tensor,
        dx: &Tensor,
    ) {
        let params = Self::params(dy.len, rate, seed);
        self.kernel.encode(
            gpu,
            encoder,
            "backward",
            &[dy, dx],
            &params,
            Dispatch::Values(dy.len),
        );
    }

    /// `(y, dx)` of host values: for tests.
    ///
    /// # Errors
    /// Tensors over the binding limit, a refused kernel or a lost device.
    pub fn run(
        &self,
        gpu: &Gpu,
        (rate, seed): (f64, u32),
        x: &[f32],
        dy: &[f32],
    ) -> Result<[Vec<f32>; 2], GpuError> {
        let x = Tensor::from_host(gpu, "x", x)?;
        let dy = Tensor::from_host(gpu, "dy", dy)?;
        let y = Tensor::zeros(gpu, "y", x.len)?;
        let dx = Tensor::zeros(gpu, "dx", x.len)?;
        let record = |encoder: &mut wgpu::CommandEncoder| {
            self.encode_forward(gpu, encoder, (rate, seed), &x, &y);
            self.encode_backward(gpu, encoder, (rate, seed), &dy, &dx);
        };
        run_once(gpu, "dropout", record, [&y, &dx])
    }
}
