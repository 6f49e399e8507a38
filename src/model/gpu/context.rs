//! The GPU and its queue: which adapters exist, and one device opened on the best of them.
//!
//! twinflow's GPU engine is wgpu on Vulkan, with its own WGSL compute shaders: NVIDIA's,
//! AMD's and Intel's drivers run them, and so does Mesa's lavapipe (software Vulkan), on
//! which CI checks every GPU op against the CPU's. Without any Vulkan driver there is no
//! adapter, and the error says what to install.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use wgpu::{Backends, DeviceType, Instance, InstanceDescriptor, Limits};

/// Why no GPU could be used.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No Vulkan adapter was found.
    #[error(
        "no GPU adapter found: install a Vulkan driver (the GPU vendor's, or Mesa's \
         software one: apt-get install mesa-vulkan-drivers libvulkan1) and check it with \
         `twinflow devices`"
    )]
    NoAdapter,
    /// The adapter refused a device.
    #[error("cannot open a device on {adapter}")]
    RequestDevice {
        /// The adapter's name.
        adapter: String,
        /// wgpu's error.
        #[source]
        source: wgpu::RequestDeviceError,
    },
    /// A kernel failed on the device (validation or out of memory).
    #[error("the GPU refused `{op}`")]
    Kernel {
        /// The op.
        op: &'static str,
        /// wgpu's error.
        #[source]
        source: wgpu::Error,
    },
    /// A buffer could not be read back.
    #[error("cannot read back the result of `{op}`")]
    ReadBack {
        /// The op.
        op: &'static str,
        /// wgpu's error.
        #[source]
        source: wgpu::BufferAsyncError,
    },
    /// A read-back buffer's mapping could not be viewed.
    #[error("cannot view the read-back buffer of `{op}`")]
    MapRange {
        /// The op.
        op: &'static str,
        /// wgpu's error.
        #[source]
        source: wgpu::MapRangeError,
    },
    /// Waiting for the device failed (it was lost, or timed out).
    #[error("the GPU stopped answering while running `{op}`")]
    Poll {
        /// The op.
        op: &'static str,
        /// wgpu's error.
        #[source]
        source: wgpu::PollError,
    },
    /// A tensor is larger than the adapter binds at once.
    #[error(
        "`{what}` needs {:.1} MiB in one binding, over the adapter's limit of {:.1} MiB \
         (a smaller batch_size, image size or layer fits)",
        *bytes as f64 / 1048576.0,
        *limit as f64 / 1048576.0
    )]
    TooLarge {
        /// The tensor.
        what: String,
        /// Its size.
        bytes: u64,
        /// The adapter's largest storage binding.
        limit: u64,
    },
}

/// What `twinflow devices` shows of an adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    /// The adapter's name, e.g. "NVIDIA H100" or "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// The API it runs on (Vulkan).
    pub backend: String,
    /// Discrete, integrated, virtual, CPU or other.
    pub device_type: String,
    /// The driver and its version.
    pub driver: String,
    /// The largest storage buffer binding, in bytes.
    pub max_binding: u64,
    /// The largest buffer, in bytes.
    pub max_buffer: u64,
    /// Workgroup memory, in bytes.
    pub workgroup_memory: u32,
    /// Invocations per workgroup.
    pub invocations: u32,
}

impl fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |b: u64| b / (1 << 20);
        write!(
            f,
            "{} ({}, {}; driver {}): storage binding {} MiB, buffer {} MiB, \
             workgroup memory {} KiB, {} invocations per workgroup",
            self.name,
            self.backend,
            self.device_type,
            self.driver,
            mib(self.max_binding),
            mib(self.max_buffer),
            self.workgroup_memory / 1024,
            self.invocations
        )
    }
}

fn instance() -> Instance {
    Instance::new(InstanceDescriptor {
        backends: Backends::VULKAN,
        ..InstanceDescriptor::new_without_display_handle()
    })
}

fn summary(adapter: &wgpu::Adapter) -> AdapterSummary {
    let info = adapter.get_info();
    let limits = adapter.limits();
    let device_type = match info.device_type {
        DeviceType::DiscreteGpu => "discrete GPU",
        DeviceType::IntegratedGpu => "integrated GPU",
        DeviceType::VirtualGpu => "virtual GPU",
        DeviceType::Cpu => "CPU",
        DeviceType::Other => "other",
    };
    AdapterSummary {
        name: info.name,
        backend: format!("{:?}", info.backend),
        device_type: device_type.into(),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
        max_binding: limits.max_storage_buffer_binding_size,
        max_buffer: limits.max_buffer_size,
        workgroup_memory: limits.max_compute_workgroup_storage_size,
        invocations: limits.max_compute_invocations_per_workgroup,
    }
}

/// Every Vulkan adapter of this machine, best first (discrete, integrated, virtual, CPU).
pub fn adapters() -> Vec<AdapterSummary> {
    let mut all: Vec<(u8, AdapterSummary)> =
        pollster::block_on(instance().enumerate_adapters(Backends::VULKAN))
            .iter()
            .map(|a| (rank(a.get_info().device_type), summary(a)))
            .collect();
    all.sort_by_key(|(r, _)| *r);
    all.into_iter().map(|(_, s)| s).collect()
}

/// Lower is preferred: a real GPU before a software one.
fn rank(device_type: DeviceType) -> u8 {
    match device_type {
        DeviceType::DiscreteGpu => 0,
        DeviceType::IntegratedGpu => 1,
        DeviceType::VirtualGpu => 2,
        DeviceType::Other => 3,
        DeviceType::Cpu => 4,
    }
}

/// A device and its queue on the best adapter, with the limits kernels must respect.
#[derive(Debug, Clone)]
pub struct Gpu {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// What the adapter is.
    pub adapter: AdapterSummary,
    /// The limits the device was opened with (the adapter's own).
    pub limits: Limits,
}

impl Gpu {
    /// Opens a device on the best adapter.
    ///
    /// # Errors
    /// [`GpuError::NoAdapter`] without a Vulkan driver; the adapter's refusal otherwise.
    pub fn open() -> Result<Self, GpuError> {
        let adapters = pollster::block_on(instance().enumerate_adapters(Backends::VULKAN));
        let adapter = adapters
            .into_iter()
            .min_by_key(|a| rank(a.get_info().device_type))
            .ok_or(GpuError::NoAdapter)?;
        let limits = adapter.limits();
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("twinflow"),
            required_limits: limits.clone(),
            ..wgpu::DeviceDescriptor::default()
        };
        let summary = summary(&adapter);
        let (device, queue) =
            pollster::block_on(adapter.request_device(&descriptor)).map_err(|source| {
                GpuError::RequestDevice {
                    adapter: summary.name.clone(),
                    source,
                }
            })?;
        Ok(Self {
            device,
            queue,
            adapter: summary,
            limits,
        })
    }

    /// The device every network of this process shares, opened on first use: one device
    /// keeps one queue, and opening one takes a while on some drivers.
    ///
    /// # Errors
    /// As [`Gpu::open`]; a failed open is retried on the next call.
    pub fn shared() -> Result<Self, GpuError> {
        static SHARED: Mutex<Option<Gpu>> = Mutex::new(None);
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(gpu) = shared.as_ref() {
            return Ok(gpu.clone());
        }
        let gpu = Self::open()?;
        *shared = Some(gpu.clone());
        Ok(gpu)
    }

    /// Runs `work` (buffer creation, encoding, submission) with the device's validation and
    /// out-of-memory errors caught and returned, naming `op`, instead of reaching wgpu's
    /// default handler, which panics.
    ///
    /// # Errors
    /// [`GpuError::Kernel`] with the device's first error.
    pub fn checked<T>(&self, op: &'static str, work: impl FnOnce() -> T) -> Result<T, GpuError> {
        let memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = work();
        let invalid = pollster::block_on(validation.pop());
        let exhausted = pollster::block_on(memory.pop());
        match invalid.or(exhausted) {
            Some(source) => Err(GpuError::Kernel { op, source }),
            None => Ok(out),
        }
    }

    /// Refuses a binding over the adapter's limit, naming the tensor.
    ///
    /// # Errors
    /// [`GpuError::TooLarge`].
    pub fn check_binding(&self, what: &str, bytes: u64) -> Result<(), GpuError> {
        let limit = self.limits.max_storage_buffer_binding_size;
        if bytes > limit {
            return Err(GpuError::TooLarge {
                what: what.into(),
                bytes,
                limit,
            });
        }
        Ok(())
    }
}
