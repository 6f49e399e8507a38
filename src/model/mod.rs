//! The Siamese network: its settings ([`config`], [`optimizer`]), the layout of its
//! parameters ([`layout`]), the head's comparison of two embeddings ([`compare`]), the
//! training-backend seam ([`backend`]) and the CPU backend behind it ([`cpu`]).

pub mod backend;
pub mod compare;
pub mod config;
pub mod cpu;
pub mod device;
pub mod error;
pub mod flops;
pub mod footprint;
pub mod gpu;
pub mod head;
pub mod layout;
pub mod optimizer;
pub mod param;
pub mod tensors;

pub use backend::{Device, NetSpec, Network, Weights};
pub use config::{
    Activation, ConvLayer, DenseLayer, Distance, DropoutSchedule, Init, InitConfig, L2Config, Loss,
    ModelConfig,
};
pub use error::ModelError;
pub use head::Head;
pub use optimizer::OptimizerConfig;
pub use tensors::Tensors;

/// Checks that `device` can be used, before any long work starts: on the GPU, that a
/// Vulkan adapter exists and opens; on the CPU, that `TWINFLOW_ISA` (if set) names a path
/// the CPU runs.
///
/// # Errors
/// What is missing (for the GPU: which driver to install).
pub fn probe(device: Device) -> Result<(), ModelError> {
    match device {
        Device::Cpu => cpu_isa().map(drop),
        Device::Gpu => gpu::Gpu::shared()
            .map(drop)
            .map_err(|e| ModelError::Device {
                device,
                source: Box::new(e),
            }),
    }
}

/// The instruction-set path the CPU kernels take in this process.
///
/// # Errors
/// `TWINFLOW_ISA` names no path, or one the CPU lacks.
pub fn cpu_isa() -> Result<cpu::ops::isa::Isa, ModelError> {
    cpu::ops::isa::Isa::from_env().map_err(|source| ModelError::Isa { source })
}

/// Builds a network on `device`.
///
/// # Errors
/// A device that cannot be used, or a network it cannot hold.
pub fn build(device: Device, spec: NetSpec) -> Result<Box<dyn Network>, ModelError> {
    match device {
        Device::Cpu => {
            cpu_isa()?;
            Ok(Box::new(cpu::CpuNetwork::new(spec)?))
        }
        Device::Gpu => Ok(Box::new(gpu::GpuNetwork::new(spec)?)),
    }
}
