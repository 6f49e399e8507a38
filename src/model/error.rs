//! Why a network cannot be built, run or loaded, on any backend.

use super::device::Device;

/// Why a network cannot be built, run or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// One of the CPU's own ops refused its inputs.
    #[error(transparent)]
    Ops(#[from] super::cpu::ops::OpsError),
    /// The device could not allocate or run a kernel.
    #[error("the {device} backend failed")]
    Device {
        /// The backend.
        device: Device,
        /// The device's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The input has the wrong size for the network.
    #[error("batch of {got} values does not hold {pairs} pairs of {height}x{width} images")]
    BadBatch {
        /// Values given per twin.
        got: usize,
        /// Pairs expected.
        pairs: usize,
        /// Image height.
        height: usize,
        /// Image width.
        width: usize,
    },
    /// Tensors given to the network do not fit it.
    #[error("{reason}")]
    Mismatch {
        /// What differs: a missing, extra or misshapen tensor.
        reason: String,
    },
    /// `TWINFLOW_ISA` asks for a CPU path that does not exist or does not run here.
    #[error("cannot choose the CPU kernels' instruction set")]
    Isa {
        /// What is wrong with the request.
        #[source]
        source: crate::model::cpu::ops::isa::IsaError,
    },
    /// The network has no weight average to use.
    #[error("the network keeps no weight average (schedule.average is None)")]
    NoAverage,
}
