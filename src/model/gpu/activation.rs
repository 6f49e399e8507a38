//! Elementwise activations on the GPU (`activation.wgsl`): ReLU, sigmoid, tanh and linear,
//! forward, and backward from the activation's output as dfdx computes it.

use super::buffers::Tensor;
use super::context::{Gpu, GpuError};
use super::kernel::{run_once, Access, Dispatch, Kernel, ROW_INVOCATIONS};
use crate::model::Activation;

/// The compiled `forward` and `backward` entry points.
#[derive(Debug)]
pub struct Activations {
    kernel: Kernel,
}

/// The shader's code for an activation.
fn kind(activation: Activation) -> u32 {
    match activation {
        Activation::Relu => 0,
        Activation::Sigmoid => 1,
        Activation::Tanh => 2,
        Activation::Linear => 3,
    }
}

impl Activations {
    /// Compiles both entry points on `gpu`.
    pub fn new(gpu: &Gpu) -> Self {
        let access = [Access::Read, Access::Read, Access::Write];
        Self {
            kernel: Kernel::new(
                gpu,
                "activation.wgsl",
                include_str!("activation.wgsl"),
                &access,
                &["forward", "backward"],
            ),
        }
    }

    /// Records `y = f(x)`.
    pub fn encode_forward(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        activation: Activation,
        x: &Tensor,
        y: &Tensor,
    ) {
        self.encode(gpu, encoder, "forward", activation, [x, x, y]);
    }

    /// Records `dx = dy * f'(x)`, with `f'` taken from the activation's output `y`.
    pub fn encode_backward(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        activation: Activation,
        (y, dy): (&Tensor, &Tensor),
        dx: &Tensor,
    ) {
        self.encode(gpu, encoder, "backward", activation, [y, dy, dx]);
    }

    fn encode(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        entry: &str,
        activation: Activation,
        buffers: [&Tensor; 3],
    ) {
        let n = buffers[2].len;
        assert_eq!(
            buffers[0].len, n,
            "the input and output hold as many values"
        );
        let params = [n as u32, kind(activation), ROW_INVOCATIONS];
        let dispatch = Dispatch::Values(n);
        self.kernel
            .encode(gpu, encoder, entry, &buffers, &params, dispatch);
    }

    /// `f(x)` and `dy * f'(x)` of host values, run at once: for tests.
    ///
    /// # Errors
    /// Tensors over the binding limit, a refused kernel or a lost device.
    pub fn run(
        &self,
        gpu: &Gpu,
        activation: Activation,
        x: &[f32],
        dy: &[f32],
    ) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
        let x = Tensor::from_host(gpu, "activation x", x)?;
        let dy = Tensor::from_host(gpu, "activation dy", dy)?;
        let y = Tensor::zeros(gpu, "activation y", x.len)?;
        let dx = Tensor::zeros(gpu, "activation dx", x.len)?;
        let record = |encoder: &mut wgpu::CommandEncoder| {
            self.encode_forward(gpu, encoder, activation, &x, &y);
            self.encode_backward(gpu, encoder, activation, (&y, &dy), &dx);
        };
        let [y, dx] = run_once(gpu, "activation", record, [&y, &dx])?;
        Ok((y, dx))
    }
}
