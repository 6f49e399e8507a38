//! `conv_block`: a whole convolution block as one dfdx op: convolution with bias, optional
//! batch normalisation, ReLU, optional 2x2 max pooling and optional dropout, i.e.
//! `dropout(relu(max_pool2d(batch_norm2d(conv2d(x, w, b)))))` with the same values as those
//! ops in a row, to the bit (dropout's masks included: the op draws its seed from the device
//! where dfdx's `dropout` would), and the same gradients: to the bit without batch norm, to
//! rounding with it (its sums are added in another order, over the outputs that pass a
//! gradient only).
//!
//! Why one op: dfdx's tensors cannot be read in place from outside dfdx, so each op in the
//! row copied its full-resolution input out of dfdx, had dfdx zero a gradient buffer for it,
//! and (for ReLU) ran dfdx's serial elementwise kernels, all on the main thread while the
//! rayon workers idled: on the seed's network at batch 128, ~0.5 GB of serial memory
//! traffic per step. Inside one op the full-resolution maps stay in the op's own buffers:
//! the convolution's output is normalised, pooled and rectified by one parallel pass
//! (`epilogue`), and in the backward pass the gradient of that map is written once by the
//! workers (`norm` with batch norm) and handed straight to the convolution's backward
//! kernel.
//!
//! The backward pass keeps the block's input (for the convolution's gradients), the
//! convolution's output when batch norm is on, and one route byte per output.

use dfdx::shapes::HasShape;
use dfdx::tensor::{Cpu, Merge, PutTape, RandomU64, SplitTape, Tape, Tensor, TensorFromVec};
use dfdx::tensor_ops::ReshapeTo;

use super::batch_norm::{check_channels, statistics};
use super::conv::{backward as conv_backward, forward as conv_forward};
use super::epilogue::{self, Dropout, Normalise, Routed};
use super::{add_assign, device_err, to_vec, BatchNormMode, Conv2dShape, InputGrad, OpsError};
use super::{Real, Shape4};

const OP: &str = "conv_block";

/// A convolution's kernel `(out, in, k, k)` and bias `(out,)`.
pub type ConvParams<E, R> = (Tensor<Shape4, E, Cpu, R>, Tensor<(usize,), E, Cpu, R>);

/// Batch normalisation inside a block: learnable per-channel scale `gamma` and shift `beta`,
/// whether to use the batch's or the running statistics, and `eps` (Keras: 1e-3).
#[derive(Debug)]
pub struct BlockNorm<'a, E: Real, R> {
    /// Scale per channel.
    pub gamma: Tensor<(usize,), E, Cpu, R>,
    /// Shift per channel.
    pub beta: Tensor<(usize,), E, Cpu, R>,
    /// Batch statistics (updating the running ones) or the running statistics.
    pub mode: BatchNormMode<'a, E>,
    /// Added to the variance.
    pub eps: E,
}

/// `dropout(relu(max_pool2d(batch_norm2d(conv2d(x, w, b)))))` for `x` `(batch, in, h, w)`,
/// `w` `(out, in, k, k)` and `b` `(out,)`, with batch norm when `norm` is given, pooling
/// when `pool` is set and dropout when `dropout` gives its probability. See
/// [`super::try_conv2d`], [`super::try_batch_norm2d`] and [`super::try_max_pool2d`] for
/// each step; pooling before ReLU is the same function. Dropout, as dfdx's, always drops:
/// pass `None` at inference.
///
/// On `backward()` the gradients of `w`, `b`, and of `gamma` and `beta`, are accumulated,
/// and that of `x` too unless `input_grad` is [`InputGrad::Skip`]. Pass parameters as
/// `w.retaped::<T>()` (or `w.clone()`) so their gradients land under the parameters' ids.
///
/// # Errors
/// [`OpsError`] when the shapes do not fit together (the convolution's, batch norm's
/// channels, or a convolution output too small to pool) or dfdx cannot allocate.
///
/// # Panics
/// If the dropout probability is not in `[0, 1]`, as dfdx's `dropout`.
pub fn try_conv_block<E: Real, T, R>(
    x: Tensor<Shape4, E, Cpu, T>,
    (w, b): ConvParams<E, R>,
    norm: Option<BlockNorm<'_, E, R>>,
    (pool, dropout): (bool, Option<f64>),
    input_grad: InputGrad,
) -> Result<Tensor<Shape4, E, Cpu, T>, OpsError>
where
    T: Tape<E, Cpu> + Merge<R>,
    R: Tape<E, Cpu>,
{
    let g = Conv2dShape::new(*x.shape(), *w.shape(), b.shape().0)?;
    let shape @ (_, c, oh, ow) = g.output_shape();
    if pool && (oh < 2 || ow < 2) {
        return Err(OpsError::InputTooSmall {
            op: OP,
            height: oh,
            width: ow,
            window: 2,
        });
    }
    if let Some(n) = &norm {
        check_channels(c, [n.gamma.shape().0, n.beta.shape().0], &n.mode)?;
    }
    let (x, tape) = x.try_contiguous().map_err(device_err(OP))?.split_tape();
    let (w, tape_w) = w.try_contiguous().map_err(device_err(OP))?.split_tape();
    let (b, tape_b) = b.try_contiguous().map_err(device_err(OP))?.split_tape();
    let mut tape = tape.merge(tape_w).merge(tape_b);
    let (xs, ws) = (to_vec(&x), to_vec(&w));
    let y = conv_forward(&g, &xs, &ws, &to_vec(&b));
    // With batch norm, the epilogue normalises `y` on the fly; the backward pass recomputes
    // the normalised values from `y` (`norm`).
    let (saved, beta, norm_ids) = match norm {
        Some(n) => {
            let (gamma, tape_g) = n
                .gamma
                .try_contiguous()
                .map_err(device_err(OP))?
                .split_tape();
            let (beta, tape_b) = n
                .beta
                .try_contiguous()
                .map_err(device_err(OP))?
                .split_tape();
            tape = tape.merge(tape_g).merge(tape_b);
            let train = matches!(n.mode, BatchNormMode::Train { .. });
            let (mean, inv_std) = statistics(shape, &y, n.mode, n.eps);
            let saved = norm::Saved {
                gamma: to_vec(&gamma),
                mean,
                inv_std,
                train,
            };
            let ids = (gamma.ghost(), beta.ghost());
            (Some(saved), to_vec(&beta), Some(ids))
        }
        None => (None, Vec::new(), None),
    };
    // Drawn from the device's generator as dfdx's `dropout` draws it, after the same draws.
    let dropout = dropout.map(|p| Dropout {
        p,
        seed: x.device().random_u64(),
    });
    let normalise = saved.as_ref().map(|s| Normalise {
        mean: &s.mean,
        inv_std: &s.inv_std,
        gamma: &s.gamma,
        beta: &beta,
    });
    let (out, routes) = epilogue::forward(shape, &y, normalise, (pool, dropout));
    let out = x
        .device()
        .try_tensor_from_vec(out, epilogue::output_shape(shape, pool))
        .map_err(device_err(OP))?;
    if T::OWNS_TAPE {
        let (x_id, w_id, b_id, out_id) = (x.ghost(), w.ghost(), b.ghost(), out.ghost());
        // Without batch norm the convolution's output is not needed again: free it now.
        let y = if saved.is_some() { y } else { Vec::new() };
        tape.add_backward_op(move |grads| {
            // Moved out and back: dfdx has no shared accessor beside the mutable one.
            let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&out_id)?);
            let routed = Routed::new(shape, (pool, dropout), &routes, &gy);
            let (gc, norm_grads) = match &saved {
                Some(s) => {
                    let (gc, dgamma, dbeta) = norm::backward(shape, &routed, &y, s);
                    (gc, Some((dgamma, dbeta)))
                }
                None => (epilogue::backward(&routed), None),
            };
            **grads.get_or_alloc_mut(&out_id)? = gy;
            if let (Some((dgamma, dbeta)), Some((g_id, beta_id))) = (&norm_grads, &norm_ids) {
                add_assign(grads.get_or_alloc_mut(g_id)?, dgamma);
                add_assign(grads.get_or_alloc_mut(beta_id)?, dbeta);
            }
            let (dw, db) = match input_grad {
                InputGrad::Compute => {
                    let gx = grads.get_or_alloc_mut(&x_id)?;
                    conv_backward(&g, &xs, &ws, &gc, Some(gx.as_mut_slice()))
                }
                InputGrad::Skip => conv_backward(&g, &xs, &ws, &gc, None),
            };
            add_assign(grads.get_or_alloc_mut(&w_id)?, &dw);
            add_assign(grads.get_or_alloc_mut(&b_id)?, &db);
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

mod norm;
#[cfg(test)]
mod tests;
