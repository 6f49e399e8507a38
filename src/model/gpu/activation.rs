//! Elementwise activations on the GPU (`activation.wgsl`): ReLU, sigmoid, tanh and linear,
//! forward, and backward from the activation's output as dfdx computes it.

use wgpu::util::DeviceExt;

use super::buffers::{entry, Tensor};
use super::context::{Gpu, GpuError};
use crate::model::Activation;

/// Invocations per workgroup (the shader's `workgroup_size`).
const GROUP: u32 = 256;
/// Workgroups per row of a dispatch (under the 65,535 limit of a dimension).
const ROW: u32 = 32_768;

/// The two compiled entry points, sharing one bind group layout.
#[derive(Debug)]
pub struct Activations {
    layout: wgpu::BindGroupLayout,
    forward: wgpu::ComputePipeline,
    backward: wgpu::ComputePipeline,
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

fn storage(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

impl Activations {
    /// Compiles both entry points on `gpu`.
    pub fn new(gpu: &Gpu) -> Self {
        let device = &gpu.device;
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("activation"),
            entries: &[
                storage(0, true),
                storage(1, true),
                storage(2, false),
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("activation"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("activation.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("activation.wgsl").into()),
        });
        let pipeline = |entry: &str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                cache: None,
            })
        };
        Self {
            forward: pipeline("forward"),
            backward: pipeline("backward"),
            layout,
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
        self.encode(gpu, encoder, &self.forward, activation, (x, x, y));
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
        self.encode(gpu, encoder, &self.backward, activation, (y, dy, dx));
    }

    fn encode(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        pipeline: &wgpu::ComputePipeline,
        activation: Activation,
        (x, dy, out): (&Tensor, &Tensor, &Tensor),
    ) {
        assert_eq!(x.len, out.len, "the input and output hold as many values");
        let groups = (out.len as u32).div_ceil(GROUP);
        let (columns, rows) = (groups.min(ROW), groups.div_ceil(ROW));
        let params = [out.len as u32, kind(activation), columns * GROUP, 0];
        let uniform = gpu
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("activation params"),
                contents: bytemuck::cast_slice(&params),
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("activation"),
            layout: &self.layout,
            entries: &[
                entry(0, &x.buffer),
                entry(1, &dy.buffer),
                entry(2, &out.buffer),
                entry(3, &uniform),
            ],
        });
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("activation"),
            timestamp_writes: None,
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(columns.max(1), rows.max(1), 1);
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
        let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let x = Tensor::from_host(gpu, "activation x", x)?;
        let dy = Tensor::from_host(gpu, "activation dy", dy)?;
        let y = Tensor::zeros(gpu, "activation y", x.len)?;
        let dx = Tensor::zeros(gpu, "activation dx", x.len)?;
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        self.encode_forward(gpu, &mut encoder, activation, &x, &y);
        self.encode_backward(gpu, &mut encoder, activation, (&y, &dy), &dx);
        gpu.queue.submit([encoder.finish()]);
        if let Some(source) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Kernel {
                op: "activation",
                source,
            });
        }
        Ok((y.read(gpu, "activation")?, dx.read(gpu, "activation")?))
    }
}
