//! `conv2d`: stride-1, unpadded ("valid") 2-D convolution with fused bias, as a dfdx op.
//!
//! The forward pass runs [`kernel::forward`]; the backward closure registered on the tape runs
//! [`kernel::backward`], which fills the weight and bias gradients and, unless the caller asked
//! to skip it (the first layer, whose input is data), the input gradient.

mod kernel;
mod lanes;
mod lanes_grad;
mod rows;
#[cfg(test)]
mod tests;

pub use kernel::{backward, forward};

use dfdx::shapes::HasShape;
use dfdx::tensor::{Cpu, Merge, PutTape, SplitTape, Tape, Tensor, TensorFromVec};
use dfdx::tensor_ops::ReshapeTo;
use rayon::prelude::*;

use super::{
    add_assign, device_err, par_planes, samples_per_group, to_vec, OpsError, Real, Shape4,
};

const OP: &str = "conv2d";

/// Whether the backward pass computes the gradient with respect to the convolution's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputGrad {
    /// Compute it: the input comes from earlier layers that need its gradient.
    Compute,
    /// Skip it: the input is data (the first layer), which saves about 15% of a training step.
    Skip,
}

/// The validated geometry of one convolution: input `(batch, in, height, width)`, kernel
/// `(out, in, kernel, kernel)`, stride 1, no padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dShape {
    /// Samples in the batch.
    pub batch: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Output channels (filters).
    pub out_channels: usize,
    /// Kernel side.
    pub kernel: usize,
}

impl Conv2dShape {
    /// Checks that an input of shape `input`, a kernel of shape `kernel` and a bias of
    /// `bias_len` elements make a valid convolution.
    ///
    /// # Errors
    /// [`OpsError`] naming the first mismatch: channels, a non-square or empty kernel, the
    /// bias length, or a kernel larger than the input.
    pub fn new(input: Shape4, kernel: Shape4, bias_len: usize) -> Result<Self, OpsError> {
        let (batch, in_channels, height, width) = input;
        let (out_channels, kernel_in, kh, kw) = kernel;
        if kh != kw || kh == 0 {
            return Err(OpsError::NonSquareKernel { op: OP, kh, kw });
        }
        if kernel_in != in_channels || in_channels == 0 {
            return Err(OpsError::ChannelMismatch {
                op: OP,
                input: in_channels,
                kernel: kernel_in,
            });
        }
        if bias_len != out_channels || out_channels == 0 {
            return Err(OpsError::BiasMismatch {
                op: OP,
                bias: bias_len,
                out_channels,
            });
        }
        if height < kh || width < kh {
            return Err(OpsError::InputTooSmall {
                op: OP,
                height,
                width,
                window: kh,
            });
        }
        Ok(Self {
            batch,
            in_channels,
            height,
            width,
            out_channels,
            kernel: kh,
        })
    }

    /// Output height.
    pub fn out_height(&self) -> usize {
        self.height + 1 - self.kernel
    }

    /// Output width.
    pub fn out_width(&self) -> usize {
        self.width + 1 - self.kernel
    }

    /// The output's shape `(batch, out, out_height, out_width)`.
    pub fn output_shape(&self) -> Shape4 {
        (
            self.batch,
            self.out_channels,
            self.out_height(),
            self.out_width(),
        )
    }

    /// Multiply-accumulates of the forward pass (a GEMM step costs 2 FLOPs per MAC).
    pub fn macs(&self) -> usize {
        self.batch * self.out_channels * self.pixels() * self.taps()
    }

    /// Output positions per channel.
    pub fn pixels(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Kernel taps per output channel: the GEMM's inner dimension.
    pub fn taps(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }

    /// Elements of one input channel plane.
    pub fn plane(&self) -> usize {
        self.height * self.width
    }

    /// Elements of one input sample.
    pub fn in_sample(&self) -> usize {
        self.in_channels * self.plane()
    }

    /// Elements of one output sample.
    pub fn out_sample(&self) -> usize {
        self.out_channels * self.pixels()
    }
}

/// Convolves `x` with `w` and adds `b`; see [`try_conv2d`]. Computes the input gradient.
///
/// # Panics
/// If the shapes do not fit together or allocation fails; [`try_conv2d`] returns the error.
pub fn conv2d<E: Real, T, R>(
    x: Tensor<Shape4, E, Cpu, T>,
    w: Tensor<Shape4, E, Cpu, R>,
    b: Tensor<(usize,), E, Cpu, R>,
) -> Tensor<Shape4, E, Cpu, T>
where
    T: Tape<E, Cpu> + Merge<R>,
    R: Tape<E, Cpu>,
{
    try_conv2d(x, w, b, InputGrad::Compute).unwrap_or_else(|e| panic!("{e}"))
}

/// Convolves `x` `(batch, in, h, w)` with `w` `(out, in, k, k)` (stride 1, no padding) and
/// adds the bias `b` `(out,)`, giving `(batch, out, h - k + 1, w - k + 1)`.
///
/// The result carries the merged tape of `x`, `w` and `b`; on `backward()` the gradients of
/// `w` and `b` are accumulated, and that of `x` too unless `input_grad` is
/// [`InputGrad::Skip`]. Pass parameters as `w.retaped::<T>()` (or `w.clone()`) so their
/// gradients land under the parameters' ids.
///
/// # Errors
/// [`OpsError`] when the shapes do not fit together or dfdx cannot allocate the output.
pub fn try_conv2d<E: Real, T, R>(
    x: Tensor<Shape4, E, Cpu, T>,
    w: Tensor<Shape4, E, Cpu, R>,
    b: Tensor<(usize,), E, Cpu, R>,
    input_grad: InputGrad,
) -> Result<Tensor<Shape4, E, Cpu, T>, OpsError>
where
    T: Tape<E, Cpu> + Merge<R>,
    R: Tape<E, Cpu>,
{
    let g = Conv2dShape::new(*x.shape(), *w.shape(), b.shape().0)?;
    // Strided views (permutes, broadcasts) become contiguous; a no-op for contiguous tensors.
    let (x, tape) = x.try_contiguous().map_err(device_err(OP))?.split_tape();
    let (w, tape_w) = w.try_contiguous().map_err(device_err(OP))?.split_tape();
    let (b, tape_b) = b.try_contiguous().map_err(device_err(OP))?.split_tape();
    let mut tape = tape.merge(tape_w).merge(tape_b);
    let (xs, ws, bs) = (to_vec(&x), to_vec(&w), to_vec(&b));
    let y = forward(&g, &xs, &ws, &bs);
    let out = x
        .device()
        .try_tensor_from_vec(y, g.output_shape())
        .map_err(device_err(OP))?;
    if T::OWNS_TAPE {
        let (x_id, w_id, b_id, out_id) = (x.ghost(), w.ghost(), b.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            // Borrow the output gradient by moving it out and back: dfdx offers no shared
            // accessor next to the mutable one that the input gradients need.
            let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&out_id)?);
            let (dw, db) = match input_grad {
                InputGrad::Compute => {
                    let gx = grads.get_or_alloc_mut(&x_id)?;
                    backward(&g, &xs, &ws, &gy, Some(gx.as_mut_slice()))
                }
                InputGrad::Skip => backward(&g, &xs, &ws, &gy, None),
            };
            add_assign(grads.get_or_alloc_mut(&w_id)?, &dw);
            add_assign(grads.get_or_alloc_mut(&b_id)?, &db);
            **grads.get_or_alloc_mut(&out_id)? = gy;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// The `(batch, out, oh, ow)` output built by `f(input group, output group)` over groups of
/// samples in parallel. Each worker zeroes its own group's output just before filling it:
/// `vec![0; len]` was a serial memset of the whole output (118 MB for `best.ron`'s first
/// layer at batch 128) on the calling thread while the workers idled.
fn per_group<E: Real>(g: &Conv2dShape, x: &[E], f: impl Fn(&[E], &mut [E]) + Sync) -> Vec<E> {
    let group = samples_per_group(g.batch);
    let (xs, ys) = (group * g.in_sample(), group * g.out_sample());
    par_planes(g.batch * g.out_sample(), ys, |i, yg| {
        let samples = yg.len() / g.out_sample();
        f(&x[i * xs..][..samples * g.in_sample()], yg);
    })
}

/// Weight and bias gradients `(dw, db)`: `f(input group, output-gradient group)` over the
/// same groups of samples as [`per_group`], in parallel, added in group order (the same
/// bits every run for a given thread count).
fn group_grads<E: Real>(
    g: &Conv2dShape,
    x: &[E],
    gy: &[E],
    f: impl Fn(&[E], &[E]) -> (Vec<E>, Vec<E>) + Sync,
) -> (Vec<E>, Vec<E>) {
    let group = samples_per_group(g.batch);
    let parts: Vec<(Vec<E>, Vec<E>)> = x
        .par_chunks(group * g.in_sample())
        .zip(gy.par_chunks(group * g.out_sample()))
        .map(|(xg, gyg)| f(xg, gyg))
        .collect();
    kernel::sum_parts(g, parts)
}
