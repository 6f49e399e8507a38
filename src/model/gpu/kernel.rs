//! One WGSL module compiled once into its entry points, which share a bind group layout:
//! storage buffers in binding order, then one uniform of `u32` parameters.
//!
//! Elementwise-style entry points take one invocation per value, in rows of
//! [`ROW_INVOCATIONS`] so tensors past 65,535 workgroups still fit; the shader finds its
//! index as `gid.x + gid.y * ROW_INVOCATIONS` (`params.row` holds the constant).

use wgpu::util::DeviceExt;

use super::buffers::{entry, Tensor};
use super::context::{Gpu, GpuError};

/// Invocations per workgroup of an elementwise-style entry point.
pub const GROUP: u32 = 256;
/// Workgroups per row of a dispatch (the shaders' `params.row` for entry points that run one
/// workgroup per value).
pub const ROW_GROUPS: u32 = 32_768;
/// Invocations per row of an elementwise-style dispatch (the shaders' `params.row`).
pub const ROW_INVOCATIONS: u32 = GROUP * ROW_GROUPS;

/// How a storage binding is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only read.
    Read,
    /// Written (and maybe read).
    Write,
}

/// How many workgroups run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// One invocation per value, `GROUP` per workgroup, in rows.
    Values(usize),
    /// One workgroup per value, in rows of [`ROW_GROUPS`].
    Groups(usize),
    /// An explicit grid of workgroups.
    Grid(u32, u32),
}

/// A compiled module: its entry points and their shared layout.
#[derive(Debug)]
pub struct Kernel {
    name: &'static str,
    layout: wgpu::BindGroupLayout,
    pipelines: Vec<(&'static str, wgpu::ComputePipeline)>,
}

fn layout_entry(binding: u32, ty: wgpu::BufferBindingType) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

impl Kernel {
    /// Compiles `source` (named `name`) into `entries`, whose storage bindings are `access`
    /// in order, followed by the parameters' uniform.
    pub fn new(
        gpu: &Gpu,
        name: &'static str,
        source: &'static str,
        access: &[Access],
        entries: &[&'static str],
    ) -> Self {
        let device = &gpu.device;
        let mut layout_entries: Vec<_> = access
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let read_only = *a == Access::Read;
                layout_entry(i as u32, wgpu::BufferBindingType::Storage { read_only })
            })
            .collect();
        layout_entries.push(layout_entry(
            access.len() as u32,
            wgpu::BufferBindingType::Uniform,
        ));
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(name),
            entries: &layout_entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(name),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipelines = entries
            .iter()
            .map(|&entry_point| {
                let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry_point),
                    layout: Some(&pipeline_layout),
                    module: &module,
                    entry_point: Some(entry_point),
                    compilation_options: wgpu::PipelineCompilationOptions::default(),
                    cache: None,
                });
                (entry_point, pipeline)
            })
            .collect();
        Self {
            name,
            layout,
            pipelines,
        }
    }

    /// Records one dispatch of `entry_point` over `buffers` with `params` (padded to the
    /// uniform's 16-byte rows).
    ///
    /// # Panics
    /// An entry point the kernel was not compiled with (a caller's bug).
    pub fn encode(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        entry_point: &str,
        buffers: &[&Tensor],
        params: &[u32],
        dispatch: Dispatch,
    ) {
        let pipeline = &self
            .pipelines
            .iter()
            .find(|(name, _)| *name == entry_point)
            .unwrap_or_else(|| panic!("{} has no entry point {entry_point}", self.name))
            .1;
        let mut padded = params.to_vec();
        padded.resize(params.len().div_ceil(4).max(1) * 4, 0);
        let uniform = gpu
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(self.name),
                contents: bytemuck::cast_slice(&padded),
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let mut entries: Vec<_> = buffers
            .iter()
            .enumerate()
            .map(|(i, t)| entry(i as u32, &t.buffer))
            .collect();
        entries.push(entry(buffers.len() as u32, &uniform));
        let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(self.name),
            layout: &self.layout,
            entries: &entries,
        });
        let (x, y) = match dispatch {
            Dispatch::Values(n) => {
                let groups = (n as u32).div_ceil(GROUP);
                (groups.min(ROW_GROUPS), groups.div_ceil(ROW_GROUPS))
            }
            Dispatch::Groups(n) => {
                let n = n as u32;
                (n.min(ROW_GROUPS), n.div_ceil(ROW_GROUPS))
            }
            Dispatch::Grid(x, y) => (x, y),
        };
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(entry_point),
            timestamp_writes: None,
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(x.max(1), y.max(1), 1);
    }
}

/// Runs `record` as one submission, then reads back `outputs`: for tests and one-off work.
///
/// # Errors
/// A kernel the device refused (validation), or a failed read-back, naming `op`.
pub fn run_once<const N: usize>(
    gpu: &Gpu,
    op: &'static str,
    record: impl FnOnce(&mut wgpu::CommandEncoder),
    outputs: [&Tensor; N],
) -> Result<[Vec<f32>; N], GpuError> {
    let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let mut encoder = gpu
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
    record(&mut encoder);
    gpu.queue.submit([encoder.finish()]);
    if let Some(source) = pollster::block_on(scope.pop()) {
        return Err(GpuError::Kernel { op, source });
    }
    let mut values = outputs
        .iter()
        .map(|t| t.read(gpu, op))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter();
    Ok(std::array::from_fn(|_| values.next().unwrap_or_default()))
}
