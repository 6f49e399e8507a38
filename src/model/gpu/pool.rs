//! 2x2, stride-2 max pooling on the GPU (`pool.wgsl`), forward (with each window's winner)
//! and backward (the gradient routed to the winners).

use super::buffers::Tensor;
use super::context::{Gpu, GpuError};
use super::kernel::{run_once, Access, Dispatch, Kernel, ROW_INVOCATIONS};

/// The compiled `forward` and `backward` entry points.
#[derive(Debug)]
pub struct MaxPool {
    kernel: Kernel,
}

/// `(batch * channels, height, width)` of a pooled input: pooling treats every plane alike.
pub type Planes = (usize, usize, usize);

impl MaxPool {
    /// Compiles both entry points on `gpu`.
    pub fn new(gpu: &Gpu) -> Self {
        let access = [Access::Read, Access::Read, Access::Write, Access::Write];
        Self {
            kernel: Kernel::new(
                gpu,
                "pool.wgsl",
                include_str!("pool.wgsl"),
                &access,
                &["forward", "backward"],
            ),
        }
    }

    /// Records `y` (and `winners`) of input `x`, whose planes are `planes`.
    pub fn encode_forward(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        planes: Planes,
        x: &Tensor,
        (y, winners): (&Tensor, &Tensor),
    ) {
        let (count, h, w) = planes;
        let len = count * (h / 2) * (w / 2);
        let params = [len as u32, ROW_INVOCATIONS, h as u32, w as u32];
        let buffers = [x, x, y, winners];
        self.kernel.encode(
            gpu,
            encoder,
            "forward",
            &buffers,
            &params,
            Dispatch::Values(len),
        );
    }

    /// Records `gx` from `gy` and the forward pass's `winners`. `scratch` fills the unused
    /// fourth binding (any tensor).
    pub fn encode_backward(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        planes: Planes,
        (gy, winners): (&Tensor, &Tensor),
        (gx, scratch): (&Tensor, &Tensor),
    ) {
        let (count, h, w) = planes;
        let len = count * h * w;
        let params = [len as u32, ROW_INVOCATIONS, h as u32, w as u32];
        let buffers = [gy, winners, gx, scratch];
        self.kernel.encode(
            gpu,
            encoder,
            "backward",
            &buffers,
            &params,
            Dispatch::Values(len),
        );
    }

    /// `(y, winners, gx)` of host values, run at once: for tests.
    ///
    /// # Errors
    /// Tensors over the binding limit, a refused kernel or a lost device.
    pub fn run(
        &self,
        gpu: &Gpu,
        planes: Planes,
        x: &[f32],
        gy: &[f32],
    ) -> Result<[Vec<f32>; 3], GpuError> {
        let (count, h, w) = planes;
        let pooled = count * (h / 2) * (w / 2);
        let x = Tensor::from_host(gpu, "pool x", x)?;
        let gy = Tensor::from_host(gpu, "pool gy", gy)?;
        let y = Tensor::zeros(gpu, "pool y", pooled)?;
        let winners = Tensor::zeros(gpu, "pool winners", pooled)?;
        let gx = Tensor::zeros(gpu, "pool gx", x.len)?;
        let scratch = Tensor::zeros(gpu, "pool scratch", 1)?;
        let record = |encoder: &mut wgpu::CommandEncoder| {
            self.encode_forward(gpu, encoder, planes, &x, (&y, &winners));
            self.encode_backward(gpu, encoder, planes, (&gy, &winners), (&gx, &scratch));
        };
        run_once(gpu, "max_pool2d", record, [&y, &winners, &gx])
    }
}
