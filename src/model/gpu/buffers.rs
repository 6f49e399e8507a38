//! f32 tensors on the GPU: storage buffers made from host data or zeros, and read back.
//!
//! Parameters, optimizer state and activations stay on the device; only batches go up and
//! losses, scores (and checkpoints) come down, through [`Tensor::read`].

use wgpu::util::DeviceExt;
use wgpu::{BufferUsages, PollType};

use super::context::{Gpu, GpuError};

/// A flat f32 tensor in a storage buffer.
#[derive(Debug, Clone)]
pub struct Tensor {
    /// The buffer.
    pub buffer: wgpu::Buffer,
    /// Values it holds.
    pub len: usize,
}

const USAGE: BufferUsages = BufferUsages::STORAGE
    .union(BufferUsages::COPY_SRC)
    .union(BufferUsages::COPY_DST);

impl Tensor {
    /// A tensor holding `data`, named `what` in errors.
    ///
    /// # Errors
    /// [`GpuError::TooLarge`] over the adapter's binding limit.
    pub fn from_host(gpu: &Gpu, what: &str, data: &[f32]) -> Result<Self, GpuError> {
        gpu.check_binding(what, bytes(data.len()))?;
        // A zero-sized binding is invalid: an empty tensor keeps one unused value.
        let padded;
        let contents = if data.is_empty() {
            padded = [0.0f32];
            &padded[..]
        } else {
            data
        };
        let buffer = gpu
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(what),
                contents: bytemuck::cast_slice(contents),
                usage: USAGE,
            });
        Ok(Self {
            buffer,
            len: data.len(),
        })
    }

    /// A tensor of `len` zeros.
    ///
    /// # Errors
    /// [`GpuError::TooLarge`] over the adapter's binding limit.
    pub fn zeros(gpu: &Gpu, what: &str, len: usize) -> Result<Self, GpuError> {
        gpu.check_binding(what, bytes(len))?;
        let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size: bytes(len.max(1)),
            usage: USAGE,
            mapped_at_creation: false,
        });
        Ok(Self { buffer, len })
    }

    /// Replaces the first values with `data`, in queue order: work submitted after this
    /// sees them.
    ///
    /// # Panics
    /// When `data` is longer than the tensor (a caller's bug).
    pub fn write(&self, gpu: &Gpu, data: &[f32]) {
        self.write_at(gpu, 0, data);
    }

    /// Replaces the values from value `at` on with `data`.
    ///
    /// # Panics
    /// When `data` runs past the tensor's end (a caller's bug).
    pub fn write_at(&self, gpu: &Gpu, at: usize, data: &[f32]) {
        assert!(
            at + data.len() <= self.len,
            "a write stays inside the tensor"
        );
        if !data.is_empty() {
            gpu.queue
                .write_buffer(&self.buffer, bytes(at), bytemuck::cast_slice(data));
        }
    }

    /// The values, copied back to the host once the queue has run what was submitted.
    ///
    /// # Errors
    /// A lost device or a failed mapping, naming `op`.
    pub fn read(&self, gpu: &Gpu, op: &'static str) -> Result<Vec<f32>, GpuError> {
        let size = bytes(self.len.max(1));
        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read back"),
            size,
            usage: BufferUsages::MAP_READ | BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        encoder.copy_buffer_to_buffer(&self.buffer, 0, &staging, 0, size);
        gpu.queue.submit([encoder.finish()]);
        let slice = staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |result| {
            let _ = tx.send(result);
        });
        gpu.device
            .poll(PollType::wait_indefinitely())
            .map_err(|source| GpuError::Poll { op, source })?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(source)) => return Err(GpuError::ReadBack { op, source }),
            Err(_) => {
                return Err(GpuError::ReadBack {
                    op,
                    source: wgpu::BufferAsyncError,
                })
            }
        }
        let view = slice
            .get_mapped_range()
            .map_err(|source| GpuError::MapRange { op, source })?;
        let values: Vec<f32> = bytemuck::cast_slice(&view).to_vec();
        drop(view);
        staging.unmap();
        Ok(values[..self.len].to_vec())
    }
}

/// Bytes of `len` f32 values.
fn bytes(len: usize) -> u64 {
    (len * std::mem::size_of::<f32>()) as u64
}

/// A whole buffer as binding `binding` of a bind group.
pub(super) fn entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry {
        binding,
        resource: buffer.as_entire_binding(),
    }
}
