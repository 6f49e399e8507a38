//! Custom dfdx operations on runtime-shaped tensors: 2-D convolution, 2x2 max pooling and
//! per-channel batch normalisation on NCHW activations, and the dense layer (`x W + b`, on
//! gemm 0.19; see `dense.rs`).
//!
//! Each op computes its forward pass with its own kernels, then registers a backward closure
//! on the dfdx tape (`split_tape`, `ghost`, `add_backward_op`, `put_tape`), so it composes
//! with dfdx's own ops (`relu`, `matmul`, `sum`, ...) and with `backward()`.
//!
//! Layout is NCHW, row-major and contiguous; inputs that are strided views are made
//! contiguous first with dfdx's `try_contiguous`, which is free for contiguous tensors.
//!
//! The kernels are generic over [`Real`] (f32 for training, f64 for exact gradient checks).
//! Convolution works on panels of 16 output positions (taken across sample boundaries, so
//! 8x8 late-layer maps still fill them): a panel's patches are read in place when its
//! positions lie in one output row, else copied (im2col), and multiplied by packed weights
//! with a 6x16 register tile; the weight gradient reduces over panels with a 4x2 dot tile.
//! The tiles are compiled per instruction-set path (AVX-512F, AVX2+FMA, portable) and the
//! path is chosen at run time (`isa`); the batch is split into contiguous groups, a few per
//! rayon thread. See `microkernel.rs` for the measurements behind the tile shapes and
//! against the `gemm` crate.
//!
//! Parameters are passed by value as `w.clone()` (or `w.retaped::<T>()`): the clone shares
//! the id, so the gradient lands under the parameter in `Gradients`.
//!
//! # What dfdx 0.13 gives for runtime shapes (checked by the tests in `dfdx_checks.rs`)
//! - `matmul` of `(usize, usize)` tensors works, forward and backward, and so does adding a
//!   bias with `broadcast_like::<_, Axis<0>>(&(n, units))` (the axis must be named: with
//!   two runtime dims it is ambiguous). Its matmul uses gemm 0.15 (AVX2 at most), so the
//!   network's dense layer uses [`try_dense`] instead, on gemm 0.19 (AVX-512).
//! - `dropout` is shape-generic and works on runtime shapes; it always drops, so the caller
//!   skips it at inference. It is inverted dropout (survivors scaled by `1/(1-p)`), as Keras.
//! - `reshape_like` flattens `(n, c, h, w)` to `(n, c*h*w)` without a copy.
//! - Optimizers: `AdamConfig::try_update` / `SgdConfig::try_update` work per tensor with a
//!   gradient from `Gradients::get_or_alloc_mut` and moment buffers from
//!   `Storage::try_alloc_len`, so a parameter list of runtime-shaped tensors can be trained
//!   without dfdx's `TensorCollection` machinery. They update through `Arc::make_mut`: drop
//!   other clones of a parameter first or it is copied.
//! - Reading a tensor's buffer without a copy is impossible from outside dfdx (its data field
//!   and `Tensorlike` are crate-private), so each op copies its input once with `copy_into`;
//!   outputs are moved in without a copy through `tensor_from_vec`, and gradients are read and
//!   written in place through `get_or_alloc_mut`.

mod batch_norm;
mod conv;
mod dense;
#[cfg(test)]
mod dfdx_checks;
#[cfg(test)]
mod gradcheck;
mod im2col;
pub mod isa;
mod microkernel;
mod operands;
mod pool;
pub mod reference;
mod segkernel;
mod segments;
mod tiles;

pub use batch_norm::{try_batch_norm2d, BatchNormMode, RunningStats};
pub use conv::{conv2d, try_conv2d, Conv2dShape, InputGrad};
pub use dense::{dense, gemm_into, try_dense, Layout, Operand, Shape2};

/// The slice-level kernels behind the ops (row-major, contiguous; NCHW for images), for
/// benchmarks and for callers that manage their own buffers. They panic on slices whose
/// lengths do not match the shapes given (for convolutions, build a [`Conv2dShape`] first).
pub mod kernels {
    pub use super::conv::{backward as conv2d_backward, forward as conv2d_forward};
    pub use super::dense::{backward as dense_backward, forward as dense_forward};
    pub use super::pool::{backward as max_pool2d_backward, forward as max_pool2d_forward};
}
pub use pool::{max_pool2d, try_max_pool2d};

use dfdx::shapes::{Dtype, HasShape, Shape};
use dfdx::tensor::{Cpu, CpuError, Tensor};
use isa::Isa;

/// Shape of an NCHW activation or an `(out, in, k, k)` kernel, known at run time.
pub type Shape4 = (usize, usize, usize, usize);

/// Element types the ops support: f32 for training, f64 for gradient checks.
///
/// Sealed: the kernels are only tuned and tested for these two.
pub trait Real: Dtype + sealed::Sealed {
    /// `self * a + b`, fused (one rounding); fast only where the CPU has FMA.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// `s` as `f32`s when `Self` is `f32`: the explicit-vector tiles are for `f32` only.
    fn f32s(s: &[Self]) -> Option<&[f32]>;
    /// As [`Real::f32s`], mutable.
    fn f32s_mut(s: &mut [Self]) -> Option<&mut [f32]>;
}

impl Real for f32 {
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f32::mul_add(self, a, b)
    }
    #[inline(always)]
    fn f32s(s: &[Self]) -> Option<&[f32]> {
        Some(s)
    }
    #[inline(always)]
    fn f32s_mut(s: &mut [Self]) -> Option<&mut [f32]> {
        Some(s)
    }
}

impl Real for f64 {
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f64::mul_add(self, a, b)
    }
    #[inline(always)]
    fn f32s(_: &[Self]) -> Option<&[f32]> {
        None
    }
    #[inline(always)]
    fn f32s_mut(_: &mut [Self]) -> Option<&mut [f32]> {
        None
    }
}

mod sealed {
    /// Keeps [`super::Real`] limited to f32 and f64.
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// Errors of the custom ops: shapes that cannot be combined, or a failed allocation.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The kernel's input channels differ from the input's channels.
    #[error("{op}: input has {input} channels but the kernel expects {kernel}")]
    ChannelMismatch {
        /// The operation that rejected its inputs.
        op: &'static str,
        /// Channels of the input tensor.
        input: usize,
        /// Input channels of the kernel.
        kernel: usize,
    },
    /// The input's features (columns) differ from the dense weights' rows.
    #[error("{op}: input has {input} features but the weights expect {weights}")]
    FeatureMismatch {
        /// The operation that rejected its inputs.
        op: &'static str,
        /// Columns of the input.
        input: usize,
        /// Rows of the weight matrix.
        weights: usize,
    },
    /// The kernel is not square (`(out, in, k, k)` is required).
    #[error("{op}: kernel is {kh}x{kw} but only square kernels are supported")]
    NonSquareKernel {
        /// The operation that rejected its inputs.
        op: &'static str,
        /// Kernel height.
        kh: usize,
        /// Kernel width.
        kw: usize,
    },
    /// The bias length differs from the kernel's output channels.
    #[error("{op}: bias has {bias} elements but the kernel has {out_channels} output channels")]
    BiasMismatch {
        /// The operation that rejected its inputs.
        op: &'static str,
        /// Elements in the bias.
        bias: usize,
        /// Output channels of the kernel.
        out_channels: usize,
    },
    /// The spatial input is smaller than the window, so the output would be empty.
    #[error("{op}: input is {height}x{width} but the window is {window}x{window}")]
    InputTooSmall {
        /// The operation that rejected its inputs.
        op: &'static str,
        /// Input height.
        height: usize,
        /// Input width.
        width: usize,
        /// Window (kernel or pool) side.
        window: usize,
    },
    /// dfdx failed to allocate or wrap a tensor.
    #[error("{op}: tensor allocation failed")]
    Device {
        /// The operation that failed.
        op: &'static str,
        /// dfdx's error.
        #[source]
        source: CpuError,
    },
}

/// Copies a contiguous tensor's elements out of dfdx (there is no borrowing accessor).
fn to_vec<S: Shape, E: Real, T>(t: &Tensor<S, E, Cpu, T>) -> Vec<E> {
    // `vec!` of zeros is a calloc, so the pages are only written once, by the copy.
    let mut v = vec![E::default(); t.shape().num_elements()];
    t.copy_into(&mut v);
    v
}

/// The machine's f32 multiply-add peak on path `isa`, in GFLOP/s: register-only FMA chains
/// on every core at once for about `seconds` (sized by a short one-thread calibration), so
/// the figure includes the clock a core holds under a wide vector load.
pub fn measure_fma_peak(isa: Isa, seconds: f64) -> f64 {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    // Calibrate steps on one thread, then run all threads together.
    let probe = 1 << 16;
    let rate = microkernel::fma_peak(isa, probe);
    let flops_per_step = microkernel::fma_peak_step_flops(isa) as f64;
    let steps = ((seconds * rate * 1e9 / flops_per_step) as usize).max(probe);
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..threads)
            .map(|_| s.spawn(move || microkernel::fma_peak(isa, steps)))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap_or(0.0)).sum()
    })
}

/// Groups per rayon thread: more than one, so that when another process takes a core for a
/// while, work stealing moves the remaining groups to the other threads instead of the whole
/// op waiting for the slow one.
const GROUPS_PER_THREAD: usize = 4;

/// Samples per group: the batch is cut into contiguous ranges, each processed by one thread
/// with one set of scratch buffers.
fn samples_per_group(batch: usize) -> usize {
    let groups = rayon::current_num_threads().max(1) * GROUPS_PER_THREAD;
    batch.div_ceil(groups).max(1)
}

/// Wraps an allocation failure with the op's name.
fn device_err(op: &'static str) -> impl FnOnce(CpuError) -> OpsError {
    move |source| OpsError::Device { op, source }
}
