//! Matrix products on the GPU (`matmul.wgsl`): the dense layer's forward pass, `X W`, and
//! its two gradients, `dY Wᵀ` and `Xᵀ dY`, from one kernel whose operands may be read
//! transposed in place, so no transpose is ever materialised.

use wgpu::util::DeviceExt;

use super::buffers::{entry, Tensor};
use super::context::{Gpu, GpuError};

/// Outputs per workgroup side (the shader's `TILE`).
const TILE: u32 = 16;

/// Which operands are read transposed, and whether the product adds to the output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    /// `A` is stored `(k, m)` and read as its transpose.
    pub transpose_a: bool,
    /// `B` is stored `(n, k)` and read as its transpose.
    pub transpose_b: bool,
    /// `C += op(A) op(B)` instead of `C = op(A) op(B)` (gradients summed over a batch).
    pub accumulate: bool,
}

impl Layout {
    fn flags(self) -> u32 {
        u32::from(self.transpose_a)
            | u32::from(self.transpose_b) << 1
            | u32::from(self.accumulate) << 2
    }
}

/// The compiled kernel.
#[derive(Debug)]
pub struct Matmul {
    pipeline: wgpu::ComputePipeline,
}

impl Matmul {
    /// Compiles the kernel on `gpu`.
    pub fn new(gpu: &Gpu) -> Self {
        let module = gpu
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("matmul.wgsl"),
                source: wgpu::ShaderSource::Wgsl(include_str!("matmul.wgsl").into()),
            });
        let pipeline = gpu
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("matmul"),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                cache: None,
            });
        Self { pipeline }
    }

    /// Records `C (m, n) = op(A) (m, k) · op(B) (k, n)` into `encoder`.
    ///
    /// # Panics
    /// When a tensor's length does not match its dimensions (a caller's bug).
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        (a, b, c): (&Tensor, &Tensor, &Tensor),
        (m, k, n): (usize, usize, usize),
        layout: Layout,
    ) {
        assert_eq!(a.len, m * k, "A holds m * k values");
        assert_eq!(b.len, k * n, "B holds k * n values");
        assert_eq!(c.len, m * n, "C holds m * n values");
        let dims = [m as u32, k as u32, n as u32, layout.flags()];
        let uniform = gpu
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("matmul dims"),
                contents: bytemuck::cast_slice(&dims),
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("matmul"),
            layout: &self.pipeline.get_bind_group_layout(0),
            entries: &[
                entry(0, &a.buffer),
                entry(1, &b.buffer),
                entry(2, &c.buffer),
                entry(3, &uniform),
            ],
        });
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("matmul"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups((n as u32).div_ceil(TILE), (m as u32).div_ceil(TILE), 1);
    }

    /// `op(A) · op(B)` of host matrices, run at once: for tests and one-off products.
    ///
    /// # Errors
    /// Tensors over the binding limit, a refused kernel or a lost device.
    pub fn run(
        &self,
        gpu: &Gpu,
        (a, b): (&[f32], &[f32]),
        (m, k, n): (usize, usize, usize),
        layout: Layout,
    ) -> Result<Vec<f32>, GpuError> {
        let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let a = Tensor::from_host(gpu, "matmul A", a)?;
        let b = Tensor::from_host(gpu, "matmul B", b)?;
        let c = Tensor::zeros(gpu, "matmul C", m * n)?;
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        self.encode(gpu, &mut encoder, (&a, &b, &c), (m, k, n), layout);
        gpu.queue.submit([encoder.finish()]);
        if let Some(source) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Kernel {
                op: "matmul",
                source,
            });
        }
        c.read(gpu, "matmul")
    }
}
