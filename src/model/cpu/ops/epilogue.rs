//! The end of a convolution block, fused: an optional per-channel affine map (batch norm's
//! `gamma * xhat + beta`), ReLU and an optional 2x2 max pool (stride 2, odd trailing rows
//! and columns dropped), in one parallel pass over the full-resolution map; and the backward
//! pass that routes the output gradient back to that map.
//!
//! Pooling comes before ReLU: relu(max(a, b)) = max(relu(a), relu(b)), the same function
//! with ReLU on a quarter of the elements. Values and gradients equal those of dfdx's `relu`
//! after `max_pool2d` (and `batch_norm2d`'s affine step) to the bit; what the fusion saves is
//! the separate ops' memory passes: the pooling op's copy of its full-resolution input, the
//! affine map's output, dfdx's serial relu, and the zeroed gradient buffers of each.
//!
//! The forward pass records one route byte per output: the window cell that won (`2 * row +
//! column`, the first maximum on ties, as `max_pool2d`), 0 without pooling, or [`DEAD`]
//! where ReLU zeroed the output (its input was not above 0), which passes no gradient. The
//! backward pass then needs neither the input nor the output.

use super::{par_fill, par_vec2, Real, Shape4};

/// The route of an output that ReLU zeroed: no gradient flows back through it.
pub const DEAD: u8 = 4;

/// Per-channel `(gamma, beta)` of an affine map applied before ReLU, if any.
pub type Affine<'a, E> = Option<(&'a [E], &'a [E])>;

/// The output shape for an input of `shape`: pooled, or unchanged.
pub fn output_shape(shape: Shape4, pool: bool) -> Shape4 {
    let (n, c, h, w) = shape;
    if pool {
        (n, c, h / 2, w / 2)
    } else {
        shape
    }
}

/// `relu(pool(gamma * x + beta))` of the NCHW `x` of `shape`, the affine map and the pooling
/// each optional; returns the output and its routes.
///
/// # Panics
/// If `x` does not hold `shape`'s elements or the affine map has not one entry per channel.
pub fn forward<E: Real>(
    shape: Shape4,
    x: &[E],
    affine: Affine<'_, E>,
    pool: bool,
) -> (Vec<E>, Vec<u8>) {
    let (n, c, h, w) = shape;
    assert_eq!(x.len(), n * c * h * w, "epilogue: input length");
    match affine {
        Some((gamma, beta)) => {
            assert!(
                gamma.len() == c && beta.len() == c,
                "epilogue: affine length"
            );
            // The same expression as `batch_norm2d`'s affine step, so the same bits.
            let per_plane = move |plane: usize| {
                let (g, b) = (gamma[plane % c], beta[plane % c]);
                move |v: E| g * v + b
            };
            run(shape, x, pool, per_plane)
        }
        // Without the map, not even an identity `1 * v + 0`: that turns -0 into +0.
        None => run(shape, x, pool, |_| |v: E| v),
    }
}

/// The forward pass with `per_plane(i)` giving plane `i`'s elementwise map.
fn run<E: Real, F: Fn(E) -> E>(
    shape: Shape4,
    x: &[E],
    pool: bool,
    per_plane: impl Fn(usize) -> F + Sync,
) -> (Vec<E>, Vec<u8>) {
    let (n, c, h, w) = shape;
    if !pool {
        return par_vec2(n * c * h * w, w, |i| {
            let map = per_plane(i / h);
            x[i * w..][..w].iter().map(move |&v| relu_route(map(v), 0))
        });
    }
    let (oh, ow) = (h / 2, w / 2);
    // One chunk per output row: input rows `2 * row` and `2 * row + 1` of its plane.
    par_vec2(n * c * oh * ow, ow, |i| {
        let (plane, row) = (i / oh, i % oh);
        let map = per_plane(plane);
        let at = (plane * h + 2 * row) * w;
        let (r0, r1) = (&x[at..][..w], &x[at + w..][..w]);
        (0..ow).map(move |j| {
            let cells = [r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]].map(&map);
            let (mut best, mut at) = (cells[0], 0u8);
            for (idx, &v) in cells.iter().enumerate().skip(1) {
                // Strictly greater keeps the first maximum on ties, as `max_pool2d`.
                if v > best {
                    (best, at) = (v, idx as u8);
                }
            }
            relu_route(best, at)
        })
    })
}

/// ReLU of `v` and the route its gradient takes: `route`, or [`DEAD`] where dfdx's `relu`
/// passes none (its input not above 0, NaN included).
#[inline(always)]
fn relu_route<E: Real>(v: E, route: u8) -> (E, u8) {
    (v.relu(), if v > E::default() { route } else { DEAD })
}

/// The gradient of [`forward`]'s full-resolution input (after the affine map) for the output
/// gradient `gy`: each output's gradient at the cell its route names, 0 elsewhere. A new
/// buffer, written once by the worker threads rather than zeroed and then added onto.
///
/// # Panics
/// If `routes` or `gy` does not hold the output's elements.
pub fn backward<E: Real>(shape: Shape4, pool: bool, routes: &[u8], gy: &[E]) -> Vec<E> {
    let (n, c, h, w) = shape;
    let (_, _, oh, ow) = output_shape(shape, pool);
    assert_eq!(
        gy.len(),
        n * c * oh * ow,
        "epilogue: output gradient length"
    );
    assert_eq!(routes.len(), gy.len(), "epilogue: routes length");
    let zero = E::default();
    // `0 + g`, as the separate ops' zeroed buffers give it (-0 becomes +0).
    let grad = |g: E| zero + g;
    par_fill(n * c * h * w, h * w, |plane, out| {
        let at = plane * oh * ow;
        let (routes, gy) = (&routes[at..][..oh * ow], &gy[at..][..oh * ow]);
        if !pool {
            for (&r, &g) in routes.iter().zip(gy) {
                out.push(if r == 0 { grad(g) } else { zero });
            }
            return;
        }
        // Each output row fills two input rows: window cells 0 and 1, then 2 and 3.
        for (rrow, grow) in routes.chunks_exact(ow).zip(gy.chunks_exact(ow)) {
            for first in [0, 2] {
                for (&r, &g) in rrow.iter().zip(grow) {
                    out.push(if r == first { grad(g) } else { zero });
                    out.push(if r == first + 1 { grad(g) } else { zero });
                }
                if w % 2 == 1 {
                    out.push(zero);
                }
            }
        }
        // A trailing odd row that the pool dropped.
        for _ in 2 * oh * w..h * w {
            out.push(zero);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::gradcheck::random_vec;
    use super::super::{pool, reference};
    use super::*;

    /// The unfused computation: affine map, then pooling, then ReLU.
    fn unfused(shape: Shape4, x: &[f64], affine: Affine<'_, f64>, pool: bool) -> Vec<f64> {
        let c = shape.1;
        let plane = shape.2 * shape.3;
        let mapped: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| affine.map_or(v, |(g, b)| g[i / plane % c] * v + b[i / plane % c]))
            .collect();
        let pooled = if pool {
            reference::max_pool2d_forward(shape, &mapped)
        } else {
            mapped
        };
        pooled.iter().map(|v| v.max(0.0)).collect()
    }

    #[test]
    fn forward_matches_the_unfused_ops_on_odd_sizes() {
        let shape = (2, 3, 7, 5);
        let x = random_vec(50, 210);
        let (gamma, beta) = (random_vec(51, 3), random_vec(52, 3));
        for pool in [true, false] {
            for affine in [None, Some((&gamma[..], &beta[..]))] {
                let (y, routes) = forward(shape, &x, affine, pool);
                assert_eq!(y, unfused(shape, &x, affine, pool), "pool {pool}");
                for (v, r) in y.iter().zip(&routes) {
                    assert_eq!(*v > 0.0, *r != DEAD, "a route per positive output");
                }
            }
        }
    }

    /// With pooling, the gradient reaches exactly what `max_pool2d`'s backward pass gives
    /// for the outputs ReLU kept, and nothing else.
    #[test]
    fn backward_routes_like_max_pool_then_relu() {
        let shape = (2, 2, 5, 6);
        let x = random_vec(53, 120);
        let gy = random_vec(54, 2 * 2 * 2 * 3);
        let (y, routes) = forward(shape, &x, None, true);
        let (_, winners) = pool::forward(shape, &x);
        let kept: Vec<f64> = gy
            .iter()
            .zip(&y)
            .map(|(&g, &v)| if v > 0.0 { g } else { 0.0 })
            .collect();
        let mut want = vec![0.0; x.len()];
        pool::backward(shape, &winners, &kept, &mut want);
        assert_eq!(backward(shape, true, &routes, &gy), want);
    }

    #[test]
    fn backward_without_pooling_masks_by_the_relu() {
        let shape = (1, 2, 3, 4);
        let x = random_vec(55, 24);
        let gy = random_vec(56, 24);
        let (_, routes) = forward(shape, &x, None, false);
        let want: Vec<f64> = x
            .iter()
            .zip(&gy)
            .map(|(&v, &g)| if v > 0.0 { g } else { 0.0 })
            .collect();
        assert_eq!(backward(shape, false, &routes, &gy), want);
    }

    /// Ties go to the first cell; an output of exactly 0 (or NaN) passes no gradient, as
    /// dfdx's relu, whose derivative is 1 only above 0.
    #[test]
    fn ties_zeros_and_nans() {
        let shape = (1, 1, 2, 6);
        let x = [
            0.5,
            0.5,
            0.0,
            0.0,
            f64::NAN,
            -1.0,
            0.5,
            0.5,
            0.0,
            -0.0,
            -2.0,
            -3.0,
        ];
        let (y, routes) = forward(shape, &x, None, true);
        assert_eq!(y, [0.5, 0.0, 0.0]);
        assert_eq!(routes, [0, DEAD, DEAD]);
        let g = backward(shape, true, &routes, &[1.0, 2.0, 3.0]);
        assert_eq!(
            g,
            [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
    }
}
