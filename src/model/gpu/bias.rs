//! The dense layer's bias on the GPU (`bias.wgsl`): added to every row of `X W`, and its
//! gradient, the column sums of the output gradient.

use super::buffers::Tensor;
use super::context::{Gpu, GpuError};
use super::kernel::{run_once, Access, Dispatch, Kernel, ROW_INVOCATIONS};

/// The compiled `add` and `grad` entry points.
#[derive(Debug)]
pub struct Bias {
    kernel: Kernel,
}

impl Bias {
    /// Compiles both entry points on `gpu`.
    pub fn new(gpu: &Gpu) -> Self {
        Self {
            kernel: Kernel::new(
                gpu,
                "bias.wgsl",
                include_str!("bias.wgsl"),
                &[Access::Read, Access::Write],
                &["add", "grad"],
            ),
        }
    }

    /// Records `y[r, c] += bias[c]` for the `(rows, columns)` matrix `y`.
    pub fn encode_add(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        bias: &Tensor,
        y: &Tensor,
    ) {
        let columns = bias.len;
        let rows = y.len / columns.max(1);
        let params = [y.len as u32, ROW_INVOCATIONS, rows as u32, columns as u32];
        self.kernel.encode(
            gpu,
            encoder,
            "add",
            &[bias, y],
            &params,
            Dispatch::Values(y.len),
        );
    }

    /// Records `dbias[c] = sum over r of dy[r, c]`.
    pub fn encode_grad(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        dy: &Tensor,
        dbias: &Tensor,
    ) {
        let columns = dbias.len;
        let rows = dy.len / columns.max(1);
        let params = [columns as u32, ROW_INVOCATIONS, rows as u32, columns as u32];
        self.kernel.encode(
            gpu,
            encoder,
            "grad",
            &[dy, dbias],
            &params,
            Dispatch::Values(columns),
        );
    }

    /// `y + bias` and the bias gradient for `dy`, of host values: for tests.
    ///
    /// # Errors
    /// Tensors over the binding limit, a refused kernel or a lost device.
    pub fn run(
        &self,
        gpu: &Gpu,
        (y, bias, dy): (&[f32], &[f32], &[f32]),
    ) -> Result<[Vec<f32>; 2], GpuError> {
        let y = Tensor::from_host(gpu, "y", y)?;
        let bias = Tensor::from_host(gpu, "bias", bias)?;
        let dy = Tensor::from_host(gpu, "dy", dy)?;
        let dbias = Tensor::zeros(gpu, "dbias", bias.len)?;
        let record = |encoder: &mut wgpu::CommandEncoder| {
            self.encode_add(gpu, encoder, &bias, &y);
            self.encode_grad(gpu, encoder, &dy, &dbias);
        };
        run_once(gpu, "bias", record, [&y, &dbias])
    }
}
