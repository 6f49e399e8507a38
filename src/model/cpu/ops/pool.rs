//! `max_pool2d`: 2x2 max pooling with stride 2, as a dfdx op.
//!
//! Odd trailing rows and columns are dropped (Keras `MaxPooling2D` with `valid` padding). The
//! forward pass records which of the four window cells won (the first maximum in row-major
//! order on ties) as one byte per output, so the backward pass routes each output gradient
//! to that cell without keeping the input alive.

use dfdx::shapes::HasShape;
use dfdx::tensor::{Cpu, PutTape, SplitTape, Tape, Tensor, TensorFromVec};
use dfdx::tensor_ops::ReshapeTo;
use rayon::prelude::*;

use super::{device_err, to_vec, OpsError, Real, Shape4};

const OP: &str = "max_pool2d";

/// Max-pools `x` `(batch, ch, h, w)` over 2x2 windows to `(batch, ch, h / 2, w / 2)`.
///
/// # Panics
/// If `h` or `w` is below 2 or allocation fails; [`try_max_pool2d`] returns the error.
pub fn max_pool2d<E: Real, T: Tape<E, Cpu>>(
    x: Tensor<Shape4, E, Cpu, T>,
) -> Tensor<Shape4, E, Cpu, T> {
    try_max_pool2d(x).unwrap_or_else(|e| panic!("{e}"))
}

/// Max-pools `x` `(batch, ch, h, w)` over 2x2 windows to `(batch, ch, h / 2, w / 2)`; on
/// `backward()` each output's gradient goes to its window's (first) maximum.
///
/// # Errors
/// [`OpsError::InputTooSmall`] when `h` or `w` is below 2, [`OpsError::Device`] when dfdx
/// cannot allocate the output.
pub fn try_max_pool2d<E: Real, T: Tape<E, Cpu>>(
    x: Tensor<Shape4, E, Cpu, T>,
) -> Result<Tensor<Shape4, E, Cpu, T>, OpsError> {
    let shape @ (n, c, h, w) = *x.shape();
    if h < 2 || w < 2 {
        return Err(OpsError::InputTooSmall {
            op: OP,
            height: h,
            width: w,
            window: 2,
        });
    }
    let (x, mut tape) = x.try_contiguous().map_err(device_err(OP))?.split_tape();
    let (y, winners) = forward(shape, &to_vec(&x));
    let out = x
        .device()
        .try_tensor_from_vec(y, (n, c, h / 2, w / 2))
        .map_err(device_err(OP))?;
    if T::OWNS_TAPE {
        let (x_id, out_id) = (x.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            // Moved out and back: dfdx has no shared accessor beside the mutable one.
            let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&out_id)?);
            backward(shape, &winners, &gy, grads.get_or_alloc_mut(&x_id)?);
            **grads.get_or_alloc_mut(&out_id)? = gy;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// Pools every channel plane of `x`; returns the output and, per output, the winning cell
/// (`2 * row + column` inside the window).
///
/// # Panics
/// If `x` does not hold `shape`'s elements.
pub fn forward<E: Real>(shape: Shape4, x: &[E]) -> (Vec<E>, Vec<u8>) {
    let (n, c, h, w) = shape;
    assert_eq!(x.len(), n * c * h * w, "max_pool2d: input length");
    let (oh, ow) = (h / 2, w / 2);
    let mut y = vec![E::default(); n * c * oh * ow];
    let mut winners = vec![0u8; y.len()];
    y.par_chunks_mut(oh * ow)
        .zip(winners.par_chunks_mut(oh * ow))
        .zip(x.par_chunks(h * w))
        .for_each(|((yp, wp), xp)| {
            for (i, (yr, wr)) in yp
                .chunks_exact_mut(ow)
                .zip(wp.chunks_exact_mut(ow))
                .enumerate()
            {
                let (r0, r1) = (&xp[2 * i * w..][..w], &xp[(2 * i + 1) * w..][..w]);
                for j in 0..ow {
                    let cells = [r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]];
                    let (mut best, mut at) = (cells[0], 0u8);
                    for (idx, &v) in cells.iter().enumerate().skip(1) {
                        // Strictly greater keeps the first maximum on ties.
                        if v > best {
                            (best, at) = (v, idx as u8);
                        }
                    }
                    (yr[j], wr[j]) = (best, at);
                }
            }
        });
    (y, winners)
}

/// Adds each output gradient in `gy` onto its window's winning cell in `gx`.
///
/// # Panics
/// If the slices do not hold `shape`'s (input) or its pooled (output) elements.
pub fn backward<E: Real>(shape: Shape4, winners: &[u8], gy: &[E], gx: &mut [E]) {
    let (n, c, h, w) = shape;
    let (oh, ow) = (h / 2, w / 2);
    assert_eq!(gx.len(), n * c * h * w, "max_pool2d: input gradient length");
    assert_eq!(
        gy.len(),
        n * c * oh * ow,
        "max_pool2d: output gradient length"
    );
    assert_eq!(winners.len(), gy.len(), "max_pool2d: winners length");
    gx.par_chunks_mut(h * w)
        .zip(gy.par_chunks(oh * ow).zip(winners.par_chunks(oh * ow)))
        .for_each(|(gxp, (gyp, wp))| {
            for (o, (&d, &at)) in gyp.iter().zip(wp).enumerate() {
                let (i, j) = (o / ow, o % ow);
                let (di, dj) = (usize::from(at / 2), usize::from(at % 2));
                gxp[(2 * i + di) * w + 2 * j + dj] += d;
            }
        });
}

#[cfg(test)]
mod tests {
    use dfdx::prelude::*;

    use super::super::gradcheck::{assert_all_close, assert_grads_close, numeric_grad, random_vec};
    use super::super::reference;
    use super::*;

    /// `sum(max_pool2d(x) * r)` and its gradient with respect to `x`, through dfdx's tape.
    fn loss_grad(shape: Shape4, x: &[f64], r: &[f64]) -> Vec<f64> {
        let dev = Cpu::default();
        let xt = dev.tensor_from_vec(x.to_vec(), shape);
        let out_shape = (shape.0, shape.1, shape.2 / 2, shape.3 / 2);
        let rt = dev.tensor_from_vec(r.to_vec(), out_shape);
        let loss = (max_pool2d(xt.leaky_trace()) * rt).sum::<Rank0, _>();
        loss.backward().get(&xt).as_vec()
    }

    #[test]
    fn forward_matches_reference_on_odd_sizes() {
        let shape = (2, 3, 7, 5);
        let x: Vec<f32> = random_vec(1, 210).iter().map(|&v| v as f32).collect();
        let dev = Cpu::default();
        let y = max_pool2d(dev.tensor_from_vec(x.clone(), shape));
        assert_eq!(*y.shape(), (2, 3, 3, 2));
        assert_all_close(
            "y",
            &y.as_vec(),
            &reference::max_pool2d_forward(shape, &x),
            0.0,
        );
    }

    #[test]
    fn gradient_matches_central_differences() {
        let shape = (2, 2, 5, 6);
        let x = random_vec(2, 120);
        let r = random_vec(3, 2 * 2 * 2 * 3);
        let analytic = loss_grad(shape, &x, &r);
        let numeric = numeric_grad(&x, 1e-6, |x| {
            let (y, _) = forward(shape, x);
            y.iter().zip(&r).map(|(a, b)| a * b).sum()
        });
        assert_grads_close("dx", &analytic, &numeric, 1e-6);
    }

    /// On ties the whole gradient goes to the first cell of the window, as Keras does.
    #[test]
    fn ties_send_gradient_to_first_maximum() {
        let shape = (1, 1, 2, 4);
        let grad = loss_grad(shape, &[0.5; 8], &[1.0, 2.0]);
        assert_eq!(grad, [1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn too_small_input_is_an_error() {
        let dev = Cpu::default();
        let x: Tensor<Shape4, f32, Cpu> = dev.zeros_like(&(1, 1, 1, 4));
        let err = try_max_pool2d(x).unwrap_err();
        assert!(
            matches!(err, OpsError::InputTooSmall { height: 1, .. }),
            "{err}"
        );
    }
}
