//! The GPU backend's parts: wgpu on Vulkan with twinflow's own WGSL compute shaders, each
//! `.wgsl` file beside the Rust that loads it. [`context`] finds adapters and opens a
//! device, [`buffers`] holds f32 tensors on it, and each op is a kernel compiled once
//! ([`matmul`], [`activation`], [`conv`], [`pool`], [`batch_norm`], [`optimizer`], [`head`], [`bias`], [`dropout`]);
//! [`network`] chains them into the backend's [`crate::model::Network`]. Every op is checked against the CPU backend's on the same inputs
//! ([`tests`] runs on any Vulkan device, Mesa's software lavapipe included).

pub mod activation;
pub mod batch_norm;
pub mod bias;
pub mod buffers;
pub mod context;
pub mod conv;
pub mod dropout;
pub mod head;
pub mod kernel;
pub mod matmul;
pub mod network;
pub mod optimizer;
pub mod pool;

#[cfg(test)]
mod tests;

pub use context::{adapters, AdapterSummary, Gpu, GpuError};
pub use network::GpuNetwork;
