//! Custom dfdx operations on runtime-shaped tensors: 2-D convolution, 2x2 max pooling,
//! per-channel batch normalisation on NCHW activations, a whole convolution block
//! (convolution, batch norm, ReLU, pooling) fused into one op, which is what the network
//! runs (`block`), and the dense layer (`x W + b`, on gemm 0.19; see `dense.rs`).
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
//!   written in place through `get_or_alloc_mut`. Every tensor between two ops therefore costs
//!   a serial copy and a serial zeroed gradient buffer, which is why the network's blocks are
//!   one op each.

mod batch_norm;
mod block;
mod conv;
mod dense;
#[cfg(test)]
mod dfdx_checks;
mod epilogue;
#[cfg(test)]
mod gradcheck;
mod im2col;
pub mod isa;
mod lanekernel;
mod microkernel;
mod operands;
mod pool;
mod poolrow;
pub mod reference;
mod routekernel;
mod segkernel;
mod segments;
mod tiles;

pub use batch_norm::{try_batch_norm2d, BatchNormMode, RunningStats};
pub use block::{try_conv_block, BlockNorm, ConvParams};
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
use rayon::prelude::*;

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
    /// The value as f32 (exact for f32, rounded for f64): the scalars an f32 vector path
    /// broadcasts.
    fn as_f32(self) -> f32;

    /// `max(self, 0)` as dfdx's `relu` computes it (`Float::max`, so NaN gives 0), for
    /// fused ops that must match it to the bit.
    fn relu(self) -> Self;
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
    #[inline(always)]
    fn as_f32(self) -> f32 {
        self
    }

    #[inline(always)]
    fn relu(self) -> Self {
        f32::max(self, 0.0)
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
    #[inline(always)]
    fn as_f32(self) -> f32 {
        self as f32
    }

    #[inline(always)]
    fn relu(self) -> Self {
        f64::max(self, 0.0)
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

/// `acc += v`, element by element: gradients accumulate over every use of a tensor.
pub(super) fn add_assign<E: Real>(acc: &mut [E], v: &[E]) {
    acc.iter_mut().zip(v).for_each(|(a, &x)| *a += x);
}

/// Copies a contiguous tensor's elements out of dfdx (there is no borrowing accessor).
fn to_vec<S: Shape, E: Real, T>(t: &Tensor<S, E, Cpu, T>) -> Vec<E> {
    // Zeroed by the workers: `vec!` of zeros is a serial memset of memory the allocator
    // kept (its purge is off), on the calling thread while the workers idle.
    let n = t.shape().num_elements();
    let mut v = par_planes(n, ZERO_CHUNK, |_, _| {});
    t.copy_into(&mut v);
    v
}

/// Elements a worker zeroes at a time in [`to_vec`]: 256 KiB of f32.
const ZERO_CHUNK: usize = 1 << 16;

/// Two vectors of `len` elements built in parallel, `chunk` elements at a time: each pair
/// of chunks is zeroed by the worker that then hands them to `fill(i, a, b)`, so they are
/// written while in that worker's cache. `vec![0; len]` and a parallel pass would first zero
/// them on the calling thread: with freed memory kept mapped (mimalloc's purge is off), that
/// calloc is a serial memset of up to 110 MB per layer while the workers idle.
fn par_rows2<A, B>(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [A], &mut [B]) + Sync,
) -> (Vec<A>, Vec<B>)
where
    A: Copy + Default + Send,
    B: Copy + Default + Send,
{
    let (mut a, mut b) = (Vec::with_capacity(len), Vec::with_capacity(len));
    a.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk.max(1))
        .zip(b.spare_capacity_mut()[..len].par_chunks_mut(chunk.max(1)))
        .enumerate()
        .for_each(|(i, (ca, cb))| {
            ca.iter_mut().for_each(|s| {
                s.write(A::default());
            });
            cb.iter_mut().for_each(|s| {
                s.write(B::default());
            });
            // SAFETY: every slot of both chunks was initialised just above, and
            // `MaybeUninit<T>` has the layout of `T`, so they may be viewed as initialised.
            let (ca, cb) = unsafe {
                (
                    &mut *(std::ptr::from_mut(ca) as *mut [A]),
                    &mut *(std::ptr::from_mut(cb) as *mut [B]),
                )
            };
            fill(i, ca, cb);
        });
    // SAFETY: every chunk of both vectors' first `len` slots was zeroed above before `fill`
    // saw it; a panicking `fill` unwinds before this point, leaving the lengths at 0.
    unsafe {
        a.set_len(len);
        b.set_len(len);
    }
    (a, b)
}

/// One vector of `len` elements built in parallel, `chunk` elements at a time: each chunk
/// is zeroed by the worker that then hands it to `fill(i, chunk)`, so a chunk is written
/// while it is in that worker's cache, by writes in any order (a pooled gradient's winners
/// scattered, then rewritten in place).
fn par_planes<E: Real>(len: usize, chunk: usize, fill: impl Fn(usize, &mut [E]) + Sync) -> Vec<E> {
    let mut v = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(i, slots)| {
            for s in slots.iter_mut() {
                s.write(E::default());
            }
            // SAFETY: every slot of `slots` was initialised just above, and `MaybeUninit<E>`
            // has the layout of `E`, so the slice may be viewed as initialised elements.
            let chunk = unsafe { &mut *(std::ptr::from_mut(slots) as *mut [E]) };
            fill(i, chunk);
        });
    // SAFETY: every chunk of the first `len` slots was zeroed above before `fill` saw it; a
    // panicking `fill` unwinds before this point, leaving the length at 0.
    unsafe { v.set_len(len) };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_rows2_zeroes_and_fills_every_chunk_in_order() {
        // 10 elements in chunks of 3: the last chunk is short.
        let (a, b) = par_rows2(10, 3, |i, ca: &mut [usize], cb: &mut [u8]| {
            assert!(ca.iter().all(|&v| v == 0) && cb.iter().all(|&v| v == 0));
            for (j, (x, y)) in ca.iter_mut().zip(cb.iter_mut()).enumerate() {
                (*x, *y) = (i * 3 + j, i as u8);
            }
        });
        assert_eq!(a, (0..10).collect::<Vec<_>>());
        assert_eq!(b, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]);
        assert!(par_rows2::<f32, u8>(0, 0, |_, _, _| {}).0.is_empty());
    }

    #[test]
    fn par_planes_zeroes_each_chunk_before_filling_it() {
        let v = par_planes::<f64>(7, 3, |i, chunk| {
            assert!(chunk.iter().all(|&x| x == 0.0), "chunk {i} not zeroed");
            chunk[0] = i as f64 + 1.0;
        });
        assert_eq!(v, [1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 3.0]);
        assert!(par_planes::<f32>(0, 0, |_, _| {}).is_empty());
    }
}
